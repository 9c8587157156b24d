/* buf: an owned, growable byte buffer with a hard maximum.
 *
 * Wire data lives here as bytes + length; a buf never assumes NUL
 * termination, but keeps one spare byte so buf_cstr() can hand out a
 * C string when the content is known to hold no NUL. */
#ifndef FACTEUR_LIB_BUF_H
#define FACTEUR_LIB_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* appends that would pass this fail; 0 = SIZE_MAX */
};

void buf_init(struct buf *b, size_t max);
/* Frees the storage; the struct may be reused after buf_init. */
void buf_release(struct buf *b);
/* Wipes the content before freeing (for buffers that held secrets). */
void buf_release_secure(struct buf *b);
void buf_clear(struct buf *b);
/* Returns false (and appends nothing) if the result would exceed max or
 * memory is exhausted. */
bool buf_append(struct buf *b, const void *p, size_t n);
bool buf_append_str(struct buf *b, const char *s);
bool buf_append_byte(struct buf *b, uint8_t c);
bool buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Ensures room for n more bytes without changing len. */
bool buf_reserve(struct buf *b, size_t n);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* NUL-terminates (outside len) and returns data as a C string. */
const char *buf_cstr(struct buf *b);
/* A NUL-terminated malloc()ed copy of exactly n bytes of p (which need
 * not be NUL-terminated), or NULL. Unlike strndup it never looks past n. */
char *mem_strdup(const void *p, size_t n);
/* Moves ownership of the storage out; *b is left empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

#endif
