/* smtp_harness: drives a pure smtp_server session for the unit tests and
 * the transcript player. Requests are answered by the transcript
 * conventions (tests/transcripts/README.md): local domain "localhost",
 * accounts alice and bob, "postmaster" always accepted, other domains
 * relay-denied, or RELAY_UNAVAILABLE for an authenticated session. For
 * unit tests only, "tempfail@localhost" gets TEMPFAIL.
 *
 * STARTTLS is answered TLS_STARTED (or TLS_FAILED when tls_fail), as if
 * the client waited for the 220, did the handshake and only then sent the
 * rest: harness_feed() keeps feeding after it, so every split gives the
 * same trace. The CVE-2011-0411 discard is tested without the harness.
 * AUTH is answered by harness_auth_policy(). */
#ifndef FACTEUR_TESTS_SMTP_HARNESS_H
#define FACTEUR_TESTS_SMTP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "proto/smtp_server.h"

enum harness_split {
	SPLIT_WHOLE,  /* everything in one feed() */
	SPLIT_BYTES,  /* one byte per feed() */
	SPLIT_RANDOM, /* random chunk sizes from a fixed seed */
};

struct harness {
	struct smtp_server *s;
	int commit_result;        /* answer to COMMIT (SMTP_COMMIT_*) */
	const char *commit_id;    /* id in the COMMIT answer, may be NULL */
	bool answer_rcpt;         /* false: leave CHECK_RCPT unanswered */
	bool answer_commit;       /* false: leave COMMIT unanswered */
	bool answer_tls;          /* false: leave STARTTLS unanswered */
	bool answer_auth;         /* false: leave AUTH unanswered */
	bool tls_fail;            /* answer STARTTLS with TLS_FAILED */
	/* Everything the session said: reply bytes as is, the other items
	 * as "[CHECK path]\n", "[COMMIT from=<..> to=<..>,<..> 8bit=N
	 * body=<escaped>]\n", "[CLOSE]\n", "[STARTTLS]\n",
	 * "[AUTH PLAIN user=<escaped> pass=<escaped>]\n"; CHECK and COMMIT of
	 * an authenticated session end in " auth=<account>". */
	struct buf trace;
	struct buf log;           /* LOG items, one per line */
	struct buf replies;       /* REPLY bytes only */
	bool pending_rcpt;        /* a CHECK_RCPT left unanswered */
	bool pending_commit;
	bool pending_tls;
	bool pending_auth;
	/* the credentials of the pending AUTH, as pointers into the core:
	 * used only when answering, to hold the core to its promise that
	 * they live until then */
	const char *auth_user;
	const char *auth_pass;
	char secret[64];          /* the last password seen (for log checks) */
	bool saw_close;
	size_t requests;          /* CHECK_RCPT and COMMIT items seen */
	bool output_after_close;  /* an invariant violation */
	size_t consumed;
	unsigned rng;
};

/* Default test configuration: hostname "mx.test", limits from limits.h. */
struct smtp_server_cfg harness_default_cfg(void);
/* Creates the session (greeting drained into the trace). */
void harness_init(struct harness *h, const struct smtp_server_cfg *cfg);
void harness_clear(struct harness *h);
/* Feeds len bytes split as asked, draining output and answering requests
 * after every feed, until everything is consumed or the session closed
 * (or a request is left pending on purpose). */
void harness_feed(struct harness *h, const uint8_t *in, size_t len,
	enum harness_split split);
/* Drains output and answers requests. */
void harness_drain(struct harness *h);
/* The recipient policy of the transcript conventions. */
int harness_rcpt_policy(const char *path);
/* The AUTH policy: password "secret" for alice, bob (bare or
 * @localhost) -> OK as "<name>@localhost"; user "tempfail" -> TEMPFAIL;
 * anything else BAD. Returns the result, *account the canonical name. */
int harness_auth_policy(const char *user, const char *pass,
	const char **account);
/* One-shot: runs input on a fresh session, answering COMMIT with
 * commit_result/commit_id, random splits from seed; returns the trace (caller
 * frees) and its length; *log_out gets the log (caller frees) if not
 * NULL. */
char *harness_run(const struct smtp_server_cfg *cfg, int commit_result,
	const char *commit_id, const char *in, size_t len,
	enum harness_split split, unsigned seed, size_t *trace_len,
	char **log_out);

#endif
