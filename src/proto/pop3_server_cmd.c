/* pop3_server_cmd: the POP3 commands (RFC 1939 4-7, RFC 2449 5) as a
 * table of what is legal in which state, and one handler per command
 * (STLS and AUTH are in pop3_auth.c).
 * Handlers only decide: they fill a struct pop3_reply, and the formatter
 * in pop3_server.c builds the bytes. They also hold the maildrop listing
 * the adapter gave at login (sizes, unique-ids, deletion marks). Pure: no
 * I/O; runs on attacker bytes in the network process.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/strnum.h"
#include "proto/pop3_cmd.h"
#include "proto/transcript.h"
#include "proto/pop3_server_int.h"

/* ---- the maildrop listing ---------------------------------------- */

static bool uidl_valid(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > POP3_UIDL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x21 || (unsigned char)u[i] > 0x7e)
			return false;
	return true;
}

/* A listed name that is not a valid unique-id (RFC 1939 7) is replaced by
 * a stable hash of it: a lossy substitution could make two messages share
 * an id, and a "leave mail on server" client would then skip one. A
 * missing name has nothing stable to hash; its position keeps it unique. */
static void uidl_hashed(const char *u, size_t idx, char out[34])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h1 = 0xcbf29ce484222325u, h2 = 0x84222325cbf29ce4u;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
		h1 = (h1 ^ *p) * 0x100000001b3u;
		h2 = ((h2 ^ *p) * 0x100000001b3u) ^ (h2 >> 29);
	}
	if (!*u) {
		for (int i = 0; i < 8; i++) {
			unsigned char b =
				(unsigned char)(((uint64_t)idx >> (8 * i)) &
						0xff);
			h1 = (h1 ^ b) * 0x100000001b3u;
			h2 = ((h2 ^ b) * 0x100000001b3u) ^ (h2 >> 29);
		}
	}
	out[0] = '~';
	for (int i = 0; i < 16; i++) {
		out[1 + i] = hex[(h1 >> (60 - 4 * i)) & 15];
		out[17 + i] = hex[(h2 >> (60 - 4 * i)) & 15];
	}
	out[33] = '\0';
}

void pop3_listing_free(struct pop3_server *s)
{
	free(s->msgs);
	free(s->uidl_block);
	free(s->del_idx);
	s->msgs = NULL;
	s->uidl_block = NULL;
	s->del_idx = NULL;
	s->nmsgs = 0;
}

bool pop3_listing_copy(struct pop3_server *s, const struct pop3_msg_info *m,
		       size_t n)
{
	if (n > LIMIT_POP3_MESSAGES)
		n = LIMIT_POP3_MESSAGES; /* the oldest, as listed */
	if (n > 0 && !m)
		BUG("pop3 listing without messages");
	size_t total = 1;
	for (size_t i = 0; i < n; i++) {
		const char *u = m[i].uidl ? m[i].uidl : "";
		total += (uidl_valid(u) ? strlen(u) : 33) + 1;
	}
	s->msgs = calloc(n ? n : 1, sizeof(*s->msgs));
	s->del_idx = calloc(n ? n : 1, sizeof(*s->del_idx));
	s->uidl_block = malloc(total);
	if (!s->msgs || !s->del_idx || !s->uidl_block) {
		pop3_listing_free(s);
		return false;
	}
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		const char *u = m[i].uidl ? m[i].uidl : "";
		char hashed[34];
		if (!uidl_valid(u)) {
			uidl_hashed(u, i, hashed);
			u = hashed;
		}
		size_t len = strlen(u);
		memcpy(s->uidl_block + off, u, len + 1);
		s->msgs[i].uidl = s->uidl_block + off;
		s->msgs[i].octets = m[i].octets;
		off += len + 1;
	}
	s->nmsgs = n;
	return true;
}

/* Non-deleted messages and their total size (saturating). */
void pop3_listing_stat(const struct pop3_server *s, size_t *count,
		       uint64_t *octets)
{
	*count = 0;
	*octets = 0;
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].deleted)
			continue;
		(*count)++;
		uint64_t o = s->msgs[i].octets;
		*octets = o > UINT64_MAX - *octets ? UINT64_MAX : *octets + o;
	}
}

/* RFC 1939 5: a message-number argument. Strict (no sign, no junk, no
 * wrap-around: "LIST 4294967297" is not message 1); deleted messages do
 * not exist unless the caller wants to say so itself. */
