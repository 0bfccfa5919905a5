/*
 * budget: the tenant's collection queries (docs/orchestrator.md section 7).
 * Orchestrator allows about 100 GET /odata/Jobs and /odata/QueueItems
 * collection queries a minute per TENANT, shared with every other script of
 * it, then answers 429. orchd spends at most list_budget of them in any 60 s
 * (each held for 61 s: the tenant counts arrivals),
 * all its users together (sweep's collection reads, the lookups by Reference
 * that settle an ambiguous start or enqueue), and none until a 429's
 * Retry-After (a minute without one) is over.
 *
 * Lookups come first: they wait in one queue (FIFO) and each free query goes
 * to the first of them; sweeps take only what no lookup waits for.
 */
#ifndef ORCHD_BUDGET_H
#define ORCHD_BUDGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#define BUDGET_NEVER UINT64_MAX

/* A lookup waiting for a query. */
struct budget_ask;
typedef void budget_fn(struct budget_ask *a);
struct budget_ask {
	budget_fn *cb;                 /* a query was taken for it: send it now */
	bool queued;                   /* private */
	TAILQ_ENTRY(budget_ask) link;  /* private */
};

void budget_init(uv_loop_t *loop, int list_budget);
/* Forgets the lookups still queued (their callbacks are not called). */
void budget_close(void);
/* A new list_budget (0..100; 0: no collection query at all). */
void budget_configure(int list_budget);

/* For a sweep: milliseconds until one more query may leave (0: now;
 * BUDGET_NEVER when list_budget is 0), later while lookups wait. */
uint64_t budget_wait(void);
/* For a sweep: counts one query leaving now, if budget_wait() is 0;
 * returns whether. */
bool budget_take(void);
/*
 * For a lookup that may wait up to max_wait_ms for the budget: 0 when a
 * query was taken now (send it); BUDGET_NEVER with *why saying why it cannot
 * be had in time; otherwise a is queued and a->cb is called once, later,
 * from the loop, when a query was taken for it.
 */
uint64_t budget_ask(struct budget_ask *a, uint64_t max_wait_ms, const char **why);
/* Takes a out of the queue; its callback will not be called. */
void budget_cancel(struct budget_ask *a);
/* A collection query was answered 429: none until retry_after_ms (a minute
 * when < 0) from now. Returns the pause, in ms. */
uint64_t budget_refused(int64_t retry_after_ms);
/* True while a 429's pause runs. */
bool budget_paused(void);

/* STATS: queries that left in the last 60 s; 429s since the start. */
int budget_last_minute(void);
unsigned long budget_rate_limited(void);

#endif
