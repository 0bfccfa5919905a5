#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "enc.h"
#include "jobrec.h"
#include "log.h"

/* The first reads of a waited job come 1, 2 and 4 s after the one before
 * (a job that ends within seconds is seen soon), then every poll_interval. */
#define WATCH_EARLY_READS 3
#define WATCH_FIRST_MS 1000
/* Above this many waited jobs, a folder's states are read together: a
 * collection query of at most WATCH_CHUNK ids each (docs/orchestrator.md
 * section 8), within list_budget queries in any 60 s. */
#define WATCH_SINGLES_MAX 3
#define WATCH_CHUNK 50

struct watched;

/* The waited jobs of one folder, when read together. */
struct wfolder {
	struct rel_folder folder;      /* folder.path is path */
	char *path, *name;
	TAILQ_HEAD(, watched) jobs;    /* those with waits */
	int n;
	struct watched *cursor;        /* where the next chunk begins */
	struct watched *topup;         /* the next one read alone while over budget */
	unsigned query;                /* which query is in flight (jobs remember theirs) */
	uint64_t cycle_at;             /* when the current sweep began */
	int chunks_left;               /* in the current sweep */
	struct delayq_item next;       /* the next query */
	bool querying;
	struct orch_call call;
	LIST_ENTRY(wfolder) link;
};

struct watched {
	struct rel_folder folder;      /* folder.path is folder_path */
	char *folder_path;
	char *folder_name;             /* for messages */
	int64_t id;
	char state[32];                /* the last state read, "" before one */
	char *last;                    /* the last read, while waits remain */
	TAILQ_HEAD(, watch_req) reqs;
	int nwaits;
	int polls;                     /* reads since the first wait */
	bool reading;
	struct orch_call call;
	struct delayq_item next;       /* the next read, when waits remain */
	bool output_read;              /* the read of an ended job for its outputs */
	unsigned query;                /* the collection query that asked for it, until its answer held it */
	struct wfolder *wf;            /* while waited */
	TAILQ_ENTRY(watched) wf_link;
	LIST_ENTRY(watched) link;
};

static struct {
	uv_loop_t *loop;
	uint64_t poll_ms;
	double rate;                   /* reads a second */
	double tokens;
	uint64_t tokens_at;
	bool stopping;
	struct delayq reads;           /* watched jobs due for a read */
	struct delayq timeouts;        /* waits due to end */
	struct delayq sweeps;          /* folders due for a collection query */
	LIST_HEAD(, watched) jobs;
	LIST_HEAD(, wfolder) folders;
	int njobs, nwaits;
	unsigned long single_reads, collection_reads;
} W;

static void on_sweep_due(struct delayq_item *it);
static void schedule_poll(struct watched *j, uint64_t delay_ms);
static void folder_join(struct watched *j);
static void folder_leave(struct watched *j);

static void on_read_due(struct delayq_item *it);
static void on_timeout(struct delayq_item *it);

void watch_configure(const struct conf *conf)
{
	W.poll_ms = (uint64_t)conf->poll_interval * 1000;
	W.rate = conf->max_single_reads;
}

void watch_init(uv_loop_t *loop, const struct conf *conf)
{
	W.loop = loop;
	LIST_INIT(&W.jobs);
	delayq_init(&W.reads, loop, on_read_due);
	delayq_init(&W.timeouts, loop, on_timeout);
	delayq_init(&W.sweeps, loop, on_sweep_due);
	LIST_INIT(&W.folders);
	watch_configure(conf);
	W.tokens = W.rate;
	W.tokens_at = uv_now(loop);
}

static bool same_folder(const struct watched *j, const struct rel_folder *f)
{
	if (f->id > 0 || j->folder.id > 0)
		return f->id == j->folder.id;
	return strcmp(f->path, j->folder.path) == 0;
}

static struct watched *find_or_add(const struct rel_folder *f, int64_t id)
{
	struct watched *j;

