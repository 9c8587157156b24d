/* dsn: delivery status notifications (RFC 3464 in an RFC 6522
 * multipart/report), the bounce and delay-warning messages facteur sends
 * to the envelope sender. Pure: the caller gives the times and names.
 *
 * The notification is sent with the null reverse-path (RFC 5321 4.5.5),
 * so it can never cause another bounce; the caller never builds one for a
 * message whose sender is the null path. */
#ifndef FACTEUR_PROTO_DSN_H
#define FACTEUR_PROTO_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"

struct dsn_rcpt {
	const char *addr;         /* final recipient (rfc822;addr) */
	const char *orcpt;        /* original recipient, NULL when the same */
	bool failed;              /* Action: failed; else delayed */
	const char *status;       /* "5.1.1"; NULL/"" -> derived from code
	                           * (5.0.0 / 4.0.0) */
	unsigned code;            /* SMTP code of the last reply, 0 when none */
	const char *remote_mta;   /* host that answered, NULL when none */
	const char *diagnostic;   /* its reply text, NULL when none */
	time_t last_attempt;      /* 0 when none */
};

struct dsn_info {
	const char *reporting_mta;   /* our hostname */
	const char *queue_id;        /* X-Envelope-Id / Message-ID part */
	const char *sender;          /* original envelope sender (To: of the DSN) */
	time_t arrival;              /* when we accepted the message */
	time_t now;                  /* Date: */
	bool delay_warning;          /* a "still trying" notice, not a failure */
	const char *retry_until;     /* RFC 3464 Will-Retry-Until, delay only; NULL */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
	/* The original message (LF or CRLF line ends): its header section is
	 * returned as text/rfc822-headers (RFC 6522 3); the body never. */
	const uint8_t *original;
	size_t original_len;
};

/* Appends the whole DSN message (header and body, LF line ends, 7-bit,
 * lines <= 998 octets): From: MAILER-DAEMON@reporting_mta, To: sender,
 * Subject, Date, Message-ID, Auto-Submitted: auto-replied (RFC 3834),
 * a human-readable part, message/delivery-status, text/rfc822-headers.
 * Header lines of the original longer than 998 octets are cut. */
bool dsn_build(struct buf *out, const struct dsn_info *info);

#endif
