#include "settle.h"

#include <stdio.h>

#include "util.h"

#define SETTLE_CHECKS 2
#define SETTLE_FIRST_MS 1000
#define SETTLE_LAST_MIN_MS 4000

static struct {
	struct settle_timing t;
	struct delayq lookups;         /* settles waiting for their next lookup */
	TAILQ_HEAD(, settle) waiting;  /* those, and those queued in the budget */
	bool stopping;
} S;

struct settle_timing settle_timing(int timeout_s)
{
	struct settle_timing t = {SETTLE_FIRST_MS, (uint64_t)timeout_s * 2000};

	if (t.last_ms < SETTLE_LAST_MIN_MS)
		t.last_ms = SETTLE_LAST_MIN_MS;
	return t;
}

static void on_due(struct delayq_item *it);
static void settle_abort_why(const char *why);

void settle_init(uv_loop_t *loop, struct settle_timing t)
{
	S.t = t;
	S.stopping = false;
	TAILQ_INIT(&S.waiting);
	delayq_init(&S.lookups, loop, on_due);
}

void settle_configure(struct settle_timing t)
{
	S.t = t;
}

void settle_shutdown(void)
{
	S.stopping = true;
	/* A lookup not sent yet is not sent now: UNKNOWN, with the reference. */
	settle_abort_why("orchd is stopping and did not look it up");
}

void settle_close(void)
{
	struct settle *s;

	while ((s = TAILQ_FIRST(&S.waiting)))
		settle_cancel(s);
	delayq_close(&S.lookups);
}

void settle_begin(struct settle *s, const struct settle_ops *ops, void *data)
{
	s->ops = ops;
	s->data = data;
	s->checks = 0;
	s->resent = s->finding = s->waiting = false;
	s->due.queued = false;
	s->ask.queued = false;
}

static void unwait(struct settle *s)
{
	if (!s->waiting)
		return;
	s->waiting = false;
	TAILQ_REMOVE(&S.waiting, s, link);
	delayq_remove(&S.lookups, &s->due);
	budget_cancel(&s->ask);
}

static void unknown(struct settle *s, const char *why)
{
	unwait(s);
	s->ops->unknown(s, why);
}

void settle_cancel(struct settle *s)
{
	unwait(s);
}

bool settle_resent(const struct settle *s)
{
	return s->resent;
}

static void on_budget(struct budget_ask *a)
{
	struct settle *s = container_of(a, struct settle, ask);

	unwait(s);
	s->ops->lookup(s);
}

/* A lookup is due: it waits for a query of the budget, as long as waiting
 * still makes sense (not at all while stopping). */
static void on_due(struct delayq_item *it)
{
	struct settle *s = container_of(it, struct settle, due);
	const char *why = NULL;

	s->ask.cb = on_budget;
	uint64_t wait = budget_ask(&s->ask, S.stopping ? 0 : S.t.last_ms, &why);
	if (wait == BUDGET_NEVER)
		unknown(s, why);
	else if (wait == 0)
		on_budget(&s->ask);
}

static void schedule(struct settle *s, uint64_t delay_ms)
{
	s->waiting = true;
	TAILQ_INSERT_TAIL(&S.waiting, s, link);
	delayq_add(&S.lookups, &s->due, delay_ms);
}

void settle_ambiguous(struct settle *s, bool exists)
{
	const char *lacks = s->ops->impossible ? s->ops->impossible(s) : NULL;

	if (lacks) {
		char why[256];
		snprintf(why, sizeof(why), "orchd cannot look it up: %s", lacks);
		unknown(s, why);
		return;
	}
	if (S.stopping) {
		unknown(s, "orchd is stopping and did not look it up");
		return;
	}
	if (exists)
		s->finding = true;
	schedule(s, s->finding ? 0 : s->checks == 0 && !s->resent ? S.t.first_ms : S.t.last_ms);
}

void settle_absent(struct settle *s)
{
	if (s->finding) {
		unknown(s, "it was created, yet nothing was found with its reference");
	} else if (s->resent) {
		unknown(s, "it was sent again and that was ambiguous too");
	} else if (S.stopping) {
		unknown(s, "orchd is stopping and did not send it again");
	} else if (++s->checks < SETTLE_CHECKS) {
		settle_ambiguous(s, false);
	} else {
		/* Looked for twice, seconds apart: it surely does not exist. */
		s->resent = true;
		s->ops->resend(s);
	}
}

static void settle_abort_why(const char *why)
{
	struct settle *s;

	while ((s = TAILQ_FIRST(&S.waiting)))
		unknown(s, why);
}

void settle_abort(void)
{
	settle_abort_why("orchd stopped before it could look it up");
}
