#include "start.h"
#include "startint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "auth.h"
#include "budget.h"
#include "enc.h"
#include "jobrec.h"
#include "log.h"
#include "request.h"
#include "scopes.h"
#include "text.h"

static struct {
	unsigned long started, resolved;
} J;

static const struct settle_ops settle_ops;

void start_init(void)
{
	J.started = J.resolved = 0;
}

unsigned long start_jobs_started(void)
{
	return J.started;
}

unsigned long start_resolved(void)
{
	return J.resolved;
}

static void free_jobs(struct start_req *s)
{
	for (int i = 0; i < s->njobs; i++) {
		if (s->jobs[i].key != s->jobs[i].keybuf)
			free(s->jobs[i].key);
		free(s->jobs[i].record);
		attach_rec_cancel(s->jobs[i].out);
	}
	if (s->jobs != &s->one)
		free(s->jobs);
	s->jobs = NULL;
	s->njobs = 0;
}

static void release_all(struct start_req *s)
{
	orch_call_reset(&s->call);
	free(s->release);
	free(s->reference);
	free(s->why);
	free(s->input_file);
	free(s->waits);
	if (s->upload) {
		attach_cancel(s->upload);
		free(s->upload);
		s->upload = NULL;
	}
	s->release = s->reference = s->why = s->input_file = NULL;
	s->waits = NULL;
	free_jobs(s);
}

/* r's one answer; nothing of r is touched after it (the reference lives
 * on for the answer's journal fields). */
void start_finish(struct request *r, enum proto_code code, const char *text)
{
	char *ref = r->start.reference;

	r->start.reference = NULL;
	release_all(&r->start);
	request_answer(r, code, text);
	free(ref);
}

/* The StartJobs body. Built by hand (enc_json_str) rather than as a cJSON
 * tree: this and the answer are made for every trigger, and the trees cost
 * ~50 allocations and ~25,000 instructions per trigger (callgrind). */
static char *start_body(const struct proto_start *st, const char *release, const char *reference,
			const char *input_file)
{
	struct buf b = {0};

	buf_adds(&b, "{\"startInfo\":{\"ReleaseKey\":");
	enc_json_str(&b, release);
	buf_adds(&b, ",\"Strategy\":");
	enc_json_str(&b, st->strategy ? st->strategy : "ModernJobsCount");
	buf_printf(&b, ",\"JobsCount\":%d", st->count);
	/* A big input was uploaded: its file instead, never both. */
	buf_adds(&b, input_file ? ",\"InputFile\":" : ",\"InputArguments\":");
	enc_json_str(&b, input_file ? input_file : st->input ? st->input : "{}");
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
	if (st->entry_point) {
		buf_adds(&b, ",\"EntryPointPath\":");
		enc_json_str(&b, st->entry_point);
	}
	if (st->run_as_me >= 0)
		buf_adds(&b, st->run_as_me ? ",\"RunAsMe\":true" : ",\"RunAsMe\":false");
	/* Strings in the definition, whole seconds in its description. */
	if (st->stop_after)
		buf_printf(&b, ",\"StopProcessExpression\":\"%d\"", st->stop_after);
	if (st->kill_after)
		buf_printf(&b, ",\"KillProcessExpression\":\"%d\"", st->kill_after);
	buf_adds(&b, "}}");
	return buf_steal(&b);
}

/* The OK answer: the jobs (or, after a wait, their final records), then
 * what was asked and the release used. */
static char *answer_text(struct request *r)
{
	struct start_req *s = &r->start;
	struct buf b = {0};

	buf_adds(&b, "{\"jobs\":[");
	for (int i = 0; i < s->njobs; i++) {
		struct start_job *j = &s->jobs[i];
		if (i)
			buf_adds(&b, ",");
		if (j->record) {
			buf_adds(&b, j->record);
			continue;
		}
		/* 0: Orchestrator gave no id that is one (1e300, 4711.5). */
		if (j->id)
			buf_printf(&b, "{\"id\":%lld,\"key\":", (long long)j->id);
		else
			buf_adds(&b, "{\"id\":null,\"key\":");
		enc_json_str(&b, j->key ? j->key : "");
		buf_adds(&b, ",\"state\":");
		enc_json_str(&b, j->state);
		buf_adds(&b, "}");
	}
	buf_adds(&b, "],\"process\":");
	enc_json_str(&b, r->preq.start.process);
	buf_adds(&b, ",\"folder\":");
	folder_json(&b, &r->folder);
	buf_adds(&b, ",\"release\":");
	enc_json_str(&b, s->release);
	buf_adds(&b, ",\"reference\":");
	enc_json_str(&b, s->reference);
	buf_adds(&b, "}");
	return buf_steal(&b);
}

void start_answer_ok(struct request *r)
{
	char *text = answer_text(r);
	struct start_req *s = &r->start;

	for (int i = 0; i < s->njobs && i < REQUEST_FACT_IDS; i++)
		r->facts.ids[r->facts.nids++] = s->jobs[i].id;
	start_finish(r, PC_OK, text);
	free(text);
}

