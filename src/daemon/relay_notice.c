/* relay_notice: the bounce (RFC 3464 DSN) or delay warning for an
 * attempt, addressed to the envelope sender and queued like any mail.
 *
 * A notice has the null reverse-path, so it never causes another notice
 * (RFC 5321 4.5.5 / 6.1); its id is the original's plus ".dsn" or
 * ".warn", so that repeating the step after a crash queues it once. */
#include "daemon/relay_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/accounts.h"
#include "daemon/server.h"
#include "lib/log.h"
#include "proto/dsn.h"

static bool notice_rcpts(struct relay *r, const char *sender, struct queue_env *env)
{
	struct alias_targets t;
	enum alias_result res = accounts_expand(r->srv->accounts, sender, &t);
	bool ok = res == ALIAS_OK || res == ALIAS_FOREIGN;
	for (size_t i = 0; ok && i < t.nlocal; i++)
		ok = queue_env_add_rcpt(env, t.local[i], sender, true);
	for (size_t i = 0; ok && i < t.nremote; i++)
		ok = queue_env_add_rcpt(env, t.remote[i], sender, false);
	alias_targets_free(&t);
	if (!ok)
		log_warn("relay notice-undeliverable sender=%s (no such local address)", sender);
	return ok && env->nrcpts > 0;
}

bool notice_build(struct relay *r, const struct attempt *a, bool delay_warning,
		  struct queue_env *env, struct buf *msg)
{
	const struct queue_env *orig = &a->env;
	const struct conf *cf = r->srv->conf;
	memset(env, 0, sizeof *env);
	if (!orig->sender[0])
		return false; /* never a notice about a notice */
	struct dsn_rcpt *dr = calloc(orig->nrcpts ? orig->nrcpts : 1, sizeof *dr);
	if (!dr)
		return false;
	size_t n = 0;
	enum rcpt_state want = delay_warning ? RCPT_PENDING : RCPT_FAILED;
	for (size_t i = 0; i < orig->nrcpts; i++) {
		const struct queue_rcpt *q = &orig->rcpts[i];
		if (q->state != want)
			continue;
		dr[n++] = (struct dsn_rcpt){
			.addr = q->addr,
			.orcpt = strcmp(q->orcpt, q->addr) ? q->orcpt : NULL,
			.failed = !delay_warning,
			.status = q->status,
			.code = q->code,
			.remote_mta = q->mta,
			.diagnostic = q->text,
			.last_attempt = q->attempts ? time(NULL) : 0,
		};
	}
	bool ok = n > 0;
	char until[64] = "";
	time_t now = time(NULL);
	if (ok && delay_warning) {
		time_t end = orig->created + (time_t)cf->queue_lifetime;
		struct tm tm;
		gmtime_r(&end, &tm);
		strftime(until, sizeof until, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	}
	struct dsn_info info = {
		.reporting_mta = cf->hostname,
		.queue_id = orig->id,
		.sender = orig->sender,
		.arrival = orig->created,
		.now = now,
		.delay_warning = delay_warning,
		.retry_until = delay_warning ? until : NULL,
		.rcpts = dr,
		.nrcpts = n,
		.original = (const uint8_t *)a->msg,
		.original_len = a->msg_len,
	};
	ok = ok && dsn_build(msg, &info);
	free(dr);
	if (!ok)
		return false;
	/* One bounce per attempt that had failures (attempts counts the
	 * attempt being finished), one warning in all. */
	int idn = delay_warning ? snprintf(env->id, sizeof env->id, "%s.warn", orig->id)
				: snprintf(env->id, sizeof env->id, "%s.dsn%u", orig->id,
					   orig->attempts);
	env->sender = strdup("");
	env->created = now;
	env->next_attempt = now;
	if (idn < 0 || (size_t)idn >= sizeof env->id || !queue_id_valid(env->id) ||
	    !env->sender || !notice_rcpts(r, orig->sender, env)) {
		queue_env_free(env);
		buf_clear(msg);
		return false;
	}
	return true;
}
