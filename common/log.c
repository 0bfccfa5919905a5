#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>

static const char *log_ident = "orchd";
static int log_max = LOG_INFO;
static bool log_journal;       /* JOURNAL_STREAM set: "<N>" prefixes */
static bool log_native;        /* stderr is that stream: sd_journal_sendv */
static bool log_held;
static char log_kept[16384];
static size_t log_nkept;

void log_init(const char *ident, int max_priority)
{
	log_ident = ident;
	log_max = max_priority;
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_journal = js != NULL;
	/* systemd's test for "stderr is the journal": the variable names the
	 * device and inode of the very stream (a child may inherit it for
	 * another one). */
	log_native = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
		     (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool log_to_journal(void)
{
	return log_native;
}

/* One event, one line, no terminal escapes, whatever a caller forgot to
 * quote: control characters from p to end (or the NUL) become spaces. */
static void one_line(char *p, const char *end)
{
	for (; (end ? p < end : *p != '\0'); p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* Journal entries while held: "NAME=value\n" lines, each entry ending in
 * an empty line. Sent one datagram each by log_flush. */
static void native_send(const char *entry, size_t len)
{
	struct iovec iov[32];
	int n = 0;
	const char *p = entry, *end = entry + len;

	while (p < end && n < (int)(sizeof(iov) / sizeof(iov[0]))) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (l)
			iov[n++] = (struct iovec){(void *)p, l};
		p += l + 1;
	}
	if (sd_journal_sendv(iov, n) < 0) {
		/* No journal after all: the message as a plain line. */
		for (int i = 0; i < n; i++)
			if (strncmp(iov[i].iov_base, "MESSAGE=", 8) == 0)
				fprintf(stderr, "%.*s\n", (int)iov[i].iov_len - 8, (char *)iov[i].iov_base + 8);
	}
}

static void native_entry(int priority, const char *msg, const struct log_field *f, size_t nf)
{
	char entry[4096];
	size_t len = 0;
	int w = snprintf(entry, sizeof(entry), "MESSAGE=%s\nPRIORITY=%d\nSYSLOG_IDENTIFIER=%s\n", msg,
			 priority, log_ident);

	len = w > 0 && (size_t)w < sizeof(entry) ? (size_t)w : sizeof(entry) - 1;
	for (size_t i = 0; i < nf && i < 24; i++) {
		if (!f[i].value)
			continue;
		w = snprintf(entry + len, sizeof(entry) - len, "%s=%.512s\n", f[i].name, f[i].value);
		if (w < 0 || (size_t)w >= sizeof(entry) - len)
			break;
		one_line(entry + len + strlen(f[i].name) + 1, entry + len + (size_t)w - 1);
		len += (size_t)w;
	}
	if (!log_held || priority < LOG_NOTICE || len + 1 > sizeof(log_kept) - log_nkept)
		log_flush();
	if (log_held && priority >= LOG_NOTICE) {
		memcpy(log_kept + log_nkept, entry, len);
		log_nkept += len;
		log_kept[log_nkept++] = '\n';  /* the empty line ending the entry */
	} else {
		native_send(entry, len);
	}
}

static void log_vmsg(int priority, const struct log_field *f, size_t nf, const char *fmt, va_list ap)
{
	static const char *names[] = {"emerg", "alert", "crit", "error",
				      "warning", "notice", "info", "debug"};
	char line[2048];
	int n;

	if (priority > log_max)
		return;
	if (log_native) {
		vsnprintf(line, sizeof(line), fmt, ap);
		one_line(line, NULL);
		native_entry(priority, line, f, nf);
		return;
	}
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", priority);
	else
		n = snprintf(line, sizeof(line), "%s: %s: ", log_ident, names[priority & 7]);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	one_line(line + n, NULL);
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
	log_vmsg(priority, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_fields(int priority, const struct log_field *f, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(priority, f, n, fmt, ap);
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
	log_vmsg(priority, NULL, 0, fmt, ap);
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
	if (log_nkept && log_native) {
		/* Entries end in an empty line. */
		char *p = log_kept, *end = log_kept + log_nkept;
		while (p < end) {
			char *e = memmem(p, (size_t)(end - p), "\n\n", 2);
			size_t l = e ? (size_t)(e - p) + 1 : (size_t)(end - p);
			native_send(p, l);
			p += l + (e ? 1 : 0);
		}
	} else if (log_nkept) {
		fwrite(log_kept, 1, log_nkept, stderr);
	}
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
