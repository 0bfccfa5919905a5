#include "jobs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "budget.h"
#include "enc.h"
#include "log.h"
#include "scopes.h"

/* Lookups by Reference after an ambiguous start: when. They are
 * collection queries, spent from the tenant's budget (budget.h). The last
 * lookup, the one that may lead to starting again, waits at least twice
 * the HTTP timeout: a server that was still working on the lost request
 * has had that long to finish it. */
#define JOBS_CHECKS 2
#define JOBS_FIRST_CHECK_MS 1000
#define JOBS_LAST_CHECK_MIN_MS 4000

static struct {
	uv_loop_t *loop;
	struct delayq waiting;         /* for a lookup by Reference */
	char *default_folder;
	char *start_base, *start_url;  /* StartJobs' URL, built once per base */
	uint64_t last_check_ms;
	bool stopping;
	unsigned long started, resolved;
} J;

void jobs_configure(const struct conf *conf)
{
	free(J.default_folder);
	J.default_folder = conf->folder ? xstrdup(conf->folder) : NULL;
	J.last_check_ms = (uint64_t)conf->timeout * 2000;
	if (J.last_check_ms < JOBS_LAST_CHECK_MIN_MS)
		J.last_check_ms = JOBS_LAST_CHECK_MIN_MS;
}

static void on_lookup_due(struct delayq_item *it);

void jobs_init(uv_loop_t *loop, const struct conf *conf)
{
	J.loop = loop;
	delayq_init(&J.waiting, loop, on_lookup_due);
	jobs_configure(conf);
}

void jobs_close(void)
{
	free(J.default_folder);
	free(J.start_base);
	free(J.start_url);
	J.default_folder = J.start_base = J.start_url = NULL;
	delayq_close(&J.waiting);
}

unsigned long jobs_resolved(void)
{
	return J.resolved;
}

void jobs_shutdown(void)
{
	J.stopping = true;
}

static void unknown(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void jobs_abort(void)
{
	struct delayq_item *it;

	while ((it = delayq_pop(&J.waiting)))
		unknown(container_of(it, struct job, wait), "orchd stopped before it could look it up");
}

void jobs_cancel(struct job *j)
{
	delayq_remove(&J.waiting, &j->wait);
	releases_cancel(&j->rw);
	orch_cancel(&j->call);
	free(j->release);
	free(j->folder_path);
	free(j->reference);
	j->release = j->folder_path = j->reference = NULL;
}

const char *jobs_default_folder(void)
{
	return J.default_folder;
}

unsigned long jobs_started(void)
{
	return J.started;
}

static void finish(struct job *j, enum proto_code code, const char *text)
{
	orch_call_reset(&j->call);
	free(j->release);
	free(j->folder_path);
	free(j->reference);
	j->release = j->folder_path = j->reference = NULL;
	j->done(j, code, text);
}

/* The StartJobs body. Built by hand (enc_json_str) rather than as a cJSON
 * tree: this and the answer are made for every trigger, and the trees cost
 * ~50 allocations and ~25,000 instructions per trigger (callgrind). */
static char *start_body(const struct proto_start *st, const char *release, const char *reference)
{
	struct buf b = {0};

	buf_adds(&b, "{\"startInfo\":{\"ReleaseKey\":");
	enc_json_str(&b, release);
	buf_adds(&b, ",\"Strategy\":");
	enc_json_str(&b, st->strategy ? st->strategy : "ModernJobsCount");
	buf_printf(&b, ",\"JobsCount\":%d,\"InputArguments\":", st->count);
	enc_json_str(&b, st->input ? st->input : "{}");
	buf_adds(&b, ",\"Reference\":");
	enc_json_str(&b, reference);
	if (st->priority) {
		buf_adds(&b, ",\"JobPriority\":");
		enc_json_str(&b, st->priority);
	}
	if (st->priority_value)
		buf_printf(&b, ",\"SpecificPriorityValue\":%d", st->priority_value);
	if (st->runtime) {
		buf_adds(&b, ",\"RuntimeType\":");
		enc_json_str(&b, st->runtime);
	}
	buf_adds(&b, "}}");
	return buf_steal(&b);
}

static void send_start(struct job *j);

/* Sends StartJobs with release key, once the resolved name passes access. */
static void resolved(struct job *j, const char *key, const char *name)
{
	if (j->allowed && !j->allowed(j, name)) {
		char q[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX], msg[1024];
		log_warn("DENIED: %s resolves to %s, which no [access] rule allows",
			 log_quote(q, j->st->process), log_quote(q2, name));
		snprintf(msg, sizeof(msg), "\"%s\" is the process \"%s\" in Orchestrator, which no "
			 "[access] allow rule lets this peer start", j->st->process, name);
		finish(j, PC_DENIED, msg);
		return;
	}
	j->release = xstrdup(key);
	send_start(j);
}

static void on_release(struct rel_wait *w, enum proto_code code, const char *text, const char *name)
{
	struct job *j = w->data;

	if (code != PC_OK) {
		finish(j, code, text);
		return;
	}
	resolved(j, text, name);
}

static void resolve(struct job *j)
{
	char *key = NULL, *name = NULL;
	enum proto_code code = releases_cached(REL_PROCESS, &j->folder, j->st->process, &key, &name);

	if (code == PC__COUNT) {
		j->rw.cb = on_release;
		j->rw.data = j;
		releases_wait(&j->rw, REL_PROCESS, &j->folder, j->st->process);
		return;
	}
	if (code == PC_OK)
		resolved(j, key, name);
	else
		finish(j, code, key);
	free(key);
	free(name);
}

/* Builds the OK answer: the jobs, then what was asked and the release used. */
static char *answer(struct job *j, cJSON *resp)
{
	struct buf b = {0};
	cJSON *value = cJSON_GetObjectItemCaseSensitive(resp, "value");
	cJSON *it;
	const char *sep = "";

	buf_adds(&b, "{\"jobs\":[");
	cJSON_ArrayForEach(it, value) {
		cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "Id");
		cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "Key");
		cJSON *state = cJSON_GetObjectItemCaseSensitive(it, "State");
		double d = cJSON_IsNumber(id) ? id->valuedouble : 0;
		buf_printf(&b, "%s{\"id\":", sep);
		if (!cJSON_IsNumber(id))
			buf_adds(&b, "null");
		else if (d > -9e18 && d < 9e18 && d == (double)(long long)d) /* ids are integers */
			buf_printf(&b, "%lld", (long long)d);
		else
			buf_printf(&b, "%.17g", d);
		buf_adds(&b, ",\"key\":");
		enc_json_str(&b, cJSON_IsString(key) ? key->valuestring : "");
		buf_adds(&b, ",\"state\":");
		enc_json_str(&b, cJSON_IsString(state) ? state->valuestring : "");
		buf_adds(&b, "}");
		sep = ",";
	}
	buf_adds(&b, "],\"process\":");
	enc_json_str(&b, j->st->process);
	buf_adds(&b, ",\"folder\":");
	if (j->folder.id > 0)
		buf_printf(&b, "%lld", (long long)j->folder.id);
	else
		enc_json_str(&b, j->folder.path);
	buf_adds(&b, ",\"release\":");
	enc_json_str(&b, j->release);
	buf_adds(&b, ",\"reference\":");
	enc_json_str(&b, j->reference);
	buf_adds(&b, "}");
	return buf_steal(&b);
}

