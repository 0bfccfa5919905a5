#include "http.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "backoff.h"
#include "curluv.h"
#include "log.h"

#define HTTP_MAX_ATTEMPTS 4
#define HTTP_BACKOFF_BASE_MS 250
#define HTTP_BACKOFF_CAP_MS 8000
#define HTTP_MAX_BODY (4u << 20)
#define HTTP_POOL_CONNS 16
#define HTTP_TRIM_MS 10000

TAILQ_HEAD(http_list, http_req);

static struct {
	uv_loop_t *loop;
	CURLM *multi;              /* curluv's */
	long timeout_ms;
	int max_inflight;
	char *ca_file;
	int inflight;
	struct http_list queued;   /* waiting for a slot, in submit order */
	struct delayq delayed;     /* waiting to retry */
	struct http_list active;   /* handed to curl */
	CURL **pool;               /* idle easy handles, reused: up to max_inflight */
	int npool, pool_cap;
	int pool_low;              /* fewest idle handles since the last trim */
	uv_timer_t trim_timer;
	unsigned gen;              /* bumped by http_configure: older handles are not pooled */
	bool stopping;             /* no retries any more */
	uint64_t last_active;      /* a request began an attempt or ended */
} H;

/* CURLOPT_WRITEFUNCTION: the answer's body, kept in r->resp up to its
 * cap: past it the transfer stops (CURLE_WRITE_ERROR, too_big), nothing
 * more is read or kept. */
static size_t on_body(char *p, size_t size, size_t n, void *userp)
{
	struct http_req *r = userp;

	if (r->resp.len + n > (r->max_resp ? r->max_resp : HTTP_MAX_BODY)) {
		r->too_big = true;
		return 0;
	}
	buf_add(&r->resp, p, n * size);
	return n * size;
}

/* CURLOPT_HEADERFUNCTION: only Retry-After matters, for the next delay. */
static size_t on_header(char *p, size_t size, size_t n, void *userp)
{
	struct http_req *r = userp;
	size_t len = n * size;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		char v[128];
		size_t vlen = len - (sizeof(name) - 1);
		if (vlen >= sizeof(v))
			vlen = sizeof(v) - 1;
		memcpy(v, p + sizeof(name) - 1, vlen);
		v[vlen] = '\0';
		r->retry_after_ms = backoff_retry_after(v, (int64_t)time(NULL));
	}
	return len;
}

static void complete(struct http_req *r);

/* Called before every request curl sends, its own retries included:
 * libcurl silently sends a request again on a fresh connection when a reused
 * one dies before any answer ("Connection died, retrying a fresh connect"),
 * which for StartJobs would start the job twice. A second send of a
 * non-idempotent request is refused: it ends as maybe sent, never resent. */
static int on_prereq(void *userp, char *conn_primary_ip, char *conn_local_ip, int primary_port,
		     int local_port)
{
	struct http_req *r = userp;
	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)primary_port;
	(void)local_port;

	if (++r->sends > 1 && !r->idempotent)
		return CURL_PREREQFUNC_ABORT;
	return CURL_PREREQFUNC_OK;
}

