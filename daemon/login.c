#include "login.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <uv.h>

#include "auth.h"
#include "conf.h"
#include "enc.h"
#include "http.h"
#include "log.h"
#include "oauth.h"
#include "scopes.h"

#define LOGIN_REQ_MAX 16384

static struct {
	uv_loop_t *loop;
	struct conf conf;
	char *secret;
	char *verifier, *state, *rt_path;
	char *redirect_path;           /* path part of redirect_uri */
	uv_tcp_t listener;
	bool listening;
	bool exchanging;               /* a good redirect came: its code is in use */
	uv_timer_t timeout;
	struct http_req req;
	struct curl_slist *headers;
	char *body;
	int rc;
	bool finished;
	uv_timer_t closer;
} L;

/* A URL-safe random string of n random bytes. */
static char *random_b64url(size_t n)
{
	unsigned char b[64];

	if (getrandom(b, n, 0) != (ssize_t)n)
		abort();
	char *s = enc_base64url(b, n);
	explicit_bzero(b, sizeof(b));
	return s;
}

/* The value of name in a query string (after '?' or the whole string), or NULL. */
static char *query_param(const char *q, const char *name)
{
	const char *p = strchr(q, '?');
	size_t n = strlen(name);

	for (p = p ? p + 1 : q; p && *p;) {
		size_t len = strcspn(p, "&#");
		if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			int outlen;
			char *v = curl_easy_unescape(NULL, p + n + 1, (int)(len - n - 1), &outlen);
			char *r = xstrndup(v, (size_t)outlen);
			curl_free(v);
			for (char *c = r; *c; c++)
				if (*c == '+')
					*c = ' ';
			return r;
		}
		p += len;
		if (*p != '&')
			break;
		p++;
	}
	return NULL;
}

static void stop_listening(void)
{
	if (L.listening) {
		L.listening = false;
		uv_close((uv_handle_t *)&L.listener, NULL);
	}
	if (!uv_is_closing((uv_handle_t *)&L.timeout))
		uv_close((uv_handle_t *)&L.timeout, NULL);
}

static void on_closer(uv_timer_t *t)
{
	http_close();
	uv_close((uv_handle_t *)t, NULL);
}

/* Ends the login with rc; the modules close from the loop, not from inside
 * one of their callbacks. */
static void done(int rc)
{
	if (L.finished)
		return;
	L.finished = true;
	L.rc = rc;
	stop_listening();
	uv_timer_start(&L.closer, on_closer, 0, 0);
}

/* Writes the refresh token under the file's lock (held by a daemon or
 * "orchd check" only while they spend the old token: waited for, at most
 * timeout seconds). */
