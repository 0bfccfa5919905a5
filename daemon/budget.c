#include "budget.h"

/* The tenant counts the queries that arrive in a minute: each one sent is
 * held against the budget a second longer, for transit and for the loop's
 * cached clock, so that list_budget of them never land within 60 s. */
#define BUDGET_WINDOW_MS 61000
#define BUDGET_MINUTE_MS 60000      /* budget_last_minute's window */
#define BUDGET_MAX 100              /* list_budget's upper bound */
#define BUDGET_429_MS 60000         /* the pause after a 429 without Retry-After */

static struct {
	uv_loop_t *loop;
	uv_timer_t timer;           /* serves the first queued lookup */
	TAILQ_HEAD(, budget_ask) asks;
	unsigned cap;
	uint64_t sent[BUDGET_MAX];  /* when the last queries left (a ring) */
	unsigned nsent;
	uint64_t paused_until;
	unsigned long refused;
} B;

static void arm(void);

void budget_configure(int list_budget)
{
	B.cap = list_budget < 0 ? 0 : list_budget > BUDGET_MAX ? BUDGET_MAX : (unsigned)list_budget;
	if (B.loop)
		arm();
}

void budget_init(uv_loop_t *loop, int list_budget)
{
	B.loop = loop;
	B.nsent = 0;
	B.paused_until = 0;
	B.refused = 0;
	TAILQ_INIT(&B.asks);
	uv_timer_init(loop, &B.timer);
	budget_configure(list_budget);
}

void budget_close(void)
{
	struct budget_ask *a;

	while ((a = TAILQ_FIRST(&B.asks)))
		budget_cancel(a);
	uv_close((uv_handle_t *)&B.timer, NULL);
}

/* When the next query may leave, whoever sends it. */
static uint64_t free_in(void)
{
	uint64_t now = uv_now(B.loop), wait = 0;

	if (B.cap == 0)
		return BUDGET_NEVER;
	if (B.paused_until > now)
		wait = B.paused_until - now;
	if (B.nsent >= B.cap) {
		/* The oldest of the last cap queries must be a minute old. */
		uint64_t oldest = B.sent[(B.nsent - B.cap) % BUDGET_MAX];
		if (oldest + BUDGET_WINDOW_MS > now && oldest + BUDGET_WINDOW_MS - now > wait)
			wait = oldest + BUDGET_WINDOW_MS - now;
	}
	return wait;
}

uint64_t budget_wait(void)
{
	uint64_t wait = free_in();

	/* Lookups first: a sweep asks again a second after they are served. */
	if (wait != BUDGET_NEVER && !TAILQ_EMPTY(&B.asks))
		wait += 1000;
	return wait;
}

static void spend(void)
{
	B.sent[B.nsent++ % BUDGET_MAX] = uv_now(B.loop);
}

bool budget_take(void)
{
	if (budget_wait() != 0)
		return false;
	spend();
	return true;
}

static void on_timer(uv_timer_t *t);

/* The timer for the first queued lookup (none when list_budget became 0:
 * they wait for a reload, or the drain deadline). */
static void arm(void)
{
	uint64_t wait = free_in();

	if (TAILQ_EMPTY(&B.asks) || wait == BUDGET_NEVER)
		uv_timer_stop(&B.timer);
	else
		uv_timer_start(&B.timer, on_timer, wait, 0);
}

/* Each free query to the first lookup waiting, in turn. */
static void on_timer(uv_timer_t *t)
{
	struct budget_ask *a;
	(void)t;

	while ((a = TAILQ_FIRST(&B.asks)) && free_in() == 0) {
		TAILQ_REMOVE(&B.asks, a, link);
		a->queued = false;
		spend();
		a->cb(a);
	}
	arm();
}

uint64_t budget_ask(struct budget_ask *a, uint64_t max_wait_ms, const char **why)
{
	uint64_t wait = free_in();

	if (wait == 0 && TAILQ_EMPTY(&B.asks)) {
		spend();
		return 0;
	}
	if (wait != BUDGET_NEVER && wait <= max_wait_ms) {
		a->queued = true;
		TAILQ_INSERT_TAIL(&B.asks, a, link);
		arm();
		return wait ? wait : 1;
	}
	*why = wait == BUDGET_NEVER ? "orchd may not look it up: [jobs] list_budget is 0"
				    : "orchd did not look it up: the list_budget of collection queries a "
				      "minute is spent";
	return BUDGET_NEVER;
}

void budget_cancel(struct budget_ask *a)
{
	if (!a->queued)
		return;
	TAILQ_REMOVE(&B.asks, a, link);
	a->queued = false;
	arm();
}

uint64_t budget_refused(int64_t retry_after_ms)
{
	uint64_t pause = retry_after_ms > 0 ? (uint64_t)retry_after_ms : BUDGET_429_MS;

	B.paused_until = uv_now(B.loop) + pause;
	B.refused++;
	arm();
	return pause;
}

bool budget_paused(void)
{
	return uv_now(B.loop) < B.paused_until;
}

int budget_last_minute(void)
{
	uint64_t now = uv_now(B.loop);
	int n = 0;

	for (unsigned i = 0; i < B.nsent && i < BUDGET_MAX; i++)
		n += B.sent[(B.nsent - 1 - i) % BUDGET_MAX] + BUDGET_MINUTE_MS > now;
	return n;
}

unsigned long budget_rate_limited(void)
{
	return B.refused;
}
