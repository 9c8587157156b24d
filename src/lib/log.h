/* log: one line per event, "<component> <session-id> <event> key=value ...".
 * Goes to stderr. Callers escape client-supplied values with escape_log()
 * and never pass passwords, AUTH payloads or message bodies. */
#ifndef FACTEUR_LIB_LOG_H
#define FACTEUR_LIB_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* An impossible state: abort with file and line. */
#define BUG(msg) log_bug(__FILE__, __LINE__, (msg))
_Noreturn void log_bug(const char *file, int line, const char *msg);

#endif
