/*
 * log: one line per event on stderr.
 *
 * Under journald ($JOURNAL_STREAM set) each line starts with the "<N>" syslog
 * priority prefix that journald understands; otherwise lines are plain and
 * carry the priority as a word. Messages must never contain secrets: callers
 * log names, codes and sizes, never tokens or the client secret.
 */
#ifndef ORCHD_LOG_H
#define ORCHD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Messages above this priority (numerically) are dropped. Default LOG_INFO. */
void log_init(const char *ident, int max_priority);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* While held, notice, info and debug lines are kept (up to 16 KiB) and
 * written together by log_flush(), so that an event loop pays one write per
 * iteration, not one per event, and after its answers are out. Warnings and
 * errors flush what is kept and go out at once, in order. Kept lines are
 * flushed at exit. */
void log_hold(bool on);
void log_flush(void);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
