#include "request.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "admit.h"
#include "jobrec.h"
#include "log.h"
#include "stats.h"

/* What admission asks of a verb's requests before anything costs. */
enum verb_rules { RULES_NONE, RULES_PROCESS, RULES_QUEUE };

/* One row per verb: a new verb is a module and a row here. */
struct verb {
	const char *name;
	enum verb_rules rules;         /* which allow rules could match it */
	bool upstream;                 /* reaches Orchestrator: a place, bytes, logged */
	bool effect;                   /* runs to its end when its client goes */
	void (*run)(struct request *r);
	void (*cancel)(struct request *r);
	/* With effect: whether what is left of r has none any more. */
	bool (*spent)(const struct request *r);
};

static void run_ping(struct request *r);
static void run_stats(struct request *r);
static void run_help(struct request *r);
static void run_quit(struct request *r);

static const struct verb verbs[] = {
	[PV_START] = {"START", RULES_PROCESS, true, true, start_run, start_cancel, start_only_waits},
	[PV_JOB] = {"JOB", RULES_PROCESS, true, false, jobverbs_run, jobverbs_cancel, NULL},
	[PV_WAIT] = {"WAIT", RULES_PROCESS, true, false, jobverbs_run, jobverbs_cancel, NULL},
	[PV_STOP] = {"STOP", RULES_PROCESS, true, true, jobverbs_run, jobverbs_cancel, NULL},
	[PV_ENQUEUE] = {"ENQUEUE", RULES_QUEUE, true, true, enqueue_run, enqueue_cancel, NULL},
	[PV_ITEM] = {"ITEM", RULES_QUEUE, true, false, enqueue_run, enqueue_cancel, NULL},
	[PV_LOGS] = {"LOGS", RULES_PROCESS, true, false, logs_run, logs_cancel, NULL},
	[PV_PING] = {"PING", RULES_NONE, false, false, run_ping, NULL, NULL},
	[PV_STATS] = {"STATS", RULES_NONE, false, false, run_stats, NULL, NULL},
	[PV_HELP] = {"HELP", RULES_NONE, false, false, run_help, NULL, NULL},
	[PV_QUIT] = {"QUIT", RULES_NONE, false, false, run_quit, NULL, NULL},
};

static struct {
	int wait_timeout;
	char *default_folder;
	int nlive;
	bool stopping;
	LIST_HEAD(, request) live;
	struct log_limit denied_log;    /* a flood of refusals is summarised */
} Q;

void request_configure(const struct conf *conf)
{
	Q.wait_timeout = conf->wait_timeout;
	free(Q.default_folder);
	Q.default_folder = conf->folder ? xstrdup(conf->folder) : NULL;
	admit_configure(conf->max_queue, conf->max_queue_per_peer, conf->max_pending_bytes);
}

void request_init(const struct conf *conf)
{
	LIST_INIT(&Q.live);
	log_limit_init(&Q.denied_log, 10, 10);
	admit_init(conf->max_queue, conf->max_queue_per_peer, conf->max_pending_bytes);
	start_init();
	enqueue_init();
	request_configure(conf);
}

void request_shutdown(void)
{
	Q.stopping = true;
}

bool request_hold(struct request *r, size_t bytes, const char **why)
{
	if (!r->use) {
		*why = "the request holds no place";
		return false;
	}
	/* Only its line is its own: "a request alone always fits" holds for
	 * its first output, not for each of a START's many. */
	if (!admit_grow(r->use, r->bytes - r->held, bytes, why))
		return false;
	r->bytes += bytes;
	r->held += bytes;
	return true;
}

bool request_gone(const struct request *r)
{
	return r->owner == NULL;
}

bool request_stopping(void)
{
	return Q.stopping;
}

int request_wait_timeout(void)
{
	return Q.wait_timeout;
}

int request_live(void)
{
	return Q.nlive;
}

