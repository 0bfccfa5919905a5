#include "server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "access.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "request.h"
#include "stats.h"

static struct {
	uv_loop_t *loop;
	struct server_opts opts;
	uv_timer_t sweeper;             /* closes idle and stalled connections */
	uv_check_t flusher;             /* writes answers right after the poll phase */
	uv_idle_t awake;                /* while answers wait: poll must not block */
	LIST_HEAD(, conn) conns;
	TAILQ_HEAD(, conn) dirty;
	TAILQ_HEAD(, conn) backlog;     /* lines to handle in the next iteration */
	int nbacklog;
	int nconns;
	bool stopping;
	void (*drained)(void);
} S;

static void on_flush(uv_check_t *h);

static void check_drained(void)
{
	if (S.stopping && request_live() == 0 && S.nconns == 0 && S.drained) {
		void (*d)(void) = S.drained;
		S.drained = NULL;
		d();
	}
}

void server_request_freed(void)
{
	check_drained();
}

void server_gone(void)
{
	check_drained();
}

bool server_stopping(void)
{
	return S.stopping;
}

static void on_awake(uv_idle_t *h)
{
	(void)h;
}

/* Something waits for the check phase: poll must not block before it. */
static void wake_flusher(void)
{
	uv_check_start(&S.flusher, on_flush);
	uv_idle_start(&S.awake, on_awake);
}

void server_dirty(struct conn *c)
{
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	wake_flusher();
	TAILQ_INSERT_TAIL(&S.dirty, c, dirty_link);
}

void server_backlog(struct conn *c)
{
	TAILQ_INSERT_TAIL(&S.backlog, c, backlog_link);
	S.nbacklog++;
	wake_flusher();
}

void server_forget(struct conn *c)
{
	if (c->dirty) {
		TAILQ_REMOVE(&S.dirty, c, dirty_link);
		c->dirty = false;
	}
	if (c->backlogged) {
		TAILQ_REMOVE(&S.backlog, c, backlog_link);
		S.nbacklog--;
		c->backlogged = false;
	}
	LIST_REMOVE(c, link);
	/* Its place is free now: uv_close has closed the descriptor, and a
	 * client waiting to connect must not find max_clients taken by one
	 * whose close callback has not run yet. */
	S.nconns--;
	stats_clients(-1);
}

/* Runs after the poll phase of every iteration with answers to send or
 * lines left over: handles the next LINES_PER_TURN lines of each client
 * with a backlog, then writes once per client all the answers that
 * iteration produced. Work made by timers, before the poll phase, keeps the
 * idle handle active so that poll does not block before this runs. */
static void on_flush(uv_check_t *h)
{
	struct conn *c;
	(void)h;

	/* Those backlogged now, once each: one still backlogged after its
	 * turn goes to the tail, for the next iteration. */
	for (int n = S.nbacklog; n > 0 && (c = TAILQ_FIRST(&S.backlog)); n--) {
		TAILQ_REMOVE(&S.backlog, c, backlog_link);
		S.nbacklog--;
		c->backlogged = false;
		conn_process(c);
		conn_update(c);
	}
	while ((c = TAILQ_FIRST(&S.dirty))) {
		TAILQ_REMOVE(&S.dirty, c, dirty_link);
		c->dirty = false;
		conn_write(c);
	}
	if (TAILQ_EMPTY(&S.backlog) && TAILQ_EMPTY(&S.dirty)) {
		uv_check_stop(&S.flusher);
		uv_idle_stop(&S.awake);
	}
}

static const char *why_refused(void)
{
	return S.stopping ? "orchd is stopping" : "max_clients reached";
}

/* A new connection's pipe, or NULL when no more are taken. */
static uv_pipe_t *admit(void)
{
	if (S.nconns >= S.opts.max_clients || S.stopping)
		return NULL;
	struct conn *c = xcalloc(1, sizeof(*c));
	uv_pipe_init(S.loop, &c->pipe, 0);
	c->pipe.data = c;
	return &c->pipe;
}

static void on_connection(uv_pipe_t *p)
{
	struct conn *c = p->data;
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
		fd = -1;
	c->pid = access_peer_of(&c->peer, fd);
	LIST_INSERT_HEAD(&S.conns, c, link);
	S.nconns++;
	stats_clients(1);
	conn_start(c);
}

/* Every second: a connection whose peer is gone while its requests wait
 * (one not read from, so its EOF was not seen) is closed, giving their
 * places back. A connection is idle when it asks nothing and waits for
 * nothing, or when its answers have not moved (it does not read them). One
 * waiting for Orchestrator is never idle. */
static void on_sweep(uv_timer_t *t)
{
	uint64_t now = uv_now(S.loop), limit = (uint64_t)S.opts.idle_timeout * 1000;
	struct conn *c, *next;
	(void)t;

	for (c = LIST_FIRST(&S.conns); c; c = next) {
		next = LIST_NEXT(c, link);
		if (S.stopping) {
			conn_update(c); /* its grace may be over: it ends */
			continue;
		}
		if (c->pending > 0 && !c->reading && conn_hung_up(c)) {
			conn_close(c);
		} else if (limit && (c->pending == 0 || c->unwritten > 0) && now - c->active >= limit) {
			log_info("server: closing a connection idle for %d s (pid %d)", S.opts.idle_timeout,
				 (int)c->pid);
			conn_close(c);
		}
	}
}

void server_configure(const struct server_opts *o)
{
	S.opts = *o;
	S.opts.path = NULL;
	conn_configure(S.loop, o->max_line);
}

static const struct listener_ops listener_ops = {admit, on_connection, (uv_close_cb)free, why_refused};

int server_init(uv_loop_t *loop, const struct server_opts *o, char *err, size_t errlen)
{
	S.loop = loop;
	server_configure(o);
	LIST_INIT(&S.conns);
	TAILQ_INIT(&S.dirty);
	TAILQ_INIT(&S.backlog);
	if (listener_init(loop, o->path, o->mode, o->fd, &listener_ops, err, errlen) != 0)
		return -1;
	uv_check_init(loop, &S.flusher);
	uv_unref((uv_handle_t *)&S.flusher);
	uv_idle_init(loop, &S.awake);
	uv_unref((uv_handle_t *)&S.awake);
	uv_timer_init(loop, &S.sweeper);
	uv_timer_start(&S.sweeper, on_sweep, 1000, 1000);
	uv_unref((uv_handle_t *)&S.sweeper);
	return 0;
}

void server_shutdown(void (*drained)(void))
{
	struct conn *c, *next;

	S.stopping = true;
	S.drained = drained;
	listener_close();
	/* New connections' grace (conn.c) ends within this. */
	uv_timer_start(&S.sweeper, on_sweep, 501, 500);
	for (c = LIST_FIRST(&S.conns); c; c = next) {
		next = LIST_NEXT(c, link);
		conn_update(c);
	}
	check_drained();
}

void server_close(void)
{
	struct conn *c;

	/* After the loop: the connections closed now were not drained. */
	S.drained = NULL;
	listener_close();
	while ((c = LIST_FIRST(&S.conns)))
		conn_close(c);
	uv_close((uv_handle_t *)&S.flusher, NULL);
	uv_close((uv_handle_t *)&S.awake, NULL);
	uv_close((uv_handle_t *)&S.sweeper, NULL);
}

int server_clients(void)
{
	return S.nconns;
}
