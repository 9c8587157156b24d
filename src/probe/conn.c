/* conn: the network side of the probe and sendmail clients.
 *
 * Runs in the short-lived CLI process. Sockets are non-blocking and every
 * wait goes through poll() with the operation's deadline, for plaintext
 * and TLS alike, so a silent server costs at most the timeout. Nothing
 * here knows SMTP or POP3: the drivers build commands and parse replies;
 * this file moves lines and records them in the transcript. Secrets are
 * only ever passed in as `line` with a masked `shown` for the record. */
#include "probe/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"

double probe_ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1000.0 +
	       (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

double pconn_ms(const struct probe_conn *c)
{
	return probe_ms_since(&c->t0);
}

void pconn_note(struct probe_conn *c, const char *fmt, ...)
{
	if (!c->rep)
		return;
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	report_line(c->rep, pconn_ms(c), DIR_NOTE, text, strlen(text), 0, false);
}

static void set_err(struct probe_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(struct probe_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

/* Waits until fd is ready for events or the deadline passes: 1, 0 on
 * timeout, -1 on error. */
static int wait_fd(int fd, short events, const struct timespec *t0, double deadline)
{
	for (;;) {
		double left = deadline - probe_ms_since(t0);
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)left + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			continue; /* re-check the deadline */
		return 1;
	}
}

static void fill_literal(struct probe_conn *c)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t sl = sizeof ss;
	char addr[INET6_ADDRSTRLEN] = "127.0.0.1";
	snprintf(c->ehlo_literal, sizeof c->ehlo_literal, "[127.0.0.1]");
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		if (inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr))
			snprintf(c->ehlo_literal, sizeof c->ehlo_literal, "[IPv6:%s]", addr);
	} else if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		if (inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr))
			snprintf(c->ehlo_literal, sizeof c->ehlo_literal, "[%s]", addr);
	}
}

/* One non-blocking connect attempt: 0 connected, -1 with errno. */
static int try_connect(struct probe_conn *c, const struct addrinfo *ai, double deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		int w = wait_fd(fd, POLLOUT, &c->t0, deadline);
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			close(fd);
			errno = w == 0 ? ETIMEDOUT : soerr ? soerr : EIO;
			return -1;
		}
	}
	c->fd = fd;
	return 0;
}

void pconn_init(struct probe_conn *c)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	probe_lines_init(&c->lines);
}

int pconn_connect(struct probe_conn *c, const char *host, const char *port, int timeout_ms,
		  struct report *rep, const struct timespec *t0)
{
	pconn_close(c);
	pconn_init(c);
	c->rep = rep;
	c->t0 = *t0;
	c->timeout_ms = timeout_ms;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	int g = getaddrinfo(host, port, &hints, &res);
	if (g == EAI_ADDRFAMILY || g == EAI_NONAME) {
		hints.ai_flags = 0; /* loopback-only hosts have no "configured" address */
		g = getaddrinfo(host, port, &hints, &res);
	}
	if (g != 0) {
		set_err(c, "cannot resolve %s: %s", host, gai_strerror(g));
		pconn_note(c, "%s", c->err);
		return -1;
	}
	double deadline = pconn_ms(c) + timeout_ms;
	int err = 0;
	char addr[INET6_ADDRSTRLEN + 8] = "?";
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		const void *a = ai->ai_family == AF_INET6
			? (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
			: (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
		if (!inet_ntop(ai->ai_family, a, addr, sizeof addr))
			snprintf(addr, sizeof addr, "?");
		if (try_connect(c, ai, deadline) == 0)
			break;
		err = errno;
		pconn_note(c, "connecting to %s port %s: %s", addr, port, strerror(err));
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		set_err(c, "cannot connect to %s port %s: %s", host, port, strerror(err));
		return -1;
	}
	fill_literal(c);
	pconn_note(c, "connected to %s port %s", addr, port);
	return 0;
}

/* Writes all of p: 0, or -1 with c->err. */
static int write_all(struct probe_conn *c, const uint8_t *p, size_t len)
{
	double deadline = pconn_ms(c) + c->timeout_ms;
	size_t off = 0;
	while (off < len) {
		short want = POLLOUT;
		if (c->ssl) {
			int chunk = len - off > 65536 ? 65536 : (int)(len - off);
			ERR_clear_error();
			int n = SSL_write(c->ssl, p + off, chunk);
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_READ)
				want = POLLIN;
			else if (e != SSL_ERROR_WANT_WRITE) {
				set_err(c, "TLS write failed (connection closed?)");
				return -1;
			}
		} else {
			ssize_t n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				set_err(c, "write failed: %s", strerror(errno));
				return -1;
			}
		}
		int w = wait_fd(c->fd, want, &c->t0, deadline);
		if (w <= 0) {
			set_err(c, w == 0 ? "timed out writing" : "poll failed");
			return -1;
		}
	}
	return 0;
}

