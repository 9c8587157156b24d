/* conf: facteur.conf -> struct conf.
 *
 * conf_parse is pure (text in, struct out, no I/O): it is what the tests
 * and the fuzzer drive. conf_defaults reads the host name, the
 * environment and the working directory; conf_load reads the file. Every
 * value has a written range, and every mistake is reported with its file
 * and line, so a typo never silently becomes a default. */
#include "conf/conf.h"
#include "conf/conf_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/escape.h"
#include "lib/log.h"
#include "lib/strnum.h"
#include "proto/limits.h"

/* A configuration file is a few hundred bytes; lines longer than this are
 * a mistake (or not a configuration file). */
#define CONF_FILE_MAX (1024 * 1024)
#define CONF_LINE_MAX 4096
#define CONF_DOMAINS_MAX 256
#define CONF_LISTENERS_MAX 16
/* RFC 5321 4.5.3.1.2 / 4.5.3.1.1. */
#define CONF_DOMAIN_MAX 255
#define CONF_LOCAL_MAX 64
#define CONF_MSG_SIZE_MAX (1024ull * 1024 * 1024)

enum conf_type {
	CT_HOSTNAME,
	CT_PATH,
	CT_DOMAINS,
	CT_POSTMASTER,
	CT_LISTEN,      /* min = enum listener_proto */
	CT_NETS,
	CT_SIZE,
	CT_UINT,
	CT_MILLIS,
	CT_BOOL,
	CT_LOG_LEVEL,
	CT_USER,
	CT_TRANSCRIPT,
	CT_DURATION,    /* unsigned seconds at off, in [min, max] */
	CT_RELAY_TLS,   /* int at off */
	CT_DELIM,
	CT_ROUTES,
	CT_RELAYHOST,
	CT_WORD,        /* char * at off: printable, no blank; "none" -> "" */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;        /* CT_UINT, CT_MILLIS, CT_BOOL: field offset */
	uint64_t min, max; /* CT_UINT, CT_MILLIS, CT_SIZE */
};

#define UINT_KEY(k, lo, hi) { #k, CT_UINT, offsetof(struct conf, k), (lo), (hi) }

static const struct conf_key keys[] = {
	{ "hostname", CT_HOSTNAME, 0, 0, 0 },
	{ "data_dir", CT_PATH, offsetof(struct conf, data_dir), 0, 0 },
	{ "tls_cert", CT_PATH, offsetof(struct conf, tls_cert), 0, 0 },
	{ "tls_key", CT_PATH, offsetof(struct conf, tls_key), 0, 0 },
	{ "domains", CT_DOMAINS, 0, 0, 0 },
	{ "postmaster", CT_POSTMASTER, 0, 0, 0 },
	{ "smtp_listen", CT_LISTEN, 0, LISTEN_SMTP, 0 },
	{ "pop3_listen", CT_LISTEN, 0, LISTEN_POP3, 0 },
	{ "submission_listen", CT_LISTEN, 0, LISTEN_SUBMISSION, 0 },
	{ "smtps_listen", CT_LISTEN, 0, LISTEN_SMTPS, 0 },
	{ "pop3s_listen", CT_LISTEN, 0, LISTEN_POP3S, 0 },
	{ "cleartext_auth_networks", CT_NETS, 0, 0, 0 },
	{ "relay_networks", CT_NETS, 0, 1, 0 },
	UINT_KEY(max_auth_failures, 1, 100),
	{ "max_message_size", CT_SIZE, offsetof(struct conf, max_message_size), 1, CONF_MSG_SIZE_MAX },
	/* All messages in transit together (DATA being received, commits
	 * being written): bounds memory whatever max_connections is. */
	{ "max_data_memory", CT_SIZE, offsetof(struct conf, max_data_memory), 1024 * 1024,
	  64ull * 1024 * 1024 * 1024 },
	/* RFC 5321 4.5.3.1.8 asks for at least 100; fewer is allowed for
	 * tests and small sites. */
	UINT_KEY(max_recipients, 1, 100000),
	/* RFC 5321 4.5.3.1.4 / 4.5.3.1.6: never below the RFC minimums. */
	UINT_KEY(smtp_max_line, LIMIT_SMTP_CMD_LINE, 65536),
	UINT_KEY(smtp_max_text_line, LIMIT_SMTP_TEXT_LINE, 1024 * 1024),
	UINT_KEY(max_errors, 1, 1000),
	/* RFC 5321 4.5.3.2 and RFC 1939 3 ask for 5 and 10 minutes; shorter
	 * is allowed (tests, load shedding). */
	UINT_KEY(smtp_timeout, 1, 86400),
	UINT_KEY(smtp_data_timeout, 1, 86400),
	UINT_KEY(pop3_timeout, 1, 86400),
	UINT_KEY(max_connections, 1, 1000000),
	UINT_KEY(max_connections_per_ip, 1, 1000000),
	{ "apop", CT_BOOL, offsetof(struct conf, apop), 0, 0 },
	{ "vrfy", CT_BOOL, offsetof(struct conf, vrfy), 0, 0 },
	{ "sandbox", CT_BOOL, offsetof(struct conf, sandbox), 0, 0 },
	{ "auth_fail_delay", CT_MILLIS, offsetof(struct conf, auth_fail_delay_ms), 0, 60000 },
	UINT_KEY(workers, 1, 256),
	{ "user", CT_USER, 0, 0, 0 },
	{ "transcript", CT_TRANSCRIPT, 0, 0, 0 },
	{ "log_level", CT_LOG_LEVEL, 0, 0, 0 },
	/* relay */
	{ "aliases", CT_PATH, offsetof(struct conf, aliases_file), 0, 0 },
	{ "recipient_delimiter", CT_DELIM, 0, 0, 0 },
	{ "routes", CT_ROUTES, 0, 0, 0 },
	{ "relayhost", CT_RELAYHOST, 0, 0, 0 },
	{ "relayhost_tls", CT_RELAY_TLS, offsetof(struct conf, relayhost_tls), 0, 0 },
	{ "relayhost_tls_verify", CT_BOOL, offsetof(struct conf, relayhost_tls_verify), 0, 0 },
	{ "relayhost_user", CT_WORD, offsetof(struct conf, relayhost_user), 0, 0 },
	{ "relayhost_password_file", CT_PATH, offsetof(struct conf, relayhost_password_file), 0, 0 },
	{ "relay_tls", CT_RELAY_TLS, offsetof(struct conf, relay_tls), 0, 0 },
	{ "dns_servers", CT_WORD, offsetof(struct conf, dns_servers), 0, 0 },
	UINT_KEY(relay_port, 1, 65535),
	UINT_KEY(relay_concurrency, 1, 1000),
	UINT_KEY(relay_max_sessions, 1, 100000),
	{ "relay_connect_timeout", CT_DURATION, offsetof(struct conf, relay_connect_timeout), 1, 3600 },
	{ "queue_lifetime", CT_DURATION, offsetof(struct conf, queue_lifetime), 1, 365 * 86400 },
	{ "delay_warning", CT_DURATION, offsetof(struct conf, delay_warning), 0, 365 * 86400 },
	{ "retry_min", CT_DURATION, offsetof(struct conf, retry_min), 1, 86400 },
	{ "retry_max", CT_DURATION, offsetof(struct conf, retry_max), 1, 7 * 86400 },
	/* RFC 5321 6.3 suggests a limit of at least 100; Postfix uses 50. */
	UINT_KEY(max_hops, 5, 1000),
};

