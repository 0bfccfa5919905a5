/*
 * sweep: the waited jobs of a folder read together (docs/orchestrator.md
 * section 8). A folder with more than 3 waited jobs is swept: GET
 * /odata/Jobs?$filter=Id in (..)&$select=Id,State, at most 50 ids a query,
 * one sweep every poll_interval (longer when the budget says so: it wins
 * over freshness), each query taken from the tenant's budget after the
 * lookups that wait for it (budget.h). While the budget is spent, single
 * reads top freshness up, a second's worth of max_single_reads at a time,
 * from where the sweep goes next. After a 429, single reads until its
 * Retry-After (or a minute).
 *
 * A folder named two ways (a path and an id) is one folder, and one sweep,
 * once orchd knows both (sweep_learn, from a job record's folder id).
 *
 * sweep tells the owner of each job (watch) what it saw through the ops:
 * a state read by a query, or that the job is to be read alone (its folder
 * is not swept, the query did not hold it, or the query was refused).
 */
#ifndef ORCHD_SWEEP_H
#define ORCHD_SWEEP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "conf.h"
#include "folder.h"

struct sweep_folder;

/* A waited job, as sweep knows it: embedded in the owner's. */
struct sweep_job {
	int64_t id;
	/* Private. */
	struct sweep_folder *sf;
	unsigned query;                /* the query that asked for it, until its answer held it */
	TAILQ_ENTRY(sweep_job) link;
};

struct sweep_ops {
	/* A query read j's state (in j's folder). */
	void (*seen)(struct sweep_job *j, const char *state);
	/* j is to be read by itself within delay_ms. */
	void (*read_alone)(struct sweep_job *j, uint64_t delay_ms);
};

void sweep_init(uv_loop_t *loop, const struct conf *conf, const struct sweep_ops *ops);
void sweep_configure(const struct conf *conf);
/* No query is sent any more. */
void sweep_shutdown(void);
/* Takes back queries in flight and frees every folder. */
void sweep_close(void);

/* j (its id set) is waited for in folder f (copied), until sweep_leave. */
void sweep_join(struct sweep_job *j, const struct folder *f);
void sweep_leave(struct sweep_job *j);
/* j's next poll, within delay_ms: its folder's sweep, or its own read. */
void sweep_poll(struct sweep_job *j, uint64_t delay_ms);
/* The folder at path has id: the two names are one folder from now on. */
void sweep_learn(const char *path, int64_t id);

/* STATS: collection queries sent. */
unsigned long sweep_queries(void);

#endif
