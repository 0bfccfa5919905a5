#include "attach.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "scopes.h"

#define ATTACH_MAX_URI 8192
#define ATTACH_MAX_NAME 128
#define ATTACH_MAX_VALUE 4096

static struct {
	size_t max_output;
	bool stopping;
	int blobs;                       /* slots of ATTACH_MAX_BLOB taken */
	TAILQ_HEAD(, attach) waiting;    /* for a slot, in order */
	int nwaiting;
	unsigned long uploaded, downloaded, failed;
} A = {.max_output = ATTACH_DEFAULT_MAX_OUTPUT, .waiting = TAILQ_HEAD_INITIALIZER(A.waiting)};

static void blob_send(struct attach *a);
static void finish(struct attach *a, enum proto_code code);

/* Gives a's slot back, or takes it out of the line for one. */
static void release_slot(struct attach *a)
{
	if (a->queued) {
		TAILQ_REMOVE(&A.waiting, a, link);
		A.nwaiting--;
	}
	if (a->slot)
		A.blobs--;
	a->queued = a->slot = false;
}

/* Slots free: the next in line go. */
static void pump(void)
{
	struct attach *w;

	while (!A.stopping && A.blobs < ATTACH_MAX_BLOB && (w = TAILQ_FIRST(&A.waiting))) {
		TAILQ_REMOVE(&A.waiting, w, link);
		A.nwaiting--;
		w->queued = false;
		blob_send(w);
	}
}

void attach_configure(size_t max_output)
{
	A.max_output = max_output ? max_output : ATTACH_DEFAULT_MAX_OUTPUT;
	A.stopping = false;
}

size_t attach_max_output(void)
{
	return A.max_output;
}

void attach_shutdown(void)
{
	struct attach *w;

	A.stopping = true;
	/* Nothing of theirs went to the blob store: answered now. */
	while ((w = TAILQ_FIRST(&A.waiting))) {
		snprintf(w->msg, sizeof(w->msg), "orchd is stopping: nothing was sent to the blob store");
		finish(w, PC_SHUTDOWN);
	}
}

void attach_reset(struct attach *a)
{
	orch_call_reset(&a->call);
	buf_free(&a->got);
	buf_free(&a->http.resp);
	free(a->uri);
	secret_free(a->auth_line);
	curl_slist_free_all(a->listed);
	curl_slist_free_all(a->headers);
	a->uri = a->auth_line = NULL;
	a->listed = a->headers = NULL;
	a->in_orch = a->in_http = a->too_big = false;
}

void attach_cancel(struct attach *a)
{
	auth_cancel(&a->aw);
	if (a->in_orch)
		orch_cancel(&a->call);
	if (a->in_http)
		http_cancel(&a->http);
	release_slot(a);
	attach_reset(a);
	pump();
}

/* a's one end: what it holds for the blob is let go first (its slot, the
 * token line above all), the bytes read stay for done(), which may free
 * a; then the next transfer in line goes. */
static void finish(struct attach *a, enum proto_code code)
{
	a->code = code;
	a->in_orch = a->in_http = false;
	if (code != PC_OK)
		A.failed++;
	else if (a->download)
		A.downloaded++;
	else
		A.uploaded++;
	release_slot(a);
	orch_call_reset(&a->call);
	secret_free(a->auth_line);
	a->auth_line = NULL;
	curl_slist_free_all(a->headers);
	a->headers = NULL;
	buf_free(&a->http.resp);
	a->done(a);
	pump();
}

/* Whether name is an HTTP field name (RFC 9110 token) that does not frame
 * the request: curl writes those itself, and a blob store has no business
 * changing them. */