/* A handle with the options every request shares. */
static CURL *easy_new(void)
{
	CURL *e = curl_easy_init();

	if (!e)
		abort();
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	curluv_easy(e);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, H.timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https"); /* never clear text */
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	/* Curl's smallest: the default 64 KiB upload buffer, allocated for
	 * every POST, was most of an idle handle's memory. */
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	if (H.ca_file) {
		/* "Extra" CA bundle: the file and the system's directory both count. */
		curl_easy_setopt(e, CURLOPT_CAINFO, H.ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	return e;
}

/* Begins an attempt, if prepare() agrees: a pooled or new handle set up
 * for r, handed to curl. */
static void start(struct http_req *r)
{
	if (r->prepare && !r->prepare(r)) {
		r->unprepared = true;
		r->cerr = CURLE_ABORTED_BY_CALLBACK;
		snprintf(r->errmsg, sizeof(r->errmsg), "not ready to be sent");
		complete(r);
		return;
	}
	CURL *e = H.npool ? H.pool[--H.npool] : easy_new();
	if (H.npool < H.pool_low)
		H.pool_low = H.npool;

	r->easy = e;
	r->gen = H.gen;
	r->status = 0;
	r->cerr = CURLE_OK;
	r->errmsg[0] = '\0';
	r->retry_after_ms = -1;
	r->sends = 0;
	r->too_big = false;
	buf_reset(&r->resp);
	/* Only what differs between requests: a handle keeps its options
	 * between uses (easy_new set the rest once). */
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, r);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errmsg);
	if (r->body) {
		/* A PUT is a POST with another method name: the body goes out
		 * the same way (no read callback), its length known. */
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(r->body_len ? r->body_len : strlen(r->body)));
	} else {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	if (r->method) /* release_easy sets it back: most requests never touch it */
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->bulk) {
		/* 16 MiB at 0.5 MB/s is over a 30 s exchange, and a retry sends
		 * it all again: a stalled transfer ends instead (release_easy
		 * sets these back). */
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L);
		/* Curl's low-speed check does not run while connecting. */
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, H.timeout_ms);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, H.timeout_ms / 1000 > 0 ? H.timeout_ms / 1000 : 1L);
	}
	TAILQ_INSERT_TAIL(&H.active, r, link);
	r->where = HTTP_ACTIVE;
	H.inflight++;
	H.last_active = uv_now(H.loop);
	curl_multi_add_handle(H.multi, e);
}

/* Gives r's handle back to the pool, or frees it when the pool is full or
 * the handle has options from before the last http_configure(). */
static void release_easy(struct http_req *r)
{
	if (!r->easy)
		return;
	if (r->method)
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, NULL); /* back to POST or GET */
	if (r->bulk) {
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, H.timeout_ms);
		curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 0L);
		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 0L);
	}
	if (H.npool < H.pool_cap && r->gen == H.gen) {
		H.pool[H.npool++] = r->easy;
	} else {
		curl_easy_cleanup(r->easy);
	}
	r->easy = NULL;
}

static void complete(struct http_req *r)
{
	H.last_active = uv_now(H.loop);
	release_easy(r);
	r->where = HTTP_IDLE;
	r->done(r);
}

/* Starts r, or queues it while max_inflight requests are in curl. */
static void enqueue(struct http_req *r)
{
	if (H.inflight < H.max_inflight) {
		start(r);
	} else {
		r->where = HTTP_QUEUED;
		TAILQ_INSERT_TAIL(&H.queued, r, link);
	}
}

static void on_retry_due(struct delayq_item *it)
{
	enqueue(container_of(it, struct http_req, wait));
}

/* Retries r after hint_ms (Retry-After) or a backoff, or completes it with
 * its last result when attempts or time are used up. */
static void retry_or_complete(struct http_req *r)
{
	uint64_t now = uv_now(H.loop);
	uint64_t budget = (uint64_t)H.timeout_ms * 2;
	uint64_t delay = r->retry_after_ms >= 0
				 ? (uint64_t)r->retry_after_ms
				 : backoff_delay((unsigned)r->attempts - 1, HTTP_BACKOFF_BASE_MS,
						 HTTP_BACKOFF_CAP_MS, rand32());

	int max = r->max_attempts > 0 ? r->max_attempts : HTTP_MAX_ATTEMPTS;

	if (r->attempts >= max || now + delay - r->start_ms > budget || H.stopping) {
		complete(r);
		return;
	}
	/* Not the query: a blob's pre-signed URL carries its signature there. */
	log_debug("http: retrying %.*s in %llu ms (attempt %d, %s)", (int)strcspn(r->url, "?"), r->url,
		  (unsigned long long)delay,
		  r->attempts + 1, r->status ? "HTTP status" : r->errmsg);
	release_easy(r);
	r->where = HTTP_DELAYED;
	delayq_add(&H.delayed, &r->wait, delay);
}

