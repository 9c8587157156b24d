/* envelope: the state record of one queued message (pure: text in,
 * struct out, and back). Stored as queue/env/<id>; the message itself is
 * queue/msg/<id>. doc/queue.md describes the file and its invariants.
 *
 * Text format, one field per line, LF line ends, versioned by the first
 * line so that a future facteur can read today's files:
 *
 *   facteur-envelope 1
 *   id <id>
 *   sender <addr>           (empty after "sender " for the null path <>)
 *   created <unix seconds>
 *   next <unix seconds>     next attempt
 *   attempts <n>            attempts made (whole message)
 *   held 0|1                "facteur queue hold"
 *   warned 0|1              delay warning already sent
 *   size <bytes>            size of queue/msg/<id>
 *   body8bit 0|1
 *   rcpt <state> <local 0|1> <attempts> <addr> <orcpt>
 *   rcpt-status <code> <status> <mta> <text...>   (optional, follows its rcpt)
 *
 * Addresses are RFC 5321 paths without <> and hold no space or control
 * byte; orcpt is the address as the client gave it ("-" when the same).
 * Unknown fields are an error (a corrupt file is quarantined, never
 * guessed at). */
#ifndef FACTEUR_QUEUE_ENVELOPE_H
#define FACTEUR_QUEUE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"

#define QUEUE_ID_MAX 64          /* [A-Za-z0-9._-], 1..64 bytes, no leading '.' */
#define QUEUE_TEXT_MAX 512       /* last reply text kept per recipient */

enum rcpt_state {
	RCPT_PENDING,   /* still to be delivered (possibly after failures) */
	RCPT_SENT,      /* accepted by the next hop or stored locally */
	RCPT_FAILED,    /* permanent failure or expired: to be bounced */
	RCPT_BOUNCED,   /* failed, and the sender's notice is queued */
};

struct queue_rcpt {
	char *addr;             /* where it goes: local account or remote address */
	char *orcpt;            /* as given at RCPT TO (for the DSN); never NULL */
	enum rcpt_state state;
	bool local;             /* delivered into a Maildir, not over SMTP */
	unsigned attempts;
	/* last outcome, for the DSN and "queue show"; code 0 = none yet */
	unsigned code;          /* SMTP reply code (or 4xx/5xx we made up) */
	char status[16];        /* enhanced status "4.4.1", "" when none */
	char *mta;              /* remote host that answered, NULL when none */
	char *text;             /* reply text, one line, printable ASCII, NULL when none */
};

struct queue_env {
	char id[QUEUE_ID_MAX + 1];
	char *sender;           /* "" = null reverse-path */
	time_t created;
	time_t next_attempt;
	unsigned attempts;
	bool held;
	bool warned;
	bool body_8bit;
	uint64_t size;
	struct queue_rcpt *rcpts;
	size_t nrcpts;
};

/* True when id is a usable queue id (see QUEUE_ID_MAX). */
bool queue_id_valid(const char *id);

/* Parses an envelope file. On error returns -1 with a message and leaves
 * *env empty (queue_env_free is still safe). */
int queue_env_parse(const char *text, size_t len, struct queue_env *env,
		    char *err, size_t errlen);
/* Appends the text form; parse(format(e)) == e. Text fields are
 * sanitised (controls and non-ASCII become '?', cut to QUEUE_TEXT_MAX). */
bool queue_env_format(const struct queue_env *env, struct buf *out);
void queue_env_free(struct queue_env *env);

/* Adds a recipient (copies the strings). orcpt NULL = same as addr. */
bool queue_env_add_rcpt(struct queue_env *env, const char *addr, const char *orcpt,
			bool local);
/* Records an outcome for rcpt i: copies mta/text (NULL allowed). */
bool queue_rcpt_set_result(struct queue_rcpt *r, unsigned code, const char *status,
			   const char *mta, const char *text);
/* Recipients still pending. */
size_t queue_env_pending(const struct queue_env *env);

#endif
