/* ipcmsg: the typed messages between the network process and its two
 * helpers, the auth process and the store process (doc/design.md,
 * "Processes").
 *
 * The auth process alone reads the account files: the network process
 * sends it a login to check and gets back yes or no and the canonical
 * account name, never a password hash or an APOP secret. In the other
 * direction the auth process publishes the directory (which accounts
 * exist, the aliases file) so that recipients are routed without a round
 * trip.
 *
 * The store process alone touches the Maildirs: the network process
 * hands it a message and the accounts it goes to, and reads and deletes
 * a maildrop's messages by number, never by path.
 *
 * The decoder is each helper's whole attack surface from the network
 * side, so it is pure, bounded and fuzzed (tests/fuzz).
 *
 * Frame: u32 body length (big-endian) | body. Body: u8 type | u32 id |
 * u8 status | u8 field count | per field: u32 length | bytes. */
#ifndef FACTEUR_LIB_IPCMSG_H
#define FACTEUR_LIB_IPCMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum ipcmsg_type {
	IPCMSG_PASS = 1,      /* net -> auth: login, password */
	IPCMSG_APOP = 2,      /* net -> auth: login, "<timestamp>", digest hex */
	IPCMSG_REFRESH = 3,   /* net -> auth: look at the files now; no fields */
	IPCMSG_RESULT = 4,    /* helper -> net: status; one field, which is
				  the account name of a good login, the
				  maildrop listing of an OPEN, the bytes of a
				  READ, the reason of a TEMPFAIL */
	IPCMSG_DIRECTORY = 5, /* auth -> net: account names (one per line),
				  aliases text, aliases file name */
	IPCMSG_DELIVER = 6,   /* net -> store: accounts (one per line), the
				  header lines we add, the message (both any
				  octets; stored one after the other) */
	IPCMSG_OPEN = 7,      /* net -> store: account; lock and list its
				  maildrop ("octets uidl" per line). The
				  request's id is the maildrop's handle. */
	IPCMSG_READ = 8,      /* net -> store: handle, message number (from
				  0), offset: IPCMSG_READ_CHUNK bytes, fewer
				  only where the message ends */
	IPCMSG_DELETE = 9,    /* net -> store: handle, numbers (space-separated) */
	IPCMSG_CLOSE = 10,    /* net -> store: handle; unlocks the maildrop */
};

enum ipcmsg_status {
	IPCMSG_OK = 0,
	IPCMSG_BAD = 1,       /* unknown login or wrong secret: one answer */
	IPCMSG_TEMPFAIL = 2,
	IPCMSG_BUSY = 3,      /* the maildrop is locked by another session */
	IPCMSG_NOSPACE = 4,   /* the disk or a quota is full (ENOSPC, EDQUOT) */
};

#define IPCMSG_MAX_FIELDS 3
/* What the auth process accepts from the network process: SASL allows
 * 12288-octet lines (proto/sasl.h), decoded to less. The store process
 * accepts a message of max_message_size and its recipients. */
#define IPCMSG_MAX_REQUEST (16 * 1024)
#define IPCMSG_READ_CHUNK (64 * 1024)
/* What the network process accepts: a directory of many thousand
 * accounts and a large aliases file. */
#define IPCMSG_MAX_DIRECTORY (64u * 1024 * 1024)

struct ipcmsg {
	uint8_t type;
	uint32_t id;
	uint8_t status;
	uint8_t nfields;
	/* Decoded fields are malloc()ed, NUL-terminated copies; a NUL
	 * inside is refused except in the fields that carry bytes
	 * (RESULT's, DELIVER's header lines and message, DIRECTORY's); for encoding they
	 * are borrowed. */
	char *field[IPCMSG_MAX_FIELDS];
	size_t len[IPCMSG_MAX_FIELDS];
};

/* Appends one frame. False (out left as it was) when out is full, memory
 * runs out, or the other end's decoder would refuse the message: wrong
 * field count, a NUL in text, a login request over IPCMSG_MAX_REQUEST. */
bool ipcmsg_encode(struct buf *out, const struct ipcmsg *m);

/* Decodes the frame at the start of p[0..n) into m, which it overwrites
 * (clear a message before decoding into it again). Returns 1 and sets *used
 * when a whole valid message was read (m owns its fields then), 0 when
 * more bytes are needed, -1 when the bytes cannot be a message of this
 * protocol: a body longer than max_body, an unknown type, the wrong
 * number of fields for the type, a field that overruns the body, bytes
 * after the last field, a NUL where text is expected, out of memory. */
int ipcmsg_decode(const uint8_t *p, size_t n, size_t max_body, struct ipcmsg *m,
		   size_t *used);

/* Wipes (passwords pass through here) and frees decoded fields. */
void ipcmsg_clear(struct ipcmsg *m);

#endif