static int save(const char *token)
{
	int fd = -1, rc;
	struct timespec pause = {0, 100 * 1000 * 1000};

	for (int waited = 0; (rc = file_lock(L.rt_path, &fd)) == 1; waited += 100) {
		if (waited >= L.conf.timeout * 1000) {
			errno = EWOULDBLOCK;
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	if (rc < 0 && errno != ENOENT)
		return -1;
	rc = file_write_atomic(L.rt_path, token);
	int e = errno;
	if (fd >= 0)
		close(fd);
	errno = e;
	return rc;
}

static void on_token(struct http_req *r)
{
	struct oauth_answer oa;
	enum oauth_kind kind = oauth_read(r->status, r->resp.p, r->resp.len, &oa);
	int rc = 1;

	if (r->cerr != CURLE_OK) {
		fprintf(stderr, "orchd login: cannot reach Identity at %s: %s\n", L.conf.token_url, r->errmsg);
	} else if (kind == OAUTH_ERROR) {
		fprintf(stderr, "orchd login: Identity refused the code (HTTP %ld, %s: %s): %s\n", r->status,
			oa.error, oa.error_description ? oa.error_description : "no description",
			strcmp(oa.error, "invalid_grant") == 0
				? "the code was already used, expired, or the PKCE verifier did not match: run orchd login again"
				: oauth_hint(oa.error));
	} else if (kind != OAUTH_TOKEN) {
		fprintf(stderr, "orchd login: %s answered HTTP %ld without a token: check token_url\n",
			L.conf.token_url, r->status);
	} else if (!oa.refresh_token) {
		fprintf(stderr, "orchd login: no refresh token came back: the external app must allow "
				"offline_access (user scopes, or a public app), and the grant must include it\n");
	} else if (save(oa.refresh_token) != 0) {
		fprintf(stderr, "orchd login: cannot save the refresh token to %s: %s\n", L.rt_path,
			strerror(errno));
	} else {
		char *scopes = scope_of_token(oa.access_token, oa.scope);
		printf("refresh token saved to %s\nscopes granted: %s\n"
		       "a running orchd picks it up at its next refresh, or at once on SIGHUP "
		       "(systemctl reload orchd)\n",
		       L.rt_path, scopes[0] ? scopes : "(none)");
		for (enum scope_op op = OP_RELEASES; op <= OP_START_JOBS; op++)
			if (!scope_covers(op, scopes))
				printf("warning: no scope to %s: add %s or %s\n", scope_rule(op)->what,
				       scope_rule(op)->scopes[0], scope_rule(op)->scopes[1]);
		free(scopes);
		rc = 0;
	}
	oauth_answer_free(&oa);
	if (r->resp.p)
		explicit_bzero(r->resp.p, r->resp.len);
	buf_free(&r->resp);
	curl_slist_free_all(L.headers);
	L.headers = NULL;
	secret_free(L.body);
	L.body = NULL;
	done(rc);
}

/* Checks what the redirect carried and exchanges the code. Returns NULL, or
 * what went wrong for the browser page. Only a redirect with this login's
 * state counts: any local process, or any page the browser loads, can send
 * one, so a forged or stale redirect (an error or a wrong state) is refused
 * and logged, and the listener goes on waiting for the right one. Only
 * with a pasted address (--no-listen) does it end the login. */
static const char *redirected(const char *target)
{
	char *error = query_param(target, "error");
	char *code = query_param(target, "code");
	char *state = query_param(target, "state");
	const char *problem = NULL;
	char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX];

	if (!state || strcmp(state, L.state) != 0) {
		char *desc = query_param(target, "error_description");
		fprintf(stderr, "orchd login: refused a redirect whose state does not match this login "
				"(stale or forged)%s%s%s%s%s\n",
			error ? ", error " : "", error ? log_quote(q1, error) : "", desc ? ": " : "",
			desc ? log_quote(q2, desc) : "", L.listening ? "; still waiting" : "");
		free(desc);
		problem = "The state did not match this login: refused.";
	} else if (error) {
		char *desc = query_param(target, "error_description");
		fprintf(stderr, "orchd login: the sign-in failed: %s%s%s%s\n", log_quote(q1, error),
			desc ? ": " : "", desc ? log_quote(q2, desc) : "", L.listening ? "; still waiting" : "");
		free(desc);
		problem = "The sign-in failed; see the terminal.";
	} else if (!code || !code[0]) {
		fprintf(stderr, "orchd login: the redirect carries no code\n");
		problem = "The redirect carried no code.";
	}
	/* Only a pasted address, which cannot be waited for again, ends it. */
	bool ends = !L.listening;
	free(error);
	free(state);
	if (problem) {
		free(code);
		if (ends)
			done(1);
		return problem;
	}
	/* One exchange: no second redirect (a reload) may reach it. */
	L.exchanging = true;
	stop_listening();
	struct buf b = {0};
	enc_form_add(&b, "grant_type", "authorization_code");
	enc_form_add(&b, "code", code);
	enc_form_add(&b, "redirect_uri", L.conf.redirect_uri);
	enc_form_add(&b, "client_id", L.conf.client_id);
	enc_form_add(&b, "code_verifier", L.verifier);
	if (L.secret)
		enc_form_add(&b, "client_secret", L.secret);
	L.body = buf_steal(&b);
	http_form_post(&L.req, L.conf.token_url, L.body, &L.headers);
	L.req.done = on_token;
	/* A code is single use: never send it twice. */
	L.req.idempotent = false;
	http_submit(&L.req);
	free(code);
	return NULL;
}

/* ---- the loopback listener: one small HTTP/1.x exchange per connection. */

struct visit {
	uv_tcp_t tcp;
	struct buf in;
	uv_write_t w;
	char *out;
};

static void on_visit_closed(uv_handle_t *h)
{
	struct visit *v = h->data;
	buf_free(&v->in);
	free(v->out);
	free(v);
}

static void on_visit_written(uv_write_t *w, int status)
{
	(void)status;
	uv_close((uv_handle_t *)w->handle, on_visit_closed);
}

static void reply(struct visit *v, int status, const char *text)
{
	const char *page = "<!doctype html><meta charset=utf-8><title>orchd login</title>"
			   "<body style=\"font-family:sans-serif\"><h1>orchd login</h1><p>%s</p>";
	char *body = xasprintf(page, text);
	v->out = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
			   "Content-Length: %zu\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n%s",
			   status, status == 200 ? "OK" : status == 404 ? "Not Found" : status == 409 ? "Conflict" : "Bad Request",
			   strlen(body), body);
	free(body);
	uv_buf_t b = uv_buf_init(v->out, (unsigned)strlen(v->out));
	uv_read_stop((uv_stream_t *)&v->tcp);
	if (uv_write(&v->w, (uv_stream_t *)&v->tcp, &b, 1, on_visit_written) != 0)
		uv_close((uv_handle_t *)&v->tcp, on_visit_closed);
}

