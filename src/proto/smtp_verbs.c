/* smtp_verbs: which command is legal in which state, and the handler of
 * each verb.
 *
 * Handlers fill in a struct smtp_answer (code, enhanced code, text) and
 * never format or queue bytes themselves; smtp_session_answer() builds the
 * reply and counts client errors. Pure like the rest of the core: the
 * recipient check and the commit are requests to the adapter.
 *
 * Enhanced status codes (RFC 2034) are on every reply except the
 * greeting, the answers to HELO/EHLO and 354 (RFC 2034 3 (4), 4).
 * RFC 2034 4 also says they go out "regardless of whether or not EHLO is
 * employed by the client", so HELO sessions get them too. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "proto/smtp_session.h"
#include "proto/transcript.h"

typedef void handler_fn(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a);

/* What a command gets in a state where it is not legal. */
enum seq {
	SEQ_OK,
	SEQ_NEED_HELO,   /* 503 5.5.1 */
	SEQ_NEED_MAIL,   /* 503 5.5.1 */
	SEQ_NEED_RCPT,   /* 503 5.5.1, or 554 5.5.1 when all were refused */
	SEQ_NESTED_MAIL, /* 503 5.5.1 (RFC 5321 4.1.4) */
	SEQ_NOT_IMPL,    /* 502 5.5.1 */
};

struct verb_def {
	handler_fn *fn;
	enum seq seq[SMTP_ST_CMD_COUNT]; /* INIT READY MAIL RCPT */
};

static handler_fn do_helo, do_ehlo, do_mail, do_rcpt, do_data, do_rset,
	do_noop, do_quit, do_help, do_vrfy, do_expn;

#define ANY {SEQ_OK, SEQ_OK, SEQ_OK, SEQ_OK}
#define NOT_IMPL {SEQ_NOT_IMPL, SEQ_NOT_IMPL, SEQ_NOT_IMPL, SEQ_NOT_IMPL}

/* The table of legal commands per state (RFC 5321 4.1.4, 3.3); the EHLO
 * keywords are in ehlo_keywords(). STARTTLS and AUTH (smtp_auth.c) check
 * their own state: whether they are offered at all comes first. */
static const struct verb_def verbs[SMTP_VERB_COUNT] = {
	[SMTP_VERB_HELO] = {do_helo, ANY},
	[SMTP_VERB_EHLO] = {do_ehlo, ANY},
	[SMTP_VERB_MAIL] = {do_mail,
		{SEQ_NEED_HELO, SEQ_OK, SEQ_NESTED_MAIL, SEQ_NESTED_MAIL}},
	[SMTP_VERB_RCPT] = {do_rcpt,
		{SEQ_NEED_MAIL, SEQ_NEED_MAIL, SEQ_OK, SEQ_OK}},
	[SMTP_VERB_DATA] = {do_data,
		{SEQ_NEED_MAIL, SEQ_NEED_MAIL, SEQ_NEED_RCPT, SEQ_OK}},
	[SMTP_VERB_RSET] = {do_rset, ANY},
	[SMTP_VERB_NOOP] = {do_noop, ANY},
	[SMTP_VERB_QUIT] = {do_quit, ANY},
	[SMTP_VERB_HELP] = {do_help, ANY},
	[SMTP_VERB_VRFY] = {do_vrfy, ANY},
	[SMTP_VERB_EXPN] = {do_expn, ANY},
	[SMTP_VERB_STARTTLS] = {smtp_auth_do_starttls, ANY},
	[SMTP_VERB_AUTH] = {smtp_auth_do_auth, ANY},
	[SMTP_VERB_BDAT] = {NULL, NOT_IMPL},
	[SMTP_VERB_ETRN] = {NULL, NOT_IMPL},
	[SMTP_VERB_TURN] = {NULL, NOT_IMPL},
	[SMTP_VERB_SEND] = {NULL, NOT_IMPL},
	[SMTP_VERB_SOML] = {NULL, NOT_IMPL},
	[SMTP_VERB_SAML] = {NULL, NOT_IMPL},
};

static void set1(struct smtp_answer *a, unsigned code, const char *esc,
	const char *text)
{
	a->code = code;
	a->esc = esc;
	a->lines[0] = text;
	a->nlines = 1;
}

static void seq_answer(struct smtp_server *s, enum seq q,
	struct smtp_answer *a)
{
	switch (q) {
	case SEQ_OK:
		BUG("smtp_verbs: seq_answer for a legal command");
	case SEQ_NEED_HELO:
		set1(a, 503, "5.5.1", "Error: send HELO/EHLO first");
		break;
	case SEQ_NEED_MAIL:
		set1(a, 503, "5.5.1", "Error: need MAIL command");
		break;
	case SEQ_NEED_RCPT:
		/* RFC 5321 3.3: "command out of sequence" (503) or "no valid
		 * recipients" (554) */
		if (s->rcpt_tried)
			set1(a, 554, "5.5.1", "Error: no valid recipients");
		else
			set1(a, 503, "5.5.1", "Error: need RCPT command");
		break;
	case SEQ_NESTED_MAIL:
		set1(a, 503, "5.5.1", "Error: nested MAIL command");
		break;
	case SEQ_NOT_IMPL:
		set1(a, 502, "5.5.1", "Command not implemented");
		break;
	}
}

