/* pop3_cmd: POP3 command line -> keyword + arguments.
 *
 * Pure and allocation-free; runs on attacker bytes in the network
 * process, so it only classifies and never trusts a length it did not
 * measure. The caller has already removed the line end and enforced the
 * line length limit.
 */
#include "proto/pop3_cmd.h"

#include <stdbool.h>
#include <string.h>

#include "proto/limits.h"

static const char *const verb_names[POP3_VERB_COUNT] = {
	[POP3_VERB_USER] = "USER", [POP3_VERB_PASS] = "PASS",
	[POP3_VERB_APOP] = "APOP", [POP3_VERB_QUIT] = "QUIT",
	[POP3_VERB_STAT] = "STAT", [POP3_VERB_LIST] = "LIST",
	[POP3_VERB_RETR] = "RETR", [POP3_VERB_DELE] = "DELE",
	[POP3_VERB_NOOP] = "NOOP", [POP3_VERB_RSET] = "RSET",
	[POP3_VERB_TOP] = "TOP",   [POP3_VERB_UIDL] = "UIDL",
	[POP3_VERB_CAPA] = "CAPA", [POP3_VERB_STLS] = "STLS",
	[POP3_VERB_AUTH] = "AUTH",
};

const char *pop3_verb_name(enum pop3_verb v)
{
	if ((unsigned)v >= POP3_VERB_COUNT)
		return "?";
	return verb_names[v];
}

static uint8_t ascii_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

/* RFC 2449 3: keyword = 3*4VCHAR, matched without regard to case. */
static int lookup(const uint8_t *kw, size_t len)
{
	if (len < 3 || len > 4)
		return -1;
	for (int v = 0; v < POP3_VERB_COUNT; v++) {
		const char *name = verb_names[v];
		if (strlen(name) != len)
			continue;
		size_t i = 0;
		while (i < len && ascii_upper(kw[i]) == (uint8_t)name[i])
			i++;
		if (i == len)
			return v;
	}
	return -1;
}

static bool is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

enum pop3_cmd_result pop3_cmd_parse(const uint8_t *line, size_t len,
				    struct pop3_cmd *c)
{
	memset(c, 0, sizeof(*c));
	size_t kw_end = 0;
	while (kw_end < len && line[kw_end] != ' ')
		kw_end++;
	int v = lookup(line, kw_end);

	if (v == POP3_VERB_PASS) {
		/* RFC 1939 7 notes: PASS has exactly one argument, so spaces
		 * in it belong to the password. A NUL would truncate it on
		 * its way to the verifier. */
		if (memchr(line, '\0', len))
			return POP3_CMD_BAD_CHAR;
		c->verb = POP3_VERB_PASS;
		if (kw_end + 1 < len) {
			c->args[0].p = (const char *)line + kw_end + 1;
			c->args[0].len = len - kw_end - 1;
			c->nargs = 1;
		}
		return POP3_CMD_OK;
	}

	for (size_t i = 0; i < len; i++)
		if (is_ctl(line[i]))
			return POP3_CMD_BAD_CHAR;
	if (v < 0)
		return POP3_CMD_UNKNOWN;
	c->verb = (enum pop3_verb)v;

	size_t i = kw_end;
	for (;;) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (c->nargs == POP3_CMD_MAX_ARGS)
			return POP3_CMD_TOO_MANY_ARGS;
		/* RFC 1939 3: each argument may be up to 40 characters;
		 * RFC 5034 4 bounds AUTH's initial response by the line
		 * length alone (a PLAIN response is rarely under 40). */
		bool initial_response = v == POP3_VERB_AUTH && c->nargs == 1;
		if (i - start > LIMIT_POP3_ARG && !initial_response)
			return POP3_CMD_ARG_TOO_LONG;
		c->args[c->nargs].p = (const char *)line + start;
		c->args[c->nargs].len = i - start;
		c->nargs++;
	}
	return POP3_CMD_OK;
}