#define NKEYS (sizeof keys / sizeof keys[0])

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool conf_domain_valid(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > CONF_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-') || ++label > 63)
			return false;
	}
	return label > 0;
}

/* The same local-part rule as auth/account.c (conf does not depend on
 * auth): RFC 5322 atext minus '/', dots only between characters. */
static bool local_valid(const char *s, size_t len)
{
	if (len == 0 || len > CONF_LOCAL_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') ||
			  (c != '\0' && strchr("!#$%&'*+=?^_`{|}~.-", c) != NULL);
		if (!ok || (c == '.' && s[i + 1] == '.'))
			return false;
	}
	return true;
}

static void str_lower(char *s)
{
	for (; *s; s++)
		*s = lower(*s);
}

static int set_str(char **field, const char *v)
{
	char *d = strdup(v);
	if (!d)
		return -1;
	free(*field);
	*field = d;
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Splits a comma list in place: returns the next item, trimmed, and
 * advances *cursor; NULL at the end. An empty item ("a,,b") is returned
 * as "" for the caller to reject. */
char *conf_next_item(char **cursor)
{
	char *s = *cursor;
	if (!s)
		return NULL;
	char *comma = strchr(s, ',');
	if (comma) {
		*comma = '\0';
		*cursor = comma + 1;
	} else {
		*cursor = NULL;
	}
	return trim(s);
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* "25M", "512K", "1G", "1000": binary multiples. */
static bool parse_size(const char *v, uint64_t max, uint64_t *out)
{
	size_t len = strlen(v);
	uint64_t mult = 1;
	if (len > 1) {
		switch (v[len - 1]) {
		case 'K': case 'k': mult = 1024; break;
		case 'M': case 'm': mult = 1024 * 1024; break;
		case 'G': case 'g': mult = 1024 * 1024 * 1024; break;
		default: break;
		}
		if (mult != 1)
			len--;
	}
	uint64_t n;
	/* strnum_u64 lets a single digit above a max below 9 through, so
	 * the bound is checked here as well. */
	if (!strnum_u64(v, len, max / mult, &n) || n > max / mult)
		return false;
	*out = n * mult;
	return true;
}

/* 1073741824 -> "1G": sizes in messages as the user writes them. */
static const char *size_text(char *out, size_t outsz, uint64_t n)
{
	static const char units[] = "GMK";
	for (int i = 0; i < 3; i++) {
		uint64_t m = 1ull << (10 * (3 - i));
		if (n && n % m == 0) {
			snprintf(out, outsz, "%llu%c", (unsigned long long)(n / m), units[i]);
			return out;
		}
	}
	snprintf(out, outsz, "%llu", (unsigned long long)n);
	return out;
}

/* "127.0.0.1:25", "[::1]:2525": numeric addresses only, so the daemon
 * never resolves names at startup. */
static bool parse_listener(const char *s, enum listener_proto proto,
			   struct listener_cfg *l, char *msg, size_t msglen)
{
	const char *host, *port;
	size_t hlen;
	int af;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			snprintf(msg, msglen, "expected [IPv6]:port");
			return false;
		}
		host = s + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
		af = AF_INET6;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon) {
			snprintf(msg, msglen, "expected address:port (IPv6 as [addr]:port)");
			return false;
		}
		host = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
		af = AF_INET;
	}
	memset(l, 0, sizeof *l);
	if (hlen == 0 || hlen >= sizeof l->addr) {
		snprintf(msg, msglen, "missing or over-long address");
		return false;
	}
	memcpy(l->addr, host, hlen);
	l->addr[hlen] = '\0';
	unsigned char bin[16];
	if (inet_pton(af, l->addr, bin) != 1) {
		snprintf(msg, msglen, "'%s' is not a numeric IPv%c address", l->addr,
			 af == AF_INET ? '4' : '6');
		return false;
	}
	uint64_t p;
	if (!strnum_u64_cstr(port, 65535, &p) || p == 0) {
		snprintf(msg, msglen, "port must be 1 to 65535");
		return false;
	}
	l->port = (uint16_t)p;
	l->proto = proto;
	return true;
}