static bool msg_arg(const struct pop3_server *s, const struct pop3_arg *a,
		    bool deleted_ok, struct pop3_reply *r, size_t *idx)
{
	uint64_t n;
	if (!strnum_u64(a->p, a->len, UINT64_MAX, &n)) {
		bool digits = a->len > 0;
		for (size_t i = 0; i < a->len; i++)
			digits = digits && a->p[i] >= '0' && a->p[i] <= '9';
		if (digits) /* only too big */
			pop3_reply_err(r, NULL, "no such message");
		else
			pop3_reply_err(r, NULL, "invalid message number");
		return false;
	}
	if (n == 0 || n > s->nmsgs || (!deleted_ok && s->msgs[n - 1].deleted)) {
		pop3_reply_err(r, NULL, "no such message");
		return false;
	}
	*idx = (size_t)(n - 1);
	return true;
}

/* ---- AUTHORIZATION ---------------------------------------------- */

static void copy_arg(char *dst, size_t dstsz, const struct pop3_arg *a)
{
	size_t n = a->len < dstsz - 1 ? a->len : dstsz - 1;
	memcpy(dst, a->p, n);
	dst[n] = '\0';
}

static void cmd_user(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	if (pop3_auth_refused(s, r, "user"))
		return;
	/* The parser capped the argument at LIMIT_POP3_ARG (RFC 1939 3).
	 * No hint whether the name exists: the answer comes after PASS. */
	copy_arg(s->user, sizeof(s->user), &c->args[0]);
	s->have_user = true;
	pop3_reply_ok(r, "send PASS");
}

static void cmd_pass(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	/* Refused before TLS even without a USER: the password is on the
	 * wire already, the client must learn why it was not taken. */
	if (pop3_auth_refused(s, r, "pass"))
		return;
	/* RFC 1939 7: PASS only right after a successful USER. */
	if (!s->have_user) {
		pop3_reply_err(r, NULL, "USER first");
		return;
	}
	if (c->nargs == 0) {
		pop3_reply_err(r, NULL, "missing password");
		return;
	}
	/* The line length limit bounds the password; the buffer is as big. */
	if (c->args[0].len >= s->max_line)
		BUG("pop3 password longer than the line");
	memcpy(s->pass, c->args[0].p, c->args[0].len);
	s->pass[c->args[0].len] = '\0';
	s->method = POP3_METHOD_USER;
	r->status = POP3_RP_NONE;
	r->after = POP3_AFTER_AUTH;
}

static void cmd_apop(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	if (!s->apop_enabled) {
		pop3_reply_err(r, NULL, "APOP not available");
		return;
	}
	if (pop3_auth_refused(s, r, "apop"))
		return;
	/* RFC 1939 7: the digest is 16 octets in hexadecimal; compare it in
	 * lower case, whatever case the client used. */
	const struct pop3_arg *d = &c->args[1];
	if (d->len != POP3_DIGEST_LEN) {
		pop3_reply_err(r, NULL, "invalid APOP digest");
		return;
	}
	char digest[POP3_DIGEST_LEN + 1];
	for (size_t i = 0; i < POP3_DIGEST_LEN; i++) {
		char ch = d->p[i];
		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
			pop3_reply_err(r, NULL, "invalid APOP digest");
			return;
		}
		digest[i] = ch;
	}
	digest[POP3_DIGEST_LEN] = '\0';
	memcpy(s->digest, digest, sizeof(digest));
	copy_arg(s->user, sizeof(s->user), &c->args[0]);
	s->have_user = true;
	s->method = POP3_METHOD_APOP;
	r->status = POP3_RP_NONE;
	r->after = POP3_AFTER_AUTH;
}

/* ---- TRANSACTION -------------------------------------------------- */

static void cmd_stat(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	size_t n;
	uint64_t octets;
	pop3_listing_stat(s, &n, &octets);
	pop3_reply_ok(r, "%zu %llu", n, (unsigned long long)octets);
}

static void cmd_list(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	size_t i;
	if (c->nargs == 1) {
		if (msg_arg(s, &c->args[0], false, r, &i))
			pop3_reply_ok(r, "%zu %llu", i + 1,
				      (unsigned long long)s->msgs[i].octets);
		return;
	}
	size_t n;
	uint64_t octets;
	pop3_listing_stat(s, &n, &octets);
	for (i = 0; i < s->nmsgs; i++)
		if (!s->msgs[i].deleted &&
		    !pop3_server_multi(s, "%zu %llu", i + 1,
				       (unsigned long long)s->msgs[i].octets))
			return;
	pop3_reply_ok(r, "%zu messages (%llu octets)", n,
		      (unsigned long long)octets);
	r->multi = true;
}

