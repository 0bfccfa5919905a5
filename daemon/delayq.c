#include "delayq.h"

static void on_timer(uv_timer_t *t);

static void arm(struct delayq *q)
{
	struct delayq_item *it = TAILQ_FIRST(&q->items);
	uint64_t now = uv_now(q->timer.loop);

	if (!it)
		uv_timer_stop(&q->timer);
	else
		uv_timer_start(&q->timer, on_timer, it->due > now ? it->due - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct delayq *q = t->data;
	uint64_t now = uv_now(t->loop);
	struct delayq_item *it;

	while ((it = TAILQ_FIRST(&q->items)) && it->due <= now) {
		TAILQ_REMOVE(&q->items, it, link);
		it->queued = false;
		q->fire(it);
	}
	arm(q);
}

void delayq_init(struct delayq *q, uv_loop_t *loop, void (*fire)(struct delayq_item *it))
{
	TAILQ_INIT(&q->items);
	q->fire = fire;
	uv_timer_init(loop, &q->timer);
	q->timer.data = q;
}

void delayq_add(struct delayq *q, struct delayq_item *it, uint64_t delay_ms)
{
	struct delayq_item *next;

	it->due = uv_now(q->timer.loop) + delay_ms;
	it->queued = true;
	TAILQ_FOREACH(next, &q->items, link)
		if (next->due > it->due)
			break;
	if (next)
		TAILQ_INSERT_BEFORE(next, it, link);
	else
		TAILQ_INSERT_TAIL(&q->items, it, link);
	arm(q);
}

struct delayq_item *delayq_pop(struct delayq *q)
{
	struct delayq_item *it = TAILQ_FIRST(&q->items);

	if (it) {
		TAILQ_REMOVE(&q->items, it, link);
		it->queued = false;
		arm(q);
	}
	return it;
}

void delayq_within(struct delayq *q, struct delayq_item *it, uint64_t delay_ms)
{
	if (it->queued) {
		if (it->due <= uv_now(q->timer.loop) + delay_ms)
			return;
		delayq_remove(q, it);
	}
	delayq_add(q, it, delay_ms);
}

void delayq_remove(struct delayq *q, struct delayq_item *it)
{
	if (!it->queued)
		return;
	TAILQ_REMOVE(&q->items, it, link);
	it->queued = false;
	arm(q);
}

void delayq_close(struct delayq *q)
{
	uv_close((uv_handle_t *)&q->timer, NULL);
}