int pconn_send(struct probe_conn *c, const char *line, const char *shown)
{
	struct buf b;
	buf_init(&b, 0);
	size_t len = strlen(line);
	int rc = -1;
	if (buf_append(&b, line, len) && buf_append(&b, "\r\n", 2))
		rc = write_all(c, b.data, b.len);
	else
		set_err(c, "out of memory");
	buf_release_secure(&b);
	if (c->rep) {
		const char *s = shown ? shown : line;
		report_line(c->rep, pconn_ms(c), DIR_CLIENT, s, strlen(s), len + 2, false);
		if (rc < 0)
			pconn_note(c, "%s", c->err);
	}
	return rc;
}

int pconn_send_data(struct probe_conn *c, const uint8_t *p, size_t len)
{
	int rc = write_all(c, p, len);
	if (!c->rep)
		return rc;
	double t = pconn_ms(c);
	size_t pos = 0;
	while (pos < len) {
		const uint8_t *lf = memchr(p + pos, '\n', len - pos);
		size_t end = lf ? (size_t)(lf - p) + 1 : len;
		size_t n = end - pos;
		size_t tl = n >= 2 && p[end - 2] == '\r' && lf ? n - 2 : n;
		report_line(c->rep, t, DIR_CLIENT, (const char *)p + pos, tl, n, false);
		pos = end;
	}
	if (rc < 0)
		pconn_note(c, "%s", c->err);
	return rc;
}

/* Reads what is available into the line buffer: 1 got bytes, 0 EOF,
 * -1 error, -2 timeout. */
static int fill(struct probe_conn *c, double deadline)
{
	uint8_t tmp[16384];
	for (;;) {
		short want = POLLIN;
		if (c->ssl) {
			ERR_clear_error();
			int n = SSL_read(c->ssl, tmp, sizeof tmp);
			if (n > 0)
				return probe_lines_feed(&c->lines, tmp, (size_t)n) ? 1 : -1;
			int e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (e == SSL_ERROR_WANT_WRITE)
				want = POLLOUT;
			else if (e != SSL_ERROR_WANT_READ) {
				if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
					return 0;
				set_err(c, "TLS read failed: %s",
					ERR_reason_error_string(ERR_peek_error())
						? ERR_reason_error_string(ERR_peek_error()) : "error");
				return -1;
			}
		} else {
			ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
			if (n > 0)
				return probe_lines_feed(&c->lines, tmp, (size_t)n) ? 1 : -1;
			if (n == 0)
				return 0;
			if (errno == ECONNRESET)
				return 0;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				set_err(c, "read failed: %s", strerror(errno));
				return -1;
			}
		}
		int w = wait_fd(c->fd, want, &c->t0, deadline);
		if (w == 0)
			return -2;
		if (w < 0) {
			set_err(c, "poll failed: %s", strerror(errno));
			return -1;
		}
	}
}