void request_log_denied(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_limited(&Q.denied_log, LOG_WARNING, "%s", line);
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

/* Gives back r's place and the bytes of its line; with all, also the bytes
 * of outputs it holds (request_hold), which an answer keeps until it leaves
 * for its connection: one waiting behind an earlier untagged request is
 * memory as much as a line. */
static void unadmit(struct request *r, bool all)
{
	if (!r->use)
		return;
	size_t give = all ? r->bytes : r->bytes - r->held;
	admit_give(r->use, r->placed ? (r->preq.verb == PV_START && r->preq.start.wait ? r->preq.start.count : 1) : 0,
		   give);
	if (r->placed)
		stats_pending(-1);
	r->placed = false;
	r->bytes -= give;
	if (r->bytes == 0)
		r->use = NULL;
}

void request_free(struct request *r)
{
	unadmit(r, true);
	LIST_REMOVE(r, live);
	proto_req_free(&r->preq);
	access_peer_free(&r->peer);
	free(r->folder_path);
	free(r->answer);
	free(r);
	Q.nlive--;
}

/* Takes r back from its verb: it will not be answered. */
static void cancel(struct request *r)
{
	r->verb->cancel(r);
	r->at_work = false;
	r->cancelled = true;
	unadmit(r, true);
}

void request_close(void)
{
	struct request *r, *next;

	for (r = LIST_FIRST(&Q.live); r; r = next) {
		next = LIST_NEXT(r, live);
		if (!r->at_work)
			continue;
		cancel(r);
		if (!r->owner)
			request_free(r);
	}
	/* Answers still held by their connections keep their outputs' bytes:
	 * given back now, before the accounts go (the connections free those
	 * requests in a later turn of the loop). */
	LIST_FOREACH(r, &Q.live, live)
		unadmit(r, true);
	admit_close();
	free(Q.default_folder);
	Q.default_folder = NULL;
}

bool request_orphaned(struct request *r)
{
	if (!r->at_work || (r->verb->effect && !(r->verb->spent && r->verb->spent(r))))
		return false;
	cancel(r);
	return true;
}

bool request_allowed(const struct request *r, bool queue, const char *name, int count)
{
	struct access_ask a = {
		.queue = queue,
		.name = name,
		.folder_path = r->folder.id > 0 ? NULL : r->folder.path,
		.folder_id = r->folder.id,
		.count = count,
	};
	return access_allowed(&r->peer, &a);
}

bool request_job_access(struct request *r, const cJSON *job, const char *doing)
{
	const char *process = jobrec_process(job);
	char err[256], q[LOG_QUOTE_MAX];

	if (!access_enabled() || (process && request_allowed(r, false, process, 1)))
		return true;
	request_log_denied("DENIED: uid %u may not %s job %lld of %s", (unsigned)r->peer.uid, doing,
			   (long long)r->preq.job.id, log_quote(q, process));
	snprintf(err, sizeof(err), "uid %u may not %s job %lld in this folder: no [access] allow rule "
		 "lets it start that job's process there", (unsigned)r->peer.uid, doing,
		 (long long)r->preq.job.id);
	request_answer(r, PC_DENIED, err);
	return false;
}

static void named(const struct proto_req *q, const char **path, int64_t *id, const char **name);

/* One line per answer of the verbs that reach Orchestrator, with the
 * fields the verb told (r->facts) under journald. */
static void log_answer(struct request *r, enum proto_code code, uint64_t us)
{
	const struct proto_req *q = &r->preq;
	const struct request_facts *fa = &r->facts;
	char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX], what[64], fb[FOLDER_NAME_MAX], ids[REQUEST_FACT_IDS][24];
	const char *subject;
	struct log_field f[8 + REQUEST_FACT_IDS];
	size_t n = 0;

	if (q->verb == PV_START)
		subject = log_quote(q1, q->start.process);
	else if (q->verb == PV_ENQUEUE)
		subject = log_quote(q1, q->enq.queue);
	else
		subject = what, snprintf(what, sizeof(what), "%s %lld", q->verb == PV_ITEM ? "item" : "job",
					 (long long)q->job.id);
	/* The message names the folder as the request did; the field, the
	 * folder used. */
	const char *path, *name;
	int64_t id;
	named(q, &path, &id, &name);
	const char *folder = r->folder.path || r->folder.id > 0 ? folder_name(&r->folder, fb) : NULL;
	const char *asked = id > 0 || path ? folder : NULL;
	if (log_to_journal()) {
		f[n++] = (struct log_field){"ORCHD_VERB", r->verb->name};
		f[n++] = (struct log_field){"ORCHD_CODE", proto_code_name(code)};
		f[n++] = (struct log_field){"ORCHD_TAG", q->tag[0] ? q->tag : NULL};
		f[n++] = (struct log_field){"ORCHD_PROCESS", q->verb == PV_START ? q->start.process : NULL};
		f[n++] = (struct log_field){"ORCHD_QUEUE", q->verb == PV_ENQUEUE ? q->enq.queue : NULL};
		f[n++] = (struct log_field){"ORCHD_FOLDER", folder};
		for (int i = 0; i < fa->nids; i++) {
			snprintf(ids[i], sizeof(ids[i]), "%lld", fa->ids[i]);
			f[n++] = (struct log_field){fa->item ? "ORCHD_ITEM_ID" : "ORCHD_JOB_ID", ids[i]};
		}
		f[n++] = (struct log_field){"ORCHD_STATE", fa->state};
		f[n++] = (struct log_field){"ORCHD_REFERENCE", fa->reference ? fa->reference
						: q->verb == PV_START ? q->start.reference
						: q->verb == PV_ENQUEUE ? q->enq.reference : NULL};
	}
	log_fields(code == PC_OK ? LOG_INFO : LOG_NOTICE, f, n, "%s %s folder %s%s%s: %s (%llu us)",
		   r->verb->name, subject, asked ? log_quote(q2, asked) : "(default)",
		   q->tag[0] ? " tag " : "", q->tag, proto_code_name(code), (unsigned long long)us);
}

