/* dsn: builds the bounce and the delay warning sent to the envelope sender
 * as an RFC 6522 multipart/report of report-type delivery-status: a
 * human-readable part, the RFC 3464 message/delivery-status fields and the
 * header section of the original as text/rfc822-headers (RFC 6522 3; the
 * body of the original is never returned).
 *
 * Pure: no I/O and no clock, the caller gives every time. Everything copied
 * from outside (addresses, remote replies, original header lines) may be
 * hostile, so it goes out as printable 7-bit ASCII only, cut to fit the
 * RFC 5322 2.1.1 line limit, and the MIME boundary is checked against all
 * of it: an attacker who writes "--boundary" into a Subject must not be able
 * to end our parts early and forge the report. */
#include "proto/dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* RFC 5322 2.1.1: a line is at most 998 octets without its line end. */
#define DSN_LINE_MAX 998
/* A copied value (address, host, reply text) is cut to this, so that a
 * field name, the type prefix and the value stay within DSN_LINE_MAX. */
#define DSN_VALUE_MAX 900
/* The header section of a real message is a few KiB; one that is larger is
 * returned up to here, whole lines only. */
#define DSN_HEADERS_MAX (64 * 1024)
/* RFC 2046 5.1.1: a boundary is 1 to 70 characters. Ours is the prefix, at
 * most this much of the queue id, and on a collision "-" and 16 hex. */
#define DSN_BOUNDARY_ID_MAX 32
#define DSN_BOUNDARY_TRIES 64
/* RFC 5321 4.5.3.1.2 */
#define DSN_HOST_MAX 255

/* Appends to a buf and remembers the first failure, so the builders can
 * write straight through and the result is checked once at the end. */
struct dsn_w {
	struct buf *b;
	bool ok;
};

static void put(struct dsn_w *w, const char *s)
{
	if (w->ok && !buf_append_str(w->b, s))
		w->ok = false;
}

static void putf(struct dsn_w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct dsn_w *w, const char *fmt, ...)
{
	if (!w->ok)
		return;
	char line[DSN_LINE_MAX + 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* Only our own fixed text goes through here; never cut silently. */
	if (n < 0 || (size_t)n >= sizeof line || !buf_append(w->b, line, (size_t)n))
		w->ok = false;
}

static bool is_print(uint8_t c)
{
	return c >= 0x20 && c < 0x7f;
}

/* Copies at most max bytes of p[0..n) as printable ASCII: controls (CR and
 * LF above all: header injection), DEL and 8-bit bytes become '?'. A cut
 * value ends in "..." so that a reader sees it was cut. */
static void put_clean_n(struct dsn_w *w, const uint8_t *p, size_t n, size_t max)
{
	bool cut = n > max;
	if (cut)
		n = max > 3 ? max - 3 : 0;
	for (size_t i = 0; i < n && w->ok; i++)
		if (!buf_append_byte(w->b, is_print(p[i]) ? p[i] : '?'))
			w->ok = false;
	if (cut)
		put(w, "...");
}

static void put_clean(struct dsn_w *w, const char *s, size_t max)
{
	put_clean_n(w, (const uint8_t *)s, strlen(s), max);
}

static bool has_text(const char *s)
{
	return s && *s;
}

/* RFC 5322 3.3 date-time in UTC ("+0000"). Day and month names come from
 * tables rather than strftime's %a/%b, which follow the locale. */
static bool format_date(time_t t, char *out, size_t outsz)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	char tail[40];
	/* 3.3: a year of four digits, 1900 or later. */
	if (!gmtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11 || tm.tm_year < 0 || tm.tm_year > 9999 - 1900 ||
	    strftime(tail, sizeof tail, "%Y %H:%M:%S +0000", &tm) == 0)
		return false;
	int n = snprintf(out, outsz, "%s, %02d %s %s", days[tm.tm_wday], tm.tm_mday,
			 months[tm.tm_mon], tail);
	return n > 0 && (size_t)n < outsz;
}

/* RFC 3464 2.3.4: DIGIT "." 1*3DIGIT "." 1*3DIGIT without leading zeros,
 * and RFC 3463 2: the class is 2, 4 or 5. */
