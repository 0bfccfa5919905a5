#include "server.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <malloc.h>
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
#include "auth.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "proto.h"
#include "releases.h"

#define READ_CHUNK 65536
#define OUT_HIGH (256u << 10)  /* pause reading above this many unwritten bytes */
#define OUT_MAX (1u << 20)     /* disconnect a client that leaves more unread */
#define CONN_MAX_PENDING 4096   /* pause reading above this many pending requests */
#define LATENCY_RING 4096

struct conn;

struct request {
	struct conn *conn;              /* NULL once the client is gone */
	struct proto_req preq;
	struct job job;
	uint64_t t0;                    /* uv_hrtime() at arrival */
	bool done;
	bool tagged;
	bool is_start;
	char *answer;                   /* the answer line, LF included */
	size_t alen;
	TAILQ_ENTRY(request) order;     /* conn->ordered, untagged only */
	LIST_ENTRY(request) all;        /* conn->all, until answered */
};

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
	bool dirty;                     /* on S.dirty */
	uint64_t active;                /* uv_now() of the last read or write */
	struct access_peer peer;
	pid_t pid;
	LIST_ENTRY(conn) link;
	TAILQ_ENTRY(conn) dirty_link;
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
	int nconns;
	int live;                       /* requests not freed, clients gone or not */
	int pending_starts;
	bool stopping;
	void (*drained)(void);

	/* STATS */
	uint64_t started_at;
	unsigned long requests, starts, answered[PC__COUNT];
	uint32_t latency[LATENCY_RING];
	unsigned long nlatency;
} S;

static void conn_close(struct conn *c);
static void conn_maybe_end(struct conn *c);
static void process_lines(struct conn *c);
static void on_flush(uv_check_t *h);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void check_drained(void)
{
	if (S.stopping && S.live == 0 && S.nconns == 0 && S.drained) {
		void (*d)(void) = S.drained;
		S.drained = NULL;
		d();
	}
}

static void request_free(struct request *r)
{
	proto_req_free(&r->preq);
	free(r->answer);
	free(r);
	S.live--;
	check_drained();
}

static void on_awake(uv_idle_t *h)
{
	(void)h;
}

static void mark_dirty(struct conn *c)
{
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	if (TAILQ_EMPTY(&S.dirty)) {
		uv_check_start(&S.flusher, on_flush);
		uv_idle_start(&S.awake, on_awake);
	}
	TAILQ_INSERT_TAIL(&S.dirty, c, dirty_link);
}

/* Answers went out: read again if c was paused for them, or end it. */
static void conn_written(struct conn *c)
{
	c->active = uv_now(S.loop);
	if (!c->reading && !c->ending && !c->closing && !S.stopping && c->unwritten < OUT_HIGH / 2 &&
	    c->pending < CONN_MAX_PENDING) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	}
	conn_maybe_end(c);
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

static void conn_write(struct conn *c)
{
	if (c->closing || c->out.len == 0)
		return;
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
	}
}

/* Runs after the poll phase of every iteration with answers to send: one
 * write per client for all the answers that iteration produced. Answers made
 * by timers, before the poll phase, keep the idle handle active so that poll
 * does not block before this runs. */
static void on_flush(uv_check_t *h)
{
	struct conn *c;
	(void)h;

	while ((c = TAILQ_FIRST(&S.dirty))) {
		TAILQ_REMOVE(&S.dirty, c, dirty_link);
		c->dirty = false;
		conn_write(c);
	}
	uv_check_stop(&S.flusher);
	uv_idle_stop(&S.awake);
}

