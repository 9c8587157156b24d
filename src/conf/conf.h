/* conf: facteur.conf -> one immutable struct.
 *
 * Syntax: "key = value" lines, "#" comments, blank lines. Unknown keys,
 * bad values and duplicates are errors reported as "FILE:LINE: message".
 * Every key is documented in facteur.conf(5). */
#ifndef FACTEUR_CONF_CONF_H
#define FACTEUR_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum listener_proto { LISTEN_SMTP, LISTEN_POP3 };

struct listener_cfg {
	enum listener_proto proto;
	char addr[64];     /* numeric IPv4 or IPv6 without brackets */
	uint16_t port;
};

struct conf {
	char *hostname;          /* hostname: greeting / Received; default gethostname() or "localhost" */
	char *data_dir;          /* data_dir: holds passwd, apop, mail/ */
	char **domains;          /* domains: local domains (comma list) */
	size_t ndomains;
	char *postmaster;        /* postmaster: account receiving postmaster@ mail */
	struct listener_cfg *listeners; /* smtp_listen, pop3_listen: "addr:port, [v6]:port" */
	size_t nlisteners;
	uint64_t max_message_size;   /* max_message_size (bytes; suffix K, M allowed) */
	unsigned max_recipients;     /* max_recipients */
	unsigned smtp_max_line;      /* smtp_max_line */
	unsigned smtp_max_text_line; /* smtp_max_text_line */
	unsigned max_errors;         /* max_errors */
	unsigned smtp_timeout;       /* smtp_timeout (seconds) */
	unsigned smtp_data_timeout;  /* smtp_data_timeout (seconds) */
	unsigned pop3_timeout;       /* pop3_timeout (seconds) */
	unsigned max_connections;    /* max_connections (total) */
	unsigned max_connections_per_ip; /* max_connections_per_ip */
	bool apop;                   /* apop = yes|no */
	bool vrfy;                   /* vrfy = yes|no */
	unsigned auth_fail_delay_ms; /* auth_fail_delay (milliseconds) */
	unsigned workers;            /* disk worker threads */
	int log_level;               /* log_level = error|warn|info|debug */
	bool loopback_only;          /* true in the quick start: refuse non-loopback binds */
};

/* Fills the quick-start defaults (no config file). data_dir is
 * $FACTEUR_HOME or ./facteur-data. */
int conf_defaults(struct conf *c);
/* Loads path over the defaults; the quick-start listeners are replaced by
 * the file's when it names any. Returns -1 with "FILE:LINE: message". */
int conf_load(const char *path, struct conf *c, char *err, size_t errlen);
/* Parses text as if from file name (pure: for tests and fuzzing). */
int conf_parse(const char *name, const char *text, size_t len, struct conf *c,
	       char *err, size_t errlen);
void conf_free(struct conf *c);
bool conf_is_local_domain(const struct conf *c, const char *domain);

#endif
