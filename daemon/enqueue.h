/*
 * enqueue: ENQUEUE and ITEM (docs/protocol.md, "Queues"; the API in
 * docs/orchestrator.md section 9), over releases (queue ids and names),
 * settle and orch.
 *
 * ENQUEUE sends AddQueueItem once, with a Reference (the client's, or one
 * made here); with [access] rules and a token that may look queues up, the
 * rules are asked again with the name of the queue Orchestrator resolves
 * (case-insensitively) before anything is added. AddQueueItem is not
 * idempotent: an ambiguous add is settled by its Reference (settle.h; the
 * lookup is GET QueueItems?$filter=Reference eq .. and QueueDefinitionId eq
 * .., the queue's id from releases). A "Duplicate Reference" refusal of a
 * resend means the first send arrived: it is found and answered OK (UNKNOWN
 * if it cannot be); of a first send, it is DUPLICATE.
 *
 * ITEM reads GET QueueItems({Id}); with [access] rules, the name of the
 * item's queue (releases, REL_QUEUE_ID) must pass them, and DENIED names
 * only what the request named.
 */
#ifndef ORCHD_ENQUEUE_H
#define ORCHD_ENQUEUE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "orch.h"
#include "releases.h"
#include "settle.h"

struct request;

struct enqueue_req {
	/* Private. */
	char *reference;               /* the client's, or made here */
	char *queue_id;                /* the queue's Id, for lookups */
	char *why;                     /* why the add was ambiguous, once it was */
	char subject[40];              /* "queue item 991" */
	cJSON *item;                   /* ITEM: read, waiting for its queue's name */
	struct settle settle;
	struct rel_wait rw;
	struct orch_call call;
};

void enqueue_init(void);
/* Runs r (ENQUEUE or ITEM); answers it exactly once with request_answer. */
void enqueue_run(struct request *r);
/* Takes r back wherever it is: no answer. */
void enqueue_cancel(struct request *r);

/* STATS. */
unsigned long enqueue_added(void);       /* items answered OK by ENQUEUE */
unsigned long enqueue_lookups(void);     /* QueueItems queries by Reference sent */
unsigned long enqueue_duplicates(void);  /* ENQUEUEs answered DUPLICATE */
unsigned long enqueue_item_reads(void);  /* GET QueueItems({Id}) sent */

#endif
