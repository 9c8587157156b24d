/* hostport: "HOST[:PORT]" command-line arguments: "mx.example.org",
 * "127.0.0.1:2525", "[::1]:1100", "::1" (an IPv6 address alone). Pure. */
#ifndef FACTEUR_PROBE_HOSTPORT_H
#define FACTEUR_PROBE_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

/* Splits s into host (brackets removed) and port (defport when absent).
 * The port must be 1..65535 in decimal. False on a malformed value. */
bool hostport_split(const char *s, const char *defport, char *host, size_t hostsz, char *port,
		    size_t portsz);

#endif