	LIST_FOREACH(j, &W.jobs, link)
		if (j->id == id && same_folder(j, f))
			return j;
	j = xcalloc(1, sizeof(*j));
	j->id = id;
	j->folder.id = f->id;
	if (f->id <= 0)
		j->folder_path = xstrdup(f->path);
	j->folder.path = j->folder_path;
	j->folder_name = f->id > 0 ? xasprintf("%lld", (long long)f->id) : xstrdup(f->path);
	TAILQ_INIT(&j->reqs);
	LIST_INSERT_HEAD(&W.jobs, j, link);
	W.njobs++;
	return j;
}

/* Frees j once nobody wants it and no read of it is in flight. */
static void maybe_free(struct watched *j)
{
	if (!TAILQ_EMPTY(&j->reqs) || j->reading)
		return;
	delayq_remove(&W.reads, &j->next);
	LIST_REMOVE(j, link);
	W.njobs--;
	orch_call_reset(&j->call);
	free(j->last);
	free(j->folder_path);
	free(j->folder_name);
	free(j);
}

static void detach(struct watch_req *w)
{
	struct watched *j = w->job;

	TAILQ_REMOVE(&j->reqs, w, link);
	if (w->final_only) {
		j->nwaits--;
		W.nwaits--;
		if (j->nwaits == 0)
			folder_leave(j);
	}
	delayq_remove(&W.timeouts, &w->timeout);
	memcpy(w->state, j->state, sizeof(w->state));
	w->job = NULL;
}

/* A read of j in delay_ms at the latest. */
static void want_read(struct watched *j, uint64_t delay_ms)
{
	if (!j->reading)
		delayq_within(&W.reads, &j->next, delay_ms);
}

static bool take_token(void)
{
	uint64_t now = uv_now(W.loop);

	W.tokens += (double)(now - W.tokens_at) * W.rate / 1000.0;
	if (W.tokens > W.rate)
		W.tokens = W.rate;
	W.tokens_at = now;
	if (W.tokens < 1.0)
		return false;
	W.tokens -= 1.0;
	return true;
}

static void on_read(struct orch_call *c);

static void on_read_due(struct delayq_item *it)
{
	struct watched *j = container_of(it, struct watched, next);

	if (!j->output_read && !take_token()) {
		/* Over max_single_reads: this one waits its turn. */
		delayq_add(&W.reads, &j->next, (uint64_t)(1000.0 / W.rate) + 1);
		return;
	}
	j->reading = true;
	j->output_read = false;
	W.single_reads++;
	j->call.op = OP_JOB_GET;
	j->call.url = xasprintf("%s/odata/Jobs(%lld)", orch_base(), (long long)j->id);
	j->call.folder_hdr = enc_folder_header(j->folder.path, j->folder.id);
	j->call.folder = j->folder_name;
	j->call.done = on_read;
	j->call.data = j;
	orch_send(&j->call);
}

/* Codes after which reading again cannot help. */
static bool terminal(enum proto_code code)
{
	return code != PC_UNAVAILABLE && code != PC_UNKNOWN && code != PC_SHUTDOWN;
}