void smtp_verbs_dispatch(struct smtp_server *s, const uint8_t *line,
	size_t len)
{
	struct smtp_answer a = {0};
	struct smtp_cmd c;
	if (s->transcript) {
		char safe[700];
		transcript_client_line(line, len, false, safe, sizeof safe);
		smtp_session_log(s, "C: %s", safe);
	}
	switch (smtp_cmd_parse(line, len, &c)) {
	case SMTP_CMD_OK: {
		const struct verb_def *v = &verbs[c.verb];
		enum seq q = v->seq[s->state];
		if (q != SEQ_OK)
			seq_answer(s, q, &a);
		else
			v->fn(s, &c, &a);
		break;
	}
	case SMTP_CMD_EMPTY:
		set1(&a, 500, "5.5.2", "Error: empty command");
		break;
	case SMTP_CMD_NUL:
		set1(&a, 500, "5.5.2", "Error: NUL byte in command");
		break;
	case SMTP_CMD_UNKNOWN:
		set1(&a, 500, "5.5.1", "Error: command not recognized");
		break;
	}
	smtp_session_answer(s, &a);
}

/* ---- HELO / EHLO (RFC 5321 4.1.1.1) ---- */

/* The argument should be a Domain or address literal, but clients send
 * NetBIOS names, underscores and worse; nothing here depends on it being
 * a real name, so any single printable word is taken (as Postfix does by
 * default). It only ever reaches the log (escaped) and the adapter. */
static bool helo_arg_ok(const struct smtp_cmd *c)
{
	if (c->args_len == 0 || c->args_len > LIMIT_SMTP_DOMAIN)
		return false;
	for (size_t i = 0; i < c->args_len; i++) {
		unsigned char ch = (unsigned char)c->args[i];
		if (ch <= 0x20 || ch >= 0x7f)
			return false;
	}
	return true;
}

static bool greet(struct smtp_server *s, const struct smtp_cmd *c,
	bool ehlo, struct smtp_answer *a)
{
	if (!helo_arg_ok(c)) {
		set1(a, 501, "5.5.4", ehlo ? "Syntax: EHLO hostname"
					   : "Syntax: HELO hostname");
		return false;
	}
	char *h = malloc(c->args_len + 1);
	if (!h) {
		smtp_session_oom(s);
		return false;
	}
	memcpy(h, c->args, c->args_len);
	h[c->args_len] = '\0';
	/* RFC 5321 4.1.4: a HELO/EHLO in a session resets any transaction */
	smtp_session_reset_txn(s);
	free(s->helo);
	s->helo = h;
	s->ehlo = ehlo;
	s->state = SMTP_ST_READY;
	char e[320];
	smtp_session_log(s, "%s name=%s", ehlo ? "ehlo" : "helo",
		smtp_session_esc(e, sizeof e, c->args, c->args_len));
	return true;
}

static void do_helo(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	if (greet(s, c, false, a))
		set1(a, 250, NULL, s->hostname);
}

/* The EHLO keywords (RFC 5321 4.1.1.1), one per line after the hostname.
 * STARTTLS only before TLS (RFC 3207 4.2); AUTH only where it will be
 * accepted: in TLS, or in plaintext when configured so (RFC 4954 4). With
 * neither, the list is the same as before they existed. */
static void ehlo_keywords(const struct smtp_server *s, struct smtp_answer *a)
{
	/* RFC 1870 4: "SIZE" SP the fixed maximum, in octets */
	static const char size_kw[] = "SIZE ";
	memcpy(a->scratch, size_kw, sizeof size_kw - 1);
	smtp_session_u64(a->scratch + sizeof size_kw - 1, s->max_msg_size);
	a->lines[a->nlines++] = a->scratch;
	a->lines[a->nlines++] = "PIPELINING";          /* RFC 2920 */
	a->lines[a->nlines++] = "8BITMIME";            /* RFC 6152 */
	a->lines[a->nlines++] = "ENHANCEDSTATUSCODES"; /* RFC 2034 */
	if (s->starttls_offered && !s->tls)
		a->lines[a->nlines++] = "STARTTLS";    /* RFC 3207 */
	if (smtp_auth_advertised(s))
		a->lines[a->nlines++] = "AUTH " SASL_MECH_LIST; /* RFC 4954 */
}

