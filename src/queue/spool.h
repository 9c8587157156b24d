/* spool: the outbound queue on disk, <data_dir>/queue/:
 *
 *   tmp/       files being written (never read; removed at start)
 *   msg/<id>   the message, immutable once written (LF line ends, trace
 *              headers included, exactly what will be sent)
 *   env/<id>   its envelope (queue/envelope.h), replaced atomically
 *   hold/<id>  the envelope of a held message (not scheduled)
 *   corrupt/   quarantined entries (<id>.env, <id>.msg) with a reason file
 *
 * Durability (the same rule as Maildir delivery): spool_enqueue writes
 * msg then env through tmp/ with fsync, renames each into place and
 * fsyncs the directories before it returns 0, so "250" follows only a
 * durable entry. An entry exists when env/<id> (or hold/<id>) exists;
 * a msg/<id> without an envelope is a leftover of an interrupted enqueue
 * or removal and is deleted by spool_recover. Removal unlinks the
 * envelope first, then the message.
 *
 * Concurrency: the daemon and "facteur queue" both change entries; each
 * change of one entry happens under spool_lock (flock on msg/<id>).
 *
 * Every call blocks on the disk: the daemon runs them on worker threads.
 * Errors return -1 with errno set and a message in err. */
#ifndef FACTEUR_QUEUE_SPOOL_H
#define FACTEUR_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>
#include <time.h>

#include "queue/envelope.h"

/* Creates <dir>/{tmp,msg,env,hold,corrupt} (0700) as needed. */
int spool_ensure(const char *dir, char *err, size_t errlen);

/* Writes a new unique id into id (QUEUE_ID_MAX + 1 bytes): time, pid,
 * counter and random bytes, so ids sort roughly by arrival. */
void spool_new_id(char *id, size_t idsz);

/* Stores a new entry durably: env->id must be set (spool_new_id, or a
 * deterministic id such as "<orig>.dsn<attempt>"); env->size is filled in from the
 * parts. Fails with errno EEXIST when the id is taken (so a bounce
 * enqueued twice after a crash is stored once). */
int spool_enqueue(const char *dir, struct queue_env *env,
		  const struct iovec *parts, size_t nparts, char *err, size_t errlen);

/* Reads env/<id> (or hold/<id>; env->held tells which). errno ENOENT
 * when the entry is gone; EBADMSG when the file does not parse (err says
 * why; the caller quarantines it). */
int spool_load(const char *dir, const char *id, struct queue_env *env,
	       char *err, size_t errlen);
/* Replaces the envelope atomically (tmp, fsync, rename, fsync dir), in
 * env/ or hold/ according to env->held (moving it when that changed). */
int spool_update(const char *dir, const struct queue_env *env, char *err, size_t errlen);
/* Removes the entry (envelope, then message), fsyncs the directories. */
int spool_remove(const char *dir, const char *id, char *err, size_t errlen);
/* Moves both files to corrupt/ and writes corrupt/<id>.reason. */
int spool_quarantine(const char *dir, const char *id, const char *reason,
		     char *err, size_t errlen);

/* Opens msg/<id> read-only; returns an fd or -1. */
int spool_open_msg(const char *dir, const char *id);
/* Reads the whole message into *data (malloc()ed, *len bytes). */
int spool_read_msg(const char *dir, const char *id, char **data, size_t *len,
		   char *err, size_t errlen);

/* flock(LOCK_EX) on msg/<id>; wait = false makes it non-blocking (errno
 * EWOULDBLOCK when someone else holds it). Returns an fd for spool_unlock. */
int spool_lock(const char *dir, const char *id, bool wait);
void spool_unlock(int fd);

/* Every entry id (env/ and hold/), sorted; *ids is a malloc()ed array of
 * malloc()ed strings (spool_ids_free). Names that are not valid ids are
 * skipped. */
int spool_list(const char *dir, char ***ids, size_t *n, char *err, size_t errlen);
void spool_ids_free(char ***ids, size_t n);

/* At start: empties tmp/, deletes msg/ files without an envelope (older
 * than min_age seconds, so an enqueue in progress by another process is
 * left alone), quarantines envelopes without a message. Returns how many
 * files were removed or quarantined, or -1. */
int spool_recover(const char *dir, long min_age, char *err, size_t errlen);

/* "facteur queue flush": asks a running daemon to retry every entry now
 * (creates <dir>/flush; the daemon polls for it and removes it). */
int spool_request_flush(const char *dir, char *err, size_t errlen);
/* The daemon's side: true (and the request removed) when one is pending. */
bool spool_take_flush_request(const char *dir);

#endif