static void cmd_uidl(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	size_t i;
	if (c->nargs == 1) {
		if (msg_arg(s, &c->args[0], false, r, &i))
			pop3_reply_ok(r, "%zu %s", i + 1, s->msgs[i].uidl);
		return;
	}
	for (i = 0; i < s->nmsgs; i++)
		if (!s->msgs[i].deleted &&
		    !pop3_server_multi(s, "%zu %s", i + 1, s->msgs[i].uidl))
			return;
	pop3_reply_ok(r, "unique-id listing follows");
	r->multi = true;
}

static void cmd_retr(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	size_t i;
	if (!msg_arg(s, &c->args[0], false, r, &i))
		return;
	pop3_reply_ok(r, "%llu octets", (unsigned long long)s->msgs[i].octets);
	r->after = POP3_AFTER_SEND;
	r->msg = i;
	r->top_lines = -1;
	pop3_server_log(s, "retr msg=%zu octets=%llu", i + 1,
			(unsigned long long)s->msgs[i].octets);
}

static void cmd_top(struct pop3_server *s, const struct pop3_cmd *c,
		    struct pop3_reply *r)
{
	size_t i;
	uint64_t lines;
	if (!msg_arg(s, &c->args[0], false, r, &i))
		return;
	/* RFC 1939 7: n must be a non-negative number. */
	if (!strnum_u64(c->args[1].p, c->args[1].len, LONG_MAX, &lines)) {
		pop3_reply_err(r, NULL, "invalid number of lines");
		return;
	}
	pop3_reply_ok(r, "top of message follows");
	r->after = POP3_AFTER_SEND;
	r->msg = i;
	r->top_lines = (long)lines;
	pop3_server_log(s, "top msg=%zu lines=%llu", i + 1,
			(unsigned long long)lines);
}

static void cmd_dele(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	size_t i;
	if (!msg_arg(s, &c->args[0], true, r, &i))
		return;
	if (s->msgs[i].deleted) {
		pop3_reply_err(r, NULL, "already deleted");
		return;
	}
	/* RFC 1939 6: only marked; removed in the UPDATE state. */
	s->msgs[i].deleted = true;
	pop3_reply_ok(r, "message %zu deleted", i + 1);
	pop3_server_log(s, "dele msg=%zu", i + 1);
}

static void cmd_rset(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	for (size_t i = 0; i < s->nmsgs; i++)
		s->msgs[i].deleted = false;
	size_t n;
	uint64_t octets;
	pop3_listing_stat(s, &n, &octets);
	pop3_reply_ok(r, "maildrop has %zu messages (%llu octets)", n,
		      (unsigned long long)octets);
}

/* ---- any state ---------------------------------------------------- */

static void cmd_noop(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	pop3_reply_ok(r, "%s", "");
}

