/* maildir_io: the system-call helpers shared by maildir.c and
 * maildir_deliver.c. Internal to src/store (not part of the contract).
 * Every helper retries on EINTR and keeps errno meaningful on failure. */
#ifndef FACTEUR_STORE_MAILDIR_IO_H
#define FACTEUR_STORE_MAILDIR_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Messages are read and copied in chunks of this size. */
#define MAILDIR_IO_CHUNK (64 * 1024)

/* Formats a message into err, followed by ": <strerror(e)>" when e != 0,
 * and leaves errno == e. */
void maildir_io_err(char *err, size_t errlen, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "a/b" into out; -1 with ENAMETOOLONG. */
int maildir_io_join(char *out, size_t outsz, const char *a, const char *b);
/* openat() retried on EINTR. */
int maildir_io_open(int dirfd, const char *path, int flags, mode_t mode);
int maildir_io_fsync(int fd);
/* close() that reports errors (not EINTR: the descriptor is gone). */
int maildir_io_close(int fd);
void maildir_io_close_keep_errno(int fd);
/* Opens the directory path (relative to dirfd) and fsyncs it. */
int maildir_io_fsync_dir(int dirfd, const char *path);
int maildir_io_write_all(int fd, const uint8_t *p, size_t len);
/* writev() every part, resuming after short writes; batches of IOV_MAX. */
int maildir_io_writev_all(int fd, const struct iovec *parts, size_t nparts);
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
