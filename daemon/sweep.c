#include "sweep.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "jobrec.h"
#include "log.h"
#include "orch.h"

/* Above this many waited jobs a folder is swept, at most SWEEP_CHUNK ids a
 * query (docs/orchestrator.md section 8). */
#define SWEEP_SINGLES_MAX 3
#define SWEEP_CHUNK 50
/* Folder paths whose id orchd learnt, kept for folders not swept yet. */
#define SWEEP_KNOWN 64

struct sweep_folder {
	struct folder folder;          /* folder.path is path */
	char *path;
	TAILQ_HEAD(, sweep_job) jobs;
	int n;
	struct sweep_job *cursor;      /* where the next chunk begins */
	struct sweep_job *topup;       /* the next one read alone while over budget */
	unsigned query;                /* which query is in flight (jobs remember theirs) */
	uint64_t cycle_at;             /* when the current sweep began */
	int chunks_left;               /* in the current sweep */
	struct delayq_item next;       /* the next query */
	bool querying;
	bool merged;                   /* into the folder of its id: known by nothing */
	struct orch_call call;
	LIST_ENTRY(sweep_folder) link;
};

static struct {
	uv_loop_t *loop;
	const struct sweep_ops *ops;
	uint64_t poll_ms;
	int rate;                      /* max_single_reads, for top-ups */
	bool stopping;
	struct delayq due;             /* folders due for a query */
	LIST_HEAD(, sweep_folder) folders;
	struct {
		char *path;
		int64_t id;
	} known[SWEEP_KNOWN];          /* a ring, the oldest replaced */
	unsigned nknown;
	unsigned long queries;
} S;

static void on_due(struct delayq_item *it);

void sweep_configure(const struct conf *conf)
{
	S.poll_ms = (uint64_t)conf->poll_interval * 1000;
	S.rate = conf->max_single_reads;
}

void sweep_init(uv_loop_t *loop, const struct conf *conf, const struct sweep_ops *ops)
{
	S.loop = loop;
	S.ops = ops;
	S.stopping = false;
	LIST_INIT(&S.folders);
	delayq_init(&S.due, loop, on_due);
	sweep_configure(conf);
}

void sweep_shutdown(void)
{
	S.stopping = true;
}

static void folder_free(struct sweep_folder *f)
{
	if (f->n > 0 || f->querying)
		return;
	delayq_remove(&S.due, &f->next);
	LIST_REMOVE(f, link);
	orch_call_reset(&f->call);
	free(f->path);
	free(f);
}

void sweep_close(void)
{
	struct sweep_folder *f;

	while ((f = LIST_FIRST(&S.folders))) {
		struct sweep_job *j;
		while ((j = TAILQ_FIRST(&f->jobs))) {
			TAILQ_REMOVE(&f->jobs, j, link);
			j->sf = NULL;
		}
		if (f->querying) {
			orch_cancel(&f->call);
			f->querying = false;
		}
		f->n = 0;
		folder_free(f);
	}
	delayq_close(&S.due);
	for (unsigned i = 0; i < SWEEP_KNOWN; i++) {
		free(S.known[i].path);
		S.known[i].path = NULL;
	}
	S.nknown = 0;
}

unsigned long sweep_queries(void)
{
	return S.queries;
}

static bool names(const struct sweep_folder *sf, const struct folder *f)
{
	return !sf->merged && ((f->id > 0 && sf->folder.id == f->id) ||
	       (f->path && sf->path && strcmp(sf->path, f->path) == 0));
}