/* Replaces every listener of proto by the comma list v ("none": none). */
static int set_listeners(struct conf *c, enum listener_proto proto, char *v,
			 char *msg, size_t msglen)
{
	struct listener_cfg fresh[CONF_LISTENERS_MAX];
	size_t nf = 0;
	if (strcasecmp(v, "none") != 0) {
		char *cur = v, *tok;
		while ((tok = conf_next_item(&cur)) != NULL) {
			if (!*tok) {
				snprintf(msg, msglen, "empty item in the list");
				return -1;
			}
			if (nf == CONF_LISTENERS_MAX) {
				snprintf(msg, msglen, "more than %d addresses", CONF_LISTENERS_MAX);
				return -1;
			}
			if (!parse_listener(tok, proto, &fresh[nf], msg, msglen))
				return -1;
			for (size_t i = 0; i < nf; i++) {
				if (fresh[i].port == fresh[nf].port &&
				    strcmp(fresh[i].addr, fresh[nf].addr) == 0) {
					snprintf(msg, msglen, "'%s' listed twice", tok);
					return -1;
				}
			}
			nf++;
		}
	}
	size_t keep = 0;
	for (size_t i = 0; i < c->nlisteners; i++)
		keep += c->listeners[i].proto != proto;
	struct listener_cfg *all = calloc(keep + nf + 1, sizeof *all);
	if (!all) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].proto != proto)
			all[k++] = c->listeners[i];
	memcpy(all + k, fresh, nf * sizeof *fresh);
	free(c->listeners);
	c->listeners = all;
	c->nlisteners = k + nf;
	return 0;
}

static int set_nets(struct conf *c, bool relay, char *v, char *msg, size_t msglen)
{
	struct cidr fresh[64];
	size_t nf = 0;
	if (strcasecmp(v, "none") != 0) {
		char *cur = v, *tok;
		while ((tok = conf_next_item(&cur)) != NULL) {
			if (nf == sizeof fresh / sizeof fresh[0]) {
				snprintf(msg, msglen, "more than 64 ranges");
				return -1;
			}
			if (!*tok || !cidr_parse(tok, &fresh[nf])) {
				char esc[80];
				snprintf(msg, msglen, "'%s' is not an address range like 192.0.2.0/24",
					 escape_log(esc, sizeof esc, (const uint8_t *)tok, strlen(tok)));
				return -1;
			}
			nf++;
		}
	}
	struct cidr *all = calloc(nf + 1, sizeof *all);
	if (!all) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	memcpy(all, fresh, nf * sizeof *fresh);
	struct cidr **field = relay ? &c->relay_nets : &c->cleartext_auth_nets;
	free(*field);
	*field = all;
	*(relay ? &c->nrelay_nets : &c->ncleartext_auth_nets) = nf;
	return 0;
}

