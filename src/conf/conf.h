/* conf: facteur.conf -> one immutable struct.
 *
 * Syntax: "key = value" lines, "#" comments, blank lines. Unknown keys,
 * bad values and duplicates are errors reported as "FILE:LINE: message".
 * Every key is documented in facteur.conf(5).
 *
 * Details: blanks around key and value are trimmed; a '#' at the start of
 * a line or after a blank starts a comment ("workers = 8  # cores"), so a
 * value cannot contain " #"; a '#' inside a word ("a#b") is kept. CRLF
 * line ends are accepted; lines are at most 4096 bytes; NUL is an error.
 * Lists are comma-separated ("a, b"); an empty item is an error. Booleans
 * are yes/no (also true/false, on/off, 1/0). Numbers are plain decimal.
 * On error the struct may be partly updated: conf_free it. */
#ifndef FACTEUR_CONF_CONF_H
#define FACTEUR_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/cidr.h"

/* SUBMISSION is RFC 6409 on 587 (STARTTLS, AUTH required); SMTPS and
 * POP3S are implicit TLS (RFC 8314) on 465 and 995. */
enum listener_proto { LISTEN_SMTP, LISTEN_POP3, LISTEN_SUBMISSION, LISTEN_SMTPS, LISTEN_POP3S };
#define LISTEN_PROTOS 5
extern const char *const listener_proto_names[LISTEN_PROTOS]; /* "smtp", ... */

struct listener_cfg {
	enum listener_proto proto;
	char addr[64];     /* numeric IPv4 or IPv6 without brackets */
	uint16_t port;
};

/* How outbound sessions use TLS. */
enum relay_tls {
	RELAY_TLS_NONE,          /* never (test setups; mail crosses in the clear) */
	RELAY_TLS_OPPORTUNISTIC, /* STARTTLS when offered, unverified (RFC 3207 4.1) */
	RELAY_TLS_REQUIRED,      /* STARTTLS or a temporary failure */
	RELAY_TLS_SMTPS,         /* implicit TLS from the first byte (RFC 8314) */
};
extern const char *const relay_tls_names[4]; /* "none", "opportunistic", ... */

/* A next hop given by the configuration: a host name or numeric address
 * (no MX lookup) and a port. */
struct relay_dest {
	char domain[256];        /* routes: the recipient domain ("" for relayhost) */
	char host[256];          /* name or numeric address, without [] */
	uint16_t port;
};

