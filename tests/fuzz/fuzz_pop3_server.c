/* Fuzzes the POP3 session core with a fixed three-message maildrop,
 * answering AUTH from the data, asserting consumed <= fed, CRLF-terminated
 * replies and silence after CLOSE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pop3_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned chunk = (unsigned)data[0] % 64 + 1;
	unsigned rule = data[1];
	data += 2;
	size -= 2;
	struct pop3_server_cfg cfg = {
		.hostname = "mx.test", .apop_unique = "1.2.3", .apop_enabled = true,
		.max_cmd_line = 255, .max_errors = 10, .implementation = "facteur-fuzz",
		.stls_offered = rule & 1, .plaintext_auth_ok = (rule & 2) != 0,
		.sasl_offered = (rule & 4) != 0, .tls_active = (rule & 8) != 0,
	};
	static const struct pop3_msg_info msgs[] = {
		{ 120, "uid-one" }, { 5000, "uid-two" }, { 2, "uid-three" },
	};
	struct pop3_server *s = pop3_server_new(&cfg);
	if (!s)
		return 0;
	size_t off = 0, stalls = 0;
	bool closed = false;
	while (off < size && stalls < 4) {
		size_t len = size - off < chunk ? size - off : chunk;
		size_t n = pop3_server_feed(s, data + off, len);
		if (n > len || (closed && n))
			abort();
		off += n;
		stalls = n ? 0 : stalls + 1;
		struct pop3_out out;
		while (pop3_server_next(s, &out)) {
			if (closed)
				abort();
			struct pop3_in in = { 0 };
			switch (out.kind) {
			case POP3_OUT_REPLY:
				if (out.len < 2 || out.data[out.len - 2] != '\r' ||
				    out.data[out.len - 1] != '\n')
					abort();
				break;
			case POP3_OUT_AUTH:
				in.kind = POP3_IN_AUTH_RESULT;
				in.result = (int)(rule++ % 4);
				in.msgs = msgs;
				in.nmsgs = 3;
				pop3_server_input(s, &in);
				break;
			case POP3_OUT_SEND_MSG:
				if (out.msg >= 3)
					abort();
				in.kind = POP3_IN_SENT;
				pop3_server_input(s, &in);
				break;
			case POP3_OUT_UPDATE:
				for (size_t i = 0; i < out.ndel; i++)
					if (out.del_idx[i] >= 3)
						abort();
				in.kind = POP3_IN_UPDATE_RESULT;
				in.result = (rule++ & 1) ? 0 : -1;
				pop3_server_input(s, &in);
				break;
			case POP3_OUT_STLS:
				in.kind = (rule++ & 1) ? POP3_IN_TLS_STARTED : POP3_IN_TLS_FAILED;
				pop3_server_input(s, &in);
				break;
			case POP3_OUT_CLOSE:
				closed = true;
				break;
			case POP3_OUT_LOG:
				break;
			}
		}
		if (closed)
			break;
	}
	pop3_server_free(&s);
	return 0;
}