static void free_domains(struct conf *c)
{
	for (size_t i = 0; c->domains && i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	c->domains = NULL;
	c->ndomains = 0;
}

static int set_domains(struct conf *c, char *v, char *msg, size_t msglen)
{
	char **d = calloc(CONF_DOMAINS_MAX, sizeof *d);
	size_t nd = 0;
	if (!d) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	char *cur = v, *tok;
	while ((tok = conf_next_item(&cur)) != NULL) {
		if (!*tok) {
			snprintf(msg, msglen, "empty item in the list");
			goto fail;
		}
		str_lower(tok);
		if (!conf_domain_valid(tok)) {
			char esc[80];
			snprintf(msg, msglen, "'%s' is not a valid domain",
				 escape_log(esc, sizeof esc, (const uint8_t *)tok, strlen(tok)));
			goto fail;
		}
		bool dup = false;
		for (size_t i = 0; i < nd && !dup; i++)
			dup = strcmp(d[i], tok) == 0;
		if (dup) {
			char esc[80];
			snprintf(msg, msglen, "'%s' listed twice",
				 escape_log(esc, sizeof esc, (const uint8_t *)tok, strlen(tok)));
			goto fail;
		}
		if (nd == CONF_DOMAINS_MAX) {
			snprintf(msg, msglen, "more than %d domains", CONF_DOMAINS_MAX);
			goto fail;
		}
		if (!(d[nd] = strdup(tok))) {
			snprintf(msg, msglen, "out of memory");
			goto fail;
		}
		nd++;
	}
	free_domains(c);
	c->domains = d;
	c->ndomains = nd;
	return 0;
fail:
	for (size_t i = 0; i < nd; i++)
		free(d[i]);
	free(d);
	return -1;
}

static int apply(struct conf *c, const struct conf_key *k, char *v, char *msg, size_t msglen)
{
	uint64_t n;
	switch (k->type) {
	case CT_HOSTNAME:
		if (!conf_domain_valid(v)) {
			snprintf(msg, msglen, "not a valid host name (letters, digits, '-', '.')");
			return -1;
		}
		return set_str(&c->hostname, v);
	case CT_PATH:
		for (const char *p = v; *p; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				snprintf(msg, msglen, "control character in path");
				return -1;
			}
		}
		return set_str((char **)(void *)((char *)c + k->off), v);
	case CT_DOMAINS:
		return set_domains(c, v, msg, msglen);
	case CT_POSTMASTER: {
		/* Checked again once all lines are read (the domain must be
		 * one of "domains", which may come later). */
		const char *at = strchr(v, '@');
		size_t llen = at ? (size_t)(at - v) : strlen(v);
		if (!local_valid(v, llen) || (at && !conf_domain_valid(at + 1))) {
			snprintf(msg, msglen, "not a valid account name");
			return -1;
		}
		str_lower(v);
		return set_str(&c->postmaster, v);
	}
	case CT_LISTEN:
		return set_listeners(c, (enum listener_proto)k->min, v, msg, msglen);
	case CT_NETS:
		return set_nets(c, k->min == 1, v, msg, msglen);
	case CT_SIZE:
		if (!parse_size(v, k->max, &n) || n < k->min) {
			char lo[24], hi[24];
			snprintf(msg, msglen, "expected a size from %s to %s (suffix K, M or G)",
				 size_text(lo, sizeof lo, k->min), size_text(hi, sizeof hi, k->max));
			return -1;
		}
		*(uint64_t *)(void *)((char *)c + k->off) = n;
		return 0;
	case CT_MILLIS: {
		/* A bare number, or with "ms". */
		size_t len = strlen(v);
		if (len > 2 && strcmp(v + len - 2, "ms") == 0)
			len -= 2;
		if (!strnum_u64(v, len, k->max, &n) || n < k->min || n > k->max) {
			snprintf(msg, msglen, "expected milliseconds from %llu to %llu",
				 (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		*(unsigned *)(void *)((char *)c + k->off) = (unsigned)n;
		return 0;
	}
	case CT_UINT:
		if (!strnum_u64_cstr(v, k->max, &n) || n < k->min || n > k->max) {
			snprintf(msg, msglen, "expected a number from %llu to %llu",
				 (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		*(unsigned *)(void *)((char *)c + k->off) = (unsigned)n;
		return 0;
	case CT_BOOL:
		if (!parse_bool(v, (bool *)(void *)((char *)c + k->off))) {
			snprintf(msg, msglen, "expected yes or no");
			return -1;
		}
		return 0;
	case CT_TRANSCRIPT: {
		unsigned mask = 0;
		if (!strcasecmp(v, "all")) {
			mask = (1u << LISTEN_PROTOS) - 1;
		} else if (strcasecmp(v, "none") != 0) {
			char *cur = v, *tok;
			while ((tok = conf_next_item(&cur)) != NULL) {
				int found = -1;
				for (int i = 0; i < LISTEN_PROTOS; i++)
					if (!strcasecmp(tok, listener_proto_names[i]))
						found = i;
				if (found < 0) {
					snprintf(msg, msglen, "expected none, all, or a list of smtp, pop3, "
						 "submission, smtps, pop3s");
					return -1;
				}
				mask |= 1u << found;
			}
		}
		c->transcript_mask = mask;
		return 0;
	}
	case CT_USER:
		/* A system account name: checked against the user database when
		 * the server starts (conf_parse stays pure). */
		for (const char *p = v; *p; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.')) {
				snprintf(msg, msglen, "not a user name");
				return -1;
			}
		}
		return set_str(&c->user, v);
	case CT_DURATION:
		if (!conf_parse_duration(v, k->min, k->max,
					 (unsigned *)(void *)((char *)c + k->off))) {
			snprintf(msg, msglen, "expected a duration like 30s, 5m, 4h or 5d "
				 "(%llu to %llu seconds)",
				 (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		return 0;
	case CT_RELAY_TLS:
		for (int i = 0; i < 4; i++) {
			if (!strcasecmp(v, relay_tls_names[i])) {
				*(int *)(void *)((char *)c + k->off) = i;
				return 0;
			}
		}
		snprintf(msg, msglen, "expected none, opportunistic, required or smtps");
		return -1;
	case CT_DELIM:
		if (!strcasecmp(v, "none")) {
			c->recipient_delimiter = 0;
			return 0;
		}
		if (strlen(v) != 1 || !strchr("+-_=", v[0])) {
			snprintf(msg, msglen, "expected one of + - _ = or none");
			return -1;
		}
		c->recipient_delimiter = v[0];
		return 0;
	case CT_ROUTES:
		return conf_set_routes(c, v, msg, msglen);
	case CT_RELAYHOST:
		if (!strcasecmp(v, "none")) {
			memset(&c->relayhost, 0, sizeof c->relayhost);
			return 0;
		}
		return conf_parse_dest(v, 25, &c->relayhost, msg, msglen) ? 0 : -1;
	case CT_WORD:
		for (const char *p = v; *p; p++) {
			if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
				snprintf(msg, msglen, "blank or control character in the value");
				return -1;
			}
		}
		return set_str((char **)(void *)((char *)c + k->off),
			       strcasecmp(v, "none") ? v : "");
	case CT_LOG_LEVEL:
		for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
			if (strcasecmp(v, level_names[i]) == 0) {
				c->log_level = (int)i;
				return 0;
			}
		}
		if (strcasecmp(v, "warning") == 0) {
			c->log_level = LOG_WARN;
			return 0;
		}
		snprintf(msg, msglen, "expected error, warn, info or debug");
		return -1;
	}
	BUG("unknown conf key type");
}

__attribute__((format(printf, 5, 6)))
static void conf_err(char *err, size_t errlen, const char *name, size_t line,
		     const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	int n = line ? snprintf(err, errlen, "%s:%zu: ", name, line)
		     : snprintf(err, errlen, "%s: ", name);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* A '#' at the start of a line or after a blank starts a comment. */
static void strip_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

int conf_parse(const char *name, const char *text, size_t len, struct conf *c,
	       char *err, size_t errlen)
{
	if (!name)
		name = "(config)";
	size_t seen[NKEYS] = { 0 };
	bool listeners_named = false;
	size_t pos = 0, lineno = 0;
	char line[CONF_LINE_MAX + 1];
	char msg[256];
	c->loopback_only = false;
	while (pos < len) {
		lineno++;
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - start) : len - pos;
		pos += ll + (nl ? 1 : 0);
		if (ll > 0 && start[ll - 1] == '\r')
			ll--;
		if (ll > CONF_LINE_MAX) {
			conf_err(err, errlen, name, lineno, "line longer than %d bytes",
				 CONF_LINE_MAX);
			return -1;
		}
		if (memchr(start, '\0', ll)) {
			conf_err(err, errlen, name, lineno, "NUL byte");
			return -1;
		}
		memcpy(line, start, ll);
		line[ll] = '\0';
		strip_comment(line);
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			conf_err(err, errlen, name, lineno, "missing '=' (expected key = value)");
			return -1;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		if (!*key) {
			conf_err(err, errlen, name, lineno, "missing key before '='");
			return -1;
		}
		size_t ki = NKEYS;
		for (size_t i = 0; i < NKEYS; i++) {
			if (strcmp(keys[i].name, key) == 0) {
				ki = i;
				break;
			}
		}
		if (ki == NKEYS) {
			char esc[80];
			conf_err(err, errlen, name, lineno, "unknown key '%s'",
				 escape_log(esc, sizeof esc, (const uint8_t *)key, strlen(key)));
			return -1;
		}
		if (seen[ki]) {
			conf_err(err, errlen, name, lineno, "duplicate key '%s' (first on line %zu)",
				 key, seen[ki]);
			return -1;
		}
		seen[ki] = lineno;
		/* A file that names any listener names all of them: the
		 * quick-start ports do not linger beside a real setup. */
		if (keys[ki].type == CT_LISTEN && !listeners_named) {
			listeners_named = true;
			c->nlisteners = 0;
		}
		if (!*val) {
			conf_err(err, errlen, name, lineno, "missing value for '%s'", key);
			return -1;
		}
		msg[0] = '\0';
		if (apply(c, &keys[ki], val, msg, sizeof msg) < 0) {
			conf_err(err, errlen, name, lineno, "%s: %s", key,
				 msg[0] ? msg : "out of memory");
			return -1;
		}
	}

	size_t mem_line = 0;
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, "max_data_memory"))
			mem_line = seen[i];
	/* Left at its default, the budget follows a larger message size. */
	if (!mem_line && c->max_data_memory < c->max_message_size)
		c->max_data_memory = c->max_message_size;
	if (c->max_data_memory < c->max_message_size) {
		conf_err(err, errlen, name, mem_line, "max_data_memory (%llu) is below max_message_size "
			 "(%llu): no message could ever be received whole",
			 (unsigned long long)c->max_data_memory,
			 (unsigned long long)c->max_message_size);
		return -1;
	}
	if (c->retry_max < c->retry_min) {
		conf_err(err, errlen, name, 0, "retry_max (%us) is shorter than retry_min (%us)",
			 c->retry_max, c->retry_min);
		return -1;
	}
	if (c->relayhost_user && *c->relayhost_user &&
	    (!c->relayhost_password_file || !*c->relayhost_password_file)) {
		conf_err(err, errlen, name, 0, "relayhost_user needs relayhost_password_file");
		return -1;
	}

	/* postmaster: a bare local part belongs to the first domain; the
	 * account must be local (it receives postmaster@ mail, RFC 5321
	 * 4.5.1). */
	if (c->postmaster && *c->postmaster) {
		size_t pl = 0;
		for (size_t i = 0; i < NKEYS; i++)
			if (keys[i].type == CT_POSTMASTER)
				pl = seen[i];
		const char *at = strchr(c->postmaster, '@');
		if (!at) {
			struct buf b;
			buf_init(&b, 0);
			if (c->ndomains == 0 ||
			    !buf_printf(&b, "%s@%s", c->postmaster, c->domains[0])) {
				buf_release(&b);
				conf_err(err, errlen, name, pl, "postmaster: out of memory");
				return -1;
			}
			buf_cstr(&b);
			free(c->postmaster);
			c->postmaster = (char *)buf_steal(&b, NULL);
		} else if (!conf_is_local_domain(c, at + 1)) {
			conf_err(err, errlen, name, pl,
				 "postmaster: domain '%s' is not one of the domains", at + 1);
			return -1;
		}
	}
	return 0;
}

/* hostname: a valid name from gethostname(), else "localhost". */
static char *default_hostname(void)
{
	char h[256];
	if (gethostname(h, sizeof h) < 0)
		return strdup("localhost");
	h[sizeof h - 1] = '\0';
	return strdup(conf_domain_valid(h) ? h : "localhost");
}

/* Makes a relative path absolute against base (or the working directory
 * when base is NULL), dropping a leading "./". */
static char *absolute(const char *path, const char *base)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[PATH_MAX];
	if (!base) {
		if (!getcwd(cwd, sizeof cwd))
			return NULL;
		base = cwd;
	}
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (path[0] == '\0' || strcmp(path, ".") == 0)
		return strdup(base);
	struct buf b;
	buf_init(&b, PATH_MAX);
	bool ok = strcmp(base, "/") == 0 ? buf_printf(&b, "/%s", path)
					 : buf_printf(&b, "%s/%s", base, path);
	if (!ok) {
		buf_release(&b);
		errno = ENAMETOOLONG;
		return NULL;
	}
	buf_cstr(&b);
	return (char *)buf_steal(&b, NULL);
}

int conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof *c);
	const char *home = getenv("FACTEUR_HOME");
	c->hostname = default_hostname();
	c->data_dir = absolute(home && *home ? home : "./facteur-data", NULL);
	c->domains = calloc(1, sizeof *c->domains);
	if (c->domains && (c->domains[0] = strdup("localhost")) != NULL)
		c->ndomains = 1;
	c->postmaster = strdup("");
	c->listeners = calloc(LISTEN_PROTOS, sizeof *c->listeners);
	c->cleartext_auth_nets = calloc(2, sizeof *c->cleartext_auth_nets);
	c->tls_cert = strdup("");
	c->tls_key = strdup("");
	c->user = strdup("");
	c->aliases_file = strdup("");
	c->relayhost_user = strdup("");
	c->relayhost_password_file = strdup("");
	c->dns_servers = strdup("");
	if (!c->hostname || !c->data_dir || !c->ndomains || !c->postmaster || !c->listeners ||
	    !c->cleartext_auth_nets || !c->tls_cert || !c->tls_key || !c->user ||
	    !c->aliases_file || !c->relayhost_user || !c->relayhost_password_file ||
	    !c->dns_servers) {
		conf_free(c);
		return -1;
	}
	/* The quick-start ports, all on loopback. */
	c->listeners[0] = (struct listener_cfg){ LISTEN_SMTP, "127.0.0.1", 2525 };
	c->listeners[1] = (struct listener_cfg){ LISTEN_POP3, "127.0.0.1", 1100 };
	c->listeners[2] = (struct listener_cfg){ LISTEN_SUBMISSION, "127.0.0.1", 5870 };
	c->listeners[3] = (struct listener_cfg){ LISTEN_SMTPS, "127.0.0.1", 4465 };
	c->listeners[4] = (struct listener_cfg){ LISTEN_POP3S, "127.0.0.1", 9995 };
	c->nlisteners = 5;
	cidr_parse("127.0.0.0/8", &c->cleartext_auth_nets[0]);
	cidr_parse("::1", &c->cleartext_auth_nets[1]);
	c->ncleartext_auth_nets = 2;
	c->max_auth_failures = 3;
	c->max_message_size = LIMIT_SMTP_MSG_SIZE;
	c->max_data_memory = 512ull * 1024 * 1024;
	c->max_recipients = LIMIT_SMTP_RCPTS;
	c->smtp_max_line = LIMIT_SMTP_CMD_LINE;
	c->smtp_max_text_line = LIMIT_SMTP_TEXT_LINE;
	c->max_errors = LIMIT_SMTP_ERRORS;
	c->smtp_timeout = LIMIT_SMTP_TIMEOUT_SEC;
	c->smtp_data_timeout = 600;
	c->pop3_timeout = LIMIT_POP3_TIMEOUT_SEC;
	c->max_connections = 20000;
	c->max_connections_per_ip = 500;
	c->apop = true;
	c->vrfy = false;
	c->sandbox = true;
	c->auth_fail_delay_ms = 1000;
	c->workers = 4;
	c->log_level = LOG_INFO;
	c->recipient_delimiter = '+';
	c->relayhost_tls = RELAY_TLS_REQUIRED;
	c->relayhost_tls_verify = true;
	c->relay_tls = RELAY_TLS_OPPORTUNISTIC;
	c->relay_port = 25;
	c->relay_concurrency = 10;
	c->relay_max_sessions = 100;
	c->relay_connect_timeout = 30;
	c->queue_lifetime = 5 * 86400;
	c->delay_warning = 4 * 3600;
	c->retry_min = 300;
	c->retry_max = 3600;
	c->max_hops = 50;
	c->loopback_only = true;
	return 0;
}

int conf_load(const char *path, struct conf *c, char *err, size_t errlen)
{
	char ebuf[128];
	int fd;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		conf_err(err, errlen, path, 0, "%s", strerror_r(errno, ebuf, sizeof ebuf));
		return -1;
	}
	struct buf b;
	buf_init(&b, CONF_FILE_MAX);
	int rc = 0;
	for (;;) {
		if (!buf_reserve(&b, 4096)) {
			conf_err(err, errlen, path, 0, "file larger than %d bytes", CONF_FILE_MAX);
			rc = -1;
			break;
		}
		ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			conf_err(err, errlen, path, 0, "%s", strerror_r(errno, ebuf, sizeof ebuf));
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
	}
	close(fd);
	if (rc == 0)
		rc = conf_parse(path, (const char *)b.data, b.len, c, err, errlen);
	buf_release(&b);
	if (rc < 0)
		return -1;

	/* A relative data_dir is relative to the configuration file, so the
	 * daemon finds the same directory whatever its working directory. */
	if (c->data_dir[0] != '/') {
		char dir[PATH_MAX];
		const char *slash = strrchr(path, '/');
		int n = !slash ? snprintf(dir, sizeof dir, ".")
			: slash == path ? snprintf(dir, sizeof dir, "/")
					: snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
		char *base = (n >= 0 && (size_t)n < sizeof dir) ? absolute(dir, NULL) : NULL;
		char *abs = base ? absolute(c->data_dir, base) : NULL;
		free(base);
		if (!abs) {
			conf_err(err, errlen, path, 0, "data_dir: cannot make the path absolute");
			return -1;
		}
		free(c->data_dir);
		c->data_dir = abs;
	}
	return 0;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->hostname);
	free(c->data_dir);
	free_domains(c);
	free(c->postmaster);
	free(c->listeners);
	free(c->cleartext_auth_nets);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->user);
	free(c->aliases_file);
	free(c->routes);
	free(c->relayhost_user);
	free(c->relayhost_password_file);
	free(c->dns_servers);
	free(c->relay_nets);
	memset(c, 0, sizeof *c);
}