static void do_ehlo(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	if (!greet(s, c, true, a))
		return;
	set1(a, 250, NULL, s->hostname);
	ehlo_keywords(s, a);
}

/* ---- MAIL (RFC 5321 4.1.1.2, RFC 1870, RFC 6152) ---- */

/* May the authenticated user send as from? The account itself (letter
 * case aside), or the null reverse-path: MDNs (RFC 8098 2.1: "SHOULD be
 * null") and vacation replies are sent with <> through submission by
 * ordinary clients, and <> claims no address to spoof. */
static bool sender_owned(const struct smtp_server *s,
	const struct smtp_path *from)
{
	if (from->len == 0)
		return true;
	return strlen(s->auth_user) == from->len
		&& strncasecmp(s->auth_user, from->addr, from->len) == 0;
}

static void do_mail(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	/* RFC 6409 4.3: submission requires AUTH before MAIL; RFC 4954 6
	 * names the reply. */
	if (s->submission && !s->authenticated) {
		set1(a, 530, "5.7.0", "Authentication required");
		return;
	}
	struct smtp_mail_args m;
	switch (smtp_addr_parse_mail(c->args, c->args_len, &m)) {
	case SMTP_ADDR_OK:
		break;
	case SMTP_ADDR_BAD_PATH:
		set1(a, 501, "5.1.7", "Bad sender address syntax");
		return;
	case SMTP_ADDR_PATH_TOO_LONG:
		/* RFC 5321 4.5.3.1.9: "501 Path too long" */
		set1(a, 501, "5.1.7", "Path too long");
		return;
	case SMTP_ADDR_SYNTAX:
		set1(a, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return;
	case SMTP_ADDR_BAD_VALUE:
		set1(a, 501, "5.5.4", "Bad parameter value");
		return;
	case SMTP_ADDR_UNKNOWN_PARAM:
		/* RFC 5321 4.1.1.11 / 3.5.3: 555 for unrecognised parameters */
		set1(a, 555, "5.5.4", "Unsupported parameter");
		return;
	}
	/* RFC 4954 5: AUTH= is accepted (and its value ignored: no client
	 * is trusted to vouch for another submitter) where AUTH is
	 * advertised; elsewhere it is as unknown as any parameter. */
	if (m.has_auth && !smtp_auth_advertised(s)) {
		set1(a, 555, "5.5.4", "Unsupported parameter");
		return;
	}
	/* RFC 6409 6.1: an authenticated client sends as itself. This
	 * holds on any port, not only submission: it is what will stop an
	 * account from relaying in someone else's name. */
	if (s->authenticated && !sender_owned(s, &m.from)) {
		set1(a, 553, "5.7.1", "Sender address rejected: not owned by user");
		char e[320];
		smtp_session_log(s, "mail from=<%s> result=not-owned",
			smtp_session_esc(e, sizeof e, m.from.addr, m.from.len));
		return;
	}
	/* RFC 1870 6.1: a declared size over the fixed limit is refused
	 * before any data is sent. */
	if (m.has_size && m.size > s->max_msg_size) {
		set1(a, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		return;
	}
	char *from = malloc(m.from.len + 1);
	if (!from) {
		smtp_session_oom(s);
		return;
	}
	memcpy(from, m.from.addr, m.from.len + 1);
	smtp_session_reset_txn(s);
	s->mail_from = from;
	s->body_8bit = m.body == SMTP_BODY_8BITMIME;
	s->state = SMTP_ST_MAIL;
	char e[320], size[24] = "";
	if (m.has_size)
		smtp_session_u64(size, m.size);
	smtp_session_log(s, "mail from=<%s>%s%s%s",
		smtp_session_esc(e, sizeof e, m.from.addr, m.from.len),
		m.has_size ? " size=" : "", size,
		m.body == SMTP_BODY_8BITMIME ? " body=8bitmime"
		: m.body == SMTP_BODY_7BIT ? " body=7bit" : "");
	set1(a, 250, "2.1.0", "Ok");
}

/* ---- RCPT (RFC 5321 4.1.1.3) ---- */

static void log_rcpt(struct smtp_server *s, const struct smtp_path *p,
	const char *result)
{
	char e[320];
	smtp_session_log(s, "rcpt to=<%s> result=%s",
		smtp_session_esc(e, sizeof e, p->addr, p->len), result);
}

static void do_rcpt(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	s->rcpt_tried = true;
	switch (smtp_addr_parse_rcpt(c->args, c->args_len, &s->rcpt_asked)) {
	case SMTP_ADDR_OK:
		break;
	case SMTP_ADDR_BAD_PATH:
		set1(a, 501, "5.1.3", "Bad recipient address syntax");
		return;
	case SMTP_ADDR_PATH_TOO_LONG:
		set1(a, 501, "5.1.3", "Path too long");
		return;
	case SMTP_ADDR_SYNTAX:
	case SMTP_ADDR_BAD_VALUE:
		set1(a, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return;
	case SMTP_ADDR_UNKNOWN_PARAM:
		set1(a, 555, "5.5.4", "Unsupported parameter");
		return;
	}
	/* RFC 5321 4.5.3.1.10: the recipient limit is a temporary 452, so
	 * the client sends the rest in a later transaction. */
	if (s->nrcpts >= s->max_rcpts) {
		log_rcpt(s, &s->rcpt_asked, "too-many");
		set1(a, 452, "4.5.3", "Too many recipients");
		return;
	}
	smtp_session_request_rcpt(s);
}

void smtp_verbs_rcpt_result(struct smtp_server *s, int result)
{
	struct smtp_answer a = {0};
	const char *what = NULL;
	switch ((enum smtp_rcpt_result)result) {
	case SMTP_RCPT_OK:
		if (s->nrcpts == s->rcpts_cap) {
			size_t cap = s->rcpts_cap ? s->rcpts_cap * 2 : 8;
			char **r = realloc(s->rcpts, cap * sizeof *r);
			if (!r) {
				smtp_session_oom(s);
				return;
			}
			s->rcpts = r;
			s->rcpts_cap = cap;
		}
		char *p = malloc(s->rcpt_asked.len + 1);
		if (!p) {
			smtp_session_oom(s);
			return;
		}
		memcpy(p, s->rcpt_asked.addr, s->rcpt_asked.len + 1);
		s->rcpts[s->nrcpts++] = p;
		s->state = SMTP_ST_RCPT;
		set1(&a, 250, "2.1.5", "Ok");
		what = "accepted";
		break;
	case SMTP_RCPT_UNKNOWN_USER:
		/* Not counted as a client error: a list with stale
		 * addresses is no abuse, and the session must go on. */
		set1(&a, 550, "5.1.1", "Recipient address rejected: User unknown");
		a.not_an_error = true;
		what = "unknown-user";
		break;
	case SMTP_RCPT_RELAY_DENIED:
		set1(&a, 554, "5.7.1", "Relay access denied");
		what = "relay-denied";
		break;
	case SMTP_RCPT_TEMPFAIL:
		set1(&a, 451, "4.3.0", "Temporary failure, try again later");
		what = "tempfail";
		break;
	case SMTP_RCPT_RELAY_UNAVAILABLE:
		/* RFC 3463 4.4.0: a routing problem, temporary: the client
		 * keeps the message and retries once relaying exists */
		set1(&a, 451, "4.4.0",
			"Relaying to remote domains is not available yet");
		what = "relay-unavailable";
		break;
	case SMTP_RCPT_LOOP:
		set1(&a, 550, "5.4.6", "Recipient address rejected: alias expansion loops");
		a.not_an_error = true;
		what = "alias-loop";
		break;
	}
	if (!what)
		BUG("smtp_verbs: unknown recipient result");
	log_rcpt(s, &s->rcpt_asked, what);
	smtp_session_answer(s, &a);
}

/* ---- DATA (RFC 5321 4.1.1.4) ---- */

static void do_data(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	if (c->args_len) {
		set1(a, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	smtp_data_init(&s->data, s->max_msg_size, s->max_text_line);
	s->state = SMTP_ST_DATA;
	/* 3xx replies carry no enhanced code (RFC 2034 4) */
	set1(a, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* ---- the rest ---- */

static void do_rset(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	if (c->args_len) {
		set1(a, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	smtp_session_reset_txn(s);
	set1(a, 250, "2.0.0", "Ok");
}

static void do_noop(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	/* RFC 5321 4.1.1.9: NOOP may carry a string, which is ignored */
	set1(a, 250, "2.0.0", "Ok");
}

static void do_quit(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	/* RFC 5321 4.1.1.10: "QUIT" CRLF. Arguments are ignored rather than
	 * refused: the client wants to leave either way. */
	set1(a, 221, "2.0.0", "Bye");
	a->close_after = SMTP_CLOSE_QUIT;
}

static void do_help(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	set1(a, 214, "2.0.0",
		"Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY");
}

static void do_vrfy(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	if (c->args_len == 0) {
		set1(a, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	/* RFC 5321 3.5.3: 252 when the server will not say whether a user
	 * exists (and it never does: that would help address harvesting,
	 * 7.3). vrfy_enabled is kept for a later real lookup. */
	set1(a, 252, "2.5.0",
		"Cannot VRFY user, but will accept message and attempt delivery");
}

static void do_expn(struct smtp_server *s, const struct smtp_cmd *c,
	struct smtp_answer *a)
{
	/* RFC 5321 7.3: mailing list expansion is disclosed to no one */
	set1(a, 502, "5.5.1", "EXPN not available");
}
