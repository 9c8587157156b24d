#include "daemon/auth_client.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/accounts.h"
#include "daemon/ipc_client.h"
#include "lib/log.h"

/* How long the start waits for the auth process's first directory: it
 * reads a few small files. */
#define FIRST_DIRECTORY_MS 10000

struct waiter {
	struct waiter *next;
	auth_client_cb cb;
	void *arg;
};

struct login {
	auth_client_cb cb;
	void *arg;
};

struct auth_client {
	struct ipc_client *ipc;
	struct accounts *accounts;
	void (*on_lost)(void *arg);
	void *lost_arg;
	bool refreshing;              /* a REFRESH is on its way */
	struct waiter *refresh_now;   /* answered by the one on its way */
	struct waiter *refresh_next;  /* need one sent after it */
};

static bool load_directory(struct accounts *a, const struct ipcmsg *m)
{
	char err[512];
	if (accounts_set_directory(a, m->field[0], m->len[0], m->field[1], m->len[1],
				   m->field[2], err, sizeof err) < 0) {
		log_error("auth directory-refused error=\"%s\"", err);
		return false;
	}
	return true;
}

static bool first_directory(struct accounts *a, int fd)
{
	struct ipcmsg m;
	if (ipc_read_first(fd, IPCMSG_MAX_DIRECTORY, FIRST_DIRECTORY_MS, &m) < 0)
		return false;
	bool ok = m.type == IPCMSG_DIRECTORY && load_directory(a, &m);
	ipcmsg_clear(&m);
	return ok;
}

/* ---- logins ---- */

static void login_answered(void *arg, const struct ipcmsg *reply)
{
	struct login *l = arg;
	int status = reply ? reply->status : IPCMSG_TEMPFAIL;
	const char *name = NULL;
	if (status == IPCMSG_OK) {
		/* An account name is text: anything else is no answer. */
		if (reply->len[0] && strlen(reply->field[0]) == reply->len[0])
			name = reply->field[0];
		else
			status = IPCMSG_TEMPFAIL;
	} else if (status != IPCMSG_BAD) {
		status = IPCMSG_TEMPFAIL;
	}
	l->cb(l->arg, status, name);
	free(l);
}

static bool send_login(struct auth_client *ac, struct ipcmsg *m, auth_client_cb cb, void *arg)
{
	struct login *l = malloc(sizeof *l);
	if (!l)
		return false;
	l->cb = cb;
	l->arg = arg;
	if (!ipc_client_request(ac->ipc, m, login_answered, l)) {
		free(l);
		return false;
	}
	return true;
}

static void set_field(struct ipcmsg *m, unsigned i, const char *s)
{
	m->field[i] = (char *)s;
	m->len[i] = strlen(s);
}

bool auth_client_pass(struct auth_client *ac, const char *login, const char *password,
		      auth_client_cb cb, void *arg)
{
	struct ipcmsg m = { .type = IPCMSG_PASS, .nfields = 2 };
	set_field(&m, 0, login);
	set_field(&m, 1, password);
	return send_login(ac, &m, cb, arg);
}

bool auth_client_apop(struct auth_client *ac, const char *login, const char *timestamp,
		      const char *digest, auth_client_cb cb, void *arg)
{
	struct ipcmsg m = { .type = IPCMSG_APOP, .nfields = 3 };
	set_field(&m, 0, login);
	set_field(&m, 1, timestamp);
	set_field(&m, 2, digest);
	return send_login(ac, &m, cb, arg);
}

/* ---- refreshes ---- */

static void call_waiters(struct waiter *w, int status)
{
	while (w) {
		struct waiter *next = w->next;
		w->cb(w->arg, status, NULL);
		free(w);
		w = next;
	}
}

static void refresh_answered(void *arg, const struct ipcmsg *reply);

static bool send_refresh(struct auth_client *ac)
{
	struct ipcmsg m = { .type = IPCMSG_REFRESH };
	ac->refreshing = ipc_client_request(ac->ipc, &m, refresh_answered, ac);
	return ac->refreshing;
}

static void refresh_answered(void *arg, const struct ipcmsg *reply)
{
	struct auth_client *ac = arg;
	ac->refreshing = false;
	struct waiter *done = ac->refresh_now;
	ac->refresh_now = ac->refresh_next;
	ac->refresh_next = NULL;
	if (ac->refresh_now && !send_refresh(ac)) {
		struct waiter *w = ac->refresh_now;
		ac->refresh_now = NULL;
		call_waiters(w, IPCMSG_TEMPFAIL);
	}
	call_waiters(done, reply ? IPCMSG_OK : IPCMSG_TEMPFAIL);
}

bool auth_client_refresh(struct auth_client *ac, auth_client_cb cb, void *arg)
{
	if (ipc_client_lost(ac->ipc))
		return false;
	struct waiter *w = calloc(1, sizeof *w);
	if (!w)
		return false;
	w->cb = cb;
	w->arg = arg;
	if (ac->refreshing) {
		w->next = ac->refresh_next;
		ac->refresh_next = w;
		return true;
	}
	w->next = ac->refresh_now;
	ac->refresh_now = w;
	if (!send_refresh(ac)) {
		ac->refresh_now = w->next;
		free(w);
		return false;
	}
	return true;
}

/* ---- the socket ---- */

static bool on_message(void *arg, const struct ipcmsg *m)
{
	struct auth_client *ac = arg;
	if (m->type != IPCMSG_DIRECTORY)
		return false;
	if (load_directory(ac->accounts, m))
		log_info("auth directory accounts=%zu", accounts_count(ac->accounts));
	return true;
}

static void on_lost(void *arg)
{
	struct auth_client *ac = arg;
	struct waiter *w = ac->refresh_next;
	ac->refresh_next = NULL;
	call_waiters(w, IPCMSG_TEMPFAIL);
	if (ac->on_lost)
		ac->on_lost(ac->lost_arg);
}

struct auth_client *auth_client_new(struct event_base *base, int fd, struct accounts *a,
				    void (*lost)(void *arg), void *lost_arg)
{
	struct auth_client *ac = calloc(1, sizeof *ac);
	if (!ac || !first_directory(a, fd)) {
		if (ac)
			log_error("auth: no directory from the auth process");
		close(fd);
		free(ac);
		return NULL;
	}
	log_info("auth directory accounts=%zu", accounts_count(a));
	ac->accounts = a;
	ac->on_lost = lost;
	ac->lost_arg = lost_arg;
	struct ipc_client_cfg cfg = {
		.name = "auth", .max_in = IPCMSG_MAX_DIRECTORY,
		.on_message = on_message, .on_lost = on_lost, .arg = ac,
	};
	if (!(ac->ipc = ipc_client_new(base, fd, &cfg))) {
		free(ac);
		return NULL;
	}
	return ac;
}

void auth_client_free(struct auth_client **acp)
{
	struct auth_client *ac = *acp;
	if (!ac)
		return;
	/* Pending refreshes answer through refresh_answered (NULL). */
	ipc_client_free(&ac->ipc);
	struct waiter *w = ac->refresh_now;
	ac->refresh_now = NULL;
	call_waiters(w, IPCMSG_TEMPFAIL);
	w = ac->refresh_next;
	ac->refresh_next = NULL;
	call_waiters(w, IPCMSG_TEMPFAIL);
	free(ac);
	*acp = NULL;
}