bool conf_is_local_domain(const struct conf *c, const char *domain)
{
	if (!domain)
		return false;
	for (size_t i = 0; i < c->ndomains; i++)
		if (strcasecmp(c->domains[i], domain) == 0)
			return true;
	return false;
}

const char *const relay_tls_names[4] = { "none", "opportunistic", "required", "smtps" };

const char *const listener_proto_names[LISTEN_PROTOS] = {
	"smtp", "pop3", "submission", "smtps", "pop3s",
};

static bool format_listeners(const struct conf *c, enum listener_proto proto,
			     struct buf *out)
{
	bool ok = buf_printf(out, "%s_listen = ", listener_proto_names[proto]);
	size_t k = 0;
	for (size_t i = 0; ok && i < c->nlisteners; i++) {
		const struct listener_cfg *l = &c->listeners[i];
		if (l->proto != proto)
			continue;
		bool v6 = strchr(l->addr, ':') != NULL;
		ok = buf_printf(out, "%s%s%s%s:%u", k++ ? ", " : "", v6 ? "[" : "", l->addr,
				v6 ? "]" : "", (unsigned)l->port);
	}
	return ok && (k || buf_append_str(out, "none")) && buf_append_byte(out, '\n');
}

static bool format_nets(struct buf *out, const char *key, const struct cidr *nets, size_t n)
{
	bool ok = buf_printf(out, "%s = ", key);
	for (size_t i = 0; ok && i < n; i++) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(nets[i].family, nets[i].addr, a, sizeof a);
		ok = buf_printf(out, "%s%s/%u", i ? ", " : "", a, nets[i].prefix);
	}
	return ok && (n || buf_append_str(out, "none")) && buf_append_byte(out, '\n');
}

