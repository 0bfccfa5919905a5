#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_ident = "orchd";
static int log_max = LOG_INFO;
static bool log_journal;

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
	fputs(line, stderr);
}