static void on_read(struct orch_call *c)
{
	struct watched *j = c->data;
	enum proto_code code = c->code;
	char msg[sizeof(c->msg) + 128];
	const cJSON *job = NULL;
	const char *state = NULL;

	j->reading = false;
	if (code == PC_OK) {
		job = c->json;
		state = jobrec_state(job);
		if (!cJSON_IsObject(job) || !state) {
			/* A proxy's page, say: worth reading again at the next poll. */
			code = PC_UNAVAILABLE;
			snprintf(msg, sizeof(msg), "Orchestrator's answer for job %lld has no State",
				 (long long)j->id);
		} else {
			snprintf(j->state, sizeof(j->state), "%s", state);
		}
	} else if (c->status == 404 || c->error_code == 1002) {
		code = PC_NOT_FOUND;
		snprintf(msg, sizeof(msg), "no job %lld in folder \"%s\"", (long long)j->id, j->folder_name);
	} else {
		snprintf(msg, sizeof(msg), "%s", c->msg);
	}
	bool final = code == PC_OK && jobrec_final(state);
	/* Answer from a snapshot: a callback may cancel or add requests. */
	TAILQ_HEAD(, watch_req) done = TAILQ_HEAD_INITIALIZER(done);
	struct watch_req *w, *next;
	for (w = TAILQ_FIRST(&j->reqs); w; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->final_only && !final && !(code != PC_OK && terminal(code)))
			continue;
		detach(w);
		TAILQ_INSERT_TAIL(&done, w, link);
	}
	j->reading = true; /* keeps j while the callbacks run */
	while ((w = TAILQ_FIRST(&done))) {
		TAILQ_REMOVE(&done, w, link);
		w->cb(w, code, code == PC_OK ? job : NULL, code == PC_OK ? NULL : msg);
	}
	j->reading = false;
	free(j->last);
	j->last = j->nwaits > 0 && job ? cJSON_PrintUnformatted(job) : NULL;
	orch_call_reset(&j->call);
	if (j->nwaits > 0 && !W.stopping) {
		uint64_t d = j->polls < WATCH_EARLY_READS ? (uint64_t)WATCH_FIRST_MS << j->polls : W.poll_ms;
		j->polls++;
		schedule_poll(j, d < W.poll_ms ? d : W.poll_ms);
	} else if (!TAILQ_EMPTY(&j->reqs)) {
		want_read(j, 0); /* a read request that came during this read */
	}
	maybe_free(j);
}

/* ---- reading many jobs of a folder together */

static struct wfolder *folder_of(const struct watched *j)
{
	struct wfolder *f;

	LIST_FOREACH(f, &W.folders, link)
		if (f->folder.id > 0 || j->folder.id > 0 ? f->folder.id == j->folder.id
							  : strcmp(f->folder.path, j->folder.path) == 0)
			return f;
	f = xcalloc(1, sizeof(*f));
	f->folder.id = j->folder.id;
	if (j->folder.id <= 0)
		f->path = xstrdup(j->folder.path);
	f->folder.path = f->path;
	f->name = xstrdup(j->folder_name);
	TAILQ_INIT(&f->jobs);
	LIST_INSERT_HEAD(&W.folders, f, link);
	return f;
}

static void folder_free(struct wfolder *f)
{
	if (f->n > 0 || f->querying)
		return;
	delayq_remove(&W.sweeps, &f->next);
	LIST_REMOVE(f, link);
	orch_call_reset(&f->call);
	free(f->path);
	free(f->name);
	free(f);
}

/* Whether f's jobs are read together now. */
static bool collecting(const struct wfolder *f)
{
	/* After a 429, single reads until its pause is over. */
	return f && f->n > WATCH_SINGLES_MAX && budget_wait() != BUDGET_NEVER && !budget_paused();
}

static void folder_join(struct watched *j)
{
	struct wfolder *f = folder_of(j);

	j->wf = f;
	TAILQ_INSERT_TAIL(&f->jobs, j, wf_link);
	f->n++;
	if (f->n == WATCH_SINGLES_MAX + 1 && collecting(f)) {
		/* From now on the folder's sweep reads them: their own polls go. */
		struct watched *k;
		TAILQ_FOREACH(k, &f->jobs, wf_link)
			delayq_remove(&W.reads, &k->next);
	}
}

static void folder_leave(struct watched *j)
{
	struct wfolder *f = j->wf;

	if (f->cursor == j)
		f->cursor = TAILQ_NEXT(j, wf_link);
	if (f->topup == j)
		f->topup = TAILQ_NEXT(j, wf_link);
	TAILQ_REMOVE(&f->jobs, j, wf_link);
	f->n--;
	j->wf = NULL;
	folder_free(f);
}

