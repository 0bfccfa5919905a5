#include "request.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "enc.h"
#include "jobrec.h"
#include "log.h"
#include "stats.h"

static struct {
	int max_pending;
	int wait_timeout;
	int pending;                    /* the weight of what waits on Orchestrator */
	int nlive;
	bool stopping;
	LIST_HEAD(, request) live;
	struct log_limit denied_log;    /* a flood of refusals is summarised */
} Q;

void request_configure(const struct conf *conf)
{
	Q.max_pending = conf->max_queue;
	Q.wait_timeout = conf->wait_timeout;
}

void request_init(const struct conf *conf)
{
	request_configure(conf);
	LIST_INIT(&Q.live);
	log_limit_init(&Q.denied_log, 10, 10);
}

void request_shutdown(void)
{
	Q.stopping = true;
}

int request_live(void)
{
	return Q.nlive;
}

struct request *request_new(void *owner, request_done_fn *done)
{
	struct request *r = xcalloc(1, sizeof(*r));

	Q.nlive++;
	LIST_INSERT_HEAD(&Q.live, r, live);
	stats_request();
	r->owner = owner;
	r->done_cb = done;
	r->t0 = uv_hrtime();
	return r;
}

void request_free(struct request *r)
{
	LIST_REMOVE(r, live);
	proto_req_free(&r->preq);
	access_peer_free(&r->peer);
	free(r->folder_path);
	free(r->stop_answer);
	cJSON_Delete(r->started);
	for (int i = 0; r->records && i < r->nwaits; i++)
		free(r->records[i]);
	free(r->records);
	free(r->waits);
	free(r->answer);
	free(r);
	Q.nlive--;
}

void request_close(void)
{
	struct request *r, *next;

	for (r = LIST_FIRST(&Q.live); r; r = next) {
		next = LIST_NEXT(r, live);
		if ((!r->is_start && !r->watching && !r->queueing) || r->done || r->cancelled)
			continue;
		if (r->queueing)
			queue_cancel(&r->qr);
		else if (r->is_start && r->waits)
			for (int i = 0; i < r->nwaits; i++)
				watch_cancel(&r->waits[i]);
		else if (r->is_start)
			jobs_cancel(&r->job);
		else
			watch_cancel(&r->wr);
		r->cancelled = true;
		if (!r->owner)
			request_free(r);
	}
}

static const char *const verb_names[] = {
	[PV_START] = "START", [PV_JOB] = "JOB", [PV_WAIT] = "WAIT", [PV_STOP] = "STOP",
	[PV_ENQUEUE] = "ENQUEUE", [PV_ITEM] = "ITEM",
};

/* The journal fields of an answer: what a user filters on (journalctl
 * ORCHD_JOB_ID=4711). Ids, states and references come from the OK answer,
 * parsed only when they go to the journal; *parsed is the caller's. */
static size_t answer_fields(struct request *r, enum proto_code code, const char *text,
			    struct log_field *f, char (*ids)[24], cJSON **parsed)
{
	const struct proto_req *q = &r->preq;
	bool adds = q->verb == PV_START || q->verb == PV_ENQUEUE;
	const char *folder = q->verb == PV_START ? q->start.folder : q->verb == PV_ENQUEUE ? q->enq.folder
											     : q->job.folder;
	size_t n = 0;
	int k = 0;

