/* smtp_addr: RFC 5321 paths (4.1.2) and the arguments of MAIL and RCPT
 * (4.1.1.2, 4.1.1.3) with the parameters of SIZE (RFC 1870) and 8BITMIME
 * (RFC 6152).
 *
 * Strict where the grammar protects something (no control bytes, no 8-bit
 * bytes without SMTPUTF8, balanced brackets, RFC 5321 4.5.3.1 lengths),
 * lenient where real clients are sloppy without harm (spaces after
 * "FROM:", letter case of keywords). Pure: no allocation, no I/O. */
#ifndef FACTEUR_PROTO_SMTP_ADDR_H
#define FACTEUR_PROTO_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

/* A parsed path in canonical form, without the angle brackets:
 * "local@domain", with the source route removed (RFC 5321 4.1.2: "SHOULD
 * be ignored") and the local part in the least-quoted form (4.1.2: quoted
 * forms "MUST be treated as equivalent"): "\"bob\"@x" becomes "bob@x".
 * Empty for the null reverse-path "<>"; "postmaster" (as spelled by the
 * client) for the special RCPT of 4.1.1.3. Never holds control, 8-bit or
 * NUL bytes; NUL-terminated. */
struct smtp_path {
	char addr[LIMIT_SMTP_PATH + 1];
	size_t len;
};

enum smtp_path_flags {
	SMTP_PATH_ALLOW_NULL = 1u << 0,       /* "<>" (a MAIL reverse-path) */
	SMTP_PATH_ALLOW_POSTMASTER = 1u << 1, /* "<postmaster>" (RCPT) */
};

enum smtp_addr_result {
	SMTP_ADDR_OK,
	SMTP_ADDR_BAD_PATH,       /* path syntax: 501 5.1.7 / 5.1.3 */
	SMTP_ADDR_PATH_TOO_LONG,  /* RFC 5321 4.5.3.1: 501 */
	SMTP_ADDR_SYNTAX,         /* command syntax: 501 5.5.4 */
	SMTP_ADDR_BAD_VALUE,      /* known parameter, bad value: 501 5.5.4 */
	SMTP_ADDR_UNKNOWN_PARAM,  /* well-formed but unsupported: 555 5.5.4 */
};

/* Parses a path starting at s[0] == '<'. On success *used is the number of
 * bytes up to and including the closing '>'. flags: enum smtp_path_flags. */
enum smtp_addr_result smtp_path_parse(const char *s, size_t len,
	unsigned flags, struct smtp_path *out, size_t *used);

enum smtp_body_type {
	SMTP_BODY_NONE,      /* no BODY= parameter (7BIT implied) */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_mail_args {
	struct smtp_path from;
	bool has_size;
	/* The declared SIZE (RFC 1870). A value of up to 20 digits past
	 * UINT64_MAX is clamped to UINT64_MAX: too big, not a syntax error. */
	uint64_t size;
	enum smtp_body_type body;
	/* AUTH=<xtext> was given (RFC 4954 5); its value is checked for
	 * xtext syntax (RFC 3461 4) and otherwise ignored. */
	bool has_auth;
};

/* Parses the arguments of MAIL: "FROM:<path> [params]" (args as split by
 * smtp_cmd_parse, i.e. without the verb). Spaces between "FROM:" and the
 * path are tolerated. Parameters: SIZE=<1*20 digits>, BODY=7BIT|8BITMIME,
 * AUTH=<xtext>, each at most once; anything else well-formed is
 * UNKNOWN_PARAM. */
enum smtp_addr_result smtp_addr_parse_mail(const char *args, size_t len,
	struct smtp_mail_args *out);
/* Parses the arguments of RCPT: "TO:<path> [params]". No RCPT parameter
 * is supported, so any well-formed one is UNKNOWN_PARAM. */
enum smtp_addr_result smtp_addr_parse_rcpt(const char *args, size_t len,
	struct smtp_path *out);

/* True if s[0..len) is a valid RFC 5321 Domain (4.1.2) within
 * LIMIT_SMTP_DOMAIN, or, when allow_literal, an address literal (4.1.3:
 * IPv4 or "IPv6:"). */
bool smtp_addr_domain_valid(const char *s, size_t len, bool allow_literal);

#endif