/* The jobs of a StartJobs or lookup answer ("value": Id, Key, State);
 * false when it names none, or (when they are to be waited for) not each
 * by an id of its own. */
static bool take_jobs(struct start_req *s, const cJSON *resp, bool waiting)
{
	const cJSON *it, *value = cJSON_GetObjectItemCaseSensitive(resp, "value");
	int n = cJSON_GetArraySize(value), i = 0;

	if (!cJSON_IsArray(value) || n <= 0 || (waiting && !jobrec_ids_usable(value)))
		return false;
	/* One job (the usual START) is kept in place: no allocation. */
	s->jobs = n == 1 ? memset(&s->one, 0, sizeof(s->one)) : xcalloc((size_t)n, sizeof(*s->jobs));
	cJSON_ArrayForEach(it, value) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "Id");
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "Key");
		const char *state = jobrec_state(it);
		s->jobs[i].id = jobrec_id(id);
		const char *k = cJSON_IsString(key) ? key->valuestring : "";
		/* A Key is a GUID: it fits in place, no allocation per job. */
		s->jobs[i].key = strlen(k) < sizeof(s->jobs[i].keybuf) ? strcpy(s->jobs[i].keybuf, k) : xstrdup(k);
		snprintf(s->jobs[i].state, sizeof(s->jobs[i].state), "%s", state ? state : "");
		i++;
	}
	s->njobs = i;
	J.started += (unsigned long)i;
	return true;
}

/* The jobs are known: answer, or wait for them (not for a client that
 * is gone: the wait has no effect). */
static void started(struct request *r)
{
	if (r->preq.start.wait && !request_gone(r))
		start_wait_jobs(r);
	else
		start_answer_ok(r);
}

/* ---- StartJobs */

static void resolve(struct request *r);

static void on_started(struct orch_call *c)
{
	struct request *r = c->data;
	struct start_req *s = &r->start;

	if (c->code == PC_OK) {
		if (!take_jobs(s, c->json, r->preq.start.wait != 0)) {
			char msg[512];
			snprintf(msg, sizeof(msg), "Orchestrator accepted StartJobs but its answer lists no job "
				 "(or none by an id to wait for): check the jobs of reference %s", s->reference);
			start_finish(r, PC_UNKNOWN, msg);
			return;
		}
		orch_call_reset(c);
		started(r);
		return;
	}
	if (c->code == PC_NOT_FOUND && !s->release_retried) {
		/* The release was deleted (and maybe created again): nothing was
		 * started, so look the name up afresh and try once more. */
		s->release_retried = true;
		releases_drop(REL_PROCESS, &r->folder, r->preq.start.process, s->release);
		free(s->release);
		s->release = NULL;
		orch_call_reset(c);
		resolve(r);
		return;
	}
	if (c->code == PC_UNKNOWN) {
		free(s->why);
		s->why = xstrdup(c->msg);
		orch_call_reset(c);
		settle_ambiguous(&s->settle, false);
		return;
	}
	char msg[sizeof(c->msg)];
	snprintf(msg, sizeof(msg), "%s", c->msg);
	start_finish(r, c->code, msg);
}

static void send_start(struct request *r);

static void on_uploaded(struct attach *a)
{
	struct request *r = a->data;
	struct start_req *s = &r->start;

	if (a->code != PC_OK) {
		char msg[sizeof(a->msg) + 64];
		snprintf(msg, sizeof(msg), "%s; the job was not started", a->msg);
		start_finish(r, a->code, msg);
		return;
	}
	s->input_file = xstrdup(a->id);
	attach_cancel(a);
	free(a);
	s->upload = NULL;
	send_start(r);
}

/* A big input goes first, as a file (once: a StartJobs sent again, after
 * a lookup or a deleted release, takes the same file). */
static void upload(struct request *r)
{
	struct start_req *s = &r->start;
	const char *granted = auth_scopes();

	if (*granted && !scope_covers(OP_ATTACH_CREATE, granted)) {
		char fb[FOLDER_NAME_MAX], msg[1024];
		scope_explain(OP_ATTACH_CREATE, granted, folder_name(&r->folder, fb), msg, sizeof(msg));
		start_finish(r, PC_SCOPE, msg);
		return;
	}
	s->upload = xcalloc(1, sizeof(*s->upload));
	s->upload->done = on_uploaded;
	s->upload->data = r;
	attach_upload(s->upload, &r->folder, r->preq.start.input, strlen(r->preq.start.input));
}

static void send_start(struct request *r)
{
	struct start_req *s = &r->start;

	if (request_stopping()) {
		start_finish(r, PC_SHUTDOWN, "orchd is stopping; the job was not started");
		return;
	}
	if (s->big_input && !s->input_file) {
		upload(r);
		return;
	}
	s->call.ep = EP_START_JOBS;
	s->call.folder = r->folder;
	s->call.subject = "release of this process";
	s->call.body = start_body(&r->preq.start, s->release, s->reference, s->input_file);
	s->call.done = on_started;
	s->call.data = r;
	orch_send(&s->call);
}

