/* A test driver for the pure POP3 core: feeds input in chosen chunks,
 * drains every output item, answers requests at once and records what it
 * saw as one string: reply bytes verbatim, requests as "{...}" markers.
 * Shared by the pop3 unit tests (header-only, static functions).
 *
 * STLS is answered TLS_STARTED ("{STLS}"; TLS_FAILED when tls_fail) as
 * if the client waited for the +OK, did the handshake and only then sent
 * the rest: drv_feed() keeps feeding after it, so every split gives the
 * same output. The CVE-2011-0411 discard is tested without the driver.
 * AUTH (USER/PASS, APOP, SASL) is answered by drv_answer_auth(). */
#ifndef FACTEUR_TESTS_POP3_DRIVER_H
#define FACTEUR_TESTS_POP3_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "proto/pop3_server.h"

enum drv_mode { DRV_WHOLE, DRV_BYTES, DRV_RANDOM };

struct drv {
	struct pop3_server *s;
	struct buf got;       /* replies and request markers */
	struct buf logs;      /* LOG texts, one per line */
	bool closed;          /* CLOSE seen */
	bool stalled;         /* feed took nothing while open */
	int update_result;    /* answer to UPDATE */
	bool tls_fail;        /* answer STLS with TLS_FAILED */
	char secret[64];      /* the last password seen, for the log check */
	size_t consumed;      /* bytes feed() took in total */
	uint32_t rng;
};

static const struct pop3_msg_info drv_alice_msgs[] = {
	{ 120, "whqtswO00WBw418f9t5JxYwZ" },
	{ 200, "QhdPYR:00WBw1Ph7x7" },
	{ 50, "u3" },
};
/* RFC 1939 10: mrose's maildrop. */
static const struct pop3_msg_info drv_mrose_msgs[] = {
	{ 120, "m1" },
	{ 200, "m2" },
};
/* RFC 1939 7 (APOP): MD5("<1896.697170952@dbc.mtview.ca.us>tanstaaf"). */
#define DRV_MROSE_DIGEST "c4c9334bac560ecc979e58001b3e22fb"
#define DRV_MROSE_STAMP "<1896.697170952@dbc.mtview.ca.us>"

static void drv_fail(const char *why)
{
	print_error("%s\n", why);
	fail();
}

static void drv_answer_auth(struct drv *d, const struct pop3_out *o)
{
	struct pop3_in in = { .kind = POP3_IN_AUTH_RESULT, .result = POP3_AUTH_BAD };
	const char *u = o->user;
	if (o->pass) {
		if (o->apop_digest)
			drv_fail("AUTH with both pass and digest");
		if (o->mech)
			buf_printf(&d->got, "{AUTH %s %s %s}", o->mech, u, o->pass);
		else
			buf_printf(&d->got, "{AUTH %s %s}", u, o->pass);
		if (strlen(o->pass) >= 4 && strlen(o->pass) < sizeof(d->secret))
			memcpy(d->secret, o->pass, strlen(o->pass) + 1);
		if (strcmp(o->pass, "secret") == 0) {
			if (strcmp(u, "alice") == 0 || strcmp(u, "alice@localhost") == 0) {
				in.result = POP3_AUTH_OK;
				in.msgs = drv_alice_msgs;
				in.nmsgs = 3;
			} else if (strcmp(u, "empty") == 0) {
				in.result = POP3_AUTH_OK;
			} else if (strcmp(u, "locked") == 0) {
				in.result = POP3_AUTH_IN_USE;
			} else if (strcmp(u, "broken") == 0) {
				in.result = POP3_AUTH_TEMPFAIL;
			}
		}
	} else {
		if (!o->apop_digest || !o->apop_timestamp || o->mech)
			drv_fail("AUTH without pass or digest");
		buf_printf(&d->got, "{APOP %s %s}", u, o->apop_digest);
		if (strcmp(u, "mrose") == 0 && strcmp(o->apop_digest, DRV_MROSE_DIGEST) == 0 &&
		    strcmp(o->apop_timestamp, DRV_MROSE_STAMP) == 0) {
			in.result = POP3_AUTH_OK;
			in.msgs = drv_mrose_msgs;
			in.nmsgs = 2;
		}
	}
	pop3_server_input(d->s, &in);
}

