/*
 * util: allocation wrappers, a growable byte buffer and random numbers.
 *
 * The x* allocators abort the process on out-of-memory (as chrony's memory.h
 * does): a daemon that cannot allocate a few bytes cannot answer anybody
 * correctly, and checking at every call site only hides real bugs.
 */
#ifndef ORCHD_UTIL_H
#define ORCHD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated after len bytes once used. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};

void buf_add(struct buf *b, const void *data, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes, keeping the rest. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hands the contents over to the caller (never NULL) and empties b. */
char *buf_steal(struct buf *b);

/* Uniform random 32-bit numbers from a generator seeded by getrandom(2).
 * Not for secrets: those take getrandom(2) directly. */
uint32_t rand32(void);

/* Overwrites and frees a string that held a secret. NULL is fine. */
void secret_free(char *s);

/* Reads a whole small file (at most max bytes) into a NUL-terminated string.
 * Returns NULL with errno set on failure (EFBIG when over max). */
char *file_read(const char *path, size_t max);

#endif
