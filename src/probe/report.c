/* report: the probe's findings and their two renderings (text and JSON).
 *
 * Pure: no clock (callers pass timestamps), no output (everything is
 * appended to a buf). An allocation failure sets oom and drops the item,
 * so a report is always printable; the caller treats oom as a failure.
 * Transcript text is escaped when it is recorded, so neither rendering
 * ever writes a raw control byte from the server to a terminal. */
#include "probe/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/message.h"

/* Longest transcript line kept (escaped); the byte count stays exact. */
#define REPORT_TEXT_MAX 600

void report_init(struct report *r)
{
	memset(r, 0, sizeof *r);
}

static void step_free(struct report_step *s)
{
	free(s->name);
	free(s->reason);
	for (size_t i = 0; i < s->ndetails; i++)
		free(s->details[i]);
	free(s->details);
	for (size_t i = 0; i < s->nlines; i++)
		free(s->lines[i].text);
	free(s->lines);
}

void report_free(struct report *r)
{
	for (size_t i = 0; i < r->nsteps; i++)
		step_free(&r->steps[i]);
	free(r->steps);
	free(r->sec);
	free(r->title);
	report_init(r);
}

/* Grows *arr (of *n items of size sz) by one zeroed item; NULL on OOM. */
static void *grow(void **arr, size_t *n, size_t sz)
{
	char *p = realloc(*arr, (*n + 1) * sz);
	if (!p)
		return NULL;
	*arr = p;
	memset(p + *n * sz, 0, sz);
	return p + (*n)++ * sz;
}

/* Longest reason or detail kept; longer ones are cut. */
#define REPORT_REASON_MAX 1024

void report_set_title(struct report *r, const char *title)
{
	free(r->title);
	r->title = strdup(title);
	if (!r->title)
		r->oom = true;
}

static struct report_step *current(struct report *r)
{
	return r->open && r->nsteps ? &r->steps[r->nsteps - 1] : NULL;
}

void report_begin(struct report *r, const char *name)
{
	struct report_step *open = current(r);
	if (open) {
		open->reason = strdup("done");
		if (!open->reason)
			r->oom = true;
		r->open = false;
	}
	struct report_step *s = grow((void **)&r->steps, &r->nsteps, sizeof *s);
	if (!s) {
		r->oom = true;
		r->open = false;
		return;
	}
	s->name = strdup(name);
	s->verdict = VERDICT_INFO;
	if (!s->name)
		r->oom = true;
	r->open = true;
}

void report_end(struct report *r, enum verdict v, const char *fmt, ...)
{
	char reason[REPORT_REASON_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	struct report_step *s = current(r);
	if (!s)
		return;
	s->reason = strdup(reason);
	if (!s->reason)
		r->oom = true;
	s->verdict = v;
	r->open = false;
}

void report_detail(struct report *r, const char *fmt, ...)
{
	char detail[REPORT_REASON_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	struct report_step *s = r->nsteps ? &r->steps[r->nsteps - 1] : NULL;
	if (!s)
		return;
	char *d = strdup(detail);
	char **slot = d ? grow((void **)&s->details, &s->ndetails, sizeof *slot) : NULL;
	if (!slot) {
		free(d);
		r->oom = true;
		return;
	}
	*slot = d;
}

void report_line(struct report *r, double t_ms, enum line_dir dir, const char *text,
		 size_t len, size_t bytes, bool bare_lf)
{
	if (!current(r))
		report_begin(r, "note");
	struct report_step *s = current(r);
	if (!s)
		return;
	char *esc = malloc(REPORT_TEXT_MAX);
	struct report_line *l = esc ? grow((void **)&s->lines, &s->nlines, sizeof *l) : NULL;
	if (!l) {
		free(esc);
		r->oom = true;
		return;
	}
	display_escape(text, len, esc, REPORT_TEXT_MAX);
	l->t_ms = t_ms;
	l->dir = dir;
	l->text = esc;
	l->bytes = bytes;
	l->bare_lf = bare_lf;
}

static void copy_str(char *out, size_t outsz, const char *s)
{
	snprintf(out, outsz, "%s", s);
}

struct report_sec *report_sec(struct report *r, const char *proto, const char *method,
			      const char *channel, enum exposure e)
{
	for (size_t i = 0; i < r->nsec; i++) {
		struct report_sec *x = &r->sec[i];
		if (!strcmp(x->proto, proto) && !strcmp(x->method, method) &&
		    !strcmp(x->channel, channel))
			return x;
	}
	struct report_sec *x = grow((void **)&r->sec, &r->nsec, sizeof *x);
	if (!x) {
		r->oom = true;
		return NULL;
	}
	copy_str(x->proto, sizeof x->proto, proto);
	copy_str(x->method, sizeof x->method, method);
	copy_str(x->channel, sizeof x->channel, channel);
	x->exposure = e;
	return x;
}

size_t report_count(const struct report *r, enum verdict v)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nsteps; i++)
		n += r->steps[i].verdict == v;
	return n;
}

