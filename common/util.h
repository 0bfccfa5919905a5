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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

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
/* "orchd-" and 96 random bits in hex: a Reference unique enough to find a
 * job or queue item by (new allocation). */
char *new_reference(void);
/* Whether s is a GUID as Orchestrator writes one (a release Key, an
 * attachment Id, a JobKey): 8-4-4-4-12 hexadecimal digits, nothing else, so
 * that it can go into a URL as it is. */
bool util_is_guid(const char *s);

/* Overwrites and frees a string that held a secret. NULL is fine. */
void secret_free(char *s);

/* Reads a whole small file (at most max bytes) into a NUL-terminated string.
 * Returns NULL with errno set on failure (EFBIG when over max). */
char *file_read(const char *path, size_t max);
/* The same from an open descriptor, from its start. */
char *file_read_fd(int fd, size_t max);

/*
 * Writes data and a newline to path atomically and durably: a temporary
 * file of a unique name in the same directory, fsync, rename over path,
 * fsync of the directory. The new file keeps the owner, group and mode of
 * the one it replaces; a new file is 0600, owned (when we are root) by the
 * directory's owner and group, so that root running "orchd login" leaves a
 * file the service user can use. A failure leaves path as it was and no
 * temporary file behind. Returns 0, or -1 with errno.
 */
int file_write_atomic(const char *path, const char *data);

/*
 * Takes an exclusive flock on path without blocking: returns 0 with *fd
 * open and locked (close it to unlock), 1 when another process holds the
 * lock, -1 with errno on failure (ENOENT: no such file). The lock is on the
 * file path names now: one replaced by a rename while we waited is opened
 * again.
 */
int file_lock(const char *path, int *fd);

/* Errors that go away by themselves (out of descriptors, memory, I/O). */
bool errno_temporary(int e);

#endif
