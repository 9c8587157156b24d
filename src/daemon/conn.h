/* conn: what SMTP and POP3 sessions share: the socket's bufferevent, the
 * peer address, a session id for log lines, the per-address count, and
 * the rule that a session with a job on a worker thread is freed only
 * when that job comes back. */
#ifndef FACTEUR_DAEMON_CONN_H
#define FACTEUR_DAEMON_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/server.h"

struct bufferevent;
struct event;

struct conn_ops {
	const char *proto;                       /* "smtp" / "pop3" */
	void (*on_read)(struct conn *c);         /* new input in c->bev */
	void (*on_drained)(struct conn *c);      /* output buffer emptied */
	void (*on_timeout)(struct conn *c);
	void (*on_shutdown)(struct conn *c);
	void (*destroy)(struct conn *c);         /* free protocol state */
	/* A STARTTLS/STLS handshake finished (ok) or failed. */
	void (*on_tls_ready)(struct conn *c, bool ok);
};

struct conn {
	struct conn *prev, *next;
	struct server *srv;
	const struct conn_ops *ops;
	struct bufferevent *bev;
	char peer[64];          /* numeric address */
	char id[9];             /* 8 hex digits */
	bool closing;           /* close once output is written */
	bool gone;              /* socket closed / peer left */
	bool free_scheduled;
	bool peer_eof;          /* the client shut down its sending side */
	bool tls;               /* TLS is (being) negotiated on this socket */
	bool tls_pending;       /* a STARTTLS handshake is under way */
	bool cleartext_auth_ok; /* the peer is in cleartext_auth_networks */
	enum listener_proto listener;
	struct event *flush_timer; /* closing: waits for TLS bytes to leave */
	struct event *deadline;    /* a command must complete in time */
	struct event *login_delay; /* a failed login's answer waits */
	void (*login_then)(struct conn *c);
	unsigned jobs;          /* worker jobs in flight */
	void *proto;            /* smtp_conn / pop3_conn */
};

/* Creates the session around an accepted socket. Refuses (writing
 * refuse_line first) when the total or per-address limit is reached. */
struct conn *conn_new(struct server *srv, int fd, const struct sockaddr *sa,
		      socklen_t salen, enum listener_proto listener,
		      const struct conn_ops *ops, const char *refuse_line);
/* STARTTLS/STLS: discards every byte received and not yet processed
 * (CVE-2011-0411), keeps the plaintext reply already queued ahead of the
 * handshake, then negotiates TLS; ops->on_tls_ready reports. */
void conn_start_tls(struct conn *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", or "" without TLS. */
void conn_tls_describe(const struct conn *c, char *out, size_t outsz);
/* Writes bytes to the client. */
void conn_write(struct conn *c, const void *data, size_t len);
/* Close after the output drains. */
void conn_close_after_write(struct conn *c);
/* Close now (socket error, peer gone). The session is freed on a later
 * loop turn, once no worker job is pending; until the current callback
 * returns its fields stay valid (gone is set). */
void conn_abort(struct conn *c);
/* Bookkeeping around worker jobs: a conn is freed only when jobs == 0. */
void conn_job_started(struct conn *c);
/* Returns false if the session is gone: skip protocol work then. */
bool conn_job_finished(struct conn *c);
/* Idle timeout: no byte from the client for this long. */
void conn_set_timeout(struct conn *c, unsigned seconds);
/* Progress deadline: (re)starts a timer that calls ops->on_timeout unless
 * called again within seconds (0 stops it). The protocols call it at
 * every reply, so a client dripping a byte at a time without ever
 * finishing a command is still timed out. */
void conn_progress(struct conn *c, unsigned seconds);
/* Pause/resume reading from the socket (back-pressure). */
void conn_read_enable(struct conn *c, bool on);
size_t conn_output_pending(const struct conn *c);
/* Login outcomes, counted per client address (daemon/throttle.h). A
 * failure waits the growing delay for this address, the same for an
 * unknown user and a wrong password, then calls answer(c) unless the
 * session is gone; the wait counts as a job, so the session lives until
 * it ends. */
void conn_login_failed(struct conn *c, void (*answer)(struct conn *c));
void conn_login_succeeded(struct conn *c);
/* Session transcripts: logs each line of a reply as "S: <line>". */
void conn_log_reply(const struct conn *c, const char *data, size_t len);

#endif