	f[n++] = (struct log_field){"ORCHD_VERB", verb_names[q->verb]};
	f[n++] = (struct log_field){"ORCHD_CODE", proto_code_name(code)};
	f[n++] = (struct log_field){"ORCHD_TAG", q->tag[0] ? q->tag : NULL};
	f[n++] = (struct log_field){"ORCHD_PROCESS", q->verb == PV_START ? q->start.process : NULL};
	f[n++] = (struct log_field){"ORCHD_QUEUE", q->verb == PV_ENQUEUE ? q->enq.queue : NULL};
	f[n++] = (struct log_field){"ORCHD_FOLDER", folder ? folder : r->folder_path ? r->folder_path
									 : jobs_default_folder()};
	if (!adds) {
		snprintf(ids[k], sizeof(ids[k]), "%lld", (long long)q->job.id);
		f[n++] = (struct log_field){q->verb == PV_ITEM ? "ORCHD_ITEM_ID" : "ORCHD_JOB_ID", ids[k++]};
	}
	*parsed = code == PC_OK ? cJSON_Parse(text) : NULL;
	const cJSON *it, *item = cJSON_GetObjectItemCaseSensitive(*parsed, "item");
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(*parsed, "job");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(*parsed, "jobs")) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
		if (cJSON_IsNumber(id) && k < 8) {
			snprintf(ids[k], sizeof(ids[k]), "%.0f", id->valuedouble);
			f[n++] = (struct log_field){"ORCHD_JOB_ID", ids[k++]};
		}
	}
	const cJSON *iid = cJSON_GetObjectItemCaseSensitive(item, "id");
	if (q->verb == PV_ENQUEUE && cJSON_IsNumber(iid) && k < 8) {
		snprintf(ids[k], sizeof(ids[k]), "%.0f", iid->valuedouble);
		f[n++] = (struct log_field){"ORCHD_ITEM_ID", ids[k++]};
	}
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(one ? one : item, one ? "state" : "status");
	f[n++] = (struct log_field){"ORCHD_STATE", cJSON_IsString(st) ? st->valuestring : NULL};
	/* The reference used: the answer's (orchd may have made it), else the
	 * client's. */
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(item ? item : one ? one : *parsed, "reference");
	f[n++] = (struct log_field){"ORCHD_REFERENCE", cJSON_IsString(ref) ? ref->valuestring
						       : q->verb == PV_START ? q->start.reference
						       : q->verb == PV_ENQUEUE ? q->enq.reference : NULL};
	return n;
}

/* One line per answer of the verbs that reach Orchestrator, with fields
 * under journald. */
static void log_answer(struct request *r, enum proto_code code, const char *text, uint64_t us)
{
	const struct proto_req *q = &r->preq;
	char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX], what[64];
	const char *subject, *folder;

	switch (q->verb) {
	case PV_START:
		subject = log_quote(q1, q->start.process);
		folder = q->start.folder;
		break;
	case PV_ENQUEUE:
		subject = log_quote(q1, q->enq.queue);
		folder = q->enq.folder;
		break;
	case PV_JOB:
	case PV_WAIT:
	case PV_STOP:
	case PV_ITEM:
		snprintf(what, sizeof(what), "%s %lld", q->verb == PV_ITEM ? "item" : "job", (long long)q->job.id);
		subject = what;
		folder = q->job.folder;
		break;
	default:
		return; /* PING, STATS, HELP, QUIT, and lines that did not parse */
	}
	struct log_field f[16];
	char ids[8][24];
	cJSON *parsed = NULL;
	size_t n = log_to_journal() ? answer_fields(r, code, text, f, ids, &parsed) : 0;
	log_fields(code == PC_OK ? LOG_INFO : LOG_NOTICE, f, n, "%s %s folder %s%s%s: %s (%llu us)",
		   verb_names[q->verb], subject, folder ? log_quote(q2, folder) : "(default)",
		   q->tag[0] ? " tag " : "", q->tag, proto_code_name(code), (unsigned long long)us);
	cJSON_Delete(parsed);
}

/* Records r's answer; tells the owner unless request_start is still on
 * the stack (it looks at r->done itself). */
static void answer(struct request *r, enum proto_code code, const char *text)
{
	struct buf line = {0};

	proto_answer(&line, r->preq.tag, code, text);
	r->alen = line.len;
	r->answer = buf_steal(&line);
	r->done = true;
	uint64_t us = (uv_hrtime() - r->t0) / 1000;
	stats_answered(code, r->is_start, us);  /* "ok" counts jobs started, not PINGs */
	if (r->weight) {
		Q.pending -= r->weight;
		r->weight = 0;
		stats_pending(-1);
	}
	/* Lines that did not parse are not logged (a flood of them would be
	 * the log), nor DENIED ones (logged, rate-limited). */
	if (r->parsed && code != PC_DENIED)
		log_answer(r, code, text, us);
	if (!r->starting)
		r->done_cb(r);
}

/* ---- START with wait: one wait per job the START made, one answer. */