/* The key is known: StartJobs, once the resolved name passes access. */
static void resolved(struct request *r, const char *key, const char *name)
{
	const struct proto_start *st = &r->preq.start;

	if (access_enabled() && !request_allowed(r, false, name, st->count)) {
		char q[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX], msg[1024];
		request_log_denied("DENIED: %s resolves to %s, which no [access] rule allows",
				   log_quote(q, st->process), log_quote(q2, name));
		snprintf(msg, sizeof(msg), "\"%s\" is the process \"%s\" in Orchestrator, which no "
			 "[access] allow rule lets this peer start", st->process, name);
		start_finish(r, PC_DENIED, msg);
		return;
	}
	r->start.release = xstrdup(key);
	send_start(r);
}

static void on_release(struct rel_wait *w, enum proto_code code, const char *text, const char *name)
{
	struct request *r = w->data;

	if (code != PC_OK)
		start_finish(r, code, text);
	else
		resolved(r, text, name);
}

static void resolve(struct request *r)
{
	char *key = NULL, *name = NULL;
	enum proto_code code = releases_cached(REL_PROCESS, &r->folder, r->preq.start.process, &key, &name);

	if (code == PC__COUNT) {
		r->start.rw.cb = on_release;
		r->start.rw.data = r;
		releases_wait(&r->start.rw, REL_PROCESS, &r->folder, r->preq.start.process);
		return;
	}
	if (code == PC_OK)
		resolved(r, key, name);
	else
		start_finish(r, code, key);
	free(key);
	free(name);
}

/* ---- an ambiguous StartJobs, settled by its Reference */

static void on_looked_up(struct orch_call *c)
{
	struct request *r = c->data;
	struct start_req *s = &r->start;
	char q[LOG_QUOTE_MAX];

	if (c->code != PC_OK) {
		char m[sizeof(c->msg) + 64];
		if (c->status == 429)
			budget_refused(c->retry_after_ms); /* the tenant's collection limit */
		snprintf(m, sizeof(m), "looking it up failed: %s %s", proto_code_name(c->code), c->msg);
		orch_call_reset(c);
		settle_ops.unknown(&s->settle, m);
		return;
	}
	if (take_jobs(s, c->json, r->preq.start.wait != 0)) {
		/* It was created: the answer that was lost, found again. */
		log_info("start: reference %s: the ambiguous start did create the job", log_quote(q, s->reference));
		J.resolved++;
		orch_call_reset(c);
		started(r);
		return;
	}
	orch_call_reset(c);
	settle_absent(&s->settle);
}

static void lookup(struct settle *st)
{
	struct request *r = st->data;
	struct start_req *s = &r->start;
	char *eq = enc_odata_eq("Reference", s->reference);

	s->call.ep = EP_JOBS;
	s->call.query = xasprintf("$filter=%s&$top=%d&$select=Id,Key,State", eq, r->preq.start.count);
	s->call.folder = r->folder;
	s->call.done = on_looked_up;
	s->call.data = r;
	free(eq);
	orch_send(&s->call);
}

static void resend(struct settle *st)
{
	struct request *r = st->data;
	char q[LOG_QUOTE_MAX];

	log_info("start: reference %s: no job after the ambiguous start; starting it again",
		 log_quote(q, r->start.reference));
	J.resolved++;
	send_start(r);
}

/* UNKNOWN, with what the caller needs to check for itself. */
static void unknown(struct settle *st, const char *why)
{
	struct request *r = st->data;
	char msg[1600];

	snprintf(msg, sizeof(msg),
		 "%s; the job may or may not exist: check reference %s before starting it again (%s)",
		 r->start.why ? r->start.why : "", r->start.reference, why);
	start_finish(r, PC_UNKNOWN, msg);
}

static const char *impossible(struct settle *st)
{
	(void)st;
	return scope_lacks(OP_JOB_GET, auth_scopes());
}

static const struct settle_ops settle_ops = {lookup, resend, unknown, impossible};

void start_run(struct request *r)
{
	struct start_req *s = &r->start;
	const struct proto_start *st = &r->preq.start;

	/* r came zeroed from request_new. */
	settle_begin(&s->settle, &settle_ops, r);
	/* Orchestrator keeps the Reference on the job: with it an ambiguous
	 * start can be looked up instead of replayed. */
	s->reference = st->reference ? xstrdup(st->reference) : new_reference();
	/* Over PROTO_INPUT_MAX UTF-16 units as Orchestrator counts them; a
	 * unit takes at most 3 bytes, so a longer input needs no counting. */
	size_t n = st->input ? strlen(st->input) : 0;
	s->big_input = n > 3 * PROTO_INPUT_MAX || (n > PROTO_INPUT_MAX && text_utf16_len(st->input, n) > PROTO_INPUT_MAX);
	r->facts.reference = s->reference;
	resolve(r);
}

void start_cancel(struct request *r)
{
	struct start_req *s = &r->start;

	settle_cancel(&s->settle);
	releases_cancel(&s->rw);
	orch_cancel(&s->call);
	for (int i = 0; s->waiting && i < s->njobs; i++)
		watch_cancel(s->jobs[i].wait);
	s->waiting = false;
	release_all(s);
}

bool start_only_waits(const struct request *r)
{
	return r->start.waiting;
}