static void reconcile(struct job *j);

/* UNKNOWN, with what the caller needs to check for itself. */
static void unknown(struct job *j, const char *fmt, ...)
{
	char extra[512], msg[1280];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(extra, sizeof(extra), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg),
		 "%s; the job may or may not exist: check reference %s before starting it again (%s)",
		 j->why, j->reference, extra);
	finish(j, PC_UNKNOWN, msg);
}

static void on_looked_up(struct orch_call *c)
{
	struct job *j = c->data;

	if (c->code != PC_OK) {
		char m[sizeof(c->msg)];
		if (c->status == 429)
			budget_refused(c->retry_after_ms); /* the tenant's collection limit */
		snprintf(m, sizeof(m), "%s", c->msg);
		orch_call_reset(&j->call);
		unknown(j, "looking it up failed: %s %s", proto_code_name(c->code), m);
		return;
	}
	cJSON *value = cJSON_GetObjectItemCaseSensitive(c->json, "value");
	if (cJSON_IsArray(value) && cJSON_GetArraySize(value) > 0) {
		/* It was created: the answer that was lost, found again. */
		char q[LOG_QUOTE_MAX];
		log_info("jobs: reference %s: the ambiguous start did create the job", log_quote(q, j->reference));
		J.resolved++;
		J.started += (unsigned long)cJSON_GetArraySize(value);
		char *s = answer(j, c->json);
		finish(j, PC_OK, s);
		free(s);
		return;
	}
	orch_call_reset(&j->call);
	if (++j->checks < JOBS_CHECKS) {
		reconcile(j);
	} else if (!j->resent) {
		/* Looked for twice, seconds apart: it surely does not exist. */
		char q[LOG_QUOTE_MAX];
		log_info("jobs: reference %s: no job after the ambiguous start; starting it again",
			 log_quote(q, j->reference));
		j->resent = true;
		J.resolved++;
		send_start(j);
	} else {
		unknown(j, "the start was sent again and that was ambiguous too");
	}
}