static void on_visit_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char chunk[4096];
	(void)h;
	(void)hint;
	*b = uv_buf_init(chunk, sizeof(chunk));
}

static void on_visit_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct visit *v = s->data;

	if (n < 0) {
		uv_close((uv_handle_t *)&v->tcp, on_visit_closed);
		return;
	}
	buf_add(&v->in, b->base, (size_t)n);
	if (v->in.len > LOGIN_REQ_MAX) {
		reply(v, 400, "Request too large.");
		return;
	}
	if (!strstr(v->in.p, "\r\n\r\n") && !strstr(v->in.p, "\n\n"))
		return;
	/* "GET <target> HTTP/1.1" */
	char *sp1 = strchr(v->in.p, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (strncmp(v->in.p, "GET ", 4) != 0 || !sp2) {
		reply(v, 400, "Not a GET request.");
		return;
	}
	*sp2 = '\0';
	const char *target = sp1 + 1;
	size_t plen = strcspn(target, "?");
	if (plen != strlen(L.redirect_path) || strncmp(target, L.redirect_path, plen) != 0) {
		reply(v, 404, "Not the redirect this login waits for.");
		return;
	}
	if (!L.listening) {
		reply(v, 409, L.exchanging ? "This login already has its code; see the terminal."
					   : "This login has ended.");
		return;
	}
	const char *problem = redirected(target);
	reply(v, problem ? 400 : 200,
	      problem ? problem : "Signed in. orchd has the code; you may close this window.");
}

static void on_visit(uv_stream_t *l, int status)
{
	if (status < 0)
		return;
	struct visit *v = xcalloc(1, sizeof(*v));
	uv_tcp_init(L.loop, &v->tcp);
	v->tcp.data = v;
	if (uv_accept(l, (uv_stream_t *)&v->tcp) != 0) {
		uv_close((uv_handle_t *)&v->tcp, on_visit_closed);
		return;
	}
	uv_read_start((uv_stream_t *)&v->tcp, on_visit_alloc, on_visit_read);
}

static void on_timeout(uv_timer_t *t)
{
	(void)t;
	fprintf(stderr, "orchd login: no redirect reached %s in time: was the URL opened on this host? "
			"On a headless server, use --no-listen and paste the address instead\n",
		L.conf.redirect_uri);
	done(1);
}

/* Listens on the loopback address of redirect_uri. */
static int listen_redirect(int timeout_s)
{
	char host[64];
	int port = 0;
	const char *u = L.conf.redirect_uri;
	struct sockaddr_storage sa;

	/* conf_load let only a loopback http:// address through. */
	const char *h = u + 7, *end = h + strcspn(h, "/");
	const char *colon = memrchr(h, ':', (size_t)(end - h));
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		colon = rb && rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		snprintf(host, sizeof(host), "%.*s", rb ? (int)(rb - h - 1) : 0, h + 1);
	} else {
		snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : end) - h), h);
	}
	port = colon ? atoi(colon + 1) : 80;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	L.redirect_path = xstrdup(*end ? end : "/");
	L.redirect_path[strcspn(L.redirect_path, "?#")] = '\0';
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0) {
		fprintf(stderr, "orchd login: redirect_uri host \"%s\" is not a loopback address\n", host);
		return -1;
	}
	uv_tcp_init(L.loop, &L.listener);
	int rc = uv_tcp_bind(&L.listener, (struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&L.listener, 16, on_visit);
	L.listening = true;
	if (rc != 0) {
		fprintf(stderr, "orchd login: cannot listen on %s: %s\n", u, uv_strerror(rc));
		return -1;
	}
	uv_timer_start(&L.timeout, on_timeout, (uint64_t)timeout_s * 1000, 0);
	return 0;
}

