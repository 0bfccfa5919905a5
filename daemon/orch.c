#include "orch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enc.h"
#include "log.h"

#define ORCH_FRESH_MS 60000

static struct {
	char *base;
	/* "Authorization: Bearer <token>", built once per token (a JWT is
	 * ~1 KB: formatting it per request showed in the profile). */
	char *auth_line;
	unsigned auth_line_gen;
} O;

void orch_init(const char *base_url)
{
	O.base = xstrdup(base_url);
}

void orch_close(void)
{
	free(O.base);
	secret_free(O.auth_line);
	O.base = O.auth_line = NULL;
}

const char *orch_base(void)
{
	return O.base;
}

static void finish(struct orch_call *c, enum proto_code code)
{
	c->code = code;
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	buf_free(&c->http.resp);
	c->done(c);
}

/* Reads Orchestrator's error envelope: {"message":..,"errorCode":..} or the
 * ABP form {"error":{"message":..,"details":..}}. */
static void read_error(struct orch_call *c, const char *what)
{
	cJSON *j = cJSON_ParseWithLength(c->http.resp.p ? c->http.resp.p : "", c->http.resp.len);
	cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
	cJSON *ec = cJSON_GetObjectItemCaseSensitive(j, "errorCode");
	cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
	cJSON *det = cJSON_GetObjectItemCaseSensitive(err, "details");

	/* Orchestrator's codes are small; anything else is no code (and a
	 * cast of -1e300 would be undefined). */
	c->error_code = cJSON_IsNumber(ec) && ec->valuedouble >= 0 && ec->valuedouble < 1e9
				? (long)ec->valuedouble : -1;
	snprintf(c->msg, sizeof(c->msg), "%s: HTTP %ld, errorCode %ld: %s%s%s", what, c->status,
		 c->error_code,
		 cJSON_IsString(m) ? m->valuestring : "(no message)",
		 cJSON_IsString(det) ? " " : "", cJSON_IsString(det) ? det->valuestring : "");
	cJSON_Delete(j);
}

static void on_http(struct http_req *h)
{
	struct orch_call *c = h->data;
	long st = h->status;

	c->status = st;
	c->error_code = -1;
	c->retry_after_ms = h->retry_after_ms;
	if (h->unprepared) {
		/* The token expired while the request waited: wait for a new one
		 * (set_headers() replaces the header list then). */
		orch_send(c);
	} else if (h->cerr == CURLE_ABORTED_BY_CALLBACK && !h->maybe_sent) {
		snprintf(c->msg, sizeof(c->msg), "orchd is stopping; nothing was sent");
		finish(c, PC_SHUTDOWN);
	} else if (h->cerr != CURLE_OK) {
		if (h->maybe_sent) {
			snprintf(c->msg, sizeof(c->msg),
				 "the request was sent to Orchestrator but no answer came (%s)", h->errmsg);
			finish(c, PC_UNKNOWN);
		} else if (h->cerr == CURLE_PEER_FAILED_VERIFICATION) {
			snprintf(c->msg, sizeof(c->msg),
				 "TLS verification of Orchestrator failed (%s): for a private CA set [orchestrator] ca_file",
				 h->errmsg);
			finish(c, PC_UNAVAILABLE);
		} else {
			snprintf(c->msg, sizeof(c->msg), "cannot reach Orchestrator after %d attempts: %s",
				 h->attempts, h->errmsg);
			finish(c, PC_UNAVAILABLE);
		}
	} else if (st >= 200 && st < 300) {
		c->json = cJSON_ParseWithLength(h->resp.p ? h->resp.p : "", h->resp.len);
		finish(c, PC_OK);
	} else if (!c->reauthed && (st == 401 || (st == 403 && auth_age(c->gen) > ORCH_FRESH_MS))) {
		/* 401: the token is dead. 403 with a token older than a minute:
		 * the app's scopes may have changed since; a fresh token tells. */
		c->reauthed = true;
		auth_invalidate(c->gen);
		orch_send(c);
	} else if (st == 401 || st == 403) {
		char fb[FOLDER_NAME_MAX];
		scope_explain(scope_endpoint(c->ep)->op, auth_scopes(),
			      c->folder.path || c->folder.id > 0 ? folder_name(&c->folder, fb) : NULL, c->msg,
			      sizeof(c->msg));
		finish(c, PC_SCOPE);
	} else if (st == 429 || st >= 500) {
		if (st >= 500 && !c->http.idempotent) {
			snprintf(c->msg, sizeof(c->msg),
				 "Orchestrator answered HTTP %ld: the request may have been carried out", st);
			finish(c, PC_UNKNOWN);
		} else {
			snprintf(c->msg, sizeof(c->msg), "Orchestrator answered HTTP %ld after %d attempts%s",
				 st, h->attempts, st == 429 ? " (rate limited)" : "");
			finish(c, PC_UNAVAILABLE);
		}
	} else {
		read_error(c, "Orchestrator refused the request");
		char fb[FOLDER_NAME_MAX];
		if (c->subject && (st == 404 || c->error_code == 1002)) {
			snprintf(c->msg, sizeof(c->msg), "no %s in folder \"%s\"", c->subject,
				 folder_name(&c->folder, fb));
			finish(c, PC_NOT_FOUND);
		} else if (c->error_code == 1100 || c->error_code == 1101) {
			char m[sizeof(c->msg)];
			snprintf(m, sizeof(m), "folder \"%s\": %s (check the folder path and that the external app has a role in it)",
				 folder_name(&c->folder, fb), c->msg);
			memcpy(c->msg, m, sizeof(m));
			finish(c, PC_FOLDER);
		} else {
			finish(c, PC_REJECTED);
		}
	}
}

