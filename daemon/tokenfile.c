#include "tokenfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static struct {
	char *path;                   /* grant = refresh_token */
	char *token;
	int lock_fd;                  /* the token file, flocked while fetching */
	bool unsaved;                 /* token is a rotation not on disk yet */
} T = {.lock_fd = -1};

/* Switches to path, dropping (with a warning) a rotation that was meant
 * for another file. The lock, if held, stays until tokenfile_unlock. */
void tokenfile_use(const char *path)
{
	/* A rotation not saved yet belongs to the old file; keep trying it
	 * only if the file stays the same. */
	bool same_file = T.path && path && strcmp(path, T.path) == 0;

	if (T.unsaved && !same_file)
		log_warn("auth: an unsaved rotated refresh token is dropped by the reload");
	if (!same_file)
		T.unsaved = false;
	free(T.path);
	T.path = path ? xstrdup(path) : NULL;
}

const char *tokenfile_path(void)
{
	return T.path;
}

const char *tokenfile_token(void)
{
	return T.token;
}

void tokenfile_unlock(void)
{
	if (T.lock_fd >= 0) {
		close(T.lock_fd);
		T.lock_fd = -1;
	}
}

/* Lets go of the lock and frees the token (wiped) and the path. */
void tokenfile_close(void)
{
	tokenfile_unlock();
	secret_free(T.token);
	free(T.path);
	T.token = T.path = NULL;
	T.unsaved = false;
}

/* Reads the refresh token from the locked file. Returns 0, or -1 with why
 * and *kind telling whether trying again later may help. */
static int read_refresh_token(char *why, size_t whylen, enum auth_failure *kind)
{
	char *t = file_read_fd(T.lock_fd, 64 * 1024);

	if (!t) {
		bool temporary = errno_temporary(errno);
		*kind = temporary ? AF_TEMPORARY : AF_NO_REFRESH_TOKEN;
		snprintf(why, whylen, temporary ? "cannot read the refresh token in %s (%s)"
				     : "no refresh token in %s (%s): run \"orchd login\" once, then reload",
			 T.path, strerror(errno));
		return -1;
	}
	t[strcspn(t, " \t\r\n")] = '\0';
	if (!t[0]) {
		*kind = AF_NO_REFRESH_TOKEN;
		secret_free(t);
		snprintf(why, whylen, "refresh token file %s is empty: run \"orchd login\" once, then reload",
			 T.path);
		return -1;
	}
	secret_free(T.token);
	T.token = t;
	return 0;
}

/* Locks the file and makes the token in memory and the file agree before a
 * token request: our unsaved rotation is written, else the file is read.
 * Returns 0, 1 (locked elsewhere) or -1 with why and *kind. */
int tokenfile_take(char *why, size_t whylen, enum auth_failure *kind)
{
	int rc = T.lock_fd >= 0 ? 0 : file_lock(T.path, &T.lock_fd);

	if (rc == 1)
		return 1;
	/* A missing file is fine when our own newest rotation is what goes
	 * there: it is written below. */
	if (rc < 0 && (errno != ENOENT || !T.unsaved)) {
		bool temporary = errno_temporary(errno);
		*kind = temporary ? AF_TEMPORARY : AF_NO_REFRESH_TOKEN;
		snprintf(why, whylen, temporary ? "cannot open the refresh token file %s: %s"
				     : "no refresh token in %s (%s): run \"orchd login\" once, then reload",
			 T.path, strerror(errno));
		return -1;
	}
	/* The file is the truth ("orchd login" or "orchd check" may have
	 * rotated the token since), unless it is missing our own newest
	 * rotation: then save that first, without spending it. */
	if (!T.unsaved)
		return read_refresh_token(why, whylen, kind);
	if (file_write_atomic(T.path, T.token) != 0) {
		*kind = AF_SAVE;
		snprintf(why, whylen,
			 "cannot save the rotated refresh token to %s: %s; no access token is "
			 "used until it can be saved (fail closed)", T.path, strerror(errno));
		return -1;
	}
	T.unsaved = false;
	return 0;
}

/* Keeps a rotated refresh token and writes it to the file at once; when
 * that fails it stays in memory marked unsaved, for tokenfile_take to
 * write before it is spent. */
int tokenfile_rotate(const char *token)
{
	if (T.token && strcmp(token, T.token) == 0)
		return 0;
	secret_free(T.token);
	T.token = xstrdup(token);
	if (file_write_atomic(T.path, T.token) != 0) {
		T.unsaved = true;
		return -1;
	}
	return 0;
}