int login_run(const struct login_opts *o)
{
	struct buf errs = {0};
	char err[512];

	memset(&L, 0, sizeof(L));
	L.rc = 1;
	if (conf_load(o->config, &L.conf, &errs) != 0) {
		fputs(errs.p, stderr);
		buf_free(&errs);
		conf_free(&L.conf);
		return 1;
	}
	buf_free(&errs);
	if (L.conf.grant != GRANT_REFRESH_TOKEN) {
		fprintf(stderr, "orchd login: %s has grant = client_credentials, which needs no login; "
				"set grant = refresh_token for an app with user scopes\n", o->config);
		conf_free(&L.conf);
		return 1;
	}
	if (!L.conf.authorize_url) {
		fprintf(stderr, "orchd login: cannot derive the authorize URL from token_url %s: set "
				"[auth] authorize_url\n", L.conf.token_url);
		conf_free(&L.conf);
		return 1;
	}
	if (conf_read_secret(&L.conf, &L.secret, err, sizeof(err)) != 0) {
		fprintf(stderr, "orchd login: %s\n", err);
		conf_free(&L.conf);
		return 1;
	}
	L.rt_path = xstrdup(L.conf.refresh_token_file);
	L.verifier = random_b64url(32);
	L.state = random_b64url(16);
	char *challenge = enc_pkce_challenge(L.verifier);
	char *scope = scope_has(L.conf.scope, "offline_access") ? xstrdup(L.conf.scope)
								 : xasprintf("%s offline_access", L.conf.scope);
	struct buf q = {0};
	enc_form_add(&q, "response_type", "code");
	enc_form_add(&q, "client_id", L.conf.client_id);
	enc_form_add(&q, "scope", scope);
	enc_form_add(&q, "redirect_uri", L.conf.redirect_uri);
	enc_form_add(&q, "code_challenge", challenge);
	enc_form_add(&q, "code_challenge_method", "S256");
	enc_form_add(&q, "state", L.state);
	/* Some OpenID servers drop offline_access without an explicit consent. */
	enc_form_add(&q, "prompt", "consent");
	L.loop = uv_default_loop();
	struct http_opts ho = {L.conf.ca_file, (long)L.conf.timeout * 1000, 4};
	http_init(L.loop, &ho);
	uv_timer_init(L.loop, &L.timeout);
	uv_timer_init(L.loop, &L.closer);
	/* Listening before the address is shown: a browser quicker than us
	 * must not find the port closed. */
	bool listening = !o->no_listen && listen_redirect(o->timeout_s > 0 ? o->timeout_s : 300) == 0;
	if (o->no_listen || listening) {
		printf("Open this address in a browser and sign in:\n\n  %s%s%s\n\n", L.conf.authorize_url,
		       strchr(L.conf.authorize_url, '?') ? "&" : "?", q.p);
		fflush(stdout);
	}
	buf_free(&q);
	free(challenge);
	free(scope);
	if (o->no_listen) {
		char line[8192];
		printf("Then paste here the address the browser was sent to (it starts with %s):\n",
		       L.conf.redirect_uri);
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin)) {
			fprintf(stderr, "orchd login: no address read\n");
			done(1);
		} else {
			line[strcspn(line, "\r\n")] = '\0';
			redirected(line);
		}
	} else if (!listening) {
		done(1);
	} else {
		printf("Waiting for the browser at %s ...\n", L.conf.redirect_uri);
		fflush(stdout);
	}
	uv_run(L.loop, UV_RUN_DEFAULT);
	int rc = L.rc;
	if (uv_loop_close(L.loop) != 0)
		rc = 1;
	secret_free(L.secret);
	secret_free(L.verifier);
	free(L.state);
	free(L.rt_path);
	free(L.redirect_path);
	conf_free(&L.conf);
	return rc;
}
