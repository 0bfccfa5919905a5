#include "curluv.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* A socket curl asked us to watch. A connection's socket (lasting: opened
 * by on_open_socket) keeps its uv_poll_t and epoll registration until curl
 * closes it (on_close_socket): curl stops watching an idle connection
 * (CURL_POLL_REMOVE) and asks again with the next request, and a new
 * handle each time cost seven syscalls per sequential trigger. Other
 * sockets (the resolver's) go at CURL_POLL_REMOVE: curl closes them itself. */
struct curluv_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	int events;                /* what the poll handle watches now, 0: stopped */
	bool owned;                /* curl watches it now */
	bool lasting;
	LIST_ENTRY(curluv_sock) link;
};

static struct {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;          /* curl's own timeout */
	LIST_HEAD(, curluv_sock) socks;
	void (*after)(void);       /* reads what curl finished */
} U;

static void on_sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sock_close(struct curluv_sock *s)
{
	LIST_REMOVE(s, link);
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* Gives fd a poll handle (not started yet), found again by sock_find(). */
static struct curluv_sock *sock_new(curl_socket_t fd)
{
	struct curluv_sock *s = xcalloc(1, sizeof(*s));

	s->fd = fd;
	if (uv_poll_init_socket(U.loop, &s->poll, fd) != 0) {
		free(s);
		return NULL;
	}
	s->poll.data = s;
	LIST_INSERT_HEAD(&U.socks, s, link);
	return s;
}

static void on_poll(uv_poll_t *h, int status, int events);

static struct curluv_sock *sock_find(curl_socket_t fd)
{
	struct curluv_sock *s;

	LIST_FOREACH(s, &U.socks, link)
		if (s->fd == fd)
			return s;
	return NULL;
}

static void sock_watch(struct curluv_sock *s, int events)
{
	if (events == s->events)
		return; /* uv_poll_start would cost an epoll_ctl DEL and an ADD */
	if (events)
		uv_poll_start(&s->poll, events, on_poll);
	else
		uv_poll_stop(&s->poll);
	s->events = events;
}

/* An event on a socket curl watches: curl acts on it, then the owner reads
 * what ended. */
static void on_poll(uv_poll_t *h, int status, int events)
{
	struct curluv_sock *s = h->data;
	int flags = 0, running;

	if (!s->owned) {
		/* Data on an idle connection (a GOAWAY, a late frame): curl reads
		 * it when the connection is used or checked again. Watching on
		 * would spin on a level-triggered event nobody reads. */
		sock_watch(s, 0);
		return;
	}
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(U.multi, s->fd, flags, &running);
	U.after();
}

/* CURLMOPT_SOCKETFUNCTION: what curl wants to know about fd now (action),
 * or that it no longer cares. sockp is ours, once assigned. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *sockp)
{
	struct curluv_sock *s = sockp ? sockp : sock_find(fd);
	(void)easy;
	(void)userp;

	if (action == CURL_POLL_REMOVE) {
		if (s && s->lasting)
			s->owned = false; /* registered until data comes or curl closes it */
		else if (s)
			sock_close(s);
		return 0;
	}
	if (!s && !(s = sock_new(fd)))
		return -1;
	if (!sockp)
		curl_multi_assign(U.multi, fd, s);
	s->owned = true;
	int events = 0;
	if (action != CURL_POLL_OUT)
		events |= UV_READABLE;
	if (action != CURL_POLL_IN)
		events |= UV_WRITABLE;
	sock_watch(s, events);
	return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: a connection's socket, watched from its birth
 * to its close so that its poll handle outlives idle spells. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)clientp;
	(void)purpose;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	struct curluv_sock *s = sock_new(fd);
	if (!s) {
		close(fd);
		return CURL_SOCKET_BAD;
	}
	s->lasting = true;
	return fd;
}

/* curl closes a connection's socket: its poll handle goes first (libuv
 * must not watch a closed descriptor, whose number comes back). */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
	struct curluv_sock *s = sock_find(fd);
	(void)clientp;

	if (s)
		sock_close(s);
	return close(fd);
}

static void on_curl_timeout(uv_timer_t *t)
{
	int running;
	(void)t;

	curl_multi_socket_action(U.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	U.after();
}

/* CURLMOPT_TIMERFUNCTION: call curl back in timeout_ms (0: at once), or
 * not at all (-1). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	(void)userp;

	if (timeout_ms < 0)
		uv_timer_stop(&U.timer);
	else
		uv_timer_start(&U.timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

CURLM *curluv_init(uv_loop_t *loop, void (*after)(void))
{
	U.loop = loop;
	U.after = after;
	LIST_INIT(&U.socks);
	uv_timer_init(loop, &U.timer);
	U.multi = curl_multi_init();
	if (!U.multi)
		abort();
	curl_multi_setopt(U.multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(U.multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	return U.multi;
}

void curluv_easy(CURL *e)
{
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
}

void curluv_close(void)
{
	curl_multi_cleanup(U.multi);
	U.multi = NULL;
	while (!LIST_EMPTY(&U.socks))
		sock_close(LIST_FIRST(&U.socks));
	uv_close((uv_handle_t *)&U.timer, NULL);
}
