/* smtp_cmd: splits one SMTP command line into a verb and its arguments
 * (RFC 5321 4.1.1). Knows nothing of sessions, paths or parameters. */
#ifndef FACTEUR_PROTO_SMTP_CMD_H
#define FACTEUR_PROTO_SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every verb the server recognises. Verbs the server knows but does not
 * implement (yet) are listed too, so they get "502 not implemented"
 * rather than "500 unrecognised" and a later extension (STARTTLS, AUTH)
 * only needs a handler. */
enum smtp_verb {
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_HELP,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_STARTTLS, /* RFC 3207 */
	SMTP_VERB_AUTH,     /* RFC 4954 */
	SMTP_VERB_BDAT,     /* RFC 3030 */
	SMTP_VERB_ETRN,     /* RFC 1985 */
	SMTP_VERB_TURN,     /* RFC 821, obsolete */
	SMTP_VERB_SEND,     /* RFC 821, obsolete */
	SMTP_VERB_SOML,     /* RFC 821, obsolete */
	SMTP_VERB_SAML,     /* RFC 821, obsolete */
};
#define SMTP_VERB_COUNT ((size_t)SMTP_VERB_SAML + 1)

enum smtp_cmd_result {
	SMTP_CMD_OK,
	SMTP_CMD_EMPTY,   /* nothing but spaces */
	SMTP_CMD_NUL,     /* a NUL byte somewhere in the line */
	SMTP_CMD_UNKNOWN, /* the first word is no verb we know */
};

struct smtp_cmd {
	enum smtp_verb verb;
	/* Arguments: the line after the verb and its separating spaces, with
	 * trailing spaces and tabs removed; points into the parsed line.
	 * args_len is 0 when the verb stands alone. */
	const char *args;
	size_t args_len;
};

/* Parses line[0..len): the command without its CRLF or LF. Verbs are
 * case-insensitive (RFC 5321 2.4). The verb must be followed by SP or the
 * end of the line. out->args borrows from line. */
enum smtp_cmd_result smtp_cmd_parse(const uint8_t *line, size_t len,
	struct smtp_cmd *out);
/* The verb's canonical upper-case spelling ("MAIL"). */
const char *smtp_cmd_verb_name(enum smtp_verb v);

#endif