static bool status_valid(const char *s)
{
	if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	s += 2;
	for (int field = 0; field < 2; field++) {
		size_t n = 0;
		while (s[n] >= '0' && s[n] <= '9')
			n++;
		if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
			return false;
		s += n;
		if (field == 0 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

/* The given status when it is well-formed, else one derived from the SMTP
 * code: a 5xx reply is a permanent failure, a 4xx a temporary one, and
 * without a reply the action decides. */
static const char *rcpt_status(const struct dsn_rcpt *r)
{
	if (status_valid(r->status))
		return r->status;
	if (r->code >= 500 && r->code <= 599)
		return "5.0.0";
	if (r->code >= 400 && r->code <= 499)
		return "4.0.0";
	return r->failed ? "5.0.0" : "4.0.0";
}

/* What happened to one recipient, as a reader would like to see it:
 * "host mx.example.net said: 550 5.1.1 no such user". */
static void put_reason(struct dsn_w *w, const struct dsn_rcpt *r)
{
	if (has_text(r->remote_mta)) {
		put(w, "host ");
		put_clean(w, r->remote_mta, DSN_HOST_MAX);
		put(w, r->code ? " said: " : ": ");
	}
	if (r->code)
		putf(w, "%u ", r->code);
	if (has_text(r->diagnostic))
		put_clean(w, r->diagnostic, DSN_VALUE_MAX);
	else if (r->code)
		putf(w, "(status %s)", rcpt_status(r));
	else
		putf(w, "%s (status %s)", r->failed ? "delivery failed" : "not delivered yet",
		     rcpt_status(r));
	put(w, "\n");
}

static void put_rcpt_list(struct dsn_w *w, const struct dsn_info *in, bool failed)
{
	for (size_t i = 0; i < in->nrcpts; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];
		if (r->failed != failed)
			continue;
		put(w, "\n<");
		put_clean(w, r->addr, DSN_VALUE_MAX);
		put(w, ">:\n    ");
		put_reason(w, r);
	}
}

static size_t count_failed(const struct dsn_info *in)
{
	size_t n = 0;
	for (size_t i = 0; i < in->nrcpts; i++)
		n += in->rcpts[i].failed;
	return n;
}

/* The first part (RFC 6522 3: "human-readable"): who, why, and for a delay
 * how long we keep trying, in short lines. */
static void build_human(struct dsn_w *w, const struct dsn_info *in)
{
	size_t nfailed = count_failed(in);
	char date[64];
	put(w, "This is the mail system at ");
	put_clean(w, in->reporting_mta, DSN_HOST_MAX);
	put(w, ".\n\n");
	if (in->arrival && format_date(in->arrival, date, sizeof date))
		putf(w, "Your message was received on %s.\n", date);
	if (nfailed > 0) {
		put(w, "It could not be delivered to the recipients below, and the mail\n"
		       "system has given up on them. The headers of your message are\n"
		       "attached; its body is not.\n");
		put_rcpt_list(w, in, true);
	}
	if (nfailed < in->nrcpts) {
		put(w, nfailed ? "\nIt has not been delivered yet to these recipients:\n"
			       : "It has not been delivered yet to the recipients below.\n");
		put(w, "This is only a warning: the mail system is still trying, and\n"
		       "you do not need to send the message again.\n");
		if (has_text(in->retry_until)) {
			put(w, "It will keep trying until ");
			put_clean(w, in->retry_until, 64);
			put(w, ";\nif the message cannot be delivered by then, it will be\n"
			       "returned to you.\n");
		}
		put_rcpt_list(w, in, false);
	}
	put(w, "\n-- \nThe facteur mail system at ");
	put_clean(w, in->reporting_mta, DSN_HOST_MAX);
	put(w, "\n");
}

static void put_field_date(struct dsn_w *w, const char *name, time_t t)
{
	char date[64];
	if (t && format_date(t, date, sizeof date))
		putf(w, "%s: %s\n", name, date);
}

/* RFC 3464 2.3: one group of per-recipient fields, in the RFC's order. */
static void build_rcpt_fields(struct dsn_w *w, const struct dsn_info *in,
			      const struct dsn_rcpt *r)
{
	put(w, "\n");
	if (has_text(r->orcpt) && strcmp(r->orcpt, r->addr) != 0) {
		put(w, "Original-Recipient: rfc822; ");
		put_clean(w, r->orcpt, DSN_VALUE_MAX);
		put(w, "\n");
	}
	/* 2.3.2: the address exactly as received, case preserved, only
	 * characters not allowed in a field replaced. */
	put(w, "Final-Recipient: rfc822; ");
	put_clean(w, r->addr, DSN_VALUE_MAX);
	putf(w, "\nAction: %s\nStatus: %s\n", r->failed ? "failed" : "delayed",
	     rcpt_status(r));
	/* 2.3.5: only when a remote MTA was involved. */
	if (has_text(r->remote_mta)) {
		put(w, "Remote-MTA: dns; ");
		put_clean(w, r->remote_mta, DSN_HOST_MAX);
		put(w, "\n");
	}
	/* 2.3.6: "smtp" when an SMTP reply was the diagnostic; anything else
	 * (a connection that failed, a local error) under an X- type as RFC
	 * 3464 2.1.2 reserves for such private types. */
	if (r->code) {
		putf(w, "Diagnostic-Code: smtp; %u", r->code);
		if (has_text(r->diagnostic)) {
			put(w, " ");
			put_clean(w, r->diagnostic, DSN_VALUE_MAX);
		}
		put(w, "\n");
	} else if (has_text(r->diagnostic)) {
		put(w, "Diagnostic-Code: X-Facteur; ");
		put_clean(w, r->diagnostic, DSN_VALUE_MAX);
		put(w, "\n");
	}
	put_field_date(w, "Last-Attempt-Date", r->last_attempt);
	/* 2.3.9: for "delayed" only; it MUST NOT appear otherwise. */
	if (!r->failed && has_text(in->retry_until)) {
		put(w, "Will-Retry-Until: ");
		put_clean(w, in->retry_until, 64);
		put(w, "\n");
	}
}

/* RFC 3464 2.1: the per-message fields, then a group per recipient. */
static void build_status(struct dsn_w *w, const struct dsn_info *in)
{
	put(w, "Reporting-MTA: dns; ");
	put_clean(w, in->reporting_mta, DSN_HOST_MAX);
	/* 2.4 extension field, as other MTAs give theirs, so that the
	 * postmaster can find the message in the logs. */
	put(w, "\nX-Facteur-Queue-ID: ");
	put_clean(w, in->queue_id, DSN_HOST_MAX);
	put(w, "\n");
	put_field_date(w, "Arrival-Date", in->arrival);
	for (size_t i = 0; i < in->nrcpts; i++)
		build_rcpt_fields(w, in, &in->rcpts[i]);
}

/* RFC 5322 2.2: field-name ":" with field-name 1*ftext (printable except
 * ':'), allowing obsolete blanks before the colon (4.5.3); or a folded
 * continuation line starting with a blank. */
static bool is_header_line(const uint8_t *p, size_t n)
{
	if (p[0] == ' ' || p[0] == '\t')
		return true;
	size_t i = 0;
	while (i < n && p[i] > 32 && p[i] < 127 && p[i] != ':')
		i++;
	if (i == 0)
		return false;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == ':';
}

/* The header section of the original: lines up to the first empty line,
 * or up to a line that is no header field at all (a message without the
 * empty line must not leak its body). Lines past 998 octets are cut. */
static void build_headers(struct dsn_w *w, const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len && w->ok) {
		const uint8_t *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) : len;
		size_t n = end - i;
		if (n > 0 && p[end - 1] == '\r')
			n--;
		if (n == 0 || !is_header_line(p + i, n))
			break;
		if (n > DSN_LINE_MAX)
			n = DSN_LINE_MAX;
		if (w->b->len + n + 1 > DSN_HEADERS_MAX)
			break;
		for (size_t k = 0; k < n && w->ok; k++) {
			uint8_t c = p[i + k];
			/* a tab folds or separates; any other control is noise */
			if (!buf_append_byte(w->b, is_print(c) || c == '\t' ? c : '?'))
				w->ok = false;
		}
		put(w, "\n");
		i = nl ? end + 1 : len;
	}
}

