/* Fuzzes the SMTP session core: the input is split at positions chosen by
 * the first bytes, requests are answered by rules driven by the data, and
 * invariants are asserted: consumed <= fed, replies CRLF-terminated and
 * within 512 octets per line (RFC 5321 4.5.3.1.5), nothing after CLOSE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_server.h"

static void check_reply(const char *p, size_t n)
{
	if (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n')
		abort();
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (i - start + 1 > 512 || i == 0 || p[i - 1] != '\r')
				abort();
			start = i + 1;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned chunk = (unsigned)data[0] % 64 + 1;
	unsigned rcpt_rule = data[1];
	data += 2;
	size -= 2;
	struct smtp_server_cfg cfg = {
		.hostname = "mx.test", .max_cmd_line = 512, .max_text_line = 1000,
		.max_msg_size = 4096, .max_rcpts = 5, .max_errors = 10,
		.starttls_offered = true, .auth_offered = true, .auth_plaintext_ok = true,
	};
	struct smtp_server *s = smtp_server_new(&cfg);
	if (!s)
		return 0;
	size_t off = 0, stalls = 0;
	bool closed = false;
	while (off < size && stalls < 4) {
		size_t len = size - off < chunk ? size - off : chunk;
		size_t n = smtp_server_feed(s, data + off, len);
		if (n > len)
			abort();
		if (closed && n)
			abort();
		off += n;
		stalls = n ? 0 : stalls + 1;
		struct smtp_out out;
		while (smtp_server_next(s, &out)) {
			if (closed)
				abort();
			switch (out.kind) {
			case SMTP_OUT_REPLY:
				check_reply(out.data, out.len);
				break;
			case SMTP_OUT_CHECK_RCPT: {
				struct smtp_in in = { .kind = SMTP_IN_RCPT_RESULT,
						      .result = (int)(rcpt_rule++ % 4) };
				smtp_server_input(s, &in);
				break;
			}
			case SMTP_OUT_COMMIT: {
				if (out.commit.body_len > cfg.max_msg_size)
					abort();
				free(out.commit.body);
				struct smtp_in in = { .kind = SMTP_IN_COMMIT_RESULT,
						      .result = (int)(rcpt_rule++ % 3) };
				smtp_server_input(s, &in);
				break;
			}
			case SMTP_OUT_STARTTLS: {
				struct smtp_in in = { .kind = (rcpt_rule++ & 1) ? SMTP_IN_TLS_STARTED
										 : SMTP_IN_TLS_FAILED };
				smtp_server_input(s, &in);
				break;
			}
			case SMTP_OUT_AUTH: {
				if (!out.auth.authcid || !out.auth.password)
					abort();
				struct smtp_in in = { .kind = SMTP_IN_AUTH_RESULT,
						      .result = (int)(rcpt_rule++ % 3),
						      .user = "alice@localhost" };
				smtp_server_input(s, &in);
				break;
			}
			case SMTP_OUT_CLOSE:
				closed = true;
				break;
			case SMTP_OUT_LOG:
				break;
			}
		}
		if (closed)
			break;
	}
	smtp_server_free(&s);
	return 0;
}
