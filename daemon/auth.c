#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "enc.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "scopes.h"
#include "tokenfile.h"

#define AUTH_TERMINAL_RETRY_MS (300 * 1000)
/* Once failing: one request per try, tries 2 s, 4, 8, ... 60 s apart. */
#define AUTH_RETRY_BASE_MS 2000
#define AUTH_RETRY_CAP_MS 60000
#define AUTH_LOCK_POLL_MS 100

TAILQ_HEAD(auth_list, auth_wait);

static struct {
	uv_loop_t *loop;
	char *token_url, *client_id, *scope;  /* our copies: a reload frees the conf */
	void (*on_outcome)(void);     /* after each request's outcome */
	char *secret;

	char *token;
	char *scopes;
	unsigned gen;
	uint64_t valid_until;         /* loop ms; 0 = no token */

	bool fetching;                /* from lock to answer */
	bool stopping;
	uint64_t fetch_started;       /* when the request in flight left */
	uint64_t obtained_at;         /* when the current token's request left */
	uint64_t next_try;            /* loop ms of the next attempt, after a failure */
	uint64_t lock_since;          /* the token file's lock (tokenfile.h) asked for */
	uint64_t lock_wait_ms;        /* at most this long ([orchestrator] timeout) */
	uv_timer_t lock_timer;
	struct http_req req;
	struct curl_slist *headers;
	char *body;

	uv_timer_t timer;             /* next refresh or retry */
	uv_timer_t flush_timer;       /* answers waiters outside the caller */
	struct auth_list waiters;

	enum proto_code fail_code;    /* PC_OK when the last request succeeded */
	enum auth_failure fail_kind;
	char oauth_error[64];         /* "invalid_scope", ... with AF_OAUTH */
	char fail_msg[512];
	unsigned failures;            /* consecutive */
	unsigned long refreshes;
} A;

static void fetch(void);

static void flush_waiters(void)
{
	struct auth_list ready = TAILQ_HEAD_INITIALIZER(ready);
	struct auth_wait *w;
	unsigned gen;
	const char *tok = auth_token(&gen);

	/* Detach first: callbacks may queue new waiters. */
	TAILQ_CONCAT(&ready, &A.waiters, link);
	while ((w = TAILQ_FIRST(&ready))) {
		TAILQ_REMOVE(&ready, w, link);
		w->queued = false;
		if (tok) {
			w->cb(w, tok, gen, PC_OK, NULL);
		} else {
			char msg[sizeof(A.fail_msg) + 64];
			uint64_t now = uv_now(A.loop);
			snprintf(msg, sizeof(msg), "%s", A.fail_msg[0] ? A.fail_msg : "no access token");
			if (A.fail_code == PC_UNAVAILABLE && A.next_try > now)
				snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
					 "; next token request in %llu s",
					 (unsigned long long)(A.next_try - now + 999) / 1000);
			w->cb(w, NULL, 0, A.fail_code ? A.fail_code : PC_UNAVAILABLE, msg);
		}
	}
}

static void on_flush_timer(uv_timer_t *t)
{
	unsigned gen;

	(void)t;
	/* The retry may have started since the timer was set: its end answers. */
	if (A.fetching && !auth_token(&gen))
		return;
	flush_waiters();
}

static void on_timer(uv_timer_t *t)
{
	(void)t;
	if (!A.fetching)
		fetch();
}

static void schedule(uint64_t ms)
{
	uv_timer_start(&A.timer, on_timer, ms, 0);
}

