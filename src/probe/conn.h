/* conn: one blocking client connection for the probe and sendmail: TCP to
 * a host and port, optional TLS (implicit, or upgraded after STARTTLS /
 * STLS) with certificate checks, line reading, and a transcript of every
 * line in a report. Each operation is bounded by the timeout. */
#ifndef FACTEUR_PROBE_CONN_H
#define FACTEUR_PROBE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "probe/lines.h"
#include "probe/report.h"

struct probe_tls_opts {
	const char *cafile;      /* trust anchors; NULL: the system store */
	bool insecure;           /* go on when verification fails (reported) */
	const char *servername;  /* the name to check and send as SNI; NULL: the host */
};

/* What the TLS handshake established (after pconn_tls). */
struct tls_info {
	bool active;
	bool verified;           /* chain to a trusted root, and the name matches */
	char verify_error[160];  /* why not, when !verified */
	char subject[256];
	char issuer[256];
	char names[256];         /* subjectAltName entries */
	char not_after[64];
	int days_left;           /* until notAfter; negative: expired */
	char version[32];        /* "TLSv1.3" */
	char cipher[80];
	size_t discarded;        /* plaintext bytes received after the go-ahead */
};

enum pconn_read { PCONN_LINE, PCONN_EOF, PCONN_TIMEOUT, PCONN_ERROR, PCONN_TOO_LONG };

struct probe_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	struct probe_lines lines;
	struct report *rep;      /* transcript target; NULL records nothing */
	struct timespec t0;      /* timestamps are relative to this */
	int timeout_ms;
	char err[256];           /* the last error, for reports */
	struct tls_info tls;
	char ehlo_literal[64];   /* our address as "[127.0.0.1]" / "[IPv6:::1]" */
	size_t show_max;         /* server lines shown in a row; 0: all */
	size_t shown, hidden, hidden_bytes;
};

/* Makes c safe to close before any connect. */
void pconn_init(struct probe_conn *c);
/* Connects to host:port (names resolve; every address is tried in turn).
 * Returns 0, or -1 with c->err. The transcript gets a note either way. */
int pconn_connect(struct probe_conn *c, const char *host, const char *port, int timeout_ms,
		  struct report *rep, const struct timespec *t0);
/* Sends line + CRLF; the transcript shows `shown` instead when non-NULL
 * (masked secrets) with the real byte count. 0, or -1 with c->err. */
int pconn_send(struct probe_conn *c, const char *line, const char *shown);
/* Sends raw bytes (a DATA payload); the transcript gets one C: line per
 * CRLF-terminated line. 0 or -1. */
int pconn_send_data(struct probe_conn *c, const uint8_t *p, size_t len);
/* Reads the next line; the transcript gets it as S:. */
enum pconn_read pconn_read_line(struct probe_conn *c, struct probe_line *out);
/* Starts TLS on the connection (the client side of STARTTLS/STLS, or of
 * implicit TLS right after connecting) and fills c->tls; bytes received in
 * plaintext and not yet read are discarded and counted. A failed
 * verification does not fail this call: see c->tls.verified. Returns 0,
 * or -1 with c->err when the handshake failed. */
int pconn_tls(struct probe_conn *c, const struct probe_tls_opts *o, const char *host);
/* After QUIT: waits up to ms for the server to close the connection, so
 * that what the session held (a maildrop lock) is released before the
 * next one. Returns true when it closed; bytes that arrive are noted. */
bool pconn_wait_close(struct probe_conn *c, int ms);
/* Shows at most n server lines in a row from now on (a long LIST);
 * pconn_show_all() goes back to showing all and notes what was left out. */
void pconn_show_max(struct probe_conn *c, size_t n);
void pconn_show_all(struct probe_conn *c);
/* A transcript note ("*") at the current time. */
void pconn_note(struct probe_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
double pconn_ms(const struct probe_conn *c);
/* Closes (TLS close_notify when possible) and frees; safe to call twice. */
void pconn_close(struct probe_conn *c);

/* Milliseconds from t0 to now (CLOCK_MONOTONIC). */
double probe_ms_since(const struct timespec *t0);

#endif
