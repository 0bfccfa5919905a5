#include "upkeep.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define UPKEEP_PATH "/identity_/.well-known/openid-configuration"

static struct {
	uv_loop_t *loop;
	uv_timer_t timer;
	uint64_t every_ms;         /* 0: off */
	char *url;
	char *sending;             /* the url of the request in flight (a reload may change url) */
	bool busy, stopping;
	struct http_req req;
	struct curl_slist *headers;
	unsigned long sent;
} U;

static void on_timer(uv_timer_t *t);

/* The next check: keepalive after the last request. */
static void arm(void)
{
	uint64_t now = uv_now(U.loop), due = http_last_active() + U.every_ms;

	if (U.every_ms && !U.stopping)
		uv_timer_start(&U.timer, on_timer, due > now ? due - now : 0, 0);
	else
		uv_timer_stop(&U.timer);
}

static void on_done(struct http_req *r)
{
	if (r->cerr != CURLE_OK)
		log_debug("upkeep: %s: %s", U.url, r->errmsg);
	buf_free(&r->resp);
	free(U.sending);
	U.sending = NULL;
	U.busy = false;
	arm();
}

static void on_timer(uv_timer_t *t)
{
	(void)t;
	if (U.busy || U.stopping)
		return;
	if (uv_now(U.loop) < http_last_active() + U.every_ms) {
		arm(); /* a request went out meanwhile */
		return;
	}
	memset(&U.req, 0, sizeof(U.req));
	U.sending = xstrdup(U.url);
	U.req.url = U.sending;
	U.req.headers = U.headers;
	U.req.idempotent = true;
	U.req.max_attempts = 1;
	U.req.done = on_done;
	U.busy = true;
	U.sent++;
	http_submit(&U.req);
}

void upkeep_configure(const struct conf *conf)
{
	/* The origin of url: scheme://host[:port]. */
	const char *host = strstr(conf->url, "://");
	size_t n = host ? (size_t)(host + 3 - conf->url) + strcspn(host + 3, "/") : strlen(conf->url);

	free(U.url);
	U.url = xasprintf("%.*s%s", (int)n, conf->url, UPKEEP_PATH);
	U.every_ms = (uint64_t)conf->keepalive * 1000;
	if (!U.busy)
		arm();
}

void upkeep_init(uv_loop_t *loop, const struct conf *conf)
{
	U.loop = loop;
	uv_timer_init(loop, &U.timer);
	U.headers = curl_slist_append(NULL, "Accept: application/json");
	upkeep_configure(conf);
}

void upkeep_shutdown(void)
{
	U.stopping = true;
	uv_timer_stop(&U.timer);
}

void upkeep_close(void)
{
	if (U.busy)
		http_cancel(&U.req);
	buf_free(&U.req.resp);
	free(U.sending);
	U.sending = NULL;
	U.busy = false;
	uv_close((uv_handle_t *)&U.timer, NULL);
	curl_slist_free_all(U.headers);
	free(U.url);
	U.headers = NULL;
	U.url = NULL;
}

unsigned long upkeep_sent(void)
{
	return U.sent;
}