static void end_start_wait(struct request *r, enum proto_code code, const char *why)
{
	struct buf b = {0};

	if (code == PC_OK) {
		/* The START's answer, each job replaced by its final record. */
		cJSON *jobs = cJSON_CreateArray();
		for (int i = 0; i < r->nwaits; i++)
			cJSON_AddItemToArray(jobs, cJSON_Parse(r->records[i]));
		cJSON_ReplaceItemInObjectCaseSensitive(r->started, "jobs", jobs);
		char *s = cJSON_PrintUnformatted(r->started);
		answer(r, PC_OK, s);
		cJSON_free(s);
		return;
	}
	/* The jobs were started: the message says which, and how they were. */
	buf_printf(&b, "%s; started and not finished (they were not stopped):", why);
	for (int i = 0; i < r->nwaits; i++) {
		if (r->records[i])
			continue;
		const char *st = watch_state(&r->waits[i]);
		buf_printf(&b, " %lld (%s)", (long long)r->waits[i].id, st[0] ? st : "not read yet");
		watch_cancel(&r->waits[i]);
	}
	answer(r, code, b.p);
	buf_free(&b);
}

static void on_start_waited(struct watch_req *w, enum proto_code code, const cJSON *job,
			    const char *msg)
{
	struct request *r = w->data;
	int i = (int)(w - r->waits);

	if (r->done)
		return; /* answered already (another wait ended it) */
	if (code != PC_OK) {
		end_start_wait(r, code, code == PC_TIMEOUT ? "the wait ran out of time" : msg);
		return;
	}
	struct buf b = {0};
	jobrec_append(&b, job);
	r->records[i] = buf_steal(&b);
	if (--r->nleft == 0)
		end_start_wait(r, PC_OK, NULL);
}

/* The START's OK answer came: wait for each of its jobs. */
static void start_waiting(struct request *r, const char *text)
{
	const struct proto_start *st = &r->preq.start;

	r->started = cJSON_Parse(text);
	cJSON *jobs = cJSON_GetObjectItemCaseSensitive(r->started, "jobs");
	cJSON *folder = cJSON_GetObjectItemCaseSensitive(r->started, "folder");
	int n = cJSON_GetArraySize(jobs);
	if (n <= 0 || (!cJSON_IsString(folder) && !cJSON_IsNumber(folder))) {
		answer(r, PC_OK, text);
		return;
	}
	if (cJSON_IsString(folder))
		r->folder_path = xstrdup(folder->valuestring);
	struct rel_folder f = {r->folder_path, cJSON_IsNumber(folder) ? (int64_t)folder->valuedouble : 0};
	r->nwaits = r->nleft = n;
	r->waits = xcalloc((size_t)n, sizeof(*r->waits));
	r->records = xcalloc((size_t)n, sizeof(*r->records));
	for (int i = 0; i < n; i++) {
		cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(jobs, i), "id");
		r->waits[i].cb = on_start_waited;
		r->waits[i].data = r;
		r->waits[i].id = cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0;
	}
	/* A wait may end at once (SHUTDOWN): the others are set up first. */
	for (int i = 0; i < n && !r->done; i++)
		watch_wait(&r->waits[i], &f, r->waits[i].id, st->wait > 0 ? st->wait : Q.wait_timeout);
}

static void on_job_done(struct job *j, enum proto_code code, const char *text)
{
	struct request *r = j->data;

	if (code == PC_OK && r->preq.start.wait)
		start_waiting(r, text);
	else
		answer(r, code, text);
}

/* Whether peer may use name (a queue's, with queue; else a process's) in
 * folder f (by path or id), count jobs at once. */
static bool allowed_in(const struct access_peer *peer, bool queue, const char *name,
		       const struct rel_folder *f, int count)
{
	struct access_ask a = {
		.queue = queue,
		.name = name,
		.folder_path = f->id > 0 ? NULL : f->path,
		.folder_id = f->id,
		.count = count,
	};
	return access_allowed(peer, &a);
}

/* Whether peer may start st's process (or name, when given: the Name
 * Orchestrator resolved) in st's folder with st's count. */
static bool start_allowed(const struct access_peer *peer, const struct proto_start *st,
			  const char *name)
{
	struct rel_folder f = {st->folder ? st->folder : jobs_default_folder(), st->folder_id};

	return allowed_in(peer, false, name ? name : st->process, &f, st->count);
}

static bool job_allowed(struct job *j, const char *name)
{
	struct request *r = j->data;

	return start_allowed(&r->peer, j->st, name);
}

/* ---- the verbs: each answers r, at once or later. */