const char *verdict_name(enum verdict v)
{
	switch (v) {
	case VERDICT_PASS:
		return "PASS";
	case VERDICT_FAIL:
		return "FAIL";
	case VERDICT_WARN:
		return "WARN";
	case VERDICT_INFO:
		return "INFO";
	}
	return "?";
}

static const char *dir_label(enum line_dir d)
{
	switch (d) {
	case DIR_CLIENT:
		return "C:";
	case DIR_SERVER:
		return "S:";
	case DIR_NOTE:
		return "*";
	}
	return "?";
}

static const char *exposure_name(enum exposure e)
{
	switch (e) {
	case EXPOSE_CLEAR:
		return "clear";
	case EXPOSE_DIGEST:
		return "digest";
	case EXPOSE_PROTECTED:
		return "protected";
	}
	return "?";
}

/* ---- text ------------------------------------------------------------- */

static bool format_lines(const struct report_step *s, struct buf *out)
{
	bool ok = true;
	for (size_t j = 0; j < s->nlines; j++) {
		const struct report_line *l = &s->lines[j];
		char ts[32];
		snprintf(ts, sizeof ts, "+%.1fms", l->t_ms);
		if (l->dir == DIR_NOTE)
			ok &= buf_printf(out, "  %10s %s  %s\n", ts, dir_label(l->dir), l->text);
		else
			ok &= buf_printf(out, "  %10s %s %s  (%zu bytes%s)\n", ts, dir_label(l->dir),
					 l->text, l->bytes, l->bare_lf ? ", bare LF" : "");
	}
	return ok;
}

bool report_format_transcript(const struct report *r, struct buf *out)
{
	bool ok = true;
	for (size_t i = 0; i < r->nsteps; i++)
		ok &= format_lines(&r->steps[i], out);
	return ok;
}

bool report_format_text(const struct report *r, struct buf *out)
{
	bool ok = true;
	if (r->title)
		ok &= buf_printf(out, "%s\n", r->title);
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct report_step *s = &r->steps[i];
		ok &= buf_printf(out, "\n== %s\n", s->name ? s->name : "?");
		ok &= format_lines(s, out);
		ok &= buf_printf(out, "  %s  %s\n", verdict_name(s->verdict),
				 s->reason ? s->reason : "");
		for (size_t j = 0; j < s->ndetails; j++)
			ok &= buf_printf(out, "        %s\n", s->details[j]);
	}
	if (r->nsec) {
		ok &= buf_printf(out, "\n== security: does the secret cross the network in the clear?\n");
		for (size_t i = 0; i < r->nsec; i++) {
			const struct report_sec *x = &r->sec[i];
			const char *clear = x->exposure == EXPOSE_CLEAR ? "YES"
					    : x->exposure == EXPOSE_DIGEST ? "no*" : "no";
			char used[48] = "";
			if (x->used)
				snprintf(used, sizeof used, "  [used by the probe: %s]", x->result);
			ok &= buf_printf(out, "  %-4s  %-15s  %-15s  %-3s  %s%s\n", x->proto, x->method,
					 x->channel, clear, x->note, used);
		}
		ok &= buf_printf(out, "  (no*: not the password itself, but a weak digest; see the note)\n");
	}
	size_t fail = report_count(r, VERDICT_FAIL), warn = report_count(r, VERDICT_WARN),
	       pass = report_count(r, VERDICT_PASS);
	ok &= buf_printf(out, "\nresult: %s: %zu passed, %zu failed, %zu warnings%s\n",
			 fail || r->oom ? "FAIL" : "PASS", pass, fail, warn,
			 r->oom ? " (out of memory: report incomplete)" : "");
	return ok;
}

/* ---- JSON ------------------------------------------------------------- */

bool json_string(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	bool ok = buf_append_byte(out, '"');
	for (size_t i = 0; i < len && ok; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			ok = buf_append(out, "\\\"", 2);
			break;
		case '\\':
			ok = buf_append(out, "\\\\", 2);
			break;
		case '\n':
			ok = buf_append(out, "\\n", 2);
			break;
		case '\r':
			ok = buf_append(out, "\\r", 2);
			break;
		case '\t':
			ok = buf_append(out, "\\t", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7f || c >= 0x80) {
				/* Report text is escaped ASCII already; anything
				 * else (a user-supplied name) is shown byte by
				 * byte rather than risking invalid UTF-8. */
				char u[7] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0 };
				ok = buf_append(out, u, 6);
			} else {
				ok = buf_append_byte(out, c);
			}
			break;
		}
	}
	return ok && buf_append_byte(out, '"');
}

