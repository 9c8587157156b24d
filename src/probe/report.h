/* report: what "facteur probe" found: steps with a verdict and a reason,
 * the C:/S: transcript of each step, and the security summary; printed as
 * text for people or as one JSON object for scripts. Pure: the caller
 * supplies every timestamp, and output goes into a buf. */
#ifndef FACTEUR_PROBE_REPORT_H
#define FACTEUR_PROBE_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

enum verdict { VERDICT_PASS, VERDICT_FAIL, VERDICT_WARN, VERDICT_INFO };

/* Who wrote a transcript line: the client, the server, or a note of the
 * probe (connect, TLS handshake, close, lines left out). */
enum line_dir { DIR_CLIENT, DIR_SERVER, DIR_NOTE };

struct report_line {
	double t_ms;        /* since the probe started */
	enum line_dir dir;
	char *text;         /* escaped for display (see display_escape) */
	size_t bytes;       /* on the wire, line end included; 0 for notes */
	bool bare_lf;       /* the server ended it with LF alone */
};

struct report_step {
	char *name;         /* "smtp.greeting" */
	enum verdict verdict;
	char *reason;
	char **details;     /* indented lines printed under the verdict */
	size_t ndetails;
	struct report_line *lines;
	size_t nlines;
};

/* Does the secret cross the network readable by anyone on the path? */
enum exposure {
	EXPOSE_CLEAR,      /* yes: the password itself, or base64 of it */
	EXPOSE_DIGEST,     /* no, but a digest an eavesdropper can attack offline */
	EXPOSE_PROTECTED,  /* no: inside TLS, or a mechanism that reveals nothing */
};

struct report_sec {
	char proto[8];      /* "SMTP", "POP3" */
	char method[32];    /* "USER/PASS", "APOP", "AUTH PLAIN" ... */
	char channel[24];   /* "plaintext", "after STARTTLS", "implicit TLS" ... */
	enum exposure exposure;
	bool used;          /* the probe logged in this way */
	char result[24];    /* when used: "accepted" / "refused" / "not tried" */
	char note[200];
};

struct report {
	char *title;        /* the first line of the text output */
	struct report_step *steps;
	size_t nsteps;
	bool open;          /* a step is being recorded (the last one) */
	struct report_sec *sec;
	size_t nsec;
	bool oom;           /* an allocation failed: the report is incomplete */
};

void report_init(struct report *r);
void report_free(struct report *r);
void report_set_title(struct report *r, const char *title);
/* Opens a step; transcript lines and details go to it until report_end.
 * Opening a step closes an open one as INFO. */
void report_begin(struct report *r, const char *name);
/* Closes the open step with a verdict and a reason (printf format, cut
 * at 1023 bytes like details). */
void report_end(struct report *r, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Adds a detail line to the open step, or to the last one closed. */
void report_detail(struct report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Adds a transcript line to the open step (or to a new "note" step when
 * none is open). text is raw bytes: it is escaped here. */
void report_line(struct report *r, double t_ms, enum line_dir dir, const char *text,
		 size_t len, size_t bytes, bool bare_lf);
/* Adds or updates (same proto, method and channel) a security entry. */
struct report_sec *report_sec(struct report *r, const char *proto, const char *method,
			      const char *channel, enum exposure e);

size_t report_count(const struct report *r, enum verdict v);
const char *verdict_name(enum verdict v);

/* Appends the report as text (protocol-analyzer style). */
bool report_format_text(const struct report *r, struct buf *out);
/* Appends only the transcript lines of every step (sendmail -v). */
bool report_format_transcript(const struct report *r, struct buf *out);
/* Appends the report as one JSON object and a newline. */
bool report_format_json(const struct report *r, struct buf *out);
/* Appends s as a JSON string, quotes included (RFC 8259 7). */
bool json_string(struct buf *out, const char *s, size_t len);

#endif
