/* helper_peer: the harness that test_store_proc.c and test_authd.c drive
 * the two helper processes with, the way a buggy or taken-over network
 * process could drive them.
 *
 * Each case gets a fresh data directory under /tmp (peer_setup, as the
 * cmocka setup) and forks the helper's main on one end of a socketpair
 * (peer_start). It writes frames (encode / encode_text through
 * ipcmsg_encode for requests, raw_frame for what the encoder refuses to
 * build) and reads the answers with a timeout of WAIT_SEC, so a hang
 * fails the case instead of blocking the suite. peer_finish closes our
 * end and returns the helper's exit status; peer_teardown kills a helper
 * a failed case left running and removes the directory.
 *
 * Under AddressSanitizer the child runs a leak check before _exit and
 * reports leaks through its exit status (LEAK_STATUS); under valgrind the
 * forked child is checked by valgrind itself. */
#ifndef FACTEUR_TESTS_DAEMON_HELPER_PEER_H
#define FACTEUR_TESTS_DAEMON_HELPER_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/conf.h"
#include "lib/buf.h"
#include "lib/ipcmsg.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Long enough for crypt(3) and fsync under valgrind; a hang still fails. */
#define WAIT_SEC 30
/* The child's exit status when LeakSanitizer found a leak in it. */
#define LEAK_STATUS 97
/* More requests than either helper keeps in flight (MAX_IN_FLIGHT, 256),
 * so the pause-and-resume of reading is exercised. */
#define FLOOD 600

typedef int helper_main_fn(const struct conf *c, int fd);

/* Which helper a peer runs. The auth process publishes DIRECTORY frames
 * unasked and serves REFRESH; the store process does neither. Named here
 * rather than told apart by their mains, so that each test links only the
 * helper it drives. */
enum helper_kind { HELPER_STORE, HELPER_AUTH };

struct peer {
	char top[64];         /* mkdtemp; data/ is meant to be all it holds */
	char data[80];        /* the helper's data_dir */
	struct conf conf;
	enum helper_kind kind;
	int fd;               /* our end, -1 when closed */
	pid_t pid;            /* the helper, -1 once reaped */
	struct buf in;        /* received, not yet decoded */
	struct buf seen;      /* every byte the helper sent: no secret may be in it */
	struct buf names;     /* the last DIRECTORY's account names */
	unsigned directories; /* DIRECTORY frames received */
	char *hash[2];        /* auth cases: bob's and carol's passwd hashes */
};

struct field {
	const void *p;
	size_t len;
};

/* cmocka setup and teardown: *state is the struct peer. */
int peer_setup(void **state);
int peer_teardown(void **state);

/* "a/b" into out, which must hold it. */
void pathf(char *out, size_t outsz, const char *a, const char *b);

/* Forks fn on one end of a new socketpair; p->fd is the other. */
void peer_start(struct peer *p, enum helper_kind kind, helper_main_fn *fn);
/* Closes our end and returns the helper's exit status, 128 + signal if
 * one killed it. A helper still running after WAIT_SEC fails the case. */
int peer_finish(struct peer *p);

void send_raw(struct peer *p, const void *data, size_t len);
/* Appends a request with fields f[0..n). */
void encode(struct buf *b, uint8_t type, uint32_t id, const struct field *f, size_t n);
/* Appends a request whose fields are the non-NULL texts among f0..f2. */
void encode_text(struct buf *b, uint8_t type, uint32_t id, const char *f0, const char *f1,
		 const char *f2);
/* v big-endian into p[0..4). */
void put32(uint8_t *p, uint32_t v);
/* Appends a frame built by hand (for what ipcmsg_encode will not build):
 * count is the field count it claims, f[0..n) the fields it carries. */
void raw_frame(struct buf *b, uint8_t type, uint32_t id, uint8_t count, const struct field *f,
	       size_t n);

/* Counts a DIRECTORY frame and keeps its account names in p->names. */
void note_directory(struct peer *p, const struct ipcmsg *m);
/* The next frame: 1 (m owns its fields), or 0 when the helper closed the
 * socket between frames. A timeout or bytes that are no frame fail. */
int peer_recv(struct peer *p, struct ipcmsg *m);
/* Reads up to the next RESULT, which must answer id with status; m keeps
 * it (the caller clears it). DIRECTORY frames on the way are noted: the
 * auth process publishes one whenever its files change. */
void peer_result(struct peer *p, uint32_t id, int status, struct ipcmsg *m);
/* Sends a text request and checks the answer's status and, unless NULL,
 * its field. */
void ask(struct peer *p, uint8_t type, uint32_t id, const char *f0, const char *f1,
	 const char *f2, int status, const char *answer);
/* Sends bytes that break the protocol, then a good request in the same
 * write: the helper must answer nothing more and exit with status 1. */
void expect_break(struct peer *p, const struct buf *bad, const char *what);

#endif