/* Failures where the request surely did not reach the server's application. */
static bool before_send(CURLcode c, CURL *e)
{
	long sent = 0;

	if (c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_COULDNT_RESOLVE_PROXY ||
	    c == CURLE_COULDNT_CONNECT || c == CURLE_SSL_CONNECT_ERROR)
		return true;
	curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &sent);
	return sent == 0;
}

/* Failures that will not go away by trying again. */
static bool permanent(CURLcode c)
{
	return c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE ||
	       c == CURLE_SSL_CERTPROBLEM || c == CURLE_URL_MALFORMAT ||
	       c == CURLE_UNSUPPORTED_PROTOCOL || c == CURLE_WRITE_ERROR;
}

/* What an attempt's result means under the retry policy (http.h): an
 * answer, a retry, or an end that may have reached the server. */
static void finish_attempt(struct http_req *r, CURLcode c)
{
	r->attempts++;
	r->cerr = c;
	if (c == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->status == 429 || (r->status >= 500 && r->idempotent))
			retry_or_complete(r);
		else
			complete(r);
		return;
	}
	if (!r->errmsg[0])
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", curl_easy_strerror(c));
	if (r->sends > 1 && !r->idempotent) {
		/* on_prereq stopped curl's own resend: the first one went out. */
		snprintf(r->errmsg, sizeof(r->errmsg), "the connection died before an answer came");
		r->maybe_sent = true;
		complete(r);
	} else if (permanent(c)) {
		complete(r);
	} else if (before_send(c, r->easy) || r->idempotent) {
		retry_or_complete(r);
	} else {
		r->maybe_sent = true;
		complete(r);
	}
}

/* Starts queued requests, in order, while slots are free. */
static void pump(void)
{
	struct http_req *r;

	while (H.inflight < H.max_inflight && (r = TAILQ_FIRST(&H.queued))) {
		TAILQ_REMOVE(&H.queued, r, link);
		start(r);
	}
}

/* After every action curl takes (curluv): the attempts that ended, then
 * the queue, into the slots they freed. */
static void check_done(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(H.multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct http_req *r;
		CURLcode c = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_multi_remove_handle(H.multi, msg->easy_handle);
		TAILQ_REMOVE(&H.active, r, link);
		r->where = HTTP_IDLE;
		H.inflight--;
		finish_attempt(r, c);
	}
	pump();
}

void http_configure(const struct http_opts *o)
{
	free(H.ca_file);
	H.ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
	H.timeout_ms = o->timeout_ms;
	H.max_inflight = o->max_inflight;
	/* Up to as many idle handles as requests may run at once: creating
	 * and freeing easy handles cost ~10 % of a trigger's instructions when
	 * the pool was smaller than the load (callgrind). on_trim shrinks it. */
	while (H.npool > 0)   /* idle handles carry the old options */
		curl_easy_cleanup(H.pool[--H.npool]);
	H.gen++;
	H.pool_low = 0;
	H.pool = xrealloc(H.pool, (size_t)o->max_inflight * sizeof(*H.pool));
	H.pool_cap = o->max_inflight;
}

/* Each connection costs a descriptor, and orchd's main reserved max_conns
 * of them: at the cap curl closes an idle connection to open a new one, and
 * it keeps no more idle ones warm than the cap. HTTP/2 needs one; an
 * HTTP/1.1 upstream opens one per request in flight, and each costs a TLS
 * context, hence at most HTTP_POOL_CONNS warm. */
void http_cap_conns(int max_conns)
{
	long warm = max_conns > 0 && max_conns < HTTP_POOL_CONNS ? max_conns : HTTP_POOL_CONNS;

	curl_multi_setopt(H.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_conns);
	curl_multi_setopt(H.multi, CURLMOPT_MAXCONNECTS, warm);
}

/* Frees the idle handles no request needed for a whole period: the pool
 * follows the load down after a burst (an idle handle holds ~50 KiB). */
static void on_trim(uv_timer_t *t)
{
	int n = H.pool_low < H.npool ? H.pool_low : H.npool;
	(void)t;

	for (int i = 0; i < n; i++)
		curl_easy_cleanup(H.pool[--H.npool]);
	H.pool_low = H.npool;
	if (n > 0)
		malloc_trim(0); /* and give the pages back, not just to malloc */
}