static bool format_relay(const struct conf *c, const struct conf_key *k, struct buf *out)
{
	const void *f = (const char *)c + k->off;
	bool ok = buf_printf(out, "%s = ", k->name);
	switch (k->type) {
	case CT_DURATION:
		ok = ok && conf_format_duration(out, *(const unsigned *)f);
		break;
	case CT_RELAY_TLS:
		ok = ok && buf_append_str(out, relay_tls_names[*(const int *)f & 3]);
		break;
	case CT_DELIM:
		ok = ok && (c->recipient_delimiter ? buf_append_byte(out, (uint8_t)c->recipient_delimiter)
						   : buf_append_str(out, "none"));
		break;
	case CT_ROUTES:
		for (size_t i = 0; ok && i < c->nroutes; i++)
			ok = buf_printf(out, "%s%s=", i ? ", " : "", c->routes[i].domain) &&
			     conf_format_dest(out, &c->routes[i]);
		ok = ok && (c->nroutes || buf_append_str(out, "none"));
		break;
	case CT_RELAYHOST:
		ok = ok && (*c->relayhost.host ? conf_format_dest(out, &c->relayhost)
					       : buf_append_str(out, "none"));
		break;
	default: /* CT_WORD */
		ok = ok && buf_append_str(out, **(char *const *)f ? *(char *const *)f : "none");
		break;
	}
	return ok && buf_append_byte(out, '\n');
}