static void cmd_capa(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	/* RFC 2449 5: what is available in AUTHORIZATION is announced in
	 * both states (RFC 5034 3: SASL too, even after AUTH), so USER and
	 * SASL are listed after login as before it; login was only possible
	 * where they are listed. They are not listed where a password would
	 * cross the wire in the clear (RFC 2595 2.3, RFC 5034 4). STLS only
	 * where it is "permitted in the current state" (RFC 2595 4):
	 * AUTHORIZATION, before TLS. */
	bool login = pop3_auth_allowed(s);
	bool stls = s->state == POP3_ST_AUTHORIZATION && s->stls_offered &&
		    !s->tls;
	const struct {
		const char *text;
		bool shown;
	} caps[] = {
		{ "TOP", true },
		{ "UIDL", true },
		{ "USER", login },
		{ "RESP-CODES", true },
		{ "PIPELINING", true },
		{ "AUTH-RESP-CODE", true },
		{ "SASL " SASL_MECH_LIST, login && s->sasl_offered },
		{ "STLS", stls },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (caps[i].shown && !pop3_server_multi(s, "%s", caps[i].text))
			return;
	if (s->implementation[0] &&
	    !pop3_server_multi(s, "IMPLEMENTATION %s", s->implementation))
		return;
	pop3_reply_ok(r, "Capability list follows");
	r->multi = true;
}

static void cmd_quit(struct pop3_server *s, const struct pop3_cmd *c,
		     struct pop3_reply *r)
{
	if (s->state == POP3_ST_AUTHORIZATION) {
		/* RFC 1939 4: QUIT here ends the session without UPDATE. */
		pop3_reply_ok(r, "facteur POP3 server signing off");
		r->after = POP3_AFTER_CLOSE;
		pop3_server_log(s, "quit state=authorization");
		return;
	}
	/* RFC 1939 6: enter UPDATE; the adapter removes the marked messages
	 * and releases the lock, even when nothing is marked. */
	r->status = POP3_RP_NONE;
	r->after = POP3_AFTER_UPDATE;
}

/* RFC 1939 4-7: the legal commands per state, and their arguments. */
static const struct {
	unsigned states;
	unsigned char min_args, max_args;
	void (*fn)(struct pop3_server *, const struct pop3_cmd *,
		   struct pop3_reply *);
} cmds[POP3_VERB_COUNT] = {
	[POP3_VERB_USER] = { POP3_STATES_AUTH, 1, 1, cmd_user },
	[POP3_VERB_PASS] = { POP3_STATES_AUTH, 0, 1, cmd_pass },
	[POP3_VERB_APOP] = { POP3_STATES_AUTH, 2, 2, cmd_apop },
	[POP3_VERB_QUIT] = { POP3_STATES_ANY, 0, 0, cmd_quit },
	[POP3_VERB_STAT] = { POP3_STATES_TRANS, 0, 0, cmd_stat },
	[POP3_VERB_LIST] = { POP3_STATES_TRANS, 0, 1, cmd_list },
	[POP3_VERB_RETR] = { POP3_STATES_TRANS, 1, 1, cmd_retr },
	[POP3_VERB_DELE] = { POP3_STATES_TRANS, 1, 1, cmd_dele },
	[POP3_VERB_NOOP] = { POP3_STATES_TRANS, 0, 0, cmd_noop },
	[POP3_VERB_RSET] = { POP3_STATES_TRANS, 0, 0, cmd_rset },
	[POP3_VERB_TOP] = { POP3_STATES_TRANS, 2, 2, cmd_top },
	[POP3_VERB_UIDL] = { POP3_STATES_TRANS, 0, 1, cmd_uidl },
	[POP3_VERB_CAPA] = { POP3_STATES_ANY, 0, 0, cmd_capa },
	/* RFC 2595 4, RFC 5034 4: AUTHORIZATION only. */
	[POP3_VERB_STLS] = { POP3_STATES_AUTH, 0, 0, pop3_auth_cmd_stls },
	[POP3_VERB_AUTH] = { POP3_STATES_AUTH, 0, 2, pop3_auth_cmd_auth },
};

void pop3_server_command(struct pop3_server *s, const uint8_t *line, size_t len)
{
	struct pop3_reply r = { .status = POP3_RP_NONE };
	struct pop3_cmd c;
	if (s->transcript) {
		char safe[700];
		transcript_client_line(line, len, true, safe, sizeof safe);
		pop3_server_log(s, "C: %s", safe);
	}
	switch (pop3_cmd_parse(line, len, &c)) {
	case POP3_CMD_OK:
		if (!pop3_auth_verb_offered(s, c.verb))
			pop3_reply_err(&r, NULL, "unknown command");
		else if (!(cmds[c.verb].states & (1u << s->state)))
			pop3_reply_err(&r, NULL,
				       "command not valid in this state");
		else if (c.nargs < cmds[c.verb].min_args ||
			 c.nargs > cmds[c.verb].max_args)
			pop3_reply_err(&r, NULL,
				       "wrong number of arguments for %s",
				       pop3_verb_name(c.verb));
		else
			cmds[c.verb].fn(s, &c, &r);
		break;
	case POP3_CMD_UNKNOWN:
		pop3_reply_err(&r, NULL, "unknown command");
		break;
	case POP3_CMD_BAD_CHAR:
		pop3_reply_err(&r, NULL, "invalid character in command");
		break;
	case POP3_CMD_TOO_MANY_ARGS:
		pop3_reply_err(&r, NULL, "too many arguments");
		break;
	case POP3_CMD_ARG_TOO_LONG:
		pop3_reply_err(&r, NULL, "argument too long");
		break;
	}
	pop3_server_emit(s, &r);
}
