/* transcript: a client's command line made safe for a session transcript
 * in the log: secrets replaced by "<redacted>" (the SASL data after
 * "AUTH <mech>", the POP3 PASS argument), everything else escaped as in
 * every log line. Pure. */
#ifndef FACTEUR_PROTO_TRANSCRIPT_H
#define FACTEUR_PROTO_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the safe form of line[0..len) (without its line end) into out
 * (outsz >= 32), NUL-terminated. pop3 selects the POP3 rules (PASS). */
void transcript_client_line(const uint8_t *line, size_t len, bool pop3,
			    char *out, size_t outsz);

#endif