bool pconn_wait_close(struct probe_conn *c, int ms)
{
	if (c->fd < 0)
		return true;
	double deadline = pconn_ms(c) + ms;
	size_t extra = probe_lines_pending(&c->lines);
	probe_lines_discard(&c->lines);
	int r;
	while ((r = fill(c, deadline)) == 1) {
		extra += probe_lines_pending(&c->lines);
		probe_lines_discard(&c->lines);
	}
	if (extra)
		pconn_note(c, "%zu bytes after the last reply, ignored", extra);
	return r == 0;
}

void pconn_show_max(struct probe_conn *c, size_t n)
{
	c->show_max = n;
	c->shown = c->hidden = c->hidden_bytes = 0;
}

void pconn_show_all(struct probe_conn *c)
{
	if (c->hidden)
		pconn_note(c, "... %zu more line%s (%zu bytes) not shown", c->hidden,
			   c->hidden == 1 ? "" : "s", c->hidden_bytes);
	pconn_show_max(c, 0);
}

enum pconn_read pconn_read_line(struct probe_conn *c, struct probe_line *out)
{
	double deadline = pconn_ms(c) + c->timeout_ms;
	if (c->fd < 0) {
		set_err(c, "not connected");
		return PCONN_ERROR;
	}
	for (;;) {
		enum lines_result lr = probe_lines_next(&c->lines, out);
		if (lr == LINES_LINE)
			break;
		if (lr == LINES_TOO_LONG) {
			set_err(c, "the server sent a line of more than %u bytes", PROBE_LINE_MAX);
			pconn_note(c, "%s", c->err);
			return PCONN_TOO_LONG;
		}
		int r = fill(c, deadline);
		if (r == 0) {
			size_t left = probe_lines_pending(&c->lines);
			set_err(c, "connection closed by the server%s", left ? " in mid-line" : "");
			pconn_note(c, "%s", c->err);
			return PCONN_EOF;
		}
		if (r == -2) {
			set_err(c, "no answer within %d ms", c->timeout_ms);
			pconn_note(c, "%s", c->err);
			return PCONN_TIMEOUT;
		}
		if (r < 0) {
			pconn_note(c, "%s", c->err);
			return PCONN_ERROR;
		}
	}
	if (c->rep) {
		if (c->show_max && c->shown >= c->show_max) {
			c->hidden++;
			c->hidden_bytes += out->bytes;
		} else {
			c->shown++;
			report_line(c->rep, pconn_ms(c), DIR_SERVER, out->text, out->len, out->bytes,
				    out->bare_lf);
		}
	}
	return PCONN_LINE;
}

/* ---- TLS ---------------------------------------------------------------- */

static void name_oneline(X509_NAME *n, char *out, size_t outsz)
{
	snprintf(out, outsz, "?");
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		char *p;
		long len = BIO_get_mem_data(b, &p);
		if (len > 0)
			snprintf(out, outsz, "%.*s", (int)(len < (long)outsz ? len : (long)outsz - 1), p);
	}
	BIO_free(b);
}

static void alt_names(X509 *cert, char *out, size_t outsz)
{
	out[0] = '\0';
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (!gens)
		return;
	size_t used = 0;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char one[80] = "";
		if (g->type == GEN_DNS) {
			const ASN1_IA5STRING *s = g->d.dNSName;
			snprintf(one, sizeof one, "DNS:%.*s", s->length > 60 ? 60 : s->length,
				 (const char *)s->data);
		} else if (g->type == GEN_IPADD) {
			char a[INET6_ADDRSTRLEN] = "?";
			const ASN1_OCTET_STRING *s = g->d.iPAddress;
			if (s->length == 4)
				inet_ntop(AF_INET, s->data, a, sizeof a);
			else if (s->length == 16)
				inet_ntop(AF_INET6, s->data, a, sizeof a);
			snprintf(one, sizeof one, "IP:%s", a);
		} else {
			continue;
		}
		/* A name may hold any byte: keep the line printable. */
		for (char *p = one; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		int n = snprintf(out + used, outsz - used, "%s%s", used ? ", " : "", one);
		if (n < 0 || (size_t)n >= outsz - used)
			break;
		used += (size_t)n;
	}
	GENERAL_NAMES_free(gens);
}

