/* relay_dest: where a remote domain's mail goes next, and the jobs
 * waiting for each next hop.
 *
 * Choice of next hop (first match): a static route for the domain, the
 * relayhost, the domain's MX hosts. Jobs for one destination are served
 * in arrival order by up to relay_concurrency sessions, each of which
 * keeps its connection for the next job (RFC 5321 allows any number of
 * transactions per session). */
#include "daemon/relay_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/server.h"
#include "lib/log.h"

static void dest_describe(struct relay *r, const char *domain, struct dest *d)
{
	const struct conf *cf = r->srv->conf;
	for (size_t i = 0; i < cf->nroutes; i++) {
		if (!strcasecmp(cf->routes[i].domain, domain)) {
			snprintf(d->key, sizeof d->key, "route:%s", cf->routes[i].domain);
			d->kind = DEST_HOST;
			snprintf(d->name, sizeof d->name, "%s", cf->routes[i].host);
			d->port = cf->routes[i].port;
			d->tls = cf->relay_tls;
			return;
		}
	}
	if (*cf->relayhost.host) {
		snprintf(d->key, sizeof d->key, "relayhost");
		d->kind = DEST_HOST;
		snprintf(d->name, sizeof d->name, "%s", cf->relayhost.host);
		d->port = cf->relayhost.port;
		d->tls = cf->relayhost_tls;
		d->verify = cf->relayhost_tls_verify;
		d->auth = *cf->relayhost_user != '\0';
		return;
	}
	snprintf(d->key, sizeof d->key, "mx:%s", domain);
	d->kind = DEST_MX;
	snprintf(d->name, sizeof d->name, "%s", domain);
	for (char *p = d->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	for (char *p = d->key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	d->port = (uint16_t)cf->relay_port;
	d->tls = cf->relay_tls;
}

struct dest *dest_for_domain(struct relay *r, const char *domain)
{
	struct dest probe;
	memset(&probe, 0, sizeof probe);
	dest_describe(r, domain, &probe);
	for (struct dest *d = r->dests; d; d = d->next)
		if (!strcmp(d->key, probe.key))
			return d;
	struct dest *d = malloc(sizeof *d);
	if (!d)
		return NULL;
	*d = probe;
	d->next = r->dests;
	r->dests = d;
	return d;
}

void dest_push(struct relay *r, struct dest *d, struct rjob *j)
{
	j->next = NULL;
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	d->njobs++;
	dest_kick(r, d);
}

struct rjob *dest_pop(struct dest *d)
{
	struct rjob *j = d->head;
	if (!j)
		return NULL;
	d->head = j->next;
	if (!d->head)
		d->tail = NULL;
	d->njobs--;
	j->next = NULL;
	return j;
}

void dest_fail_all(struct dest *d, const struct smtp_client_reply *rep, const char *mta)
{
	struct rjob *j;
	while ((j = dest_pop(d)) != NULL) {
		for (size_t i = 0; i < j->n; i++)
			relay_record(j->att, j->idx[i], rep, mta, false);
		relay_job_done(j);
	}
}

void dest_kick(struct relay *r, struct dest *d)
{
	const struct conf *cf = r->srv->conf;
	if (r->stopping)
		return;
	rsession_wake_idle(r, d);
	while (!r->stopping && d->njobs > d->nsessions && d->nsessions < cf->relay_concurrency &&
	       r->nsessions < cf->relay_max_sessions) {
		if (!rsession_start(r, d))
			break;
	}
}

void dest_release(struct relay *r, struct dest *d)
{
	if (d->nsessions || d->head)
		return;
	for (struct dest **pp = &r->dests; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			free(d);
			return;
		}
	}
}

void dests_free(struct relay *r)
{
	while (r->dests) {
		struct dest *d = r->dests;
		r->dests = d->next;
		struct rjob *j;
		/* The attempts these belong to are freed by relay_free. */
		while ((j = dest_pop(d)) != NULL) {
			free(j->idx);
			free(j);
		}
		free(d);
	}
}

void dests_kick_all(struct relay *r)
{
	const struct conf *cf = r->srv->conf;
	struct dest *next;
	for (struct dest *d = r->dests; d && r->nsessions < cf->relay_max_sessions; d = next) {
		next = d->next;
		if (d->head && d->nsessions == 0)
			dest_kick(r, d);
	}
}