static bool jstr(struct buf *out, const char *s)
{
	return s ? json_string(out, s, strlen(s)) : buf_append_str(out, "null");
}

static bool jkey(struct buf *out, const char *key, bool first)
{
	return (first || buf_append_byte(out, ',')) && jstr(out, key) &&
	       buf_append_byte(out, ':');
}

static bool json_step(const struct report_step *s, struct buf *out)
{
	bool ok = buf_append_byte(out, '{');
	ok = ok && jkey(out, "name", true) && jstr(out, s->name);
	ok = ok && jkey(out, "verdict", false) && jstr(out, verdict_name(s->verdict));
	ok = ok && jkey(out, "reason", false) && jstr(out, s->reason ? s->reason : "");
	ok = ok && jkey(out, "details", false) && buf_append_byte(out, '[');
	for (size_t j = 0; j < s->ndetails && ok; j++)
		ok = (j == 0 || buf_append_byte(out, ',')) && jstr(out, s->details[j]);
	ok = ok && buf_append_byte(out, ']');
	ok = ok && jkey(out, "transcript", false) && buf_append_byte(out, '[');
	for (size_t j = 0; j < s->nlines && ok; j++) {
		const struct report_line *l = &s->lines[j];
		const char *dir = l->dir == DIR_CLIENT ? "C" : l->dir == DIR_SERVER ? "S" : "note";
		ok = (j == 0 || buf_append_byte(out, ',')) && buf_append_byte(out, '{') &&
		     jkey(out, "t_ms", true) && buf_printf(out, "%.3f", l->t_ms) &&
		     jkey(out, "dir", false) && jstr(out, dir) &&
		     jkey(out, "text", false) && jstr(out, l->text) &&
		     jkey(out, "bytes", false) && buf_printf(out, "%zu", l->bytes) &&
		     jkey(out, "bare_lf", false) && buf_append_str(out, l->bare_lf ? "true" : "false") &&
		     buf_append_byte(out, '}');
	}
	return ok && buf_append(out, "]}", 2);
}

static bool json_sec(const struct report_sec *x, struct buf *out)
{
	return buf_append_byte(out, '{') &&
	       jkey(out, "protocol", true) && jstr(out, x->proto) &&
	       jkey(out, "method", false) && jstr(out, x->method) &&
	       jkey(out, "channel", false) && jstr(out, x->channel) &&
	       jkey(out, "secret_in_clear", false) &&
	       buf_append_str(out, x->exposure == EXPOSE_CLEAR ? "true" : "false") &&
	       jkey(out, "exposure", false) && jstr(out, exposure_name(x->exposure)) &&
	       jkey(out, "used", false) && buf_append_str(out, x->used ? "true" : "false") &&
	       jkey(out, "result", false) && jstr(out, x->used ? x->result : NULL) &&
	       jkey(out, "note", false) && jstr(out, x->note) &&
	       buf_append_byte(out, '}');
}

bool report_format_json(const struct report *r, struct buf *out)
{
	size_t fail = report_count(r, VERDICT_FAIL);
	bool ok = buf_append_byte(out, '{');
	ok = ok && jkey(out, "tool", true) && jstr(out, "facteur probe");
	ok = ok && jkey(out, "title", false) && jstr(out, r->title);
	ok = ok && jkey(out, "result", false) && jstr(out, fail || r->oom ? "FAIL" : "PASS");
	ok = ok && jkey(out, "counts", false) &&
	     buf_printf(out, "{\"PASS\":%zu,\"FAIL\":%zu,\"WARN\":%zu,\"INFO\":%zu}",
			report_count(r, VERDICT_PASS), fail, report_count(r, VERDICT_WARN),
			report_count(r, VERDICT_INFO));
	ok = ok && jkey(out, "steps", false) && buf_append_byte(out, '[');
	for (size_t i = 0; i < r->nsteps && ok; i++)
		ok = (i == 0 || buf_append_byte(out, ',')) && json_step(&r->steps[i], out);
	ok = ok && buf_append_byte(out, ']');
	ok = ok && jkey(out, "security", false) && buf_append_byte(out, '[');
	for (size_t i = 0; i < r->nsec && ok; i++)
		ok = (i == 0 || buf_append_byte(out, ',')) && json_sec(&r->sec[i], out);
	return ok && buf_append(out, "]}\n", 3);
}
