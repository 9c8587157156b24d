/* limits: every protocol limit's default, with where it comes from.
 * The configuration may change each; doc/limits.md lists them for users. */
#ifndef FACTEUR_PROTO_LIMITS_H
#define FACTEUR_PROTO_LIMITS_H

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets incl. CRLF. */
#define LIMIT_SMTP_CMD_LINE 512
/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets incl. CRLF. */
#define LIMIT_SMTP_TEXT_LINE 1000
/* RFC 5321 4.5.3.1.3/4.5.3.1.1/4.5.3.1.2: path 256, local part 64,
 * domain 255 octets. */
#define LIMIT_SMTP_PATH 256
#define LIMIT_SMTP_LOCAL_PART 64
#define LIMIT_SMTP_DOMAIN 255
/* RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted. */
#define LIMIT_SMTP_RCPTS 100
/* Message size advertised with SIZE (RFC 1870); 25 MiB like most providers. */
#define LIMIT_SMTP_MSG_SIZE (25u * 1024u * 1024u)
/* Client mistakes tolerated before "421" and close. */
#define LIMIT_SMTP_ERRORS 20
/* RFC 4954 4: AUTH lines up to 12288 octets must be accepted. */
#define LIMIT_SMTP_AUTH_LINE 12288

/* RFC 1939 3 / RFC 2449 4: a command line is at most 255 octets incl.
 * CRLF; arguments at most 40. */
#define LIMIT_POP3_CMD_LINE 255
#define LIMIT_POP3_ARG 40
/* RFC 5034 4: AUTH continuation lines, like SMTP's, allow 12288 octets. */
#define LIMIT_POP3_AUTH_LINE 12288
#define LIMIT_POP3_ERRORS 20
/* Messages listed in one maildrop; beyond this only the oldest are shown. */
#define LIMIT_POP3_MESSAGES 100000

/* RFC 5321 4.5.3.2: server timeout at least 5 minutes. */
#define LIMIT_SMTP_TIMEOUT_SEC 300
/* RFC 1939 3: an autologout timer of at least 10 minutes. */
#define LIMIT_POP3_TIMEOUT_SEC 600

#endif