/* Each request that waits on Orchestrator holds memory until answered:
 * together they weigh at most max_queue, or r is answered BUSY and false
 * returned. A START that waits weighs the jobs it waits for; a request
 * alone always fits, however heavy. */
static bool admit(struct request *r, int weight)
{
	if (Q.pending > 0 && Q.pending + weight > Q.max_pending) {
		answer(r, PC_BUSY, "too many requests waiting for Orchestrator; nothing was sent, retry later");
		return false;
	}
	r->weight = weight;
	Q.pending += weight;
	stats_pending(1);
	return true;
}

static void verb_ping(struct request *r, const struct access_peer *peer, pid_t pid)
{
	(void)peer;
	(void)pid;
	answer(r, PC_OK, "{\"pong\":true}");
}

static void verb_help(struct request *r, const struct access_peer *peer, pid_t pid)
{
	(void)peer;
	(void)pid;
	answer(r, PC_OK, proto_help_json());
}

/* STATS lists the processes a peer may start, and no other. */
static bool may_start(const char *name, const struct rel_folder *f, void *peer)
{
	return allowed_in(peer, false, name, f, 1);
}

static void verb_stats(struct request *r, const struct access_peer *peer, pid_t pid)
{
	char *s = stats_json(access_enabled() ? may_start : NULL, (void *)peer);
	(void)pid;
	answer(r, PC_OK, s);
	cJSON_free(s);
}

static void verb_quit(struct request *r, const struct access_peer *peer, pid_t pid)
{
	(void)peer;
	(void)pid;
	/* Answered in turn; the connection closes once all is written. */
	r->quit = true;
	answer(r, PC_OK, "{\"bye\":true}");
}

static void verb_start(struct request *r, const struct access_peer *peer, pid_t pid)
{
	const struct proto_start *st = &r->preq.start;
	char err[512];

	r->is_start = true;
	stats_start();
	if (!start_allowed(peer, st, NULL)) {
		char q[LOG_QUOTE_MAX];
		log_limited(&Q.denied_log, LOG_WARNING, "DENIED: uid %u pid %d may not start %s",
			    (unsigned)peer->uid, (int)pid, log_quote(q, st->process));
		snprintf(err, sizeof(err), "uid %u may not start \"%s\" in this folder%s: no [access] "
			 "allow rule matches", (unsigned)peer->uid, st->process,
			 st->count > 1 ? " with this count" : "");
		answer(r, PC_DENIED, err);
	} else if (Q.stopping) {
		answer(r, PC_SHUTDOWN, "orchd is stopping; the job was not started");
	} else if (admit(r, st->wait ? st->count : 1)) {
		r->job.st = st;
		r->job.done = on_job_done;
		r->job.data = r;
		if (access_enabled()) {
			/* The rules are checked again with the name Orchestrator
			 * resolves, maybe after this client is gone. */
			access_peer_copy(&r->peer, peer);
			r->job.allowed = job_allowed;
		}
		jobs_start(&r->job);
	}
}

/* ---- JOB, WAIT and STOP: each reads the job first, for the access check
 * (the peer must be allowed to START its process in that folder). */

/* The folder a request names (path or id), or the default; NULL when none. */
static const struct rel_folder *req_folder(struct request *r, const char *path, int64_t id,
					   struct rel_folder *f)
{
	f->id = id;
	f->path = NULL;
	if (f->id <= 0) {
		const char *p = path ? path : jobs_default_folder();
		if (!p)
			return NULL;
		r->folder_path = xstrdup(p);
		f->path = r->folder_path;
	}
	return f;
}

/* The answer's object: the record, maybe what STOP did, and the folder as
 * the request gave it. */
static char *job_answer(struct request *r, const cJSON *job, const char *extra)
{
	struct buf b = {0};

	buf_adds(&b, "{\"job\":");
	jobrec_append(&b, job);
	if (extra)
		buf_adds(&b, extra);
	buf_adds(&b, ",\"folder\":");
	if (r->preq.job.folder_id > 0)
		buf_printf(&b, "%lld", (long long)r->preq.job.folder_id);
	else
		enc_json_str(&b, r->folder_path);
	buf_adds(&b, "}");
	return buf_steal(&b);
}

static void answer_job(struct request *r, const cJSON *job, const char *extra)
{
	char *text = job_answer(r, job, extra);

	answer(r, PC_OK, text);
	free(text);
}

