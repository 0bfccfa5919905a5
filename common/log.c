#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void log_vmsg(int priority, const char *fmt, va_list ap)
{
	static const char *names[] = {"emerg", "alert", "crit", "error",
				      "warning", "notice", "info", "debug"};
	char line[2048];
	int n;

	if (priority > log_max)
		return;
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", priority);
	else
		n = snprintf(line, sizeof(line), "%s: %s: ", log_ident, names[priority & 7]);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	/* One event, one line, no terminal escapes, whatever a caller forgot
	 * to quote. */
	for (char *p = line + n; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
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

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(priority, fmt, ap);
	va_end(ap);
}

void log_limit_init(struct log_limit *l, unsigned burst, unsigned period_s)
{
	memset(l, 0, sizeof(*l));
	l->burst = burst;
	l->period = period_s;
}

void log_limited(struct log_limit *l, int priority, const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if (ts.tv_sec - l->window >= (long long)l->period) {
		if (l->suppressed)
			log_msg(priority, "(%u more such lines in %u s were not logged)", l->suppressed,
				l->period);
		l->window = ts.tv_sec;
		l->n = l->suppressed = 0;
	}
	if (l->n >= l->burst) {
		l->suppressed++;
		return;
	}
	l->n++;
	va_start(ap, fmt);
	log_vmsg(priority, fmt, ap);
	va_end(ap);
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

const char *log_quote(char out[LOG_QUOTE_MAX], const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, limit = LOG_QUOTE_MAX - 6; /* room for ...", '"' and NUL */

	if (!s) {
		snprintf(out, LOG_QUOTE_MAX, "(none)");
		return out;
	}
	out[n++] = '"';
	for (; *p; p++) {
		char esc[8];
		size_t len = 0;
		if (*p == '"' || *p == '\\') {
			esc[len++] = '\\';
			esc[len++] = (char)*p;
		} else if (*p == '\n') {
			memcpy(esc, "\\n", 2);
			len = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			len = 6;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			/* U+2028/U+2029 end lines in JavaScript and some viewers. */
			memcpy(esc, p[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			len = 6;
			p += 2;
		} else {
			esc[len++] = (char)*p;
		}
		if (n + len > limit) {
			/* Not in the middle of a UTF-8 sequence. */
			while (n > 1 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
				n--;
			if (n > 1 && ((unsigned char)out[n - 1] & 0xc0) == 0xc0)
				n--;
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		memcpy(out + n, esc, len);
		n += len;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}