/* Characters allowed in the boundary: RFC 2046 bcharsnospace, minus the
 * ones that would need care elsewhere. */
static char boundary_char(char c)
{
	bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		  c == '.' || c == '-' || c == '_';
	return ok ? c : '_';
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static bool parts_contain(const struct buf *parts, size_t nparts, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < nparts; i++)
		if (parts[i].len && memmem(parts[i].data, parts[i].len, s, n))
			return true;
	return false;
}

/* RFC 2046 5.1.1: the boundary must not occur in the encapsulated parts.
 * The first choice comes from the queue id ("=_" cannot start a line of
 * quoted-printable or base64, so real mail rarely holds it). If the parts
 * hold it anyway, which someone who guessed the queue id can arrange, the
 * next choices add a hash of the parts, which the content cannot predict
 * since it would have to contain its own hash. */
static bool choose_boundary(char *out, size_t outsz, const char *queue_id,
			    const struct buf *parts, size_t nparts)
{
	static const char prefix[] = "=_facteur-dsn-";
	char base[sizeof prefix + DSN_BOUNDARY_ID_MAX];
	size_t n = sizeof prefix - 1;
	memcpy(base, prefix, n);
	for (size_t i = 0; i < DSN_BOUNDARY_ID_MAX && queue_id[i]; i++)
		base[n++] = boundary_char(queue_id[i]);
	base[n] = '\0';
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < nparts; i++)
		h = fnv1a(h, parts[i].data, parts[i].len);
	for (unsigned t = 0; t < DSN_BOUNDARY_TRIES; t++) {
		unsigned long long alt = fnv1a(h, (const uint8_t *)&t, sizeof t);
		int m = t == 0 ? snprintf(out, outsz, "%s", base)
			       : snprintf(out, outsz, "%s-%016llx", base, alt);
		if (m < 0 || (size_t)m >= outsz)
			return false;
		if (!parts_contain(parts, nparts, out))
			return true;
	}
	return false;
}