void http_init(uv_loop_t *loop, const struct http_opts *o)
{
	H.loop = loop;
	TAILQ_INIT(&H.queued);
	TAILQ_INIT(&H.active);
	http_configure(o);
	delayq_init(&H.delayed, loop, on_retry_due);
	uv_timer_init(loop, &H.trim_timer);
	uv_timer_start(&H.trim_timer, on_trim, HTTP_TRIM_MS, HTTP_TRIM_MS);
	uv_unref((uv_handle_t *)&H.trim_timer);
	H.multi = curluv_init(loop, check_done);
	curl_multi_setopt(H.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	http_cap_conns(0);
}

void http_submit(struct http_req *r)
{
	r->attempts = 0;
	r->maybe_sent = r->unprepared = false;
	r->start_ms = uv_now(H.loop);
	enqueue(r);
}

/* Takes r out of wherever it is, without calling done(). */
static void take_back(struct http_req *r)
{
	switch (r->where) {
	case HTTP_QUEUED:
		TAILQ_REMOVE(&H.queued, r, link);
		break;
	case HTTP_DELAYED:
		delayq_remove(&H.delayed, &r->wait);
		break;
	case HTTP_ACTIVE:
		TAILQ_REMOVE(&H.active, r, link);
		curl_multi_remove_handle(H.multi, r->easy);
		H.inflight--;
		/* Mid-transfer: not worth trusting for reuse. */
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		break;
	case HTTP_IDLE:
		break;
	}
	r->where = HTTP_IDLE;
}

/* Ends r now, wherever it is, as aborted; maybe_sent says whether it may
 * have left. */
static void abort_one(struct http_req *r)
{
	bool in_curl = r->where == HTTP_ACTIVE;

	take_back(r);
	r->status = 0;
	r->cerr = CURLE_ABORTED_BY_CALLBACK;
	r->maybe_sent = in_curl && r->sends > 0 && !r->idempotent;
	snprintf(r->errmsg, sizeof(r->errmsg), "%s",
		 r->maybe_sent ? "orchd stopped before the answer came" : "cancelled before it was sent");
	complete(r);
}

void http_shutdown(void)
{
	struct delayq_item *it;
	struct http_req *r;

	H.stopping = true;
	while ((r = TAILQ_FIRST(&H.queued)))
		abort_one(r);
	while ((it = delayq_pop(&H.delayed))) {
		r = container_of(it, struct http_req, wait);
		r->where = HTTP_IDLE;
		abort_one(r);
	}
}

void http_abort_all(void)
{
	struct http_req *r;

	http_shutdown();
	/* A done() may submit again (auth waiters, a lookup's next step): those
	 * land in the queue or curl and are ended by the next turn. */
	while ((r = TAILQ_FIRST(&H.active)) || (r = TAILQ_FIRST(&H.queued)))
		abort_one(r);
}

void http_cancel(struct http_req *r)
{
	take_back(r);
	pump();
}

uint64_t http_last_active(void)
{
	return H.last_active;
}

int http_inflight(void)
{
	return H.inflight;
}

void http_close(void)
{
	struct http_req *r;

	/* Owners cancelled their requests when they closed; anything left is
	 * taken back without a callback. */
	while ((r = TAILQ_FIRST(&H.active)))
		take_back(r);
	while ((r = TAILQ_FIRST(&H.queued)))
		take_back(r);
	struct delayq_item *it;
	while ((it = delayq_pop(&H.delayed)))
		container_of(it, struct http_req, wait)->where = HTTP_IDLE;
	curluv_close();
	H.multi = NULL;
	while (H.npool)
		curl_easy_cleanup(H.pool[--H.npool]);
	free(H.pool);
	H.pool = NULL;
	H.pool_cap = 0;
	delayq_close(&H.delayed);
	uv_close((uv_handle_t *)&H.trim_timer, NULL);
	free(H.ca_file);
	H.ca_file = NULL;
}