static void ensure_sweep(struct wfolder *f, uint64_t delay_ms)
{
	if (!f->querying)
		delayq_within(&W.sweeps, &f->next, delay_ms);
}

/* The next poll of waited job j: its own read, or its folder's sweep. */
static void schedule_poll(struct watched *j, uint64_t delay_ms)
{
	if (collecting(j->wf))
		ensure_sweep(j->wf, delay_ms);
	else
		want_read(j, delay_ms);
}

static void on_collected(struct orch_call *c);

static void on_sweep_due(struct delayq_item *it)
{
	struct wfolder *f = container_of(it, struct wfolder, next);
	struct watched *j;

	if (W.stopping || f->n == 0)
		return;
	if (!collecting(f)) {
		/* Few jobs left, or single reads after a 429: each polls itself. */
		TAILQ_FOREACH(j, &f->jobs, wf_link)
			want_read(j, 0);
		return;
	}
	uint64_t wait = budget_wait();
	if (wait > 0) {
		/* The budget wins over freshness; single reads top it up, a
		 * second's worth of max_single_reads at a time, in turn from
		 * where the sweep goes next (those read longest ago). */
		j = f->topup ? f->topup : f->cursor ? f->cursor : TAILQ_FIRST(&f->jobs);
		for (int n = 0; j && n < (int)W.rate; n++) {
			want_read(j, 0);
			j = TAILQ_NEXT(j, wf_link) ? TAILQ_NEXT(j, wf_link) : TAILQ_FIRST(&f->jobs);
		}
		f->topup = j;
		delayq_add(&W.sweeps, &f->next, wait < 1000 ? wait : 1000);
		return;
	}
	uint64_t now = uv_now(W.loop);
	if (f->chunks_left <= 0) {
		f->cycle_at = now;
		f->chunks_left = (f->n + WATCH_CHUNK - 1) / WATCH_CHUNK;
		f->cursor = NULL;
	}
	struct buf b = {0};
	buf_printf(&b, "%s/odata/Jobs?$filter=", orch_base());
	struct buf flt = {0};
	buf_adds(&flt, "Id in (");
	int n = 0;
	f->query++;
	for (j = f->cursor ? f->cursor : TAILQ_FIRST(&f->jobs); j && n < WATCH_CHUNK;
	     j = TAILQ_NEXT(j, wf_link), n++) {
		buf_printf(&flt, "%s%lld", n ? "," : "", (long long)j->id);
		j->query = f->query;
	}
	f->cursor = j;
	buf_adds(&flt, ")");
	char *q = curl_easy_escape(NULL, flt.p, (int)flt.len);
	buf_adds(&b, q);
	buf_adds(&b, "&$select=Id,State");
	curl_free(q);
	buf_free(&flt);
	f->chunks_left--;
	f->querying = true;
	budget_take();
	W.collection_reads++;
	f->call.op = OP_JOB_GET;
	f->call.url = buf_steal(&b);
	f->call.folder_hdr = enc_folder_header(f->folder.path, f->folder.id);
	f->call.folder = f->name;
	f->call.done = on_collected;
	f->call.data = f;
	/* One attempt: a 429 is a sign to back off, not to spend more. */
	f->call.max_attempts = 1;
	orch_send(&f->call);
}

static struct watched *in_folder(struct wfolder *f, int64_t id)
{
	struct watched *j;

	TAILQ_FOREACH(j, &f->jobs, wf_link)
		if (j->id == id)
			return j;
	return NULL;
}

