/* escape: render client-supplied bytes safely for a log line.
 * Printable ASCII except '\\' and '"' passes; everything else becomes \xNN.
 * Output is truncated to max_in input bytes with a trailing "..." marker. */
#ifndef FACTEUR_LIB_ESCAPE_H
#define FACTEUR_LIB_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/* Writes a NUL-terminated string into out (outsz bytes, at least 8).
 * Returns out. */
char *escape_log(char *out, size_t outsz, const uint8_t *in, size_t len);

#endif