/* Records r's answer and moves every answer that may now go out. */
static void answer(struct request *r, enum proto_code code, const char *text)
{
	struct buf line = {0};
	struct conn *c = r->conn;

	proto_answer(&line, r->preq.tag, code, text);
	r->alen = line.len;
	r->answer = buf_steal(&line);
	r->done = true;
	if (code != PC_OK || r->is_start)
		S.answered[code]++;  /* "ok" counts jobs started, not PINGs */
	uint64_t us = (uv_hrtime() - r->t0) / 1000;
	S.latency[S.nlatency++ % LATENCY_RING] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	if (r->is_start) {
		S.pending_starts--;
		int prio = code == PC_OK ? LOG_INFO : LOG_NOTICE;
		log_msg(prio, "START \"%s\" folder \"%s\"%s%s: %s (%llu us)", r->preq.start.process,
			r->preq.start.folder ? r->preq.start.folder : "(default)",
			r->preq.tag[0] ? " tag " : "", r->preq.tag, proto_code_name(code),
			(unsigned long long)us);
	}
	if (!c) {
		request_free(r);
		return;
	}
	LIST_REMOVE(r, all);
	c->pending--;
	if (r->tagged) {
		buf_add(&c->out, r->answer, r->alen);
		request_free(r);
	} else {
		struct request *h;
		while ((h = TAILQ_FIRST(&c->ordered)) && h->done) {
			TAILQ_REMOVE(&c->ordered, h, order);
			buf_add(&c->out, h->answer, h->alen);
			request_free(h);
		}
	}
	mark_dirty(c);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static char *stats_json(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *errs = cJSON_CreateObject();
	unsigned long nerr = 0;

	cJSON_AddNumberToObject(o, "requests", (double)S.requests);
	cJSON_AddNumberToObject(o, "starts", (double)S.starts);
	cJSON_AddNumberToObject(o, "ok", (double)S.answered[PC_OK]);
	for (int i = 1; i < PC__COUNT; i++) {
		cJSON_AddNumberToObject(errs, proto_code_name(i), (double)S.answered[i]);
		nerr += S.answered[i];
	}
	cJSON_AddNumberToObject(o, "errors_total", (double)nerr);
	cJSON_AddItemToObject(o, "errors", errs);
	cJSON_AddNumberToObject(o, "jobs_started", (double)jobs_started());
	cJSON_AddNumberToObject(o, "jobs_resolved", (double)jobs_resolved());
	cJSON_AddNumberToObject(o, "token_refreshes", (double)auth_refresh_count());
	const char *ae = auth_last_error();
	if (ae)
		cJSON_AddStringToObject(o, "auth_error", ae);
	else
		cJSON_AddNullToObject(o, "auth_error");
	cJSON *cache = cJSON_AddObjectToObject(o, "cache");
	cJSON_AddNumberToObject(cache, "hits", (double)releases_hits());
	cJSON_AddNumberToObject(cache, "misses", (double)releases_misses());
	cJSON_AddNumberToObject(cache, "lookups", (double)releases_lookups());
	cJSON_AddNumberToObject(o, "inflight", S.pending_starts);
	cJSON_AddNumberToObject(o, "http_inflight", http_inflight());
	cJSON_AddNumberToObject(o, "clients", S.nconns);

	size_t n = S.nlatency < LATENCY_RING ? S.nlatency : LATENCY_RING;
	cJSON *lat = cJSON_AddObjectToObject(o, "latency_us");
	cJSON_AddNumberToObject(lat, "samples", (double)n);
	if (n) {
		uint32_t *v = xmalloc(n * sizeof(*v));
		memcpy(v, S.latency, n * sizeof(*v));
		qsort(v, n, sizeof(*v), cmp_u32);
		cJSON_AddNumberToObject(lat, "p50", v[n * 50 / 100]);
		cJSON_AddNumberToObject(lat, "p90", v[n * 90 / 100]);
		cJSON_AddNumberToObject(lat, "p99", v[n * 99 / 100]);
		cJSON_AddNumberToObject(lat, "max", v[n - 1]);
		free(v);
	}
	struct mallinfo2 mi = mallinfo2();
	cJSON_AddNumberToObject(o, "heap_in_use", (double)mi.uordblks);
	cJSON_AddNumberToObject(o, "uptime_s", (double)((uv_now(S.loop) - S.started_at) / 1000));
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void on_job_done(struct job *j, enum proto_code code, const char *text)
{
	answer(j->data, code, text);
}

/* A request of c's, pending until answer(). */
static struct request *request_new(struct conn *c)
{
	struct request *r = xcalloc(1, sizeof(*r));

	S.live++;
	S.requests++;
	r->conn = c;
	r->t0 = uv_hrtime();
	c->pending++;
	LIST_INSERT_HEAD(&c->all, r, all);
	return r;
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
	struct request *r = request_new(c);
	char err[512];

	enum proto_code rc = proto_parse(line, len, &r->preq, err, sizeof(err));
	r->tagged = r->preq.tag[0] != '\0';
	if (!r->tagged)
		TAILQ_INSERT_TAIL(&c->ordered, r, order);
	if (rc != PC_OK) {
		answer(r, rc, err);
		return;
	}
	switch (r->preq.verb) {
	case PV_PING:
		answer(r, PC_OK, "{\"pong\":true}");
		break;
	case PV_HELP:
		answer(r, PC_OK, proto_help_json());
		break;
	case PV_STATS: {
		char *s = stats_json();
		answer(r, PC_OK, s);
		cJSON_free(s);
		break;
	}
	case PV_QUIT:
		/* Answered in turn; the connection closes once all is written. */
		c->ending = true;
		answer(r, PC_OK, "{\"bye\":true}");
		break;
	case PV_START:
		r->is_start = true;
		S.starts++;
		S.pending_starts++;
		if (!access_allowed(&c->peer, r->preq.start.process)) {
			log_warn("DENIED: uid %u pid %d may not start \"%s\"", (unsigned)c->peer.uid,
				 (int)c->pid, r->preq.start.process);
			snprintf(err, sizeof(err), "uid %u may not start \"%s\": no [access] allow rule matches",
				 (unsigned)c->peer.uid, r->preq.start.process);
			answer(r, PC_DENIED, err);
		} else if (S.stopping) {
			answer(r, PC_SHUTDOWN, "orchd is stopping; the job was not started");
		} else if (S.pending_starts > S.opts.max_pending) {
			answer(r, PC_BUSY, "too many requests waiting for Orchestrator; nothing was sent, retry later");
		} else {
			r->job.st = &r->preq.start;
			r->job.done = on_job_done;
			r->job.data = r;
			jobs_start(&r->job);
		}
		break;
	case PV_NONE:
		answer(r, PC_BAD_REQUEST, "empty request");
		break;
	}
}

static void conn_pause(struct conn *c)
{
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char chunk[READ_CHUNK];
	(void)h;
	(void)hint;
	*b = uv_buf_init(chunk, sizeof(chunk));
}

static void process_lines(struct conn *c)
{
	size_t start = 0;

	for (;;) {
		char *nl = memchr(c->in.p + c->scanned, '\n', c->in.len - c->scanned);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (c->in.p + start));
		if (len > S.opts.max_line) {
			start = c->in.len;
			goto too_long;
		}
		handle_line(c, c->in.p + start, len);
		start += len + 1;
		c->scanned = start;
		if (c->ending || c->closing)
			break;
	}
	if (!c->ending && c->in.len - start > S.opts.max_line)
		goto too_long;
	buf_consume(&c->in, start);
	c->scanned = c->in.len;
	return;
too_long:;
	struct request *r = request_new(c);
	TAILQ_INSERT_TAIL(&c->ordered, r, order);
	char msg[128];
	snprintf(msg, sizeof(msg), "line longer than max_line (%zu bytes); closing the connection",
		 S.opts.max_line);
	c->ending = true;
	buf_reset(&c->in);
	c->scanned = 0;
	answer(r, PC_TOO_LONG, msg);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;

	if (n > 0) {
		c->active = uv_now(S.loop);
		buf_add(&c->in, b->base, (size_t)n);
		process_lines(c);
		if (c->ending)
			conn_pause(c);
		else if (c->pending >= CONN_MAX_PENDING || c->unwritten >= OUT_HIGH)
			conn_pause(c);
		conn_maybe_end(c);
	} else if (n == UV_EOF) {
		/* Half-close: answer what was asked, then close. A last line
		 * without LF is a request too. */
		if (c->in.len && !c->ending) {
			size_t len = c->in.len;
			buf_add(&c->in, "\n", 1);
			c->scanned = len;
			process_lines(c);
		}
		c->ending = true;
		conn_pause(c);
		conn_maybe_end(c);
	} else if (n < 0) {
		conn_close(c);
	}
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct request *r;

	/* Requests still waiting for Orchestrator finish without us. */
	while ((r = LIST_FIRST(&c->all))) {
		LIST_REMOVE(r, all);
		r->conn = NULL;
	}
	while ((r = TAILQ_FIRST(&c->ordered))) {
		TAILQ_REMOVE(&c->ordered, r, order);
		if (r->done)
			request_free(r);
	}
	buf_free(&c->in);
	buf_free(&c->out);
	access_peer_free(&c->peer);
	free(c);
	S.nconns--;
	check_drained();
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	conn_pause(c);
	if (c->dirty) {
		TAILQ_REMOVE(&S.dirty, c, dirty_link);
		c->dirty = false;
	}
	LIST_REMOVE(c, link);
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* Closes c once it has nothing left to answer or write, if it is ending. */
static void conn_maybe_end(struct conn *c)
{
	if (!c->closing && (c->ending || S.stopping) && c->pending == 0 && c->out.len == 0 &&
	    c->unwritten == 0 && !c->dirty)
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
		log_warn("server: accept: %s", uv_strerror(status));
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
		log_warn("server: refusing a client: max_clients (%d) reached", S.opts.max_clients);
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
	c->reading = true;
	c->active = uv_now(S.loop);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
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

	S.loop = loop;
	S.started_at = uv_now(loop);
	server_configure(o);
	LIST_INIT(&S.conns);
	TAILQ_INIT(&S.dirty);
	uv_check_init(loop, &S.flusher);
	uv_unref((uv_handle_t *)&S.flusher);
	uv_idle_init(loop, &S.awake);
	uv_unref((uv_handle_t *)&S.awake);
	uv_timer_init(loop, &S.sweeper);
	uv_timer_start(&S.sweeper, on_sweep, 1000, 1000);
	uv_unref((uv_handle_t *)&S.sweeper);
	uv_pipe_init(loop, &S.listener, 0);
	if (o->fd >= 0) {
		rc = uv_pipe_open(&S.listener, o->fd);
	} else {
		if (clear_stale(o->path, err, errlen) != 0)
			return -1;
		/* Create the socket with its final mode: no window where it is
		 * more open than configured. */
		mode_t old = umask(~o->mode & 0777);
		rc = uv_pipe_bind(&S.listener, o->path);
		umask(old);
		if (rc == 0) {
			S.path = xstrdup(o->path);
			chmod(o->path, o->mode);
		}
	}
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&S.listener, 511, on_connection);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", o->fd >= 0 ? "the passed socket" : o->path,
			 uv_strerror(rc));
		return -1;
	}
	S.listening = true;
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
	jobs_shutdown();
	/* Requests queued behind max_inflight or waiting to retry were not
	 * sent: they fail now and are answered SHUTDOWN. */
	http_cancel_waiting();
	for (c = LIST_FIRST(&S.conns); c; c = next) {
		next = LIST_NEXT(c, link);
		conn_pause(c);
		conn_maybe_end(c);
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
