#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void oom(void)
{
	static const char msg[] = "orchd: out of memory\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	struct buf b = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_steal(&b);
}

static void buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void buf_add(struct buf *b, const void *data, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;

	/* Printed once when it fits in the room left, which is most times. */
	buf_grow(b, 63);
	va_copy(ap2, ap);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->p[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	}
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

char *buf_steal(struct buf *b)
{
	char *p = b->p ? b->p : xstrdup("");
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

/* xorshift64*, seeded once from the kernel. */
uint32_t rand32(void)
{
	static uint64_t s;

	while (s == 0) {
		if (getrandom(&s, sizeof(s), 0) != sizeof(s))
			s = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL;
	}
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return (uint32_t)((s * 0x2545F4914F6CDD1DULL) >> 32);
}

void secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

char *file_read_fd(int fd, size_t max)
{
	struct buf b = {0};
	char chunk[4096];

	if (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
		return NULL;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n > 0 && b.len + (size_t)n > max)) {
			int e = n < 0 ? errno : EFBIG;
			if (b.p)
				explicit_bzero(b.p, b.len);
			buf_free(&b);
			explicit_bzero(chunk, sizeof(chunk));
			errno = e;
			return NULL;
		}
		if (n == 0)
			break;
		buf_add(&b, chunk, (size_t)n);
	}
	explicit_bzero(chunk, sizeof(chunk));
	return buf_steal(&b);
}

char *file_read(const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *s = file_read_fd(fd, max);
	int e = errno;
	close(fd);
	errno = e;
	return s;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_write_atomic(const char *path, const char *data)
{
	char *dcopy = xstrdup(path), *bcopy = xstrdup(path);
	const char *dir = dirname(dcopy);
	char *tmp = xasprintf("%s/.%s.XXXXXX", dir, basename(bcopy));
	struct stat st, dst;
	int fd, dfd = -1, rc = -1, e;
	bool made = false;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto out;
	made = true;
	if (stat(path, &st) == 0) {
		/* Rewritten: as it was. */
		if (fchmod(fd, st.st_mode & 07777) != 0)
			goto out;
		if ((st.st_uid != geteuid() || st.st_gid != getegid()) && fchown(fd, st.st_uid, st.st_gid) != 0)
			goto out;
	} else if (errno != ENOENT) {
		goto out;
	} else if (geteuid() == 0 && stat(dir, &dst) == 0 && fchown(fd, dst.st_uid, dst.st_gid) != 0) {
		goto out;
	}
	if (write_all(fd, data, strlen(data)) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	made = false; /* nothing to remove any more */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		goto out;
	rc = 0;
out:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (made)
		unlink(tmp);
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dcopy);
	free(bcopy);
	errno = e;
	return rc;
}

int file_lock(const char *path, int *fdp)
{
	for (int tries = 0; tries < 16; tries++) {
		struct stat a, b;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK)
				return 1;
			errno = e;
			return -1;
		}
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			*fdp = fd;
			return 0;
		}
		close(fd); /* replaced while we took it: take the new one */
	}
	errno = EAGAIN;
	return 1;
}

bool errno_temporary(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOMEM || e == EINTR || e == EAGAIN || e == EIO ||
	       e == ENOSPC || e == EDQUOT;
}

char *new_reference(void)
{
	static const char hex[] = "0123456789abcdef";
	char *r = xmalloc(sizeof("orchd-") + 24);
	char *p = r + sizeof("orchd-") - 1;

	memcpy(r, "orchd-", sizeof("orchd-") - 1);
	for (int i = 0; i < 3; i++) {
		uint32_t v = rand32();
		for (int k = 28; k >= 0; k -= 4)
			*p++ = hex[(v >> k) & 15];
	}
	*p = '\0';
	return r;
}

bool util_is_guid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}
