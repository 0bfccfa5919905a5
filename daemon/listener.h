/*
 * listener: the listening Unix socket of the server. Either the socket
 * systemd passed, or one bound at path with its final mode (no window
 * where it is more open than configured), after removing a socket file a
 * dead daemon left (a live one is refused). Each connection is offered to
 * the server's admit(); one it does not take (max_clients, stopping) is
 * answered "ERR BUSY" and closed, and both refusals and accept errors are
 * logged 10 times in 10 s at most, then counted. The socket file is
 * unlinked at close when it was bound here.
 */
#ifndef ORCHD_LISTENER_H
#define ORCHD_LISTENER_H

#include <stddef.h>
#include <uv.h>

/* A new pipe (initialised, data set) for an incoming connection, or NULL
 * to refuse it; accepted() is then called once it holds the connection,
 * or the pipe is closed (its close callback frees it) if accepting failed. */
struct listener_ops {
	uv_pipe_t *(*admit)(void);
	void (*accepted)(uv_pipe_t *p);
	uv_close_cb freed;
	const char *(*why_refused)(void);
};

/* Returns 0, or -1 with a message in err and nothing left behind. */
int listener_init(uv_loop_t *loop, const char *path, unsigned mode, int fd,
		  const struct listener_ops *ops, char *err, size_t errlen);
/* Stops listening (and unlinks the socket bound here); again is harmless. */
void listener_close(void);

#endif
