/* authmsg: the typed messages between the network process and the auth
 * process (doc/design.md, "Processes").
 *
 * The auth process alone reads the account files: the network process
 * sends it a login to check and gets back yes or no and the canonical
 * account name, never a password hash or an APOP secret. In the other
 * direction the auth process publishes the directory (which accounts
 * exist, the aliases file) so that recipients are routed without a round
 * trip. The decoder is the auth process's whole attack surface from the
 * network side, so it is pure, bounded and fuzzed (tests/fuzz).
 *
 * Frame: u32 body length (big-endian) | body. Body: u8 type | u32 id |
 * u8 status | u8 field count | per field: u32 length | bytes. */
#ifndef FACTEUR_AUTH_AUTHMSG_H
#define FACTEUR_AUTH_AUTHMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum authmsg_type {
	AUTHMSG_PASS = 1,      /* net -> auth: login, password */
	AUTHMSG_APOP = 2,      /* net -> auth: login, "<timestamp>", digest hex */
	AUTHMSG_REFRESH = 3,   /* net -> auth: look at the files now; no fields */
	AUTHMSG_RESULT = 4,    /* auth -> net: status; name when AUTHMSG_OK */
	AUTHMSG_DIRECTORY = 5, /* auth -> net: account names (one per line),
				  aliases text, aliases file name */
};

enum authmsg_status {
	AUTHMSG_OK = 0,
	AUTHMSG_BAD = 1,       /* unknown login or wrong secret: one answer */
	AUTHMSG_TEMPFAIL = 2,
};

#define AUTHMSG_MAX_FIELDS 3
/* What the auth process accepts from the network process: SASL allows
 * 12288-octet lines (proto/sasl.h), decoded to less. */
#define AUTHMSG_MAX_REQUEST (16 * 1024)
/* What the network process accepts: a directory of many thousand
 * accounts and a large aliases file. */
#define AUTHMSG_MAX_DIRECTORY (64u * 1024 * 1024)

struct authmsg {
	uint8_t type;
	uint32_t id;
	uint8_t status;
	uint8_t nfields;
	/* Decoded fields are malloc()ed, NUL-terminated copies (a NUL
	 * inside is refused except in AUTHMSG_DIRECTORY); for encoding
	 * they are borrowed. */
	char *field[AUTHMSG_MAX_FIELDS];
	size_t len[AUTHMSG_MAX_FIELDS];
};

/* Appends one frame. False (out left as it was) when out is full, memory
 * runs out, or the other end's decoder would refuse the message: wrong
 * field count, a NUL in text, a request over AUTHMSG_MAX_REQUEST. */
bool authmsg_encode(struct buf *out, const struct authmsg *m);

/* Decodes the frame at the start of p[0..n) into m, which it overwrites
 * (clear a message before decoding into it again). Returns 1 and sets *used
 * when a whole valid message was read (m owns its fields then), 0 when
 * more bytes are needed, -1 when the bytes cannot be a message of this
 * protocol: a body longer than max_body, an unknown type, the wrong
 * number of fields for the type, a field that overruns the body, bytes
 * after the last field, a NUL where text is expected, out of memory. */
int authmsg_decode(const uint8_t *p, size_t n, size_t max_body, struct authmsg *m,
		   size_t *used);

/* Wipes (passwords pass through here) and frees decoded fields. */
void authmsg_clear(struct authmsg *m);

#endif
