/* maildir_io: the helpers shared by maildir.c and maildir_deliver.c.
 * Internal to src/store (not part of the contract). The EINTR-safe
 * system calls they use are in lib/sysio.h; these keep the same rules:
 * reads retry on EINTR and errno stays meaningful on failure. */
#ifndef FACTEUR_STORE_MAILDIR_IO_H
#define FACTEUR_STORE_MAILDIR_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Messages are read and copied in chunks of this size. */
#define MAILDIR_IO_CHUNK (64 * 1024)

/* "a/b" into out; -1 with ENAMETOOLONG. */
int maildir_io_join(char *out, size_t outsz, const char *a, const char *b);
/* Number of LFs not preceded by CR in p (the bytes CRLF conversion adds);
 * prev_cr carries the state across chunks, starting false. */
uint64_t maildir_io_crlf_extra(const uint8_t *p, size_t len, bool *prev_cr);
/* RETR ends an unterminated last line with CRLF before the "."
 * (proto/pop3_body.c), so the POP3 size of non-empty content whose last
 * byte is not LF is 2 more than its CRLF form. */
uint64_t maildir_io_unterminated_extra(uint64_t len, uint8_t last);
/* Reads fd to the end; returns the bytes and their POP3 size (CRLF form
 * plus maildir_io_unterminated_extra). */
int maildir_io_count(int fd, uint64_t *bytes, uint64_t *octets);

#endif
