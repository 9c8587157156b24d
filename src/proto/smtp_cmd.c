/* smtp_cmd: verb and argument splitting for SMTP command lines.
 *
 * Pure: works on a buffer the session already cut at the line end, never
 * allocates. Everything after the verb is handed on unparsed; paths and
 * parameters are smtp_addr's job. */
#include "proto/smtp_cmd.h"

#include <string.h>

static const char *const verb_names[SMTP_VERB_COUNT] = {
	[SMTP_VERB_HELO] = "HELO",
	[SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_MAIL] = "MAIL",
	[SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA",
	[SMTP_VERB_RSET] = "RSET",
	[SMTP_VERB_NOOP] = "NOOP",
	[SMTP_VERB_QUIT] = "QUIT",
	[SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_VRFY] = "VRFY",
	[SMTP_VERB_EXPN] = "EXPN",
	[SMTP_VERB_STARTTLS] = "STARTTLS",
	[SMTP_VERB_AUTH] = "AUTH",
	[SMTP_VERB_BDAT] = "BDAT",
	[SMTP_VERB_ETRN] = "ETRN",
	[SMTP_VERB_TURN] = "TURN",
	[SMTP_VERB_SEND] = "SEND",
	[SMTP_VERB_SOML] = "SOML",
	[SMTP_VERB_SAML] = "SAML",
};

const char *smtp_cmd_verb_name(enum smtp_verb v)
{
	return (size_t)v < SMTP_VERB_COUNT ? verb_names[v] : "?";
}

static uint8_t upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

static bool verb_equal(const uint8_t *w, size_t wlen, const char *name)
{
	size_t n = strlen(name);
	if (wlen != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (upper(w[i]) != (uint8_t)name[i])
			return false;
	return true;
}

enum smtp_cmd_result smtp_cmd_parse(const uint8_t *line, size_t len,
	struct smtp_cmd *out)
{
	out->args = NULL;
	out->args_len = 0;
	if (memchr(line, '\0', len))
		return SMTP_CMD_NUL;
	/* Trailing white space is common from hand-typed sessions and some
	 * clients; it carries no meaning in any command we implement. */
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return SMTP_CMD_EMPTY;
	size_t wlen = 0;
	while (wlen < len && line[wlen] != ' ')
		wlen++;
	size_t v;
	for (v = 0; v < SMTP_VERB_COUNT; v++)
		if (verb_equal(line, wlen, verb_names[v]))
			break;
	if (v == SMTP_VERB_COUNT)
		return SMTP_CMD_UNKNOWN;
	out->verb = (enum smtp_verb)v;
	size_t a = wlen;
	while (a < len && line[a] == ' ')
		a++;
	out->args = (const char *)line + a;
	out->args_len = len - a;
	return SMTP_CMD_OK;
}
