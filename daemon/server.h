/*
 * server: the Unix socket and its connections (docs/protocol.md, "Wire
 * protocol" and "Limits").
 *
 * Each connection has a read buffer split into lines (at most max_line bytes
 * each: a longer one is answered TOO_LONG and the connection closed), handed
 * to request one by one; a queue that keeps untagged answers in request
 * order while tagged ones go out as soon as they are done; and flow control
 * (reading and parsing pause while a client has too many answers unsent or
 * requests pending; a bounded number of its lines per loop iteration).
 * Answers produced in one loop iteration are written together. A client
 * that goes away loses nothing for others: its requests finish upstream and
 * are then freed.
 */
#ifndef ORCHD_SERVER_H
#define ORCHD_SERVER_H

#include <stddef.h>
#include <uv.h>

struct server_opts {
	const char *path;     /* socket to bind, when fd < 0 */
	unsigned mode;        /* its file mode */
	int fd;               /* an already listening socket (systemd), or -1 */
	int max_clients;
	size_t max_line;
	int idle_timeout;     /* seconds; 0 = never */
};

/* Returns 0, or -1 with a message in err. */
int server_init(uv_loop_t *loop, const struct server_opts *opts, char *err, size_t errlen);
/* Applies new limits to connections from now on. */
void server_configure(const struct server_opts *opts);

/*
 * Stops accepting and reading, and calls drained() once every request
 * received has been answered and written (or its client is gone). Ending
 * what is in flight is main's to drive (request, watch, settle, http).
 */
void server_shutdown(void (*drained)(void));
/* Closes everything left (after shutdown or on a forced exit). */
void server_close(void);

int server_clients(void);

#endif
