/*
 * faults: an LD_PRELOAD library that makes chosen system calls of the
 * process under test fail, for the integration tests (errors a test cannot
 * cause from outside, such as EMFILE on one file or a full disk as root).
 *
 * $ORCHD_FAULTS names a directory; a file there named after a call holds
 * "ERRNO COUNT [SUFFIX]": the next COUNT calls (-1: all) fail with ERRNO,
 * for open only those on a path ending in SUFFIX. The test writes and
 * removes the files while the process runs. Calls: open, mkostemp.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when the next call to fn (on path) is to fail; sets errno. */
static int should_fail(const char *fn, const char *path)
{
	const char *dir = getenv("ORCHD_FAULTS");
	char file[4096], suffix[1024] = "";
	int e, count, saved = errno;

	if (!dir)
		return 0;
	snprintf(file, sizeof(file), "%s/%s", dir, fn);
	FILE *f = fopen(file, "re");
	if (!f) {
		errno = saved;
		return 0;
	}
	int n = fscanf(f, "%d %d %1023s", &e, &count, suffix);
	fclose(f);
	if (n < 2 || count == 0)
		goto no;
	if (n == 3 && path) {
		size_t pl = strlen(path), sl = strlen(suffix);
		if (pl < sl || strcmp(path + pl - sl, suffix) != 0)
			goto no;
	}
	if (count > 0 && (f = fopen(file, "we"))) {
		fprintf(f, "%d %d %s\n", e, count - 1, suffix);
		fclose(f);
	}
	errno = e;
	return 1;
no:
	errno = saved;
	return 0;
}

#define OPEN_LIKE(name)                                                          \
	int name(const char *path, int flags, ...)                              \
	{                                                                        \
		static int (*real)(const char *, int, ...);                      \
		mode_t mode = 0;                                                 \
		if (flags & (O_CREAT | O_TMPFILE)) {                             \
			va_list ap;                                              \
			va_start(ap, flags);                                     \
			mode = va_arg(ap, mode_t);                               \
			va_end(ap);                                              \
		}                                                                \
		if (should_fail("open", path))                                   \
			return -1;                                               \
		if (!real)                                                       \
			real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
		return real(path, flags, mode);                                  \
	}

OPEN_LIKE(open)
OPEN_LIKE(open64)

int mkostemp(char *template, int flags)
{
	static int (*real)(char *, int);

	if (should_fail("mkostemp", NULL))
		return -1;
	if (!real)
		real = (int (*)(char *, int))dlsym(RTLD_NEXT, "mkostemp");
	return real(template, flags);
}
