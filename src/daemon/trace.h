/* trace: the headers facteur prepends to a delivered message:
 * Return-Path (RFC 5321 4.4, added at final delivery) and Received
 * (RFC 5321 4.4 time-stamp line). Pure apart from formatting the time
 * it is given. */
#ifndef FACTEUR_DAEMON_TRACE_H
#define FACTEUR_DAEMON_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"

struct trace_info {
	const char *mail_from;  /* "" for the null path */
	const char *helo;       /* client-supplied: sanitised here */
	const char *peer;       /* numeric address */
	const char *hostname;   /* ours */
	const char *id;         /* our id for this transaction */
	const char *for_rcpt;   /* the recipient when there is exactly one */
	bool esmtp;
	bool tls;               /* RFC 3848: ESMTPS */
	bool authenticated;     /* RFC 3848: ESMTPA / ESMTPSA */
	time_t when;
	bool queued;            /* for the outbound queue: no Return-Path yet
	                         * (the final delivery adds it) */
};

/* Appends both header fields, LF line ends, folded with a tab. */
bool trace_headers(struct buf *out, const struct trace_info *t);

/* Counts the Received: fields in the header section of msg (up to the
 * first empty line), the hop count of RFC 5321 6.3. Stops counting at
 * limit. */
unsigned trace_count_received(const uint8_t *msg, size_t len, unsigned limit);

#endif