static void set_headers(struct orch_call *c, const char *token, unsigned gen)
{
	if (!O.auth_line || O.auth_line_gen != gen) {
		secret_free(O.auth_line);
		O.auth_line = xasprintf("Authorization: Bearer %s", token);
		O.auth_line_gen = gen;
	}
	curl_slist_free_all(c->headers);
	c->gen = gen;
	c->headers = curl_slist_append(NULL, O.auth_line);
	c->headers = curl_slist_append(c->headers, "Accept: application/json");
	if (c->folder_hdr)
		c->headers = curl_slist_append(c->headers, c->folder_hdr);
	if (c->body)
		c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
	c->http.headers = c->headers;
}

/* Before every attempt: never send a token that is no longer valid. */
static bool prepare(struct http_req *h)
{
	struct orch_call *c = h->data;
	unsigned gen;
	const char *tok = auth_token(&gen);

	if (!tok)
		return false;
	if (gen != c->gen)
		set_headers(c, tok, gen);
	return true;
}

static void submit(struct orch_call *c, const char *token, unsigned gen)
{
	set_headers(c, token, gen);
	c->http.url = c->url;
	c->http.body = c->body;
	c->http.idempotent = c->body == NULL || c->repeatable;
	c->http.max_attempts = c->max_attempts;
	c->http.prepare = prepare;
	c->http.done = on_http;
	c->http.data = c;
	http_submit(&c->http);
}

static void on_auth(struct auth_wait *w, const char *token, unsigned gen, enum proto_code code,
		    const char *msg)
{
	struct orch_call *c = w->data;

	if (token) {
		submit(c, token, gen);
	} else {
		c->status = 0;
		c->error_code = -1;
		snprintf(c->msg, sizeof(c->msg), "%s", msg);
		finish(c, code);
	}
}

/* The URL and folder header of c, from the endpoint table. */
static void build(struct orch_call *c)
{
	const char *path = scope_endpoint(c->ep)->path, *id = strchr(path, '{'); /* "{Id}", "{Key}" */
	size_t nb = strlen(O.base), np = strlen(path), nq = c->query ? strlen(c->query) : 0;
	size_t nk = c->key ? strlen(c->key) : 0;
	/* One allocation of the size needed, no printf: every call pays it. */
	char *u = xmalloc(nb + np + nq + nk + 24), *p = mempcpy(u, O.base, nb);

	if (id) {
		p = mempcpy(p, path, (size_t)(id - path));
		if (id[1] == 'K') {
			p = mempcpy(p, c->key, nk);
			p = stpcpy(p, id + 5);
		} else {
			p += sprintf(p, "%lld", (long long)c->id);
			p = stpcpy(p, id + 4);
		}
	} else {
		p = mempcpy(p, path, np);
	}
	if (c->query) {
		*p++ = '?';
		p = mempcpy(p, c->query, nq);
	}
	*p = '\0';
	c->url = u;
	if (c->folder.id > 0 || c->folder.path)
		c->folder_hdr = enc_folder_header(c->folder.path, c->folder.id);
}

void orch_send(struct orch_call *c)
{
	unsigned gen;
	const char *tok;

	c->json = NULL;
	if (!c->url) {
		build(c);
		if (c->folder.path && c->folder.id <= 0 && !c->folder_hdr) {
			/* Not UTF-8: proto and conf refuse such paths first, so
			 * this is the one answer before orch_send returns. */
			c->status = 0;
			c->error_code = -1;
			snprintf(c->msg, sizeof(c->msg), "folder path \"%s\" is not valid UTF-8", c->folder.path);
			finish(c, PC_FOLDER);
			return;
		}
	}
	tok = auth_token(&gen);
	if (tok) {
		submit(c, tok, gen);
		return;
	}
	c->aw.cb = on_auth;
	c->aw.data = c;
	auth_wait(&c->aw);
}

void orch_call_reset(struct orch_call *c)
{
	free(c->url);
	free(c->folder_hdr);
	free(c->query);
	free(c->body);
	cJSON_Delete(c->json);
	curl_slist_free_all(c->headers);
	buf_free(&c->http.resp);
	c->url = c->folder_hdr = c->query = c->body = NULL;
	/* What one call said of itself is not the next one's. */
	c->subject = NULL;
	c->id = 0;
	c->key = NULL;
	c->repeatable = false;
	c->max_attempts = 0;
	c->json = NULL;
	c->headers = NULL;
	c->reauthed = false;
}

void orch_cancel(struct orch_call *c)
{
	auth_cancel(&c->aw);
	http_cancel(&c->http);
	orch_call_reset(c);
}
