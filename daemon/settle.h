/*
 * settle: an outcome orchd cannot know, settled one way for every verb that
 * adds something (docs/orchestrator.md section 6).
 *
 * StartJobs and AddQueueItem are not idempotent. When one may have reached
 * Orchestrator without an answer (timeout, reset, 5xx), it is never sent
 * again blindly: the thing is looked up by its Reference, 1 s later and again
 * the last-check delay later (twice the HTTP timeout, 4 s at least: a server
 * still working on the lost request has had that long to finish it). Each
 * lookup is a collection query, taken from the tenant's budget before any
 * sweep (budget.h). Found: it exists, the verb answers OK. Not found twice:
 * it surely does not exist, and it is sent once more. Ambiguous again, or a
 * lookup impossible (scope, budget, error): UNKNOWN.
 *
 * The verb owns the calls; settle owns when they happen:
 *
 *   ambiguous --(1 s)--> lookup --absent--> (last) lookup --absent--> resend
 *   resend ambiguous --(last)--> lookup --absent--> UNKNOWN
 *   known to exist ("finding") --(now)--> lookup --absent--> UNKNOWN
 *   found: the verb's; a failed lookup: the verb's (UNKNOWN with why)
 */
#ifndef ORCHD_SETTLE_H
#define ORCHD_SETTLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "budget.h"
#include "delayq.h"

struct settle;
struct settle_ops {
	/* Sends the lookup by Reference now (a query was taken for it); the
	 * verb then answers, or calls settle_absent. */
	void (*lookup)(struct settle *s);
	/* Sends the thing once more (two lookups found nothing). */
	void (*resend)(struct settle *s);
	/* The end: the outcome cannot be known; why says why. */
	void (*unknown)(struct settle *s, const char *why);
	/* NULL, or why no lookup can be made at all ("the token lacks ..."). */
	const char *(*impossible)(struct settle *s);
};

struct settle {
	const struct settle_ops *ops;
	void *data;

	/* Private. */
	int checks;                    /* lookups that found nothing */
	bool resent, finding, waiting;
	struct delayq_item due;
	struct budget_ask ask;
	TAILQ_ENTRY(settle) link;      /* while waiting */
};

struct settle_timing {
	uint64_t first_ms, last_ms;
};

/* The timing for an HTTP timeout of timeout_s seconds. */
struct settle_timing settle_timing(int timeout_s);

void settle_init(uv_loop_t *loop, struct settle_timing t);
void settle_configure(struct settle_timing t);
/* Every settle waiting for a lookup is UNKNOWN now, and from now on an
 * ambiguous outcome is UNKNOWN at once: nothing is looked up or sent again
 * during the drain (a lookup in flight still ends it). */
void settle_shutdown(void);
/* The drain deadline: every settle waiting for a lookup is UNKNOWN now. */
void settle_abort(void);
void settle_close(void);

/* Prepares s for a new request. */
void settle_begin(struct settle *s, const struct settle_ops *ops, void *data);
/* The outcome was ambiguous (exists: it was created, only the answer is
 * missing: find it, never send it again). The ops are called later. */
void settle_ambiguous(struct settle *s, bool exists);
/* The lookup found nothing: the next step. */
void settle_absent(struct settle *s);
/* Whether the thing was sent once more. */
bool settle_resent(const struct settle *s);
/* Takes s back wherever it waits; no op is called. */
void settle_cancel(struct settle *s);

#endif
