/*
 * delayq: things to do later, kept in due order, with one uv_timer_t armed
 * for the earliest. Intrusive: the item lives in its owner (container_of).
 * Serves http's retries and jobs' lookups by Reference.
 */
#ifndef ORCHD_DELAYQ_H
#define ORCHD_DELAYQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "util.h"

struct delayq_item {
	uint64_t due;                  /* uv_now() time */
	bool queued;
	TAILQ_ENTRY(delayq_item) link;
};

struct delayq {
	uv_timer_t timer;
	TAILQ_HEAD(, delayq_item) items;
	void (*fire)(struct delayq_item *it); /* it is out of the queue */
};

void delayq_init(struct delayq *q, uv_loop_t *loop, void (*fire)(struct delayq_item *it));
/* Queues it to fire delay_ms from now, after the items due no later. */
void delayq_add(struct delayq *q, struct delayq_item *it, uint64_t delay_ms);
/* Takes out the first item, due or not; NULL when there is none. */
struct delayq_item *delayq_pop(struct delayq *q);
/* Makes it fire within delay_ms: queues it, or brings it forward when it is
 * queued for later; one queued sooner stays as it is. */
void delayq_within(struct delayq *q, struct delayq_item *it, uint64_t delay_ms);
/* Takes it out if it is queued. */
void delayq_remove(struct delayq *q, struct delayq_item *it);
void delayq_close(struct delayq *q);

#endif
