/*
 * orch: one authenticated call to Orchestrator (docs/orchestrator.md
 * sections 2 to 4 and 7). Builds the URL from the one endpoint table
 * (scopes.h) and the folder header from the folder, takes the token from auth
 * (waiting for one when needed), adds the folder header, sends through http,
 * and turns the answer into a proto code with a message for a person:
 * 401 refreshes the token once and retries; 401 again or 403 is SCOPE (with
 * the scopes the operation needs and those the token holds); 1100/1101 is
 * FOLDER; 404 or errorCode 1002 about the call's subject is NOT_FOUND; other refusals are REJECTED with Orchestrator's message and
 * errorCode; no answer is UNAVAILABLE, or UNKNOWN when a non-idempotent
 * request may have reached the server.
 */
#ifndef ORCHD_ORCH_H
#define ORCHD_ORCH_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "auth.h"
#include "folder.h"
#include "http.h"
#include "proto.h"
#include "scopes.h"

struct orch_call;
typedef void orch_done_fn(struct orch_call *c);

struct orch_call {
	/* Set by the caller; orch_call_reset() frees query and body. */
	enum scope_ep ep;      /* what is called: the URL and the scope it needs */
	int64_t id;            /* the {Id} of the endpoint's path */
	const char *key;       /* the {Key} of the endpoint's path: a GUID the caller
				* checked (common/util.h util_is_guid); outlives the call */
	char *query;           /* what follows '?', URL-encoded, or NULL */
	struct folder folder;  /* the folder header (none for neither path nor id);
				* the path must outlive the call */
	const char *subject;   /* "job 4711": an answer 404 or errorCode 1002 is then
				* NOT_FOUND, "no job 4711 in folder ..." */
	char *body;            /* JSON, or NULL for GET */
	bool repeatable;       /* a POST that may be sent again (StopJob) */
	int max_attempts;      /* 0: http's default */
	orch_done_fn *done;
	void *data;

	/* The result, valid in done(). */
	enum proto_code code;  /* PC_OK for a 2xx answer */
	long status;
	long error_code;       /* Orchestrator's errorCode, -1 if none */
	int64_t retry_after_ms; /* Retry-After of the last answer, -1 if none */
	cJSON *json;           /* the 2xx body, or NULL */
	char msg[1024];

	/* Private. */
	char *url;
	char *folder_hdr;
	struct http_req http;
	struct auth_wait aw;
	struct curl_slist *headers;
	unsigned gen;
	bool reauthed;
};

void orch_init(const char *base_url);
void orch_close(void);
/* The Orchestrator base URL, without trailing '/'. */
const char *orch_base(void);

/* Sends c; c->done is called exactly once, later, from the loop (before
 * orch_send returns only for a folder path that is not UTF-8, which proto
 * and conf refuse first). */
void orch_send(struct orch_call *c);
/* Takes c back wherever it is (waiting for a token, in http); its done()
 * will not be called. Then resets it. */
void orch_cancel(struct orch_call *c);
/* Frees what c holds (query, body, json and its own) and clears what
 * describes one call (subject, id, repeatable, max_attempts), ready for
 * reuse. */
void orch_call_reset(struct orch_call *c);

#endif