bool conf_format(const struct conf *c, struct buf *out)
{
	bool ok = buf_printf(out, "hostname = %s\ndata_dir = %s\ndomains = ",
			     c->hostname, c->data_dir);
	for (size_t i = 0; ok && i < c->ndomains; i++)
		ok = buf_printf(out, "%s%s", i ? ", " : "", c->domains[i]);
	ok = ok && buf_append_byte(out, '\n');
	/* An empty postmaster cannot be written as a value: a comment says
	 * what it means instead. */
	if (ok && c->postmaster && *c->postmaster)
		ok = buf_printf(out, "postmaster = %s\n", c->postmaster);
	else if (ok)
		ok = buf_append_str(out, "# postmaster: first account of each domain\n");
	for (int p = 0; ok && p < LISTEN_PROTOS; p++)
		ok = format_listeners(c, (enum listener_proto)p, out);
	if (ok && *c->tls_cert)
		ok = buf_printf(out, "tls_cert = %s\n", c->tls_cert);
	if (ok && *c->tls_key)
		ok = buf_printf(out, "tls_key = %s\n", c->tls_key);
	if (ok && *c->aliases_file)
		ok = buf_printf(out, "aliases = %s\n", c->aliases_file);
	if (ok && *c->relayhost_password_file)
		ok = buf_printf(out, "relayhost_password_file = %s\n", c->relayhost_password_file);
	ok = ok && format_nets(out, "cleartext_auth_networks", c->cleartext_auth_nets,
			       c->ncleartext_auth_nets) &&
	     format_nets(out, "relay_networks", c->relay_nets, c->nrelay_nets);
	for (size_t i = 0; ok && i < NKEYS; i++) {
		const struct conf_key *k = &keys[i];
		const void *f = (const char *)c + k->off;
		switch (k->type) {
		case CT_HOSTNAME:
		case CT_PATH:
		case CT_DOMAINS:
		case CT_POSTMASTER:
		case CT_LISTEN:
		case CT_NETS:
			break;
		case CT_DURATION:
		case CT_RELAY_TLS:
		case CT_DELIM:
		case CT_ROUTES:
		case CT_RELAYHOST:
		case CT_WORD:
			ok = format_relay(c, k, out);
			break;
		case CT_TRANSCRIPT:
			ok = buf_append_str(out, "transcript = ");
			if (ok && !c->transcript_mask)
				ok = buf_append_str(out, "none");
			for (int p = 0, nt = 0; ok && p < LISTEN_PROTOS; p++)
				if (c->transcript_mask & (1u << p))
					ok = buf_printf(out, "%s%s", nt++ ? ", " : "", listener_proto_names[p]);
			ok = ok && buf_append_byte(out, '\n');
			break;
		case CT_USER:
			if (c->user && *c->user)
				ok = buf_printf(out, "user = %s\n", c->user);
			break;
		case CT_SIZE:
			ok = buf_printf(out, "%s = %llu\n", k->name,
					(unsigned long long)*(const uint64_t *)f);
			break;
		case CT_UINT:
		case CT_MILLIS:
			ok = buf_printf(out, "%s = %u\n", k->name, *(const unsigned *)f);
			break;
		case CT_BOOL:
			ok = buf_printf(out, "%s = %s\n", k->name, *(const bool *)f ? "yes" : "no");
			break;
		case CT_LOG_LEVEL:
			ok = buf_printf(out, "%s = %s\n", k->name,
					c->log_level >= 0 && c->log_level <= LOG_DEBUG
						? level_names[c->log_level] : "info");
			break;
		}
	}
	return ok;
}