/* Drains every item, answering requests on the spot. */
static void drv_drain(struct drv *d)
{
	struct pop3_out o;
	while (pop3_server_next(d->s, &o)) {
		if (d->closed)
			drv_fail("output after CLOSE");
		switch (o.kind) {
		case POP3_OUT_REPLY: {
			/* Invariants: whole CRLF lines; status line <= 512. */
			if (o.len < 2 || memcmp(o.data + o.len - 2, "\r\n", 2) != 0)
				drv_fail("reply does not end in CRLF");
			const char *eol = memchr(o.data, '\n', o.len);
			if ((size_t)(eol - o.data) + 1 > 512)
				drv_fail("status line over 512 octets");
			/* "+ " is a SASL challenge (RFC 5034 4). */
			if (!(o.len >= 3 && memcmp(o.data, "+OK", 3) == 0) &&
			    !(o.len >= 4 && memcmp(o.data, "-ERR", 4) == 0) &&
			    !(o.len >= 2 && memcmp(o.data, "+ ", 2) == 0))
				drv_fail("reply is neither +OK, -ERR nor +");
			buf_append(&d->got, o.data, o.len);
			break;
		}
		case POP3_OUT_LOG:
			if (memchr(o.data, '\n', o.len) || memchr(o.data, '\r', o.len) ||
			    strlen(o.data) != o.len)
				drv_fail("log text not one line");
			if (d->secret[0] && strstr(o.data, d->secret))
				drv_fail("a password in a log line");
			buf_append(&d->logs, o.data, o.len);
			buf_append(&d->logs, "\n", 1);
			break;
		case POP3_OUT_AUTH:
			drv_answer_auth(d, &o);
			break;
		case POP3_OUT_SEND_MSG: {
			buf_printf(&d->got, "{SEND %zu %ld}", o.msg, o.top_lines);
			struct pop3_in in = { .kind = POP3_IN_SENT };
			pop3_server_input(d->s, &in);
			break;
		}
		case POP3_OUT_UPDATE: {
			buf_append_str(&d->got, "{UPDATE");
			for (size_t i = 0; i < o.ndel; i++)
				buf_printf(&d->got, "%c%zu", i ? ',' : ' ', o.del_idx[i]);
			buf_append_str(&d->got, "}");
			struct pop3_in in = { .kind = POP3_IN_UPDATE_RESULT,
					      .result = d->update_result };
			pop3_server_input(d->s, &in);
			break;
		}
		case POP3_OUT_CLOSE:
			buf_append_str(&d->got, "{CLOSE}");
			d->closed = true;
			break;
		case POP3_OUT_STLS: {
			buf_append_str(&d->got, "{STLS}");
			struct pop3_in in = { .kind = d->tls_fail ? POP3_IN_TLS_FAILED
								  : POP3_IN_TLS_STARTED };
			pop3_server_input(d->s, &in);
			break;
		}
		}
	}
}

static void drv_init(struct drv *d, const struct pop3_server_cfg *cfg, uint32_t seed)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->got, 0);
	buf_init(&d->logs, 0);
	d->rng = seed ? seed : 1;
	d->s = pop3_server_new(cfg);
	if (!d->s)
		drv_fail("pop3_server_new");
	drv_drain(d);
}

static void drv_clear(struct drv *d)
{
	pop3_server_free(&d->s);
	buf_release(&d->got);
	buf_release(&d->logs);
}

static size_t drv_chunk(struct drv *d, enum drv_mode mode, size_t left)
{
	switch (mode) {
	case DRV_WHOLE:
		return left;
	case DRV_BYTES:
		return 1;
	case DRV_RANDOM: {
		d->rng = d->rng * 1103515245u + 12345u;
		size_t n = 1 + (d->rng >> 16) % 23;
		return n < left ? n : left;
	}
	}
	return left;
}

/* Feeds in[0..len) chunk by chunk; each chunk is re-fed until taken
 * (feed stops at pending requests and a full backlog). Stops at close. */
static void drv_feed(struct drv *d, const void *in, size_t len, enum drv_mode mode)
{
	const uint8_t *p = in;
	size_t off = 0;
	while (off < len && !d->closed) {
		size_t end = off + drv_chunk(d, mode, len - off);
		while (off < end) {
			size_t n = pop3_server_feed(d->s, p + off, end - off);
			if (n > end - off)
				drv_fail("feed took more than given");
			off += n;
			d->consumed += n;
			drv_drain(d);
			if (n == 0) {
				if (!pop3_server_closed(d->s))
					d->stalled = true;
				return;
			}
		}
	}
}

#endif