/* Where path's learnt id is, or -1. */
static int known_at(const char *path)
{
	for (unsigned i = 0; path && i < SWEEP_KNOWN && i < S.nknown; i++)
		if (strcmp(S.known[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* The id learnt for path, or 0. */
static int64_t known_id(const char *path)
{
	int i = known_at(path);

	return i < 0 ? 0 : S.known[i].id;
}

static struct sweep_folder *folder_of(const struct folder *f)
{
	struct sweep_folder *sf;
	struct folder byid = {NULL, f->id > 0 ? f->id : known_id(f->path)};

	LIST_FOREACH(sf, &S.folders, link)
		if (names(sf, f) || (byid.id > 0 && names(sf, &byid)))
			return sf;
	sf = xcalloc(1, sizeof(*sf));
	sf->folder.id = byid.id;
	sf->path = f->path ? xstrdup(f->path) : NULL;
	sf->folder.path = sf->path;
	TAILQ_INIT(&sf->jobs);
	LIST_INSERT_HEAD(&S.folders, sf, link);
	return sf;
}

/* Whether f's jobs are read together now. */
static bool collecting(const struct sweep_folder *f)
{
	/* After a 429, single reads until its pause is over. */
	return f && f->n > SWEEP_SINGLES_MAX && budget_wait() != BUDGET_NEVER && !budget_paused();
}

/* f's next query within delay_ms, but never before its next sweep is due:
 * a job's own poll (one read alone before its folder was swept, say)
 * must not start a sweep early and spend the budget twice. */
static void ensure_query(struct sweep_folder *f, uint64_t delay_ms)
{
	uint64_t now = uv_now(S.loop), due = f->cycle_at + S.poll_ms;

	if (f->querying)
		return;
	if (f->cycle_at && f->chunks_left <= 0 && due > now + delay_ms)
		delay_ms = due - now;
	delayq_within(&S.due, &f->next, delay_ms);
}

static void add(struct sweep_folder *f, struct sweep_job *j)
{
	j->sf = f;
	j->query = 0;
	TAILQ_INSERT_TAIL(&f->jobs, j, link);
	f->n++;
}

void sweep_join(struct sweep_job *j, const struct folder *f)
{
	add(folder_of(f), j);
}

void sweep_leave(struct sweep_job *j)
{
	struct sweep_folder *f = j->sf;

	if (!f)
		return;
	if (f->cursor == j)
		f->cursor = TAILQ_NEXT(j, link);
	if (f->topup == j)
		f->topup = TAILQ_NEXT(j, link);
	TAILQ_REMOVE(&f->jobs, j, link);
	f->n--;
	j->sf = NULL;
	folder_free(f);
}

void sweep_poll(struct sweep_job *j, uint64_t delay_ms)
{
	if (collecting(j->sf))
		ensure_query(j->sf, delay_ms);
	else
		S.ops->read_alone(j, delay_ms);
}

void sweep_learn(const char *path, int64_t id)
{
	struct sweep_folder *byid = NULL, *bypath = NULL, *f;
	struct folder fid = {NULL, id}, fpath = {path, 0};

	int k = known_at(path);
	if (k < 0) {
		k = (int)(S.nknown++ % SWEEP_KNOWN);
		free(S.known[k].path);
		S.known[k].path = xstrdup(path);
	}
	S.known[k].id = id;

	LIST_FOREACH(f, &S.folders, link) {
		if (!byid && names(f, &fid))
			byid = f;
		if (!bypath && names(f, &fpath))
			bypath = f;
	}
	if (!bypath || bypath == byid)
		return;
	if (!byid) {
		/* From now on the folder is asked for by id, and known by both. */
		bypath->folder.id = id;
		return;
	}
	/* One folder: the path's jobs join the id's sweep, and the path's
	 * folder, now empty, is known by nothing (a query of it in flight
	 * frees it when it ends). */
	struct sweep_job *j;
	while ((j = TAILQ_FIRST(&bypath->jobs))) {
		TAILQ_REMOVE(&bypath->jobs, j, link);
		bypath->n--;
		add(byid, j);
	}
	bypath->cursor = bypath->topup = NULL;
	bypath->merged = true;
	if (!byid->path) {
		byid->path = xstrdup(path);
		byid->folder.path = byid->path;
	}
	folder_free(bypath);
}

static void on_collected(struct orch_call *c);

/* The next query of f's sweep, or top-ups while the budget is spent. */
static void on_due(struct delayq_item *it)
{
	struct sweep_folder *f = container_of(it, struct sweep_folder, next);
	struct sweep_job *j;

	if (S.stopping || f->n == 0)
		return;
	if (!collecting(f)) {
		/* Few jobs left, or single reads after a 429: each polls itself. */
		TAILQ_FOREACH(j, &f->jobs, link)
			S.ops->read_alone(j, 0);
		return;
	}
	uint64_t wait = budget_wait();
	if (wait > 0) {
		/* The budget wins over freshness; single reads top it up, in
		 * turn from where the sweep goes next (read longest ago). */
		j = f->topup ? f->topup : f->cursor ? f->cursor : TAILQ_FIRST(&f->jobs);
		for (int n = 0; j && n < S.rate; n++) {
			S.ops->read_alone(j, 0);
			j = TAILQ_NEXT(j, link) ? TAILQ_NEXT(j, link) : TAILQ_FIRST(&f->jobs);
		}
		f->topup = j;
		delayq_add(&S.due, &f->next, wait < 1000 ? wait : 1000);
		return;
	}
	if (f->chunks_left <= 0) {
		f->cycle_at = uv_now(S.loop);
		f->chunks_left = (f->n + SWEEP_CHUNK - 1) / SWEEP_CHUNK;
		f->cursor = NULL;
	}
	struct buf flt = {0};
	int n = 0;
	f->query++;
	buf_adds(&flt, "Id in (");
	for (j = f->cursor ? f->cursor : TAILQ_FIRST(&f->jobs); j && n < SWEEP_CHUNK;
	     j = TAILQ_NEXT(j, link), n++) {
		buf_printf(&flt, "%s%lld", n ? "," : "", (long long)j->id);
		j->query = f->query;
	}
	f->cursor = j;
	buf_adds(&flt, ")");
	char *q = curl_easy_escape(NULL, flt.p, (int)flt.len);
	buf_free(&flt);
	f->chunks_left--;
	f->querying = true;
	budget_take();
	S.queries++;
	f->call.ep = EP_JOBS;
	f->call.query = xasprintf("$filter=%s&$select=Id,State", q);
	curl_free(q);
	f->call.folder = f->folder;
	f->call.done = on_collected;
	f->call.data = f;
	/* One attempt: a 429 is a sign to back off, not to spend more. */
	f->call.max_attempts = 1;
	orch_send(&f->call);
}

/* Codes after which asking again cannot help. */
static bool refused_for_good(const struct orch_call *c)
{
	return c->code != PC_OK && c->status != 429 && c->code != PC_UNAVAILABLE &&
	       c->code != PC_UNKNOWN && c->code != PC_SHUTDOWN;
}

static void on_collected(struct orch_call *c)
{
	struct sweep_folder *f = c->data;
	uint64_t now = uv_now(S.loop);
	struct sweep_job *j, *next;

	f->querying = false;
	if (c->code == PC_OK) {
		cJSON *it, *value = cJSON_GetObjectItemCaseSensitive(c->json, "value");
		cJSON_ArrayForEach(it, value) {
			long long id = jobrec_id(cJSON_GetObjectItemCaseSensitive(it, "Id"));
			const char *state = jobrec_state(it);
			if (!id || !state)
				continue;
			/* Every job of that id (one job may be named two ways). */
			for (j = TAILQ_FIRST(&f->jobs); j; j = next) {
				next = TAILQ_NEXT(j, link);
				if (j->id != id)
					continue;
				j->query = 0; /* held */
				S.ops->seen(j, state);
			}
		}
	} else if (c->status == 429) {
		uint64_t pause = budget_refused(c->retry_after_ms);
		log_warn("sweep: Orchestrator's collection queries are rate limited (429): single reads "
			 "for %llu s", (unsigned long long)(pause + 999) / 1000);
		f->chunks_left = 0;
	}
	/* A job the answer did not hold (an unknown id, another folder's), or
	 * every job of a query refused for good (a scope, a role): its own
	 * read says what it is, in max_single_reads' turn. A query that may
	 * succeed later (5xx, timeout) is simply the next sweep's. */
	if (c->code == PC_OK || refused_for_good(c))
		TAILQ_FOREACH(j, &f->jobs, link)
			if (j->query == f->query)
				S.ops->read_alone(j, 0);
	orch_call_reset(&f->call);
	if (f->n == 0 || S.stopping) {
		folder_free(f);
		return;
	}
	/* The rest of this sweep as the budget allows, the next one a
	 * poll_interval after this one began. */
	uint64_t at = f->cycle_at + S.poll_ms;
	uint64_t next_ms = f->chunks_left > 0 ? 0 : at > now ? at - now : 0;
	if (!collecting(f)) {
		TAILQ_FOREACH(j, &f->jobs, link)
			S.ops->read_alone(j, budget_paused() ? 0 : next_ms);
		return;
	}
	ensure_query(f, next_ms);
}