static void fill_tls_info(struct probe_conn *c)
{
	struct tls_info *t = &c->tls;
	t->active = true;
	snprintf(t->version, sizeof t->version, "%s", SSL_get_version(c->ssl));
	snprintf(t->cipher, sizeof t->cipher, "%s", SSL_get_cipher_name(c->ssl));
	X509 *cert = SSL_get1_peer_certificate(c->ssl);
	if (!cert) {
		snprintf(t->verify_error, sizeof t->verify_error, "the server sent no certificate");
		return;
	}
	name_oneline(X509_get_subject_name(cert), t->subject, sizeof t->subject);
	name_oneline(X509_get_issuer_name(cert), t->issuer, sizeof t->issuer);
	alt_names(cert, t->names, sizeof t->names);
	const ASN1_TIME *na = X509_get0_notAfter(cert);
	BIO *b = BIO_new(BIO_s_mem());
	if (b && ASN1_TIME_print(b, na)) {
		char *p;
		long len = BIO_get_mem_data(b, &p);
		snprintf(t->not_after, sizeof t->not_after, "%.*s", (int)(len > 60 ? 60 : len), p);
	}
	BIO_free(b);
	int days = 0, secs = 0;
	if (ASN1_TIME_diff(&days, &secs, NULL, na))
		t->days_left = days;
	long v = SSL_get_verify_result(c->ssl);
	t->verified = v == X509_V_OK;
	if (!t->verified)
		snprintf(t->verify_error, sizeof t->verify_error, "%s",
			 X509_verify_cert_error_string(v));
	X509_free(cert);
}

static bool is_ip_literal(const char *h)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1;
}

int pconn_tls(struct probe_conn *c, const struct probe_tls_opts *o, const char *host)
{
	memset(&c->tls, 0, sizeof c->tls);
	c->tls.discarded = probe_lines_pending(&c->lines);
	probe_lines_discard(&c->lines);
	const char *name = o->servername ? o->servername : host;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx) {
		set_err(c, "cannot create a TLS context");
		return -1;
	}
	SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Verification runs, but its result is read after the handshake so
	 * the report can show the certificate that failed and why. */
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	int loaded = o->cafile ? SSL_CTX_load_verify_locations(c->ctx, o->cafile, NULL)
			       : SSL_CTX_set_default_verify_paths(c->ctx);
	if (loaded != 1) {
		set_err(c, "cannot load the trusted certificates%s%s", o->cafile ? " from " : "",
			o->cafile ? o->cafile : "");
		pconn_note(c, "%s", c->err);
		return -1;
	}
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		set_err(c, "cannot set up TLS");
		return -1;
	}
	if (is_ip_literal(name)) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name);
	} else {
		SSL_set_tlsext_host_name(c->ssl, name); /* RFC 6066 3: no SNI for addresses */
		SSL_set1_host(c->ssl, name);
	}
	double deadline = pconn_ms(c) + c->timeout_ms;
	for (;;) {
		ERR_clear_error();
		int r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(c->ssl, r);
		short want = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
		if (!want) {
			unsigned long ee = ERR_peek_error();
			char msg[160];
			ERR_error_string_n(ee, msg, sizeof msg);
			set_err(c, "TLS handshake failed: %s", ee ? msg : "connection closed");
			pconn_note(c, "%s", c->err);
			return -1;
		}
		int w = wait_fd(c->fd, want, &c->t0, deadline);
		if (w <= 0) {
			set_err(c, "TLS handshake: no answer within %d ms", c->timeout_ms);
			pconn_note(c, "%s", c->err);
			return -1;
		}
	}
	fill_tls_info(c);
	pconn_note(c, "TLS handshake done: %s, %s", c->tls.version, c->tls.cipher);
	return 0;
}

void pconn_close(struct probe_conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl); /* non-blocking: one try at close_notify */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->ctx) {
		SSL_CTX_free(c->ctx);
		c->ctx = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	probe_lines_clear(&c->lines);
}
