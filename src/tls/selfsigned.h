/* selfsigned: a key and a self-signed certificate for a host name, so
 * that TLS works out of the box (quick start, tests). Clients must be
 * told to trust it explicitly; see facteur(8). */
#ifndef FACTEUR_TLS_SELFSIGNED_H
#define FACTEUR_TLS_SELFSIGNED_H

#include <stddef.h>

/* Writes an ECDSA P-256 key (mode 0600) and a certificate valid for
 * `days` days with host as CN and subjectAltName (DNS, or IP when host is
 * an address; "localhost" also gets 127.0.0.1 and ::1). Both files are
 * written to a temporary name, synced and renamed. */
int selfsigned_write(const char *host, unsigned days, const char *cert_file,
		     const char *key_file, char *err, size_t errlen);

#endif
