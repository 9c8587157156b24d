/* pop3_cmd: split one POP3 command line (without its CRLF) into keyword
 * and arguments (RFC 1939 3, RFC 2449 3). Pure, no allocation: the
 * result borrows from the line. */
#ifndef FACTEUR_PROTO_POP3_CMD_H
#define FACTEUR_PROTO_POP3_CMD_H

#include <stddef.h>
#include <stdint.h>

enum pop3_verb {
	POP3_VERB_USER,
	POP3_VERB_PASS,
	POP3_VERB_APOP,
	POP3_VERB_QUIT,
	POP3_VERB_STAT,
	POP3_VERB_LIST,
	POP3_VERB_RETR,
	POP3_VERB_DELE,
	POP3_VERB_NOOP,
	POP3_VERB_RSET,
	POP3_VERB_TOP,
	POP3_VERB_UIDL,
	POP3_VERB_CAPA,
	POP3_VERB_STLS,         /* RFC 2595 4 */
	POP3_VERB_AUTH,         /* RFC 5034 4 */
	POP3_VERB_COUNT,
};

enum pop3_cmd_result {
	POP3_CMD_OK,
	POP3_CMD_UNKNOWN,       /* empty line or keyword not in the list */
	POP3_CMD_BAD_CHAR,      /* NUL anywhere; a control character outside
	                         * PASS's argument */
	POP3_CMD_TOO_MANY_ARGS, /* more than POP3_CMD_MAX_ARGS */
	POP3_CMD_ARG_TOO_LONG,  /* an argument past LIMIT_POP3_ARG (not PASS's,
	                         * not AUTH's initial response) */
};

#define POP3_CMD_MAX_ARGS 2

struct pop3_arg {
	const char *p;          /* borrowed from the line, not NUL-terminated */
	size_t len;
};

struct pop3_cmd {
	enum pop3_verb verb;
	size_t nargs;
	struct pop3_arg args[POP3_CMD_MAX_ARGS];
};

/* Parses line[0..len) (CRLF already removed). The keyword is matched
 * case-insensitively. Arguments are separated by one or more spaces;
 * trailing spaces are ignored. PASS is special (RFC 1939 7 notes): its
 * single argument is everything after the first space, spaces included,
 * and may be as long as the line. An empty password gives nargs 0.
 * AUTH's second argument, the SASL initial response (RFC 5034 4), may
 * also be as long as the line: only the 255-octet line limit applies. */
enum pop3_cmd_result pop3_cmd_parse(const uint8_t *line, size_t len,
				    struct pop3_cmd *c);

/* The keyword in upper case, for logs and tests. */
const char *pop3_verb_name(enum pop3_verb v);

#endif