void request_answer(struct request *r, enum proto_code code, const char *text)
{
	struct buf line = {0};

	proto_answer(&line, r->preq.tag, code, text);
	r->alen = line.len;
	r->answer = buf_steal(&line);
	r->done = true;
	r->at_work = false;
	uint64_t us = (uv_hrtime() - r->t0) / 1000;
	/* "ok" counts jobs started, not PINGs. */
	stats_answered(code, r->parsed && r->preq.verb == PV_START, us);
	unadmit(r, false);
	/* Lines that did not parse are not logged (a flood of them would be
	 * the log), nor DENIED ones (logged, rate-limited). */
	if (r->parsed && r->verb->upstream && code != PC_DENIED)
		log_answer(r, code, us);
	if (!r->starting)
		r->done_cb(r);
}

/* ---- the verbs that never reach Orchestrator */

static void run_ping(struct request *r)
{
	request_answer(r, PC_OK, "{\"pong\":true}");
}

static void run_help(struct request *r)
{
	request_answer(r, PC_OK, proto_help_json());
}

/* STATS lists the processes a peer may start, and no other. */
static bool may_start(const char *name, const struct folder *f, void *ctx)
{
	struct request *r = ctx;
	struct access_ask a = {false, name, f->id > 0 ? NULL : f->path, f->id, 1};

	return access_allowed(&r->peer, &a);
}

static void run_stats(struct request *r)
{
	char *s = stats_json(access_enabled() ? may_start : NULL, r);

	request_answer(r, PC_OK, s);
	cJSON_free(s);
}

static void run_quit(struct request *r)
{
	/* Answered in turn; the connection closes once all is written. */
	r->quit = true;
	request_answer(r, PC_OK, "{\"bye\":true}");
}

/* ---- admission */

/* The folder a request names, and the name its rules are asked with now
 * (NULL when only Orchestrator knows it: a job's process, an item's queue). */
static void named(const struct proto_req *q, const char **path, int64_t *id, const char **name)
{
	switch (q->verb) {
	case PV_START:
		*path = q->start.folder, *id = q->start.folder_id, *name = q->start.process;
		break;
	case PV_ENQUEUE:
		*path = q->enq.folder, *id = q->enq.folder_id, *name = q->enq.queue;
		break;
	default:
		*path = q->job.folder, *id = q->job.folder_id, *name = NULL;
	}
}

/* Whether any rule of r's kind could allow it; DENIED (naming only what
 * the request named) when none. */
