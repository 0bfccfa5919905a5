#include "metrics.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "httphead.h"
#include "log.h"
#include "promtext.h"
#include "stats.h"
#include "util.h"

#define METRICS_HEAD_MAX 8192
#define METRICS_HEAD_MS 1000     /* for the whole request head */
#define METRICS_WRITE_MS 5000    /* for the answer to leave */

struct mconn {
	union {
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_timer_t timer;
	uv_write_t wr;
	struct buf in, out;
	bool answered;               /* a whole request came (or a head too long) */
	int closing;                 /* handles still to close */
	TAILQ_ENTRY(mconn) link;     /* oldest first */
};

static struct {
	uv_loop_t *loop;
	bool listening, is_pipe;
	union {
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} l;
	TAILQ_HEAD(, mconn) conns;
	int nconns;
	char *path;                  /* the Unix socket, removed at close */
	unsigned long scrapes;
} X;

static void on_conn_closed(uv_handle_t *h)
{
	struct mconn *c = h->data;

	if (--c->closing == 0) {
		buf_free(&c->in);
		buf_free(&c->out);
		free(c);
	}
}

static void conn_close(struct mconn *c)
{
	if (c->closing)
		return;
	TAILQ_REMOVE(&X.conns, c, link);
	X.nconns--;
	c->closing = 2;
	uv_close((uv_handle_t *)&c->h.stream, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	conn_close(w->data);
}

static void reply(struct mconn *c, const char *status, const char *type, const char *body)
{
	size_t n = strlen(body);

	c->answered = true;
	uv_read_stop(&c->h.stream);
	uv_timer_start(&c->timer, on_timeout, METRICS_WRITE_MS, 0);
	buf_printf(&c->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n", status, type, n);
	buf_add(&c->out, body, n);
	uv_buf_t b = uv_buf_init(c->out.p, (unsigned)c->out.len);
	c->wr.data = c;
	if (uv_write(&c->wr, &c->h.stream, &b, 1, on_written) != 0)
		conn_close(c);
}

/* The request head is in and asks for the metrics. */
static void serve(struct mconn *c)
{
	cJSON *stats = stats_object(NULL, NULL);
	struct buf text = {0};
	promtext_from_stats(&text, stats);
	cJSON_Delete(stats);
	X.scrapes++;
	reply(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text.p ? text.p : "");
	buf_free(&text);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char slab[4096];
	(void)h;
	(void)suggested;
	*b = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct mconn *c = s->data;

	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->answered || n == 0)
		return;
	buf_add(&c->in, b->base, (size_t)n);
	switch (httphead_parse(c->in.p, c->in.len, METRICS_HEAD_MAX)) {
	case HTTPHEAD_MORE:
		break;
	case HTTPHEAD_METRICS:
		serve(c);
		break;
	case HTTPHEAD_NOT_FOUND:
		reply(c, "404 Not Found", "text/plain; charset=utf-8", "GET /metrics\n");
		break;
	case HTTPHEAD_NOT_ALLOWED:
		reply(c, "405 Method Not Allowed", "text/plain; charset=utf-8", "GET /metrics\n");
		break;
	case HTTPHEAD_TOO_LONG:
		reply(c, "431 Request Header Fields Too Large", "text/plain; charset=utf-8", "too long\n");
		break;
	}
}

/* All connections are taken: the oldest one still without a whole request
 * makes room, so that connections held open without asking (or asking
 * slowly) cannot keep a scraper out. False when every one is being
 * answered (each ends within METRICS_WRITE_MS). */
static bool make_room(void)
{
	struct mconn *c;

	TAILQ_FOREACH(c, &X.conns, link)
		if (!c->answered) {
			conn_close(c);
			return true;
		}
	return false;
}

static void on_connection(uv_stream_t *l, int status)
{
	if (status < 0)
		return;
	bool full = X.nconns >= METRICS_CONNS && !make_room();
	struct mconn *c = xcalloc(1, sizeof(*c));
	if (X.is_pipe)
		uv_pipe_init(X.loop, &c->h.pipe, 0);
	else
		uv_tcp_init(X.loop, &c->h.tcp);
	c->h.stream.data = c;
	uv_timer_init(X.loop, &c->timer);
	c->timer.data = c;
	TAILQ_INSERT_TAIL(&X.conns, c, link);
	X.nconns++;
	if (uv_accept(l, &c->h.stream) != 0 || full) {
		conn_close(c);  /* over the bound: closed at once */
		return;
	}
	uv_timer_start(&c->timer, on_timeout, METRICS_HEAD_MS, 0);
	uv_read_start(&c->h.stream, on_alloc, on_read);
}

int metrics_init(uv_loop_t *loop, const struct conf *conf, char *err, size_t errlen)
{
	const char *where = conf->metrics_listen;
	int rc;

	memset(&X, 0, sizeof(X));
	X.loop = loop;
	TAILQ_INIT(&X.conns);
	if (!where)
		return 0;
	X.is_pipe = where[0] == '/';
	if (X.is_pipe) {
		uv_pipe_init(loop, &X.l.pipe, 0);
		unlink(where);   /* a socket left by a previous run */
		rc = uv_pipe_bind(&X.l.pipe, where);
		X.path = xstrdup(where);
	} else {
		char host[64];
		int port;
		bool lo;
		struct sockaddr_storage sa;
		uv_tcp_init(loop, &X.l.tcp);
		conf_listen_split(where, host, sizeof(host), &port, &lo); /* conf checked it */
		rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa)
				       : uv_ip4_addr(host, port, (struct sockaddr_in *)&sa);
		if (rc == 0)
			rc = uv_tcp_bind(&X.l.tcp, (struct sockaddr *)&sa, 0);
	}
	X.listening = true;
	if (rc == 0)
		rc = uv_listen(&X.l.stream, 16, on_connection);
	if (rc != 0) {
		snprintf(err, errlen, "[metrics] listen %s: %s", where, uv_strerror(rc));
		metrics_close();
		return -1;
	}
	log_info("metrics: serving GET /metrics on %s", where);
	return 0;
}

void metrics_close(void)
{
	while (!TAILQ_EMPTY(&X.conns))
		conn_close(TAILQ_FIRST(&X.conns));
	if (X.listening)
		uv_close((uv_handle_t *)&X.l.stream, NULL);
	X.listening = false;
	if (X.path)
		unlink(X.path);
	free(X.path);
	X.path = NULL;
}

int metrics_descriptors(const struct conf *conf)
{
	return conf->metrics_listen ? 1 + METRICS_CONNS : 0;
}

unsigned long metrics_scrapes(void)
{
	return X.scrapes;
}
