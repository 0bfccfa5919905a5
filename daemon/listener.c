#include "listener.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static struct {
	uv_loop_t *loop;
	uv_pipe_t pipe;
	bool listening;
	char *path;                     /* unlinked at close when we bound it */
	const struct listener_ops *ops;
	struct log_limit refusals;      /* a flood of connections is summarised */
} L;

/* A socket file left by a daemon that died is removed; a live one is not. */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = fd >= 0 ? connect(fd, (struct sockaddr *)&sa, sizeof(sa)) : -1;
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another daemon is listening on %s", path);
		return -1;
	}
	unlink(path);
	return 0;
}

static void on_reject_written(uv_write_t *w, int status)
{
	(void)status;
	uv_close((uv_handle_t *)w->handle, (uv_close_cb)free);
	free(w);
}

/* Says BUSY to a connection the server does not take, and closes it. */
static void refuse(uv_stream_t *l)
{
	static char msg[] = "ERR BUSY too many clients (max_clients); retry later\n";
	uv_pipe_t *p = xcalloc(1, sizeof(*p));
	uv_write_t *w;
	uv_buf_t b = uv_buf_init(msg, sizeof(msg) - 1);

	uv_pipe_init(L.loop, p, 0);
	if (uv_accept(l, (uv_stream_t *)p) != 0) {
		uv_close((uv_handle_t *)p, (uv_close_cb)free);
		return;
	}
	log_limited(&L.refusals, LOG_WARNING, "server: refusing a client: %s", L.ops->why_refused());
	w = xmalloc(sizeof(*w));
	if (uv_write(w, (uv_stream_t *)p, &b, 1, on_reject_written) != 0) {
		free(w);
		uv_close((uv_handle_t *)p, (uv_close_cb)free);
	}
}

static void on_connection(uv_stream_t *l, int status)
{
	if (status < 0) {
		log_limited(&L.refusals, LOG_WARNING, "server: accept: %s", uv_strerror(status));
		return;
	}
	uv_pipe_t *p = L.ops->admit();
	if (!p) {
		refuse(l);
		return;
	}
	if (uv_accept(l, (uv_stream_t *)p) != 0) {
		uv_close((uv_handle_t *)p, L.ops->freed);
		return;
	}
	L.ops->accepted(p);
}

int listener_init(uv_loop_t *loop, const char *path, unsigned mode, int fd,
		  const struct listener_ops *ops, char *err, size_t errlen)
{
	int rc;
	bool said = false;

	L.loop = loop;
	L.ops = ops;
	log_limit_init(&L.refusals, 10, 10);
	uv_pipe_init(loop, &L.pipe, 0);
	if (fd >= 0) {
		rc = uv_pipe_open(&L.pipe, fd);
	} else if (clear_stale(path, err, errlen) == 0) {
		mode_t old = umask(~mode & 0777);
		rc = uv_pipe_bind(&L.pipe, path);
		umask(old);
		if (rc == 0) {
			L.path = xstrdup(path);
			chmod(path, mode);
		}
	} else {
		rc = UV_EADDRINUSE;
		said = true;    /* clear_stale said why */
	}
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&L.pipe, 511, on_connection);
	if (rc != 0) {
		if (!said)
			snprintf(err, errlen, "cannot listen on %s: %s", fd >= 0 ? "the passed socket" : path,
				 uv_strerror(rc));
		L.listening = true;
		listener_close();
		return -1;
	}
	L.listening = true;
	return 0;
}

void listener_close(void)
{
	if (!L.listening)
		return;
	L.listening = false;
	uv_close((uv_handle_t *)&L.pipe, NULL);
	if (L.path) {
		unlink(L.path);
		free(L.path);
		L.path = NULL;
	}
}
