/* common: what every subcommand shares. */
#ifndef FACTEUR_CLI_COMMON_H
#define FACTEUR_CLI_COMMON_H

#include <stddef.h>

#include "conf/conf.h"

/* Loads the configuration: path, or the quick-start defaults when NULL.
 * Prints "facteur: FILE:LINE: message" to stderr and returns -1 on error. */
int cli_load_conf(const char *path, struct conf *c);
/* Run as root on a data directory that belongs to another user (the
 * server's "user"): becomes that user, so that files made by "facteur
 * user" or "facteur queue" are the server's to read and write. 0 when
 * done or not needed, -1 (message printed) on failure. */
int cli_become_data_owner(const struct conf *c);
/* Joins data_dir and a relative name into out. Returns -1 if too long. */
int cli_data_path(const struct conf *c, const char *rel, char *out, size_t outsz);
/* mkdir -p with mode 0700 for each created component; -1 with errno. */
int cli_mkdir_p(const char *path);
/* Creates the directory that will hold path. */
int cli_mkdir_parent(const char *path);
/* The effective certificate and key paths: tls_cert/tls_key, relative ones
 * under data_dir, unset ones <data_dir>/tls/cert.pem and key.pem. */
int cli_tls_paths(const struct conf *c, char *cert, size_t certsz, char *key, size_t keysz);
/* Reads a secret: from stdin (one line, newline stripped) when from_stdin,
 * else from the terminal without echo, asking twice when confirm.
 * Returns a malloc()ed string or NULL. Wipe it after use. */
char *cli_read_secret(const char *prompt, int from_stdin, int confirm);

/* Subcommands: argv[0] is the subcommand name. Return the exit status. */
int cmd_serve(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_sendmail(int argc, char **argv);
int cmd_queue(int argc, char **argv);

#endif
