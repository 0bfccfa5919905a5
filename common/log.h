/*
 * log: one line per event on stderr (docs/protocol.md, "Limits and
 * hardening": what is quoted and how).
 *
 * When stderr is the journal ($JOURNAL_STREAM names its device and inode),
 * every event goes to journald natively (sd_journal_sendv): MESSAGE,
 * PRIORITY, SYSLOG_IDENTIFIER and the caller's fields (ORCHD_PROCESS=,
 * ORCHD_JOB_ID=, ...), so that "journalctl ORCHD_JOB_ID=4711" finds them.
 * Otherwise lines are plain and carry the priority as a word (or the "<N>"
 * prefix when $JOURNAL_STREAM is set for another stream). Messages must never
 * contain secrets: callers log names, codes and sizes, never tokens or the
 * client secret.
 */
#ifndef ORCHD_LOG_H
#define ORCHD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/* Messages above this priority (numerically) are dropped. Default LOG_INFO. */
void log_init(const char *ident, int max_priority);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A journal field: name is [A-Z0-9_], value any text (control characters
 * become spaces; cut at 512 bytes). */
struct log_field {
	const char *name, *value;
};
/* log_msg with fields, which reach the journal only (the message must say
 * the same for plain logs). A field with a NULL value is left out. */
void log_fields(int priority, const struct log_field *f, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* True when events go to journald natively. */
bool log_to_journal(void);

/* While held, notice, info and debug lines are kept (up to 16 KiB) and
 * written together by log_flush(), so that an event loop pays one write per
 * iteration, not one per event, and after its answers are out. Warnings and
 * errors flush what is kept and go out at once, in order. Kept lines are
 * flushed at exit. */
void log_hold(bool on);
void log_flush(void);

/*
 * Writes s into out as a JSON string literal, quotes included ("\"" "\\"
 * "\n" "\u001b" "\u2028" ...), cut with "..." inside the quotes when
 * longer than LOG_QUOTE_MAX allows, and returns out: client text and
 * Orchestrator's messages go into log lines only this way, so that none
 * can forge a field or a line. NULL gives (none).
 */
#define LOG_QUOTE_MAX 512
const char *log_quote(char out[LOG_QUOTE_MAX], const char *s);

/* At most burst lines per period seconds through one limit; the lines
 * beyond are counted, and said in one line when the next period opens. */
struct log_limit {
	unsigned burst, period;
	long long window;       /* start of the current period, seconds */
	unsigned n, suppressed;
};
void log_limit_init(struct log_limit *l, unsigned burst, unsigned period_s);
void log_limited(struct log_limit *l, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
