#include "server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "request.h"
#include "stats.h"

/*
 * What one client can cost (docs/protocol.md, "Limits and hardening"): its
 * input is read and parsed only while its unsent answers stay under
 * OUT_HIGH (then not again until they drain below OUT_LOW) and its pending
 * requests under CONN_MAX_PENDING; at most LINES_PER_TURN of its lines are
 * handled per loop iteration, the rest wait in its buffer for the next one,
 * so that one pipelining client cannot hold the loop. Answers to requests
 * accepted before a pause can still pass OUT_HIGH, up to OUT_MAX, beyond
 * which the client is cut off; one that reads nothing goes at idle_timeout.
 */
#define READ_CHUNK 65536
#define OUT_HIGH (1u << 20)
#define OUT_LOW (OUT_HIGH / 2)
#define OUT_MAX (8u << 20)
#define CONN_MAX_PENDING 4096
#define LINES_PER_TURN 64

TAILQ_HEAD(request_q, request);

struct conn {
	uv_pipe_t pipe;
	struct buf in;
	size_t scanned;                 /* bytes of in known to hold no LF */
	struct buf out;                 /* answers not handed to libuv yet */
	size_t unwritten;               /* bytes handed to libuv, not yet written */
	struct request_q ordered;
	LIST_HEAD(, request) all;
	int pending;                    /* requests not answered yet */
	bool reading, closing, ending;  /* ending: close once all is written */
	bool eof;                       /* the client half-closed */
	bool held;                      /* paused for unsent answers, until OUT_LOW */
	bool has_lines;                 /* in holds whole lines not handled yet */
	bool backlogged;                /* on S.backlog */
	bool dirty;                     /* on S.dirty */
	uint64_t active;                /* uv_now() of the last read or write */
	struct access_peer peer;
	pid_t pid;
	LIST_ENTRY(conn) link;
	TAILQ_ENTRY(conn) dirty_link;
	TAILQ_ENTRY(conn) backlog_link;
};

struct wreq {
	uv_write_t w;
	struct conn *conn;
	size_t len;
	char data[];
};

static struct {
	uv_loop_t *loop;
	uv_pipe_t listener;
	bool listening;
	char *path;                     /* unlinked at close when we bound it */
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
	struct log_limit refusals;      /* a flood of connections is summarised */
} S;

static void conn_close(struct conn *c);
static void conn_maybe_end(struct conn *c);
static void conn_update(struct conn *c);
static void process_lines(struct conn *c);
static void on_flush(uv_check_t *h);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void check_drained(void)
{
	if (S.stopping && request_live() == 0 && S.nconns == 0 && S.drained) {
		void (*d)(void) = S.drained;
		S.drained = NULL;
		d();
	}
}

static void free_request(struct request *r)
{
	request_free(r);
	check_drained();
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

static void mark_dirty(struct conn *c)
{
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	wake_flusher();
	TAILQ_INSERT_TAIL(&S.dirty, c, dirty_link);
}

static size_t conn_unsent(const struct conn *c)
{
	return c->out.len + c->unwritten;
}

/* True while c's input must wait: too many answers unsent (with
 * hysteresis) or too many requests pending. */
static bool conn_blocked(struct conn *c)
{
	if (c->held && conn_unsent(c) < OUT_LOW)
		c->held = false;
	else if (!c->held && conn_unsent(c) >= OUT_HIGH)
		c->held = true;
	return c->held || c->pending >= CONN_MAX_PENDING;
}

/* Decides, after anything changed for c, whether its buffered lines are
 * handled next iteration, whether it reads, and whether it ends. */
static void conn_update(struct conn *c)
{
	if (c->closing)
		return;
	bool blocked = conn_blocked(c);
	if (c->has_lines && !blocked && !c->backlogged && !c->ending) {
		c->backlogged = true;
		TAILQ_INSERT_TAIL(&S.backlog, c, backlog_link);
		S.nbacklog++;
		wake_flusher();
	}
	bool want = !blocked && !c->has_lines && !c->ending && !c->eof && !S.stopping;
	if (want && !c->reading) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	} else if (!want && c->reading) {
		c->reading = false;
		uv_read_stop((uv_stream_t *)&c->pipe);
	}
	conn_maybe_end(c);
}

