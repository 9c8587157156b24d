#include "lib/ipcmsg.h"

#include <stdlib.h>
#include <string.h>

#include "lib/secure.h"

/* Fields each type carries: a request with one too many or too few is
 * not a request. */
static int fields_for(uint8_t type)
{
	/* Indexed by type; -1: no such type. */
	static const signed char count[] = {
		[0] = -1,
		[IPCMSG_PASS] = 2,
		[IPCMSG_APOP] = 3,
		[IPCMSG_REFRESH] = 0,
		[IPCMSG_RESULT] = 1,
		[IPCMSG_DIRECTORY] = 3,
		[IPCMSG_DELIVER] = 3,
		[IPCMSG_OPEN] = 1,
		[IPCMSG_READ] = 3,
		[IPCMSG_DELETE] = 2,
		[IPCMSG_CLOSE] = 1,
	};
	return type < sizeof count ? count[type] : -1;
}

/* Fields that carry bytes rather than text. */
static bool binary_field(uint8_t type, unsigned i)
{
	return type == IPCMSG_DIRECTORY || type == IPCMSG_RESULT ||
	       (type == IPCMSG_DELIVER && i > 0);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Logins are small: the auth process refuses anything bigger. */
static bool is_auth_request(uint8_t type)
{
	return type == IPCMSG_PASS || type == IPCMSG_APOP || type == IPCMSG_REFRESH;
}

bool ipcmsg_encode(struct buf *out, const struct ipcmsg *m)
{
	/* Refuses what the decoder at the other end would refuse. */
	if (fields_for(m->type) != m->nfields ||
	    (m->type == IPCMSG_RESULT && m->status > IPCMSG_NOSPACE))
		return false;
	size_t body = 1 + 4 + 1 + 1;
	for (unsigned i = 0; i < m->nfields; i++) {
		if (m->len[i] > UINT32_MAX - 4 || body > UINT32_MAX - 4 - m->len[i])
			return false;
		if (!binary_field(m->type, i) && m->len[i] && memchr(m->field[i], '\0', m->len[i]))
			return false;
		body += 4 + m->len[i];
	}
	if (is_auth_request(m->type) && body > IPCMSG_MAX_REQUEST)
		return false;
	if (body > UINT32_MAX - 4 || !buf_reserve(out, 4 + body))
		return false;
	size_t start = out->len;
	uint8_t head[4 + 7];
	put_u32(head, (uint32_t)body);
	head[4] = m->type;
	put_u32(head + 5, m->id);
	head[9] = m->status;
	head[10] = m->nfields;
	bool ok = buf_append(out, head, sizeof head);
	for (unsigned i = 0; ok && i < m->nfields; i++) {
		uint8_t len[4];
		put_u32(len, (uint32_t)m->len[i]);
		ok = buf_append(out, len, sizeof len) &&
		     (m->len[i] == 0 || buf_append(out, m->field[i], m->len[i]));
	}
	if (!ok)
		out->len = start;
	return ok;
}

void ipcmsg_clear(struct ipcmsg *m)
{
	for (unsigned i = 0; i < IPCMSG_MAX_FIELDS; i++) {
		if (m->field[i]) {
			secure_wipe(m->field[i], m->len[i]);
			free(m->field[i]);
		}
		m->field[i] = NULL;
		m->len[i] = 0;
	}
	m->nfields = 0;
}

int ipcmsg_decode(const uint8_t *p, size_t n, size_t max_body, struct ipcmsg *m,
		   size_t *used)
{
	memset(m, 0, sizeof *m);
	if (n < 4)
		return 0;
	uint32_t body = get_u32(p);
	if (body > max_body || body < 7)
		return -1;
	if (n - 4 < body)
		return 0;
	const uint8_t *q = p + 4, *end = q + body;
	m->type = q[0];
	m->id = get_u32(q + 1);
	m->status = q[5];
	unsigned count = q[6];
	q += 7;
	if (fields_for(m->type) != (int)count)
		return -1;
	if (m->type == IPCMSG_RESULT && m->status > IPCMSG_NOSPACE)
		return -1;
	for (unsigned i = 0; i < count; i++) {
		if ((size_t)(end - q) < 4)
			goto bad;
		uint32_t len = get_u32(q);
		q += 4;
		if ((size_t)(end - q) < len)
			goto bad;
		if (!binary_field(m->type, i) && memchr(q, '\0', len))
			goto bad;
		if (!(m->field[i] = malloc((size_t)len + 1)))
			goto bad;
		if (len)
			memcpy(m->field[i], q, len);
		m->field[i][len] = '\0';
		m->len[i] = len;
		m->nfields = (uint8_t)(i + 1);
		q += len;
	}
	if (q != end)
		goto bad;
	*used = 4 + (size_t)body;
	return 1;
bad:
	ipcmsg_clear(m);
	return -1;
}
