#include "conn.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
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
 * One answer alone may be over OUT_MAX (a job's output of [jobs] max_output,
 * 16 MiB): the client is cut off only when answers pile up behind unwritten
 * ones.
 */
#define READ_CHUNK 65536
#define OUT_HIGH (1u << 20)
#define OUT_LOW (OUT_HIGH / 2)
#define OUT_MAX (8u << 20)
#define CONN_MAX_PENDING 4096
#define LINES_PER_TURN 64
/* A connection accepted this recently that has sent nothing yet when the
 * drain begins is still read for what is left of this: its client
 * connected to send a request (one per connection is common) and gets
 * SHUTDOWN for it rather than a closed socket. */
#define CONN_GRACE_MS 500

static struct {
	uv_loop_t *loop;
	size_t max_line;
} C;

struct wreq {
	uv_write_t w;
	struct conn *conn;
	size_t len;
	char data[];
};

static void conn_maybe_end(struct conn *c);

/* Whether c, while orchd stops, is still read (CONN_GRACE_MS). */
static bool conn_in_grace(const struct conn *c)
{
	return !c->spoke && uv_now(C.loop) - c->born < CONN_GRACE_MS;
}
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

void conn_configure(uv_loop_t *loop, size_t max_line)
{
	C.loop = loop;
	C.max_line = max_line;
}

static void free_request(struct request *r)
{
	request_free(r);
	server_request_freed();
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

void conn_update(struct conn *c)
{
	if (c->closing)
		return;
	bool blocked = conn_blocked(c);
	if (c->has_lines && !blocked && !c->backlogged && !c->ending) {
		c->backlogged = true;
		server_backlog(c);
	}
	bool want = !blocked && !c->has_lines && !c->ending && !c->eof &&
		    (!server_stopping() || conn_in_grace(c));
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
	c->active = uv_now(C.loop);
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

/* Empties c's answer buffer; one a big answer grew (a job's output) is
 * freed, not kept for the connection's life. */
static void out_reset(struct conn *c)
{
	if (c->out.cap > OUT_HIGH)
		buf_free(&c->out);
	else
		buf_reset(&c->out);
}

/* Hands c's answers to the socket, then decides what c does next
 * (conn_update), unless it had to close c. */
void conn_write(struct conn *c)
{
	if (c->closing)
		return;
	if (c->out.len == 0) {
		conn_update(c); /* an answer came that waits behind an earlier one */
		return;
	}
	if (c->unwritten > 0 && c->unwritten + c->out.len > OUT_MAX) {
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
		out_reset(c);
		conn_written(c);
		return;
	}
	struct wreq *wr = xmalloc(sizeof(*wr) + c->out.len - done);
	wr->conn = c;
	wr->len = c->out.len - done;
	memcpy(wr->data, c->out.p + done, wr->len);
	out_reset(c);
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
	server_dirty(c);
}

/* A request of c's, pending until answered. */
static struct request *conn_request(struct conn *c)
{
	struct request *r = request_new(c, on_answered);

	c->spoke = true;
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
void conn_process(struct conn *c)
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
		if (len > C.max_line)
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
	if (!nl && !c->ending && c->in.len - start > C.max_line)
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
	request_too_long(r, C.max_line);
	conn_placed(c, r);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;

	if (n > 0) {
		c->active = uv_now(C.loop);
		buf_add(&c->in, b->base, (size_t)n);
		conn_process(c);
		conn_update(c);
	} else if (n == UV_EOF) {
		/* Half-close: answer what was asked, then close. A last line
		 * without LF is a request too. */
		c->eof = true;
		if (c->in.len && !c->ending && !memchr(c->in.p, '\n', c->in.len))
			buf_add(&c->in, "\n", 1);
		conn_process(c);
		if (conn_hung_up(c)) {
			/* Gone, not half-closed: what it sent is taken (requests
			 * with an effect run on), then it is closed, and what
			 * has no effect is dropped. */
			while (c->has_lines && !c->closing && !conn_blocked(c))
				conn_process(c);
			conn_close(c);
			return;
		}
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
	server_gone();
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
	server_forget(c);
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* Closes c once it has nothing left to answer or write, if it is ending. */
static void conn_maybe_end(struct conn *c)
{
	if (!c->closing && (c->ending || (server_stopping() && !conn_in_grace(c))) && !c->has_lines &&
	    c->pending == 0 &&
	    c->out.len == 0 && c->unwritten == 0 && !c->dirty)
		conn_close(c);
}


bool conn_hung_up(struct conn *c)
{
	uv_os_fd_t fd;
	struct pollfd p;

	if (c->closing || uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
		return false;
	p.fd = fd;
	p.events = 0;
	p.revents = 0;
	/* POLLHUP: both halves are shut, the peer closed its socket. */
	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

void conn_start(struct conn *c)
{
	TAILQ_INIT(&c->ordered);
	LIST_INIT(&c->all);
	c->active = c->born = uv_now(C.loop);
	conn_update(c);
}