static void on_collected(struct orch_call *c)
{
	struct wfolder *f = c->data;
	uint64_t now = uv_now(W.loop);
	struct watched *j;

	f->querying = false;
	if (c->code == PC_OK) {
		cJSON *it, *value = cJSON_GetObjectItemCaseSensitive(c->json, "value");
		cJSON_ArrayForEach(it, value) {
			cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "Id");
			const char *state = jobrec_state(it);
			j = cJSON_IsNumber(id) ? in_folder(f, (int64_t)id->valuedouble) : NULL;
			if (!j || !state)
				continue;
			j->query = 0; /* held */
			snprintf(j->state, sizeof(j->state), "%s", state);
			if (jobrec_final(state)) {
				/* Collections carry no outputs: one read of its own for
				 * them, outside max_single_reads. */
				j->output_read = true;
				want_read(j, 0);
			}
		}
	} else if (c->status == 429) {
		uint64_t pause = budget_refused(c->retry_after_ms);
		log_warn("watch: Orchestrator's collection queries are rate limited (429): single reads "
			 "for %llu s", (unsigned long long)(pause + 999) / 1000);
		f->chunks_left = 0;
	}
	/* A job the answer did not hold (an unknown id, another folder's), or
	 * every job of a query refused for good (a scope, a role): its own
	 * read says what it is, in max_single_reads' turn. A query that may
	 * succeed later (5xx, timeout) is simply the next sweep's. */
	bool refused = c->code != PC_OK && c->status != 429 && terminal(c->code);
	if (c->code == PC_OK || refused)
		TAILQ_FOREACH(j, &f->jobs, wf_link)
			if (j->query == f->query)
				want_read(j, 0);
	orch_call_reset(&f->call);
	if (f->n == 0 || W.stopping) {
		folder_free(f);
		return;
	}
	/* The rest of this sweep as the budget allows, the next one a
	 * poll_interval after this one began. */
	uint64_t next = f->chunks_left > 0 ? 0 : f->cycle_at + W.poll_ms > now ? f->cycle_at + W.poll_ms - now : 0;
	if (!collecting(f)) {
		TAILQ_FOREACH(j, &f->jobs, wf_link)
			want_read(j, budget_paused() ? 0 : next);
		return;
	}
	ensure_sweep(f, next);
}

static void attach(struct watch_req *w, const struct rel_folder *f, int64_t id, bool final_only)
{
	struct watched *j = find_or_add(f, id);

	w->job = j;
	w->id = id;
	w->final_only = final_only;
	w->from_last = false;
	TAILQ_INSERT_TAIL(&j->reqs, w, link);
	if (final_only) {
		j->nwaits++;
		W.nwaits++;
		if (j->nwaits == 1)
			folder_join(j);
	}
}

void watch_read(struct watch_req *w, const struct rel_folder *f, int64_t id, bool recent)
{
	attach(w, f, id, false);
	if (recent && w->job->last && w->job->nwaits > 0) {
		w->from_last = true;
		delayq_add(&W.timeouts, &w->timeout, 0);
	} else {
		want_read(w->job, 0);
	}
}

void watch_wait(struct watch_req *w, const struct rel_folder *f, int64_t id, int timeout_s)
{
	attach(w, f, id, true);
	/* During shutdown the "timeout" is now: it answers SHUTDOWN. */
	delayq_add(&W.timeouts, &w->timeout, W.stopping ? 0 : (uint64_t)timeout_s * 1000);
	if (w->job->nwaits == 1) {
		/* Read at once unless a read just came (the access check's). */
		w->job->polls = 0;
		schedule_poll(w->job, w->job->state[0] ? WATCH_FIRST_MS : 0);
	}
}

