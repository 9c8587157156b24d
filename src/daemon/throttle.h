/* throttle: failed logins counted per client address, so that guessing
 * passwords gets slower the more one guesses, across sessions.
 *
 * The delay before a failure is answered doubles with every recent
 * failure from the address (base, 2x, 4x ... capped at 16x base, at most
 * 30 s); an address's count is forgotten after 15 minutes without a
 * failure. A fixed-size table: an attacker with many addresses can evict
 * entries, but never grow memory. */
#ifndef FACTEUR_DAEMON_THROTTLE_H
#define FACTEUR_DAEMON_THROTTLE_H

#include <time.h>

struct auth_throttle;

struct auth_throttle *throttle_new(unsigned base_delay_ms);
void throttle_free(struct auth_throttle **tp);
/* Records a failure from addr and returns the delay (ms) to apply. */
unsigned throttle_failure(struct auth_throttle *t, const char *addr, time_t now);
/* A success from addr clears its count. */
void throttle_success(struct auth_throttle *t, const char *addr);

#endif