/* Records a failed token request and decides when to try again. */
static void fail(enum proto_code code, bool terminal, enum auth_failure kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail(enum proto_code code, bool terminal, enum auth_failure kind, const char *fmt, ...)
{
	va_list ap;

	A.fail_kind = kind;

	va_start(ap, fmt);
	vsnprintf(A.fail_msg, sizeof(A.fail_msg), fmt, ap);
	va_end(ap);
	A.fail_code = code;
	A.failures++;
	A.fetching = false;
	tokenfile_unlock();
	uint64_t delay = terminal ? AUTH_TERMINAL_RETRY_MS
				  : backoff_doubling(A.failures - 1, AUTH_RETRY_BASE_MS, AUTH_RETRY_CAP_MS,
						     rand32());
	A.next_try = uv_now(A.loop) + delay;
	if (A.stopping) {
		A.next_try = 0;
	} else {
		log_err("auth: %s (next attempt in %llu s)", A.fail_msg,
			(unsigned long long)(delay + 999) / 1000);
		schedule(delay);
		if (A.on_outcome)
			A.on_outcome();
	}
	flush_waiters();
}

static void use_token(const char *access, double expires_in, const char *scope)
{
	uint64_t life = (uint64_t)(expires_in * 1000);
	/* JWT exp is in whole seconds: the real life can be up to 1 s shorter. */
	uint64_t margin = life / 10 < 1000 ? life / 10 : 1000;

	secret_free(A.token);
	A.token = xstrdup(access);
	free(A.scopes);
	A.scopes = scope_of_token(access, scope);
	A.gen++;
	/* Counted from when the request left, the earliest the server could
	 * have started the clock. */
	A.obtained_at = A.fetch_started;
	A.valid_until = A.fetch_started + life - margin;
	A.next_try = 0;
	A.fail_code = PC_OK;
	A.fail_kind = AF_NONE;
	A.fail_msg[0] = '\0';
	A.failures = 0;
	A.refreshes++;
	schedule(backoff_refresh_at(life, rand32()));
	log_info("auth: new access token, valid %.0f s, scopes: %s", expires_in,
		 A.scopes[0] ? A.scopes : "(none)");
	if (A.scope) {
		/* Some servers silently drop scopes they will not grant. */
		char *want = xstrdup(A.scope), *save = NULL;
		for (char *s = strtok_r(want, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
			if (strcmp(s, "offline_access") == 0)
				continue;
			if (!scope_has(A.scopes, s))
				log_warn("auth: scope %s was asked for but not granted", s);
		}
		free(want);
	}
	if (A.on_outcome)
		A.on_outcome();
	flush_waiters();
}

static void on_token(struct http_req *r)
{
	struct oauth_answer oa = {0};

	curl_slist_free_all(A.headers);
	A.headers = NULL;
	secret_free(A.body);
	A.body = NULL;

	if (r->cerr == CURLE_ABORTED_BY_CALLBACK) {
		fail(PC_SHUTDOWN, false, AF_STOPPING, "orchd is stopping; nothing was sent");
		goto out;
	}
	if (r->cerr != CURLE_OK) {
		fail(PC_UNAVAILABLE, false, AF_UNREACHABLE, "cannot reach Identity at %s: %s", A.token_url,
		     r->errmsg);
		goto out;
	}
	switch (oauth_read(r->status, r->resp.p, r->resp.len, &oa)) {
	case OAUTH_TOKEN:
		/* The old refresh token is dead from now on: keep the new one in
		 * memory whatever happens, and on disk before going on. */
		if (tokenfile_path() && oa.refresh_token && tokenfile_rotate(oa.refresh_token) != 0) {
			fail(PC_AUTH, false, AF_SAVE,
			     "cannot save the rotated refresh token to %s: %s; the new access token "
			     "is not used (fail closed) until it can be saved",
			     tokenfile_path(), strerror(errno));
			goto out;
		}
		A.fetching = false;
		tokenfile_unlock();
		use_token(oa.access_token, oa.expires_in, oa.scope);
		break;
	case OAUTH_ERROR: {
		bool terminal = r->status >= 400 && r->status < 500 && r->status != 429;
		snprintf(A.oauth_error, sizeof(A.oauth_error), "%s", oa.error);
		char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX];
		fail(terminal ? PC_AUTH : PC_UNAVAILABLE, terminal, AF_OAUTH,
		     "Identity refused the token request (HTTP %ld, %s: %s): %s", r->status,
		     log_quote(q1, oa.error), oa.error_description ? log_quote(q2, oa.error_description)
								   : "no description",
		     oauth_hint(oa.error));
		break;
	}
	case OAUTH_OTHER:
		if (r->status == 429 || r->status >= 500)
			fail(PC_UNAVAILABLE, false, AF_HTTP, "Identity answered HTTP %ld", r->status);
		else
			fail(PC_AUTH, true, AF_NOT_OAUTH,
			     "%s answered HTTP %ld without an OAuth answer: check token_url (Automation "
			     "Cloud: https://cloud.uipath.com/identity_/connect/token; Automation Suite: "
			     "https://HOST/identity_/connect/token; standalone: "
			     "https://HOST/identity/connect/token)",
			     A.token_url, r->status);
		break;
	}
out:
	oauth_answer_free(&oa);
	if (r->resp.p)
		explicit_bzero(r->resp.p, r->resp.len);
	buf_free(&r->resp);
}

static void fetch_locked(void);

static void on_lock_timer(uv_timer_t *t)
{
	(void)t;
	fetch_locked();
}

static void fetch(void)
{
	uv_timer_stop(&A.timer);
	if (A.stopping)
		return;
	A.fetching = true;
	A.lock_since = uv_now(A.loop);
	fetch_locked();
}

/* Takes the token file's lock (grant = refresh_token), then sends the
 * token request. A lock held elsewhere ("orchd check", "orchd login") is
 * tried again every AUTH_LOCK_POLL_MS from the loop, for lock_wait_ms. */
static void fetch_locked(void)
{
	struct buf b = {0};

	if (tokenfile_path()) {
		char why[sizeof(A.fail_msg)];
		enum auth_failure kind;
		int rc = tokenfile_take(why, sizeof(why), &kind);
		if (rc == 1 && uv_now(A.loop) - A.lock_since < A.lock_wait_ms) {
			uv_timer_start(&A.lock_timer, on_lock_timer, AUTH_LOCK_POLL_MS, 0);
			return;
		}
		if (rc == 1) {
			fail(PC_UNAVAILABLE, false, AF_TEMPORARY,
			     "the refresh token file %s stayed locked for %llu s (orchd check or orchd "
			     "login?)", tokenfile_path(), (unsigned long long)A.lock_wait_ms / 1000);
			return;
		}
		if (rc < 0) {
			fail(kind == AF_TEMPORARY ? PC_UNAVAILABLE : PC_AUTH, kind == AF_NO_REFRESH_TOKEN,
			     kind, "%s", why);
			return;
		}
		enc_form_add(&b, "grant_type", "refresh_token");
		enc_form_add(&b, "client_id", A.client_id);
		enc_form_add(&b, "refresh_token", tokenfile_token());
	} else {
		enc_form_add(&b, "grant_type", "client_credentials");
		enc_form_add(&b, "client_id", A.client_id);
		if (A.scope)
			enc_form_add(&b, "scope", A.scope);
	}
	if (A.secret)
		enc_form_add(&b, "client_secret", A.secret);
	A.body = buf_steal(&b);
	http_form_post(&A.req, A.token_url, A.body, &A.headers);
	/* One attempt: the backoff above is the retry. A refresh whose answer
	 * was lost is saved by the next try with the same token, so token
	 * requests count as idempotent (a 5xx is no sign of a spent token). */
	A.req.idempotent = true;
	A.req.max_attempts = 1;
	A.req.done = on_token;
	A.fetch_started = uv_now(A.loop);
	http_submit(&A.req);
}

static void configure(const struct conf *conf, char *secret)
{
	free(A.token_url);
	free(A.client_id);
	free(A.scope);
	secret_free(A.secret);
	A.token_url = xstrdup(conf->token_url);
	A.client_id = xstrdup(conf->client_id);
	A.scope = conf->scope ? xstrdup(conf->scope) : NULL;
	A.secret = secret;
	A.lock_wait_ms = (uint64_t)conf->timeout * 1000;
	tokenfile_use(conf->grant == GRANT_REFRESH_TOKEN ? conf->refresh_token_file : NULL);
}

void auth_init(uv_loop_t *loop, const struct conf *conf, char *secret, void (*on_outcome)(void))
{
	memset(&A, 0, sizeof(A));
	A.loop = loop;
	A.on_outcome = on_outcome;
	TAILQ_INIT(&A.waiters);
	uv_timer_init(loop, &A.timer);
	uv_timer_init(loop, &A.flush_timer);
	uv_timer_init(loop, &A.lock_timer);
	configure(conf, secret);
	fetch();
}

void auth_reload(const struct conf *conf, char *secret)
{
	if (!A.fetching)
		tokenfile_unlock();   /* (held only while fetching) */
	configure(conf, secret);  /* (an unsaved rotation: tokenfile_use) */
	/* A fresh token proves the new settings; the current one stays in use
	 * until it comes. A request already in flight finishes first. */
	if (!A.fetching)
		fetch();
}

void auth_abort(void)
{
	A.stopping = true;
	uv_timer_stop(&A.timer);
	if (uv_is_active((uv_handle_t *)&A.lock_timer)) {
		uv_timer_stop(&A.lock_timer);
		fail(PC_SHUTDOWN, false, AF_STOPPING, "orchd is stopping; nothing was sent");
	}
}

void auth_close(void)
{
	/* Pending waiters belong to callers that close after us (they were
	 * set up first): unqueued, so that their auth_cancel is a no-op. A
	 * token request in flight is ours to take back. */
	struct auth_wait *w;
	while ((w = TAILQ_FIRST(&A.waiters))) {
		TAILQ_REMOVE(&A.waiters, w, link);
		w->queued = false;
	}
	http_cancel(&A.req);
	tokenfile_close();
	uv_close((uv_handle_t *)&A.timer, NULL);
	uv_close((uv_handle_t *)&A.flush_timer, NULL);
	uv_close((uv_handle_t *)&A.lock_timer, NULL);
	curl_slist_free_all(A.headers);
	secret_free(A.body);
	secret_free(A.secret);
	free(A.token_url);
	free(A.client_id);
	free(A.scope);
	secret_free(A.token);
	free(A.scopes);
	buf_free(&A.req.resp);
	A.headers = NULL;
	A.body = A.secret = A.token = A.scopes = NULL;
	A.token_url = A.client_id = A.scope = NULL;
}

const char *auth_token(unsigned *gen)
{
	if (!A.token || uv_now(A.loop) >= A.valid_until)
		return NULL;
	*gen = A.gen;
	return A.token;
}

void auth_wait(struct auth_wait *w)
{
	unsigned gen;

	TAILQ_INSERT_TAIL(&A.waiters, w, link);
	w->queued = true;
	if (A.fetching)
		return;
	/* After a failure the waiter gets the failure at once while the backoff
	 * runs; once it is over (the retry timer may be due this very turn) it
	 * waits for the attempt instead of an answer naming no retry. */
	if (auth_token(&gen) || (A.fail_code != PC_OK && (A.stopping || A.next_try > uv_now(A.loop))))
		uv_timer_start(&A.flush_timer, on_flush_timer, 0, 0);
	else
		fetch();
}

void auth_cancel(struct auth_wait *w)
{
	if (w->queued) {
		TAILQ_REMOVE(&A.waiters, w, link);
		w->queued = false;
	}
}

void auth_invalidate(unsigned gen)
{
	if (gen != A.gen || !A.token)
		return;
	log_info("auth: Orchestrator refused the access token; fetching a new one");
	A.valid_until = 0;
	if (!A.fetching)
		fetch();
}

uint64_t auth_age(unsigned gen)
{
	return gen == A.gen && A.token ? uv_now(A.loop) - A.obtained_at : UINT64_MAX;
}

const char *auth_scopes(void)
{
	return A.scopes ? A.scopes : "";
}

const char *auth_last_error(void)
{
	return A.fail_code != PC_OK ? A.fail_msg : NULL;
}

enum auth_failure auth_failure(const char **oauth_error)
{
	if (oauth_error)
		*oauth_error = A.oauth_error;
	return A.fail_code != PC_OK ? A.fail_kind : AF_NONE;
}

unsigned long auth_refresh_count(void)
{
	return A.refreshes;
}