struct conf {
	char *hostname;          /* hostname: greeting / Received; default gethostname() or "localhost" */
	char *data_dir;          /* data_dir: holds passwd, apop, mail/; always absolute after
	                          * conf_defaults/conf_load (relative in the file = relative to
	                          * the file's directory) */
	char **domains;          /* domains: local domains (comma list, lower-cased, >= 1);
	                          * default "localhost" */
	size_t ndomains;
	char *postmaster;        /* postmaster: account receiving mail for postmaster@ any local
	                          * domain (RFC 5321 4.5.1) when no account of that name exists.
	                          * Lower-cased "local@domain" with a local domain; a bare local
	                          * part gets the first domain. "" (default): the first account
	                          * (passwd order) of the recipient's domain. Never NULL. */
	struct listener_cfg *listeners; /* smtp_listen, pop3_listen, submission_listen,
	                          * smtps_listen, pop3s_listen: "addr:port, [v6]:port",
	                          * numeric only, at most 16 each, or "none". A file that
	                          * names any of them replaces all the defaults (those not
	                          * named are off); defaults 127.0.0.1 ports 2525 (SMTP),
	                          * 1100 (POP3), 5870 (submission), 4465 (SMTPS), 9995 (POP3S) */
	size_t nlisteners;
	uint64_t max_message_size;   /* max_message_size (bytes, 1..1G; suffix K, M, G = 1024^n); 25M */
	uint64_t max_data_memory;    /* max_data_memory: memory for all messages in transit
	                              * (being received or written), 1M..64G, at least
	                              * max_message_size; 512M. Beyond it the message
	                              * that would cross it gets 452 4.3.1. */
	unsigned max_recipients;     /* max_recipients, 1..100000; 100 */
	unsigned smtp_max_line;      /* smtp_max_line, 512..65536; 512 */
	unsigned smtp_max_text_line; /* smtp_max_text_line, 1000..1048576; 1000 */
	unsigned max_errors;         /* max_errors, 1..1000; 20 */
	unsigned smtp_timeout;       /* smtp_timeout (seconds, 1..86400); 300 */
	unsigned smtp_data_timeout;  /* smtp_data_timeout (seconds, 1..86400); 600 */
	unsigned pop3_timeout;       /* pop3_timeout (seconds, 1..86400); 600 */
	unsigned max_connections;    /* max_connections (total, 1..1000000); 20000 */
	unsigned max_connections_per_ip; /* max_connections_per_ip, 1..1000000; 500 */
	bool apop;                   /* apop = yes|no; yes */
	bool vrfy;                   /* vrfy = yes|no; no */
	unsigned auth_fail_delay_ms; /* auth_fail_delay (milliseconds 0..60000, "ms" suffix
	                              * allowed); 1000 */
	unsigned workers;            /* workers: disk/crypt worker threads in each
	                              * process, 1..256; 4 */
	int log_level;               /* log_level = error|warn|info|debug (enum log_level); info */
	unsigned transcript_mask;    /* transcript = none|all|smtp, pop3, submission, smtps,
	                              * pop3s: log whole sessions (C:/S: lines, secrets
	                              * redacted, bodies as sizes) on those listeners;
	                              * bit (1 << enum listener_proto); none */
	char *user;                  /* user: started as root, run as this account once the
	                              * ports are bound; "" (default): stay as started */
	bool sandbox;                /* sandbox = yes|no: confine the network process to the
	                              * mail and queue directories with Landlock when the
	                              * kernel has it (a warning when not); yes */
	char *tls_cert;              /* tls_cert: PEM chain; default <data_dir>/tls/cert.pem */
	char *tls_key;               /* tls_key: PEM key; default <data_dir>/tls/key.pem. When
	                              * neither file exists at start, a self-signed pair for
	                              * hostname is generated there. */
	struct cidr *cleartext_auth_nets; /* cleartext_auth_networks: clients allowed to log in
	                              * without TLS (comma list of ranges, or "none");
	                              * default 127.0.0.0/8, ::1 */
	size_t ncleartext_auth_nets;
	unsigned max_auth_failures;  /* max_auth_failures: failed logins per session before
	                              * the session is closed, 1..100; 3 */
	/* ---- relay (outbound queue), facteur.conf(5) "RELAY" ---- */
	char *aliases_file;          /* aliases: path; default <data_dir>/aliases */
	char recipient_delimiter;    /* recipient_delimiter: one of + - _ = or none (0); + */
	struct relay_dest *routes;   /* routes: "domain=host:port, ..." static next hops */
	size_t nroutes;
	struct relay_dest relayhost; /* relayhost: host[:port] (port 25 by default) for
	                              * every foreign domain without a route; host "" = none */
	int relayhost_tls;           /* relayhost_tls: enum relay_tls; required */
	bool relayhost_tls_verify;   /* relayhost_tls_verify: check the certificate against
	                              * the system CAs and the host name; yes */
	char *relayhost_user;        /* relayhost_user: AUTH identity; "" = no AUTH */
	char *relayhost_password_file; /* relayhost_password_file: its first line is the
	                              * password (kept out of facteur.conf and "config show") */
	int relay_tls;               /* relay_tls: enum relay_tls for MX and routes;
	                              * opportunistic */
	char *dns_servers;           /* dns_servers: "ip[:port], ..." ; "" = /etc/resolv.conf */
	unsigned relay_port;         /* relay_port: TCP port of MX hosts, 1..65535; 25 */
	unsigned relay_concurrency;  /* relay_concurrency: sessions per destination, 1..1000; 10 */
	unsigned relay_max_sessions; /* relay_max_sessions: outbound sessions in all, 1..100000; 100 */
	unsigned relay_connect_timeout; /* relay_connect_timeout (duration); 30s */
	unsigned queue_lifetime;     /* queue_lifetime (duration); 5d */
	unsigned delay_warning;      /* delay_warning (duration, 0 = never); 4h */
	unsigned retry_min;          /* retry_min (duration, >= 1s); 5m */
	unsigned retry_max;          /* retry_max (duration, >= retry_min); 1h */
	unsigned max_hops;           /* max_hops: Received: fields before a message is
	                              * refused as looping (RFC 5321 6.3), 5..1000; 50 */
	struct cidr *relay_nets;     /* relay_networks: clients that may relay without
	                              * AUTH; "none" (default) */
	size_t nrelay_nets;
	bool loopback_only;          /* true in the quick start: refuse non-loopback binds;
	                              * false once a file is parsed */
};

/* Fills the quick-start defaults (no config file). data_dir is
 * $FACTEUR_HOME or ./facteur-data. */
int conf_defaults(struct conf *c);
/* Loads path over the defaults; the quick-start listeners are replaced by
 * the file's when it names any. Returns -1 with "FILE:LINE: message". */
int conf_load(const char *path, struct conf *c, char *err, size_t errlen);
/* Parses text as if from file name (pure: for tests and fuzzing) over c,
 * which holds the defaults. Sets loopback_only = false. A relative
 * data_dir stays relative here (conf_load resolves it). */
int conf_parse(const char *name, const char *text, size_t len, struct conf *c,
	       char *err, size_t errlen);
void conf_free(struct conf *c);
bool conf_is_local_domain(const struct conf *c, const char *domain);

struct buf;
/* Appends every effective value as "key = value" lines that conf_parse
 * reads back to the same struct ("facteur config show"). */
bool conf_format(const struct conf *c, struct buf *out);

#endif
