#include "daemon/store_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/ipc_client.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/strnum.h"

/* The store process cleans every Maildir's tmp/ before it is ready; a
 * large store on a slow disk takes a while. */
#define READY_MS 60000

struct store_client {
	struct ipc_client *ipc;
};

struct call {
	uint8_t type;
	uint32_t handle;           /* OPEN: the request's id */
	void (*cb)(void);          /* one of the store_*_cb, by type */
	void *arg;
};

static const char *text_of(const struct ipcmsg *r)
{
	return r && r->len[0] && strlen(r->field[0]) == r->len[0] ? r->field[0] : "";
}

/* RFC 1939 7: a unique-id is 1 to 70 characters in 0x21..0x7E. */
static bool uidl_ok(const char *s, size_t len)
{
	if (len < 1 || len > 70)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* "octets uidl\n" per message. */
static void give_listing(const struct call *k, const struct ipcmsg *r)
{
	store_open_cb cb = (store_open_cb)k->cb;
	size_t n = 0;
	for (size_t i = 0; i < r->len[0]; i++)
		n += r->field[0][i] == '\n';
	uint64_t *octets = calloc(n ? n : 1, sizeof *octets);
	const char **uidl = calloc(n ? n : 1, sizeof *uidl);
	char *text = r->len[0] ? r->field[0] : NULL;
	bool ok = octets && uidl;
	size_t i = 0;
	char *save = NULL;
	for (char *ln = text ? strtok_r(text, "\n", &save) : NULL; ok && ln;
	     ln = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(ln, ' ');
		ok = i < n && sp && strnum_u64(ln, (size_t)(sp - ln), UINT64_MAX, &octets[i]) &&
		     uidl_ok(sp + 1, strlen(sp + 1));
		if (ok)
			uidl[i++] = sp + 1;
	}
	if (!ok || i != n) {
		log_error("store bad-listing messages=%zu", n);
		cb(k->arg, IPCMSG_TEMPFAIL, NULL, "bad listing from the store process");
	} else {
		struct store_listing l = { .handle = k->handle, .n = n, .octets = octets,
					   .uidl = uidl };
		cb(k->arg, IPCMSG_OK, &l, "");
	}
	free(octets);
	free(uidl);
}

static void answered(void *arg, const struct ipcmsg *r)
{
	struct call *k = arg;
	int status = r ? r->status : STORE_LOST;
	const char *text = r ? text_of(r) : "the store process is gone";
	switch (k->type) {
	case IPCMSG_DELIVER:
	case IPCMSG_DELETE:
		((store_done_cb)k->cb)(k->arg, status, status == IPCMSG_OK ? "" : text);
		break;
	case IPCMSG_OPEN:
		if (status == IPCMSG_OK)
			give_listing(k, r);
		else
			((store_open_cb)k->cb)(k->arg, status, NULL, text);
		break;
	case IPCMSG_READ:
		if (status == IPCMSG_OK)
			((store_read_cb)k->cb)(k->arg, status, (const uint8_t *)r->field[0],
					       r->len[0]);
		else
			((store_read_cb)k->cb)(k->arg, status, NULL, 0);
		break;
	default: /* CLOSE: nothing to tell */
		break;
	}
	free(k);
}

static bool call(struct store_client *sc, struct ipcmsg *m, void (*cb)(void), void *arg)
{
	struct call *k = calloc(1, sizeof *k);
	if (!k)
		return false;
	k->type = m->type;
	k->cb = cb;
	k->arg = arg;
	if (!ipc_client_request(sc->ipc, m, answered, k)) {
		free(k);
		return false;
	}
	k->handle = m->id;
	return true;
}

bool store_deliver(struct store_client *sc, const char *const *accounts, size_t n,
		   const void *head, size_t head_len, const void *body, size_t body_len,
		   store_done_cb cb, void *arg)
{
	struct buf names;
	buf_init(&names, 0);
	bool ok = n > 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = buf_append_str(&names, accounts[i]) && buf_append_byte(&names, '\n');
	struct ipcmsg m = { .type = IPCMSG_DELIVER, .nfields = 3 };
	m.field[0] = (char *)names.data;
	m.len[0] = names.len;
	m.field[1] = (char *)head;
	m.len[1] = head_len;
	m.field[2] = (char *)body;
	m.len[2] = body_len;
	ok = ok && call(sc, &m, (void (*)(void))cb, arg);
	buf_release(&names);
	return ok;
}

bool store_open(struct store_client *sc, const char *account, store_open_cb cb, void *arg)
{
	struct ipcmsg m = { .type = IPCMSG_OPEN, .nfields = 1 };
	m.field[0] = (char *)account;
	m.len[0] = strlen(account);
	return call(sc, &m, (void (*)(void))cb, arg);
}

bool store_read(struct store_client *sc, uint32_t handle, size_t index, uint64_t offset,
		store_read_cb cb, void *arg)
{
	char h[16], i[24], o[24];
	snprintf(h, sizeof h, "%u", (unsigned)handle);
	snprintf(i, sizeof i, "%zu", index);
	snprintf(o, sizeof o, "%llu", (unsigned long long)offset);
	struct ipcmsg m = { .type = IPCMSG_READ, .nfields = 3 };
	m.field[0] = h;
	m.len[0] = strlen(h);
	m.field[1] = i;
	m.len[1] = strlen(i);
	m.field[2] = o;
	m.len[2] = strlen(o);
	return call(sc, &m, (void (*)(void))cb, arg);
}

bool store_delete(struct store_client *sc, uint32_t handle, const size_t *idx, size_t n,
		  store_done_cb cb, void *arg)
{
	char h[16];
	snprintf(h, sizeof h, "%u", (unsigned)handle);
	struct buf list;
	buf_init(&list, 0);
	bool ok = true;
	for (size_t i = 0; ok && i < n; i++)
		ok = buf_printf(&list, i ? " %zu" : "%zu", idx[i]);
	struct ipcmsg m = { .type = IPCMSG_DELETE, .nfields = 2 };
	m.field[0] = h;
	m.len[0] = strlen(h);
	m.field[1] = (char *)(list.len ? (const char *)list.data : "");
	m.len[1] = list.len;
	ok = ok && call(sc, &m, (void (*)(void))cb, arg);
	buf_release(&list);
	return ok;
}

static void closed(void) {}

void store_close(struct store_client *sc, uint32_t handle)
{
	char h[16];
	snprintf(h, sizeof h, "%u", (unsigned)handle);
	struct ipcmsg m = { .type = IPCMSG_CLOSE, .nfields = 1 };
	m.field[0] = h;
	m.len[0] = strlen(h);
	call(sc, &m, closed, NULL);
}

struct store_client *store_client_new(struct event_base *base, int fd,
				      void (*on_lost)(void *arg), void *arg)
{
	struct store_client *sc = calloc(1, sizeof *sc);
	/* "Ready" comes once the crash leftovers in tmp/ are gone: nothing
	 * listens before. */
	struct ipcmsg ready;
	if (!sc || ipc_read_first(fd, IPCMSG_MAX_REQUEST, READY_MS, &ready) < 0) {
		if (sc)
			log_error("store: no answer from the store process");
		close(fd);
		free(sc);
		return NULL;
	}
	bool ok = ready.type == IPCMSG_RESULT && ready.id == 0 && ready.status == IPCMSG_OK;
	ipcmsg_clear(&ready);
	if (!ok) {
		log_error("store: unexpected first message from the store process");
		close(fd);
		free(sc);
		return NULL;
	}
	/* Answers are small but for a READ chunk and a maildrop listing. */
	struct ipc_client_cfg cfg = {
		.name = "store", .max_in = IPCMSG_MAX_DIRECTORY, .on_lost = on_lost, .arg = arg,
	};
	if (!(sc->ipc = ipc_client_new(base, fd, &cfg))) {
		free(sc);
		return NULL;
	}
	return sc;
}

void store_client_free(struct store_client **scp)
{
	struct store_client *sc = *scp;
	if (!sc)
		return;
	ipc_client_free(&sc->ipc);
	free(sc);
	*scp = NULL;
}