/* Answers went out: read again if c was paused for them, or end it. */
static void conn_written(struct conn *c)
{
	c->active = uv_now(S.loop);
	conn_update(c);
}

static void on_written(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct conn *c = wr->conn;

	c->unwritten -= wr->len;
	free(wr);
	if (status < 0) {
		conn_close(c);
		return;
	}
	conn_written(c);
}

/* Hands c's answers to the socket, then decides what c does next
 * (conn_update), unless it had to close c. */
static void conn_write(struct conn *c)
{
	if (c->closing)
		return;
	if (c->out.len == 0) {
		conn_update(c); /* an answer came that waits behind an earlier one */
		return;
	}
	if (c->unwritten + c->out.len > OUT_MAX) {
		/* It does not read its answers: its requests still finish upstream. */
		log_warn("server: pid %d left %zu bytes of answers unread: disconnected", (int)c->pid,
			 c->unwritten + c->out.len);
		conn_close(c);
		return;
	}
	/* Usually the socket takes it all at once: no request, no copy, no
	 * poll for writability. libuv refuses this while earlier writes wait. */
	uv_buf_t b = uv_buf_init(c->out.p, (unsigned)c->out.len);
	int n = uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
	if (n < 0 && n != UV_EAGAIN) {
		conn_close(c);
		return;
	}
	size_t done = n > 0 ? (size_t)n : 0;
	if (done == c->out.len) {
		buf_reset(&c->out);
		conn_written(c);
		return;
	}
	struct wreq *wr = xmalloc(sizeof(*wr) + c->out.len - done);
	wr->conn = c;
	wr->len = c->out.len - done;
	memcpy(wr->data, c->out.p + done, wr->len);
	buf_reset(&c->out);
	b = uv_buf_init(wr->data, (unsigned)wr->len);
	c->unwritten += wr->len;
	if (uv_write(&wr->w, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0) {
		c->unwritten -= wr->len;
		free(wr);
		conn_close(c);
		return;
	}
	conn_update(c);
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
		process_lines(c);
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

/* r was answered: moves every answer of its connection that may now go
 * out (tagged ones at once, untagged ones in request order). */
static void on_answered(struct request *r)
{
	struct conn *c = r->owner;

	if (!c) {
		free_request(r);
		return;
	}
	LIST_REMOVE(r, all);
	c->pending--;
	if (r->tagged) {
		buf_add(&c->out, r->answer, r->alen);
		free_request(r);
	} else {
		struct request *h;
		while ((h = TAILQ_FIRST(&c->ordered)) && h->done) {
			TAILQ_REMOVE(&c->ordered, h, order);
			buf_add(&c->out, h->answer, h->alen);
			free_request(h);
		}
	}
	mark_dirty(c);
}

/* A request of c's, pending until answered. */
static struct request *conn_request(struct conn *c)
{
	struct request *r = request_new(c, on_answered);

	c->pending++;
	LIST_INSERT_HEAD(&c->all, r, all);
	return r;
}

/* Places r in c's order once its tag is known, and takes in an answer
 * that came at once. */
static void conn_placed(struct conn *c, struct request *r)
{
	if (!r->tagged)
		TAILQ_INSERT_TAIL(&c->ordered, r, order);
	if (r->quit)
		c->ending = true;
	if (r->done)
		on_answered(r);
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
	struct request *r = conn_request(c);

	request_start(r, line, len, &c->peer, c->pid);
	conn_placed(c, r);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char chunk[READ_CHUNK];
	(void)h;
	(void)hint;
	*b = uv_buf_init(chunk, sizeof(chunk));
}

/* Handles the whole lines in c's buffer, at most LINES_PER_TURN of them and
 * none once c is blocked; what is left waits (has_lines) for conn_update
 * to schedule it. A line over max_line is answered TOO_LONG and ends c. */
static void process_lines(struct conn *c)
{
	size_t start = 0;
	int n = 0;
	char *nl = NULL;

	c->has_lines = false;
	while (!c->ending && !c->closing && c->scanned < c->in.len) {
		nl = memchr(c->in.p + c->scanned, '\n', c->in.len - c->scanned);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (c->in.p + start));
		if (len > S.opts.max_line)
			goto too_long;
		if (n == LINES_PER_TURN || conn_blocked(c)) {
			c->has_lines = true;
			break;
		}
		handle_line(c, c->in.p + start, len);
		n++;
		start += len + 1;
		c->scanned = start;
	}
	if (!nl && !c->ending && c->in.len - start > S.opts.max_line)
		goto too_long;
	buf_consume(&c->in, start);
	c->scanned = c->has_lines ? 0 : c->in.len;
	if (c->eof && !c->has_lines)
		c->ending = true;
	return;
too_long:;
	struct request *r = conn_request(c);
	c->ending = true;
	c->has_lines = false;
	buf_reset(&c->in);
	c->scanned = 0;
	request_too_long(r, S.opts.max_line);
	conn_placed(c, r);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;

	if (n > 0) {
		c->active = uv_now(S.loop);
		buf_add(&c->in, b->base, (size_t)n);
		process_lines(c);
		conn_update(c);
	} else if (n == UV_EOF) {
		/* Half-close: answer what was asked, then close. A last line
		 * without LF is a request too. */
		c->eof = true;
		if (c->in.len && !c->ending && !memchr(c->in.p, '\n', c->in.len))
			buf_add(&c->in, "\n", 1);
		process_lines(c);
		conn_update(c);
	} else if (n < 0) {
		conn_close(c);
	}
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct request *r;

	/* Requests with an effect (START, STOP, ENQUEUE) finish without us;
	 * the others are dropped now, giving their places back. */
	while ((r = LIST_FIRST(&c->all))) {
		LIST_REMOVE(r, all);
		r->owner = NULL;
		if (!r->done && !r->tagged)
			TAILQ_REMOVE(&c->ordered, r, order);
		if (r->cancelled || request_orphaned(r))
			free_request(r);
	}
	/* What is left in order was answered (it waited for one before it). */
	while ((r = TAILQ_FIRST(&c->ordered))) {
		TAILQ_REMOVE(&c->ordered, r, order);
		free_request(r);
	}
	buf_free(&c->in);
	buf_free(&c->out);
	access_peer_free(&c->peer);
	free(c);
	S.nconns--;
	stats_clients(-1);
	check_drained();
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
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
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* Closes c once it has nothing left to answer or write, if it is ending. */
static void conn_maybe_end(struct conn *c)
{
	if (!c->closing && (c->ending || S.stopping) && !c->has_lines && c->pending == 0 &&
	    c->out.len == 0 && c->unwritten == 0 && !c->dirty)
		conn_close(c);
}

static void on_reject_written(uv_write_t *w, int status)
{
	(void)status;
	uv_close((uv_handle_t *)w->handle, (uv_close_cb)free);
	free(w);
}

static void on_connection(uv_stream_t *l, int status)
{
	if (status < 0) {
		log_limited(&S.refusals, LOG_WARNING, "server: accept: %s", uv_strerror(status));
		return;
	}
	struct conn *c = xcalloc(1, sizeof(*c));
	uv_pipe_init(S.loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(l, (uv_stream_t *)&c->pipe) != 0) {
		uv_close((uv_handle_t *)&c->pipe, (uv_close_cb)free);
		return;
	}
	if (S.nconns >= S.opts.max_clients || S.stopping) {
		static char msg[] = "ERR BUSY too many clients (max_clients); retry later\n";
		uv_write_t *w = xmalloc(sizeof(*w));
		uv_buf_t b = uv_buf_init(msg, sizeof(msg) - 1);
		log_limited(&S.refusals, LOG_WARNING, "server: refusing a client: max_clients (%d) reached",
			    S.opts.max_clients);
		if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, on_reject_written) != 0) {
			free(w);
			uv_close((uv_handle_t *)&c->pipe, (uv_close_cb)free);
		}
		return;
	}
	uv_os_fd_t fd;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	/* Who is at the other end, fixed at connect time by the kernel. A peer
	 * we cannot identify gets uid/gid -1, which no allow rule matches. */
	cred.uid = (uid_t)-1;
	cred.gid = (gid_t)-1;
	cred.pid = 0;
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0)
		log_warn("server: SO_PEERCRED: %s", strerror(errno));
	access_peer_init(&c->peer, cred.uid, cred.gid);
	c->pid = cred.pid;
	TAILQ_INIT(&c->ordered);
	LIST_INIT(&c->all);
	LIST_INSERT_HEAD(&S.conns, c, link);
	S.nconns++;
	stats_clients(1);
	c->active = uv_now(S.loop);
	conn_update(c);
}

