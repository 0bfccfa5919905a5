/*
 * http: HTTPS requests through libcurl's multi interface, driven by the
 * libuv loop (curluv.h: a uv_poll_t per socket, one uv_timer_t for curl's
 * timeouts), completions drained after every action. Here: the requests'
 * queue, handles, retries and ends. Nothing here blocks the loop.
 *
 * Retry policy (docs/protocol.md section 4, docs/orchestrator.md section 7), applied here once for every caller:
 * - 429 is retried on any request, after Retry-After or a backoff;
 * - a failure before the request left (connect, resolve, TLS handshake) is
 *   retried on any request;
 * - 5xx, timeouts and resets after the request may have left are retried
 *   only when the request is idempotent (GET, token requests); otherwise the
 *   result says the request may have reached the server (maybe_sent).
 * Attempts and total time are bounded.
 */
#ifndef ORCHD_HTTP_H
#define ORCHD_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/queue.h>
#include <uv.h>

#include "delayq.h"
#include "util.h"

struct http_opts {
	const char *ca_file;   /* extra CA bundle, or NULL */
	long timeout_ms;       /* one exchange */
	int max_inflight;      /* requests in curl at once; the rest wait */
};

struct http_req;
typedef void http_done_fn(struct http_req *req);

struct http_req {
	/* Set by the caller before http_submit(); owned by the caller. */
	const char *url;
	const char *body;              /* POST body, or NULL for GET */
	size_t body_len;               /* bytes of body; 0: strlen(body) */
	const char *method;            /* "PUT" (with a body), or NULL: POST or GET */
	struct curl_slist *headers;
	bool idempotent;
	size_t max_resp;               /* bytes of answer kept at most; 0: 4 MiB */
	int max_attempts;              /* 0: the default (4) */
	bool bulk;                     /* a blob of any size: no bound on the whole exchange's
					* time, but ended when under 1 KiB/s for the timeout */
	/* Called before every attempt, which may come long after submit (a
	 * queue, a Retry-After): may refresh headers; false ends the request
	 * with unprepared set, nothing sent. NULL: always ready. */
	bool (*prepare)(struct http_req *req);
	http_done_fn *done;
	void *data;

	/* The result, valid in done(). */
	long status;                   /* 0 when no HTTP answer came */
	struct buf resp;               /* the body (caller frees with buf_free) */
	CURLcode cerr;                 /* CURLE_OK when an HTTP answer came */
	char errmsg[CURL_ERROR_SIZE];  /* why no answer came, for people */
	bool maybe_sent;               /* no answer, and the server may have acted */
	bool unprepared;               /* prepare() said no: nothing was sent */
	bool too_big;                  /* the answer passed max_resp: stopped there */
	int attempts;

	/* Private. */
	enum { HTTP_IDLE, HTTP_QUEUED, HTTP_DELAYED, HTTP_ACTIVE } where;
	CURL *easy;
	unsigned gen;                  /* http_configure generation of easy */
	int sends;                     /* times curl began sending this attempt */
	uint64_t start_ms;
	struct delayq_item wait;       /* in the retry queue */
	int64_t retry_after_ms;
	TAILQ_ENTRY(http_req) link;
};

void http_init(uv_loop_t *loop, const struct http_opts *opts);
/* Changes the options for requests submitted from now on. */
void http_configure(const struct http_opts *opts);
/* Caps the connections curl holds open, idle ones included, at max_conns
 * (0: no cap): a request over it waits in curl for one. */
void http_cap_conns(int max_conns);
/* Aborts everything still pending (their done() is not called) and frees the
 * multi handle; the loop must then be run once to close the handles. */
void http_close(void);

/* Fills r for a form POST to an OAuth token endpoint (url and body stay the
 * caller's; *headers is set to a list the caller frees). */
static inline void http_form_post(struct http_req *r, const char *url, const char *body,
				  struct curl_slist **headers)
{
	*headers = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
	*headers = curl_slist_append(*headers, "Accept: application/json");
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->body = body;
	r->headers = *headers;
}

/* Starts req; req->done is called exactly once, later, from the loop. */
void http_submit(struct http_req *req);

/* The daemon is stopping: fails every request that has not been handed to
 * curl yet (queued or waiting to retry) with CURLE_ABORTED_BY_CALLBACK and
 * maybe_sent false, and from now on ends requests with their first result
 * instead of retrying them. */
void http_shutdown(void);

/* The drain deadline: ends every request, in curl or not, with
 * CURLE_ABORTED_BY_CALLBACK; maybe_sent is set when a non-idempotent one
 * may have left. Each done() is called before this returns. */
void http_abort_all(void);

/* Takes r back, wherever it is; its done() will not be called. */
void http_cancel(struct http_req *r);

/* uv_now() when a request last began an attempt or ended (0: never). */
uint64_t http_last_active(void);

/* Requests handed to curl and not finished. */
int http_inflight(void);

#endif