/* The Message-ID (RFC 5322 3.6.4) is "<id.dsn@host>": both halves are kept
 * to dot-atom characters. */
static void put_msgid_part(struct dsn_w *w, const char *s)
{
	for (size_t i = 0; i < DSN_HOST_MAX && s[i] && w->ok; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
		if (!buf_append_byte(w->b, (uint8_t)(ok ? c : '_')))
			w->ok = false;
	}
}

static void build_top(struct dsn_w *w, const struct dsn_info *in, const char *boundary)
{
	char date[64];
	put(w, "From: Mail Delivery System <MAILER-DAEMON@");
	put_clean(w, in->reporting_mta, DSN_HOST_MAX);
	put(w, ">\nTo: <");
	put_clean(w, in->sender, DSN_VALUE_MAX);
	put(w, ">\nSubject: ");
	put(w, in->delay_warning ? "Delayed Mail (still being retried)"
				 : "Undelivered Mail Returned to Sender");
	if (format_date(in->now, date, sizeof date))
		putf(w, "\nDate: %s", date);
	else
		w->ok = false;
	put(w, "\nMessage-ID: <");
	put_msgid_part(w, in->queue_id);
	put(w, in->delay_warning ? ".warn@" : ".dsn@");
	put_msgid_part(w, in->reporting_mta);
	/* RFC 3834 5: marks the message as automatic, so that vacation
	 * responders and the like do not answer it. */
	put(w, ">\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n");
	putf(w, "Content-Type: multipart/report; report-type=delivery-status;\n"
		"\tboundary=\"%s\"\n\n"
		"This is a MIME-encapsulated message.\n",
	     boundary);
}

static const char *const part_headers[] = {
	"Content-Description: Notification\n"
	"Content-Type: text/plain; charset=us-ascii\n",
	"Content-Description: Delivery report\n"
	"Content-Type: message/delivery-status\n",
	"Content-Description: Undelivered Message Headers\n"
	"Content-Type: text/rfc822-headers\n",
};

/* A DSN needs a sender to go to (the caller never bounces the null path), a
 * name to sign with, and at least one recipient (RFC 3464 2.1: "1*"). */
static bool info_usable(const struct dsn_info *in)
{
	return has_text(in->reporting_mta) && in->queue_id && has_text(in->sender) &&
	       in->rcpts && in->nrcpts > 0 && (in->original || in->original_len == 0);
}

bool dsn_build(struct buf *out, const struct dsn_info *info)
{
	if (!info_usable(info))
		return false;
	for (size_t i = 0; i < info->nrcpts; i++)
		if (!info->rcpts[i].addr)
			return false;
	struct buf parts[3];
	size_t nparts = info->original_len ? 3 : 2;
	for (size_t i = 0; i < 3; i++)
		buf_init(&parts[i], 0);
	struct dsn_w pw[3] = { { &parts[0], true }, { &parts[1], true }, { &parts[2], true } };
	build_human(&pw[0], info);
	build_status(&pw[1], info);
	if (nparts == 3)
		build_headers(&pw[2], info->original, info->original_len);

	char boundary[80] = "";
	size_t start = out->len;
	struct dsn_w w = { out, pw[0].ok && pw[1].ok && pw[2].ok };
	if (w.ok && !choose_boundary(boundary, sizeof boundary, info->queue_id, parts, nparts))
		w.ok = false;
	if (w.ok)
		build_top(&w, info, boundary);
	for (size_t i = 0; i < nparts && w.ok; i++) {
		/* RFC 2046 5.1.1: the line end before "--" belongs to the
		 * delimiter, so each part ends with an empty line. */
		putf(&w, "\n--%s\n%s\n", boundary, part_headers[i]);
		if (w.ok && !buf_append(out, parts[i].data, parts[i].len))
			w.ok = false;
	}
	putf(&w, "\n--%s--\n", boundary);
	for (size_t i = 0; i < 3; i++)
		buf_release(&parts[i]);
	if (!w.ok)
		out->len = start;
	return w.ok;
}