static bool access_first(struct request *r, pid_t pid)
{
	const struct proto_req *q = &r->preq;
	const char *path, *name;
	int64_t id;
	char err[512], qn[LOG_QUOTE_MAX];

	named(q, &path, &id, &name);
	bool queue = r->verb->rules == RULES_QUEUE;
	int count = q->verb == PV_START ? q->start.count : 0;
	if (request_allowed(r, queue, name, count))
		return true;
	const char *what = q->verb == PV_START ? "start" : q->verb == PV_ENQUEUE ? "add to queue"
			 : q->verb == PV_STOP ? "stop job" : queue ? "read queue item"
			 : q->verb == PV_LOGS ? "read the log of job" : "read job";
	if (name)
		request_log_denied("DENIED: uid %u pid %d may not %s %s", (unsigned)r->peer.uid, (int)pid,
				   what, log_quote(qn, name));
	else
		request_log_denied("DENIED: uid %u pid %d may not %s %lld", (unsigned)r->peer.uid, (int)pid,
				   what, (long long)q->job.id);
	if (q->verb == PV_START)
		snprintf(err, sizeof(err), "uid %u may not start \"%s\" in this folder%s: no [access] allow "
			 "rule matches", (unsigned)r->peer.uid, name, count > 1 ? " with this count" : "");
	else if (q->verb == PV_ENQUEUE)
		snprintf(err, sizeof(err), "uid %u may not add items to queue \"%s\" in this folder: no "
			 "[access] allow rule \"queue:GLOB\" matches", (unsigned)r->peer.uid, name);
	else
		snprintf(err, sizeof(err), "uid %u may not %s %lld in this folder: no [access] allow rule "
			 "%s matches", (unsigned)r->peer.uid, what, (long long)q->job.id,
			 queue ? "\"queue:GLOB\"" : "for processes");
	request_answer(r, PC_DENIED, err);
	return false;
}

/* Runs r's verb once it passed admission (rules, stopping, places, bytes). */
static void admit_and_run(struct request *r, const struct access_peer *peer, pid_t pid, size_t len)
{
	const struct proto_req *q = &r->preq;
	const char *path, *name, *why;
	int64_t id;

	named(q, &path, &id, &name);
	if (!folder_pick(&r->folder, &r->folder_path, path, id, Q.default_folder)) {
		request_answer(r, PC_FOLDER, "no folder: name one in the request or set [orchestrator] folder");
		return;
	}
	r->peer.uid = peer->uid;
	if (access_enabled()) {
		/* The rules are asked again later (the resolved name, the
		 * job's process), maybe after this client is gone. */
		access_peer_copy(&r->peer, peer);
		if (!access_first(r, pid))
			return;
	}
	if (Q.stopping) {
		request_answer(r, PC_SHUTDOWN, "orchd is stopping; nothing was sent");
		return;
	}
	/* A START that waits holds a wait per job it makes. */
	int places = q->verb == PV_START && q->start.wait ? q->start.count : 1;
	r->use = admit_take(peer->uid, places, len, &why);
	if (!r->use) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s; nothing was sent, retry later", why);
		request_answer(r, PC_BUSY, msg);
		return;
	}
	r->bytes = len;
	r->placed = true;
	stats_pending(1);
	if (q->verb == PV_START)
		stats_start();
	r->at_work = true;
	r->verb->run(r);
}

void request_start(struct request *r, const char *line, size_t len, const struct access_peer *peer,
		   pid_t pid)
{
	char err[512];

	r->starting = true;
	enum proto_code rc = proto_parse(line, len, &r->preq, err, sizeof(err));
	r->tagged = r->preq.tag[0] != '\0';
	r->parsed = rc == PC_OK;
	if (rc == PC_OK && ((size_t)r->preq.verb >= ARRAY_LEN(verbs) || !verbs[r->preq.verb].run)) {
		rc = PC_BAD_REQUEST;
		snprintf(err, sizeof(err), "empty request");
	}
	r->verb = rc == PC_OK ? &verbs[r->preq.verb] : &verbs[PV_PING];
	if (rc != PC_OK) {
		r->parsed = false;
		request_answer(r, rc, err);
	} else if (r->verb->upstream) {
		admit_and_run(r, peer, pid, len);
	} else {
		if (r->preq.verb == PV_STATS)
			access_peer_copy(&r->peer, peer);
		r->verb->run(r);
	}
	r->starting = false;
}

void request_too_long(struct request *r, size_t max_line)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "line longer than max_line (%zu bytes); closing the connection",
		 max_line);
	r->verb = &verbs[PV_PING];
	r->starting = true;
	request_answer(r, PC_TOO_LONG, msg);
	r->starting = false;
}
