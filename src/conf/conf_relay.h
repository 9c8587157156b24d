/* conf_relay: the value syntaxes of the relay keys (durations, next hops,
 * static routes), kept apart from conf.c's table and file reader.
 * Private to src/conf. */
#ifndef FACTEUR_CONF_CONF_RELAY_H
#define FACTEUR_CONF_CONF_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "lib/buf.h"

/* "90", "90s", "5m", "4h", "5d" -> seconds in [min, max]. */
bool conf_parse_duration(const char *v, uint64_t min, uint64_t max, unsigned *out);
/* Writes a duration back in the largest exact unit ("5d", "90s"). */
bool conf_format_duration(struct buf *out, unsigned secs);

/* "host", "host:port", "[v6]", "[v6]:port"; host is a DNS name or a
 * numeric address. */
bool conf_parse_dest(const char *v, uint16_t default_port, struct relay_dest *d,
		     char *msg, size_t msglen);
/* "domain=dest, domain=dest": replaces c->routes. */
int conf_set_routes(struct conf *c, char *v, char *msg, size_t msglen);
bool conf_format_dest(struct buf *out, const struct relay_dest *d);

/* Shared with conf.c. */
bool conf_domain_valid(const char *s);
char *conf_next_item(char **cursor);

#endif
