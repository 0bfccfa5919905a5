#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_ident = "orchd";
static int log_max = LOG_INFO;
static bool log_journal;
static bool log_held;
static char log_kept[16384];
static size_t log_nkept;

void log_init(const char *ident, int max_priority)
{
	log_ident = ident;
	log_max = max_priority;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_msg(int priority, const char *fmt, ...)
{
	static const char *names[] = {"emerg", "alert", "crit", "error",
				      "warning", "notice", "info", "debug"};
	char line[2048];
	va_list ap;
	int n;

	if (priority > log_max)
		return;
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", priority);
	else
		n = snprintf(line, sizeof(line), "%s: %s: ", log_ident, names[priority & 7]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* One event, one line: a message quoting remote text must not split. */
	for (char *p = line + n; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	strcat(line, "\n");
	size_t len = strlen(line);
	if (!log_held || priority < LOG_NOTICE || len > sizeof(log_kept) - log_nkept)
		log_flush();
	if (log_held && priority >= LOG_NOTICE) {
		memcpy(log_kept + log_nkept, line, len);
		log_nkept += len;
	} else {
		fwrite(line, 1, len, stderr);
	}
}

void log_hold(bool on)
{
	static bool registered;

	if (!registered)
		atexit(log_flush);
	registered = true;
	log_flush();
	log_held = on;
}

void log_flush(void)
{
	if (log_nkept)
		fwrite(log_kept, 1, log_nkept, stderr);
	log_nkept = 0;
}