/* A connection is idle when it asks nothing and waits for nothing, or when
 * its answers have not moved (it does not read them). One waiting for
 * Orchestrator is never idle. */
static void on_sweep(uv_timer_t *t)
{
	uint64_t now = uv_now(S.loop), limit = (uint64_t)S.opts.idle_timeout * 1000;
	struct conn *c, *next;
	(void)t;

	if (!limit)
		return;
	for (c = LIST_FIRST(&S.conns); c; c = next) {
		next = LIST_NEXT(c, link);
		if ((c->pending == 0 || c->unwritten > 0) && now - c->active >= limit) {
			log_info("server: closing a connection idle for %d s (pid %d)", S.opts.idle_timeout,
				 (int)c->pid);
			conn_close(c);
		}
	}
}

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

void server_configure(const struct server_opts *o)
{
	S.opts = *o;
	S.opts.path = NULL;
}

int server_init(uv_loop_t *loop, const struct server_opts *o, char *err, size_t errlen)
{
	int rc;
	bool said = false;

	S.loop = loop;
	server_configure(o);
	log_limit_init(&S.refusals, 10, 10);
	LIST_INIT(&S.conns);
	TAILQ_INIT(&S.dirty);
	TAILQ_INIT(&S.backlog);
	uv_pipe_init(loop, &S.listener, 0);
	if (o->fd >= 0) {
		rc = uv_pipe_open(&S.listener, o->fd);
	} else if ((rc = clear_stale(o->path, err, errlen)) == 0) {
		/* Create the socket with its final mode: no window where it is
		 * more open than configured. */
		mode_t old = umask(~o->mode & 0777);
		rc = uv_pipe_bind(&S.listener, o->path);
		umask(old);
		if (rc == 0) {
			S.path = xstrdup(o->path);
			chmod(o->path, o->mode);
		}
	} else {
		rc = UV_EADDRINUSE;
		said = true;    /* clear_stale said why */
	}
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&S.listener, 511, on_connection);
	if (rc != 0) {
		if (!said)
			snprintf(err, errlen, "cannot listen on %s: %s",
				 o->fd >= 0 ? "the passed socket" : o->path, uv_strerror(rc));
		/* Nothing of ours is left behind. */
		uv_close((uv_handle_t *)&S.listener, NULL);
		if (S.path) {
			unlink(S.path);
			free(S.path);
			S.path = NULL;
		}
		return -1;
	}
	S.listening = true;
	uv_check_init(loop, &S.flusher);
	uv_unref((uv_handle_t *)&S.flusher);
	uv_idle_init(loop, &S.awake);
	uv_unref((uv_handle_t *)&S.awake);
	uv_timer_init(loop, &S.sweeper);
	uv_timer_start(&S.sweeper, on_sweep, 1000, 1000);
	uv_unref((uv_handle_t *)&S.sweeper);
	return 0;
}

static void stop_listening(void)
{
	if (!S.listening)
		return;
	S.listening = false;
	uv_close((uv_handle_t *)&S.listener, NULL);
	if (S.path) {
		unlink(S.path);
		free(S.path);
		S.path = NULL;
	}
}

void server_shutdown(void (*drained)(void))
{
	struct conn *c, *next;

	S.stopping = true;
	S.drained = drained;
	stop_listening();
	for (c = LIST_FIRST(&S.conns); c; c = next) {
		next = LIST_NEXT(c, link);
		conn_update(c);
	}
	check_drained();
}

void server_close(void)
{
	struct conn *c;

	stop_listening();
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