static bool job_access(struct request *r, const cJSON *job)
{
	if (!access_enabled())
		return true;
	const char *process = jobrec_process(job);
	struct rel_folder f = {r->folder_path, r->preq.job.folder_id};

	return process && allowed_in(&r->peer, false, process, &f, 1); /* no process: fail closed */
}

static void on_watched(struct watch_req *w, enum proto_code code, const cJSON *job, const char *msg)
{
	struct request *r = w->data;

	r->watching = false;
	if (code != PC_OK)
		answer(r, code, msg);
	else
		answer_job(r, job, NULL);
}

static void on_stopped(struct watch_req *w, enum proto_code code, const cJSON *job, const char *msg)
{
	struct request *r = w->data;
	(void)job;

	r->watching = false;
	if (code != PC_OK) {
		answer(r, code, msg);
		return;
	}
	/* The record read before the stop, with what was asked. */
	answer(r, PC_OK, r->stop_answer);
}

static void on_first_read(struct watch_req *w, enum proto_code code, const cJSON *job, const char *msg)
{
	struct request *r = w->data;
	const struct proto_job *jb = &r->preq.job;
	char err[256];

	r->watching = false;
	if (code != PC_OK) {
		answer(r, code, msg);
		return;
	}
	if (!job_access(r, job)) {
		char q[LOG_QUOTE_MAX];
		const char *p = jobrec_process(job);
		log_limited(&Q.denied_log, LOG_WARNING, "DENIED: uid %u may not see job %lld of %s",
			    (unsigned)r->peer.uid, (long long)jb->id, log_quote(q, p));
		snprintf(err, sizeof(err), "uid %u may not %s job %lld: no [access] allow rule lets it start "
			 "that job's process in this folder", (unsigned)r->peer.uid,
			 r->preq.verb == PV_STOP ? "stop" : "read", (long long)jb->id);
		answer(r, PC_DENIED, err);
		return;
	}
	bool final = jobrec_final(jobrec_state(job));
	struct rel_folder f = {r->folder_path, jb->folder_id};
	if (r->preq.verb == PV_JOB || (r->preq.verb == PV_WAIT && final)) {
		answer_job(r, job, NULL);
	} else if (r->preq.verb == PV_WAIT) {
		r->wr.cb = on_watched;
		r->watching = true;
		watch_wait(&r->wr, &f, jb->id, jb->timeout ? jb->timeout : Q.wait_timeout);
	} else if (final || Q.stopping) {
		if (final)
			answer_job(r, job, ",\"stopping\":false");
		else
			answer(r, PC_SHUTDOWN, "orchd is stopping; the stop was not sent");
	} else {
		/* Keep the record for the answer; send the stop. */
		r->stop_answer = job_answer(r, job, jb->kill ? ",\"stopping\":true,\"strategy\":\"Kill\""
							     : ",\"stopping\":true,\"strategy\":\"SoftStop\"");
		r->wr.cb = on_stopped;
		r->watching = true;
		watch_stop(&r->wr, &f, jb->id, jb->kill);
	}
}

static void verb_job(struct request *r, const struct access_peer *peer, pid_t pid)
{
	struct rel_folder f;
	(void)pid;

	if (Q.stopping) {
		answer(r, PC_SHUTDOWN, "orchd is stopping; nothing was sent");
		return;
	}
	if (!admit(r, 1))
		return;
	if (!req_folder(r, r->preq.job.folder, r->preq.job.folder_id, &f)) {
		answer(r, PC_FOLDER, "no folder: name one in the request or set [orchestrator] folder");
		return;
	}
	if (access_enabled()) {
		access_peer_copy(&r->peer, peer);
	} else if (r->preq.verb == PV_WAIT) {
		/* No access to check: nothing to read first. */
		r->wr.cb = on_watched;
		r->wr.data = r;
		r->watching = true;
		watch_wait(&r->wr, &f, r->preq.job.id,
			   r->preq.job.timeout ? r->preq.job.timeout : Q.wait_timeout);
		return;
	}
	r->wr.cb = on_first_read;
	r->wr.data = r;
	r->watching = true;
	watch_read(&r->wr, &f, r->preq.job.id, r->preq.verb == PV_WAIT);
}

/* ---- ENQUEUE and ITEM: a queue: rule must match the queue (for ITEM,
 * the item's queue, learnt from Orchestrator). */