static bool header_name_ok(const char *n)
{
	static const char *const framing[] = {"Host", "Content-Length", "Transfer-Encoding", "Connection",
					      "Upgrade", "TE", "Trailer", "Keep-Alive", "Expect",
					      /* orchd's to send (the bearer, when RequiresAuth) or
					       * nobody's: two would make the request ambiguous */
					      "Authorization", "Proxy-Authorization", "Cookie"};
	size_t len = strlen(n);

	if (len == 0 || len > ATTACH_MAX_NAME || strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789!#$%&'*+-.^_`|~") != len)
		return false;
	for (size_t i = 0; i < sizeof(framing) / sizeof(*framing); i++)
		if (strcasecmp(n, framing[i]) == 0)
			return false;
	return true;
}

/* Whether v can be a field value as it is: no CR, LF or other control
 * character (a header cannot smuggle another in), bounded. */
static bool header_value_ok(const char *v)
{
	size_t len = strlen(v);

	if (len > ATTACH_MAX_VALUE)
		return false;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

/* BlobFileAccess.Headers {"Keys":[..],"Values":[..]} into a->listed, with
 * "Name;" for an empty value (curl's way to send one). False with a->msg
 * when they are not sane: nothing is sent then. */
static bool take_headers(struct attach *a, const cJSON *h)
{
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(h, "Keys");
	const cJSON *vals = cJSON_GetObjectItemCaseSensitive(h, "Values");
	int n = cJSON_GetArraySize(keys);
	bool has_type = false;

	if (!h || cJSON_IsNull(h))
		n = 0;
	else if (!cJSON_IsArray(keys) || !cJSON_IsArray(vals) || cJSON_GetArraySize(vals) != n) {
		snprintf(a->msg, sizeof(a->msg), "BlobFileAccess.Headers are not two lists of one length");
		return false;
	} else if (n > ATTACH_MAX_HEADERS) {
		snprintf(a->msg, sizeof(a->msg), "BlobFileAccess lists %d headers (at most %d are taken)", n,
			 ATTACH_MAX_HEADERS);
		return false;
	}
	for (int i = 0; i < n; i++) {
		const cJSON *k = cJSON_GetArrayItem(keys, i), *v = cJSON_GetArrayItem(vals, i);
		if (!cJSON_IsString(k) || !cJSON_IsString(v) || !header_name_ok(k->valuestring) ||
		    !header_value_ok(v->valuestring)) {
			char q[LOG_QUOTE_MAX];
			snprintf(a->msg, sizeof(a->msg), "BlobFileAccess lists a header orchd does not send: %s",
				 cJSON_IsString(k) ? log_quote(q, k->valuestring) : "(not a string)");
			return false;
		}
		has_type |= strcasecmp(k->valuestring, "Content-Type") == 0;
		char *line = v->valuestring[0] ? xasprintf("%s: %s", k->valuestring, v->valuestring)
					       : xasprintf("%s;", k->valuestring);
		a->listed = curl_slist_append(a->listed, line);
		free(line);
	}
	/* Exactly the listed headers: none of curl's own for a body (its form
	 * Content-Type, Expect: 100-continue) goes out beside them. */
	if (!has_type)
		a->listed = curl_slist_append(a->listed, "Content-Type:");
	a->listed = curl_slist_append(a->listed, "Expect:");
	return true;
}

/* BlobFileAccess.Uri into a->uri and a->host: https only, printable ASCII,
 * bounded. False with a->msg (naming at most the host) when not. */
static bool take_uri(struct attach *a, const char *uri)
{
	size_t len = uri ? strlen(uri) : 0;
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	bool ok = len > 0 && len <= ATTACH_MAX_URI;

	for (size_t i = 0; ok && i < len; i++)
		ok = uri[i] > 0x20 && uri[i] < 0x7f;
	if (ok && curl_url_set(u, CURLUPART_URL, uri, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		snprintf(a->host, sizeof(a->host), "%s", host);
		if (strcmp(scheme, "https") != 0) {
			snprintf(a->msg, sizeof(a->msg), "the blob URI Orchestrator gave (host %s) is %s, "
				 "not https: nothing was sent to it", a->host, scheme);
			ok = false;
		}
	} else {
		snprintf(a->msg, sizeof(a->msg), "the blob URI Orchestrator gave is not a URL orchd can use");
		ok = false;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	if (ok)
		a->uri = xstrdup(uri);
	return ok;
}

/* The headers sent to the blob: the listed ones, and the bearer token
 * only when BlobFileAccess asked for it (another host must not see it). */
static void set_headers(struct attach *a, const char *token, unsigned gen)
{
	curl_slist_free_all(a->headers);
	a->headers = NULL;
	for (const struct curl_slist *l = a->listed; l; l = l->next)
		a->headers = curl_slist_append(a->headers, l->data);
	if (token) {
		secret_free(a->auth_line);
		a->auth_line = xasprintf("Authorization: Bearer %s", token);
		a->headers = curl_slist_append(a->headers, a->auth_line);
		a->gen = gen;
	}
	a->http.headers = a->headers;
}

/* Before every attempt: a token that expired while the request waited is
 * not sent (false: the request ends unprepared and waits for one). */
static bool prepare(struct http_req *h)
{
	struct attach *a = h->data;
	unsigned gen;
	const char *tok;

	if (!a->requires_auth)
		return true;
	if (!(tok = auth_token(&gen)))
		return false;
	if (gen != a->gen)
		set_headers(a, tok, gen);
	return true;
}

static void on_blob(struct http_req *h)
{
	struct attach *a = h->data;
	const char *verb = a->download ? "GET" : "PUT";

	a->in_http = false;
	if (h->unprepared) {
		blob_send(a);
	} else if (h->too_big) {
		a->too_big = true;
		snprintf(a->msg, sizeof(a->msg), "the file is over max_output (%zu bytes); read it with "
			 "GET /odata/Attachments(%s)", a->max, a->key);
		finish(a, PC_REJECTED);
	} else if (h->cerr == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(a->msg, sizeof(a->msg), "orchd is stopping: the %s of the blob at %s did not end", verb,
			 a->host);
		finish(a, PC_SHUTDOWN);
	} else if (h->cerr != CURLE_OK) {
		snprintf(a->msg, sizeof(a->msg), "cannot reach the blob store at %s after %d attempts: %s%s",
			 a->host, h->attempts, curl_easy_strerror(h->cerr),
			 h->cerr == CURLE_PEER_FAILED_VERIFICATION
				 ? " (for a private CA set [orchestrator] ca_file)" : "");
		finish(a, PC_UNAVAILABLE);
	} else if (h->status >= 200 && h->status < 300) {
		if (a->download) {
			a->got = h->resp;
			memset(&h->resp, 0, sizeof(h->resp));
		}
		finish(a, PC_OK);
	} else {
		/* Its body is not passed on: a storage error may quote the
		 * signed URL. */
		bool later = h->status == 429 || h->status >= 500;
		snprintf(a->msg, sizeof(a->msg), "the blob store at %s answered the %s with HTTP %ld%s", a->host,
			 verb, h->status, later ? " every time" : "");
		finish(a, later ? PC_UNAVAILABLE : PC_REJECTED);
	}
}

static void on_auth(struct auth_wait *w, const char *token, unsigned gen, enum proto_code code,
		    const char *msg)
{
	struct attach *a = w->data;

	if (!token) {
		snprintf(a->msg, sizeof(a->msg), "%s", msg);
		finish(a, code);
		return;
	}
	set_headers(a, token, gen);
	a->in_http = true;
	http_submit(&a->http);
}

/* The blob exchange: PUT of the caller's bytes, or GET up to the cap;
 * once a has a slot (else it waits in line for one). */
static void blob_send(struct attach *a)
{
	unsigned gen = 0;
	const char *tok;

	if (!a->slot) {
		if (A.blobs >= ATTACH_MAX_BLOB) {
			TAILQ_INSERT_TAIL(&A.waiting, a, link);
			A.nwaiting++;
			a->queued = true;
			return;
		}
		a->slot = true;
		A.blobs++;
	}
	tok = a->requires_auth ? auth_token(&gen) : NULL;

	buf_free(&a->http.resp);
	memset(&a->http, 0, sizeof(a->http));
	a->http.url = a->uri;
	a->http.idempotent = true; /* before StartJobs a repeat changes nothing */
	a->http.bulk = true;
	a->http.prepare = prepare;
	a->http.done = on_blob;
	a->http.data = a;
	if (a->download) {
		a->http.max_resp = a->max;
	} else {
		a->http.method = "PUT";
		a->http.body = a->put;
		a->http.body_len = a->put_len;
	}
	if (a->requires_auth && !tok) {
		a->aw.cb = on_auth;
		a->aw.data = a;
		auth_wait(&a->aw);
		return;
	}
	set_headers(a, tok, gen);
	a->in_http = true;
	http_submit(&a->http);
}

/* Orchestrator's answer: the attachment, and BlobFileAccess. */
static void on_attachment(struct orch_call *c)
{
	struct attach *a = c->data;
	const char *what = a->download ? "reading the output file's attachment"
				       : "creating the attachment for the big input";

	a->in_orch = false;
	if (c->code != PC_OK) {
		snprintf(a->msg, sizeof(a->msg), "%s: %s", what, c->msg);
		finish(a, c->code);
		return;
	}
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(c->json, "Id");
	const cJSON *bfa = cJSON_GetObjectItemCaseSensitive(c->json, "BlobFileAccess");
	const cJSON *uri = cJSON_GetObjectItemCaseSensitive(bfa, "Uri");
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(bfa, "RequiresAuth");

	if (!a->download && !(cJSON_IsString(id) && util_is_guid(id->valuestring))) {
		snprintf(a->msg, sizeof(a->msg), "%s: Orchestrator's answer has no Id (a GUID)", what);
		finish(a, PC_REJECTED);
		return;
	}
	if (!cJSON_IsString(uri)) {
		snprintf(a->msg, sizeof(a->msg), "%s: Orchestrator's answer has no BlobFileAccess.Uri", what);
		finish(a, PC_REJECTED);
		return;
	}
	if (!take_uri(a, uri->valuestring) ||
	    !take_headers(a, cJSON_GetObjectItemCaseSensitive(bfa, "Headers"))) {
		char m[sizeof(a->msg)];
		snprintf(m, sizeof(m), "%s: %s", what, a->msg);
		memcpy(a->msg, m, sizeof(m));
		finish(a, PC_REJECTED);
		return;
	}
	if (!a->download)
		snprintf(a->id, sizeof(a->id), "%s", id->valuestring);
	a->requires_auth = cJSON_IsTrue(ra);
	if (A.stopping) {
		snprintf(a->msg, sizeof(a->msg), "orchd is stopping: nothing was sent to the blob store");
		finish(a, PC_SHUTDOWN);
		return;
	}
	orch_call_reset(c);
	log_debug("attach: %s blob at %s%s", a->download ? "reading" : "writing", a->host,
		  a->requires_auth ? " (with the token, as asked)" : "");
	blob_send(a);
}

/* A GUID-shaped random name: Orchestrator only keeps it. */
static char *random_name(void)
{
	uint32_t v[4] = {rand32(), rand32(), rand32(), rand32()};

	return xasprintf("%08x-%04x-4%03x-%04x-%04x%08x.json", v[0], v[1] >> 16, v[1] & 0xfff,
			 0x8000 | (v[2] & 0x3fff), v[2] >> 16, v[3]);
}

void attach_upload(struct attach *a, const struct folder *f, const char *data, size_t len)
{
	char *name = random_name();

	a->download = false;
	a->put = data;
	a->put_len = len;
	a->call.ep = EP_ATTACHMENTS;
	a->call.folder = *f;
	a->call.body = xasprintf("{\"Name\":\"%s\"}", name);
	a->call.repeatable = true; /* an attachment nobody uses is harmless */
	a->call.done = on_attachment;
	a->call.data = a;
	a->in_orch = true;
	free(name);
	orch_send(&a->call);
}

void attach_download(struct attach *a, const struct folder *f, const char *id, size_t max)
{
	a->download = true;
	a->max = max;
	snprintf(a->key, sizeof(a->key), "%s", id);
	a->call.ep = EP_ATTACHMENT;
	a->call.key = a->key;
	a->call.folder = *f;
	a->call.subject = "output file";
	a->call.done = on_attachment;
	a->call.data = a;
	a->in_orch = true;
	orch_send(&a->call);
}

bool attach_stopping(void)
{
	return A.stopping;
}

unsigned long attach_uploaded(void)
{
	return A.uploaded;
}

unsigned long attach_downloaded(void)
{
	return A.downloaded;
}

unsigned long attach_failed(void)
{
	return A.failed;
}

int attach_waiting(void)
{
	return A.nwaiting;
}