static void lookup(struct job *j)
{
	const char *why;
	/* The budget frees a query soon enough: the lookup waits for it. */
	uint64_t wait = budget_take_within(J.stopping ? 0 : J.last_check_ms, &why);

	if (wait == BUDGET_NEVER) {
		unknown(j, "%s", why);
		return;
	}
	if (wait > 0) {
		delayq_add(&J.waiting, &j->wait, wait);
		return;
	}
	char *q = enc_odata_eq("Reference", j->reference);
	j->call.op = OP_JOB_GET;
	j->call.url = xasprintf("%s/odata/Jobs?$filter=%s&$top=%d&$select=Id,Key,State", orch_base(), q,
				j->st->count);
	j->call.folder_hdr = enc_folder_header(j->folder.path, j->folder.id);
	j->call.folder = j->folder.path;
	j->call.done = on_looked_up;
	j->call.data = j;
	free(q);
	orch_send(&j->call);
}

static void on_lookup_due(struct delayq_item *it)
{
	lookup(container_of(it, struct job, wait));
}

/* An ambiguous start: find out whether the job exists. */
static void reconcile(struct job *j)
{
	if (!scope_covers(OP_JOB_GET, auth_scopes())) {
		unknown(j, "orchd cannot look it up: the token lacks OR.Jobs.Read or OR.Jobs");
		return;
	}
	if (J.stopping) {
		unknown(j, "orchd is stopping and did not look it up");
		return;
	}
	delayq_add(&J.waiting, &j->wait, j->checks == 0 ? JOBS_FIRST_CHECK_MS : J.last_check_ms);
}

static void on_started(struct orch_call *c)
{
	struct job *j = c->data;

	if (c->code == PC_OK) {
		cJSON *value = cJSON_GetObjectItemCaseSensitive(c->json, "value");
		if (!cJSON_IsArray(value) || cJSON_GetArraySize(value) == 0) {
			finish(j, PC_UNKNOWN,
			       "Orchestrator accepted StartJobs but its answer lists no job: check the jobs of the process");
			return;
		}
		J.started += (unsigned long)cJSON_GetArraySize(value);
		char *s = answer(j, c->json);
		finish(j, PC_OK, s);
		free(s);
		return;
	}
	/* The release was deleted (and maybe created again): nothing was
	 * started, so look the name up afresh and try once more. */
	if ((c->status == 404 || c->error_code == 1002) && !j->release_retried) {
		j->release_retried = true;
		releases_drop(REL_PROCESS, &j->folder, j->st->process, j->release);
		free(j->release);
		j->release = NULL;
		orch_call_reset(&j->call);
		resolve(j);
		return;
	}
	if (c->code == PC_UNKNOWN) {
		snprintf(j->why, sizeof(j->why), "%s", c->msg);
		orch_call_reset(&j->call);
		reconcile(j);
		return;
	}
	finish(j, c->code, c->msg);
}

static void send_start(struct job *j)
{
	if (J.stopping) {
		finish(j, PC_SHUTDOWN, "orchd is stopping; the job was not started");
		return;
	}
	if (!J.start_base || strcmp(J.start_base, orch_base()) != 0) {
		free(J.start_base);
		free(J.start_url);
		J.start_base = xstrdup(orch_base());
		J.start_url = xasprintf("%s/odata/Jobs/UiPath.Server.Configuration.OData.StartJobs",
					J.start_base);
	}
	j->call.op = OP_START_JOBS;
	j->call.url = xstrdup(J.start_url);
	j->call.folder_hdr = enc_folder_header(j->folder.path, j->folder.id);
	j->call.folder = j->folder.path;
	j->call.body = start_body(j->st, j->release, j->reference);
	j->call.done = on_started;
	j->call.data = j;
	orch_send(&j->call);
}

void jobs_start(struct job *j)
{
	const struct proto_start *st = j->st;

	memset(&j->call, 0, sizeof(j->call));
	j->release = NULL;
	j->release_retried = j->resent = false;
	j->checks = 0;
	j->why[0] = '\0';
	/* Orchestrator keeps the Reference on the job: with it an ambiguous
	 * start can be looked up instead of replayed. */
	j->reference = st->reference ? xstrdup(st->reference) : new_reference();
	j->folder.id = st->folder_id;
	j->folder_path = NULL;
	if (j->folder.id <= 0) {
		const char *path = st->folder ? st->folder : J.default_folder;
		if (!path) {
			finish(j, PC_FOLDER, "no folder: name one in the request or set [orchestrator] folder");
			return;
		}
		j->folder_path = xstrdup(path);
	}
	j->folder.path = j->folder_path;
	if (J.stopping) {
		finish(j, PC_SHUTDOWN, "orchd is stopping; the job was not started");
		return;
	}
	resolve(j);
}