static void on_queue_done(struct queue_req *q, enum proto_code code, const char *text)
{
	struct request *r = q->data;

	r->queueing = false;
	answer(r, code, text);
}

/* The rules asked again with the queue's name as Orchestrator has it:
 * the item's queue (ITEM), or the queue the name resolved to (ENQUEUE). */
static bool resolved_queue_allowed(struct queue_req *q, const char *queue)
{
	struct request *r = q->data;

	if (allowed_in(&r->peer, true, queue, &q->folder, 1))
		return true;
	char qq[LOG_QUOTE_MAX];
	if (q->enq)
		log_limited(&Q.denied_log, LOG_WARNING, "DENIED: uid %u may not add to queue %s",
			    (unsigned)r->peer.uid, log_quote(qq, queue));
	else
		log_limited(&Q.denied_log, LOG_WARNING, "DENIED: uid %u may not read item %lld of queue %s",
			    (unsigned)r->peer.uid, (long long)q->item_id, log_quote(qq, queue));
	return false;
}

static void verb_queue(struct request *r, const struct access_peer *peer, pid_t pid)
{
	const struct proto_enqueue *e = r->preq.verb == PV_ENQUEUE ? &r->preq.enq : NULL;
	const char *path = e ? e->folder : r->preq.job.folder;
	int64_t id = e ? e->folder_id : r->preq.job.folder_id;
	char err[512];

	if (Q.stopping) {
		answer(r, PC_SHUTDOWN, "orchd is stopping; nothing was sent");
		return;
	}
	if (!admit(r, 1))
		return;
	if (!req_folder(r, path, id, &r->qr.folder)) {
		answer(r, PC_FOLDER, "no folder: name one in the request or set [orchestrator] folder");
		return;
	}
	if (e && !allowed_in(peer, true, e->queue, &r->qr.folder, 1)) {
		char q[LOG_QUOTE_MAX];
		log_limited(&Q.denied_log, LOG_WARNING, "DENIED: uid %u pid %d may not add to queue %s",
			    (unsigned)peer->uid, (int)pid, log_quote(q, e->queue));
		snprintf(err, sizeof(err), "uid %u may not add items to queue \"%s\" in this folder: no "
			 "[access] allow rule \"queue:GLOB\" matches", (unsigned)peer->uid, e->queue);
		answer(r, PC_DENIED, err);
		return;
	}
	r->qr.enq = e;
	r->qr.item_id = r->preq.job.id;
	r->qr.done = on_queue_done;
	r->qr.data = r;
	r->qr.allowed = NULL;
	if (access_enabled()) {
		access_peer_copy(&r->peer, peer);
		r->qr.allowed = resolved_queue_allowed;
	}
	r->queueing = true;
	if (e)
		queue_enqueue(&r->qr);
	else
		queue_item(&r->qr);
}

static void (*const verbs[])(struct request *r, const struct access_peer *peer, pid_t pid) = {
	[PV_START] = verb_start,
	[PV_JOB] = verb_job,
	[PV_WAIT] = verb_job,
	[PV_STOP] = verb_job,
	[PV_PING] = verb_ping,
	[PV_STATS] = verb_stats,
	[PV_HELP] = verb_help,
	[PV_QUIT] = verb_quit,
	[PV_ENQUEUE] = verb_queue,
	[PV_ITEM] = verb_queue,
};

void request_start(struct request *r, const char *line, size_t len, const struct access_peer *peer,
		   pid_t pid)
{
	char err[512];

	r->starting = true;
	enum proto_code rc = proto_parse(line, len, &r->preq, err, sizeof(err));
	r->tagged = r->preq.tag[0] != '\0';
	r->parsed = rc == PC_OK;
	if (rc != PC_OK)
		answer(r, rc, err);
	else if ((size_t)r->preq.verb < ARRAY_LEN(verbs) && verbs[r->preq.verb])
		verbs[r->preq.verb](r, peer, pid);
	else
		answer(r, PC_BAD_REQUEST, "empty request");
	r->starting = false;
}

void request_too_long(struct request *r, size_t max_line)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "line longer than max_line (%zu bytes); closing the connection",
		 max_line);
	r->starting = true;
	answer(r, PC_TOO_LONG, msg);
	r->starting = false;
}