static void on_timeout(struct delayq_item *it)
{
	struct watch_req *w = container_of(it, struct watch_req, timeout);
	struct watched *j = w->job;
	char msg[256];

	if (w->from_last && !j->last) {
		/* The waits ended meanwhile: a read of its own, then. */
		w->from_last = false;
		want_read(j, 0);
		return;
	}
	if (w->from_last) {
		cJSON *job = cJSON_Parse(j->last);
		detach(w);
		w->cb(w, PC_OK, job, NULL);
		cJSON_Delete(job);
		maybe_free(j);
		return;
	}
	if (W.stopping)
		snprintf(msg, sizeof(msg), "orchd is stopping; job %lld was %s and is not stopped",
			 (long long)w->id, j->state[0] ? j->state : "not read yet");
	else
		snprintf(msg, sizeof(msg), "job %lld is still %s; it was not stopped: WAIT again",
			 (long long)w->id, j->state[0] ? j->state : "not read yet");
	detach(w);
	maybe_free(j);
	w->cb(w, W.stopping ? PC_SHUTDOWN : PC_TIMEOUT, NULL, msg);
}

static void on_stopped(struct orch_call *c)
{
	struct watch_req *w = c->data;
	w->stop = NULL;
	enum proto_code code = c->code;
	char msg[sizeof(c->msg) + 64];

	if (code != PC_OK && (c->status == 404 || c->error_code == 1002)) {
		code = PC_NOT_FOUND;
		snprintf(msg, sizeof(msg), "no job %lld in this folder", (long long)w->id);
	} else {
		snprintf(msg, sizeof(msg), "%s", c->msg);
	}
	orch_call_reset(c);
	free(c);
	w->cb(w, code, NULL, code == PC_OK ? NULL : msg);
}

void watch_stop(struct watch_req *w, const struct rel_folder *f, int64_t id, bool kill)
{
	struct orch_call *c = xcalloc(1, sizeof(*c));

	w->job = NULL;
	w->id = id;
	w->stop = c;
	c->op = OP_STOP_JOBS;
	c->url = xasprintf("%s/odata/Jobs(%lld)/UiPath.Server.Configuration.OData.StopJob", orch_base(),
			   (long long)id);
	c->folder_hdr = enc_folder_header(f->path, f->id);
	c->folder = f->path;
	c->body = xstrdup(kill ? "{\"strategy\":\"Kill\"}" : "{\"strategy\":\"SoftStop\"}");
	/* Stopping twice is stopping once: a lost answer is retried like a GET. */
	c->repeatable = true;
	c->done = on_stopped;
	c->data = w;
	orch_send(c);
}

void watch_cancel(struct watch_req *w)
{
	struct watched *j = w->job;

	if (j) {
		detach(w);
		maybe_free(j);
	}
	if (w->stop) {
		orch_cancel(w->stop);
		free(w->stop);
		w->stop = NULL;
	}
}

const char *watch_state(const struct watch_req *w)
{
	return w->job ? w->job->state : w->state;
}

void watch_shutdown(void)
{
	struct watched *j;
	struct watch_req *w;

	W.stopping = true;
	/* Every wait ends at once (from the timeout queue, so: later). */
	LIST_FOREACH(j, &W.jobs, link)
		TAILQ_FOREACH(w, &j->reqs, link)
			if (w->final_only) {
				delayq_remove(&W.timeouts, &w->timeout);
				delayq_add(&W.timeouts, &w->timeout, 0);
			}
}

void watch_close(void)
{
	struct watched *j;

	while ((j = LIST_FIRST(&W.jobs))) {
		struct watch_req *w;
		while ((w = TAILQ_FIRST(&j->reqs)))
			detach(w);
		if (j->reading) {
			orch_cancel(&j->call);
			j->reading = false;
		}
		maybe_free(j);
	}
	struct wfolder *f;
	while ((f = LIST_FIRST(&W.folders))) {
		if (f->querying) {
			orch_cancel(&f->call);
			f->querying = false;
		}
		f->n = 0;
		folder_free(f);
	}
	delayq_close(&W.reads);
	delayq_close(&W.timeouts);
	delayq_close(&W.sweeps);
}

int watch_waits(void)
{
	return W.nwaits;
}

int watch_jobs(void)
{
	return W.njobs;
}

unsigned long watch_single_reads(void)
{
	return W.single_reads;
}

unsigned long watch_collection_reads(void)
{
	return W.collection_reads;
}

