/*
 * queue: one ENQUEUE or ITEM from request to answer (docs/protocol.md
 * sections 2 and 4, "Queues"; the API in docs/orchestrator.md section 9).
 *
 * ENQUEUE sends AddQueueItem once, with a Reference (the client's, or one
 * made here); http retries 429 and failures before sending. AddQueueItem
 * is not idempotent: an answer lost after sending (timeout, reset, 5xx) is
 * settled by looking the item up by its Reference (the queue's id from
 * releases, REL_QUEUE; then GET QueueItems?$filter=Reference eq .. and
 * QueueDefinitionId eq .., a collection query spent from the budget), 1 s
 * later and again twice the HTTP timeout later: found, it is answered OK;
 * not found twice, it is sent once more; when the lookup is impossible, the
 * answer is UNKNOWN with the reference. A "Duplicate Reference" refusal of
 * that second send means the first one arrived: the item is looked up and
 * answered OK (UNKNOWN if it cannot be found); of a first send, it is
 * DUPLICATE: the queue already held that reference.
 *
 * ITEM reads GET QueueItems({Id}); with [access] rules, the name of the
 * item's queue (releases, REL_QUEUE_ID) is asked of allowed() first.
 */
#ifndef ORCHD_QUEUE_H
#define ORCHD_QUEUE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf.h"
#include "delayq.h"
#include "orch.h"
#include "proto.h"
#include "releases.h"

struct queue_req;
/* text is the OK answer's JSON when code is PC_OK, else a message. */
typedef void queue_done_fn(struct queue_req *q, enum proto_code code, const char *text);

struct queue_req {
	/* Set by the caller; theirs, and must outlive the request. */
	const struct proto_enqueue *enq;  /* ENQUEUE; NULL for ITEM */
	int64_t item_id;                  /* ITEM */
	struct rel_folder folder;         /* path or id, the default resolved */
	queue_done_fn *done;
	/* Asked with the queue's name as Orchestrator has it: for ITEM, the
	 * item's queue before the answer (false: DENIED without the record);
	 * for ENQUEUE, the queue the name resolves to, before the add, when
	 * the token may look queues up (false: DENIED, nothing added). NULL:
	 * always allowed. */
	bool (*allowed)(struct queue_req *q, const char *queue);
	void *data;

	/* Private. */
	char *reference;                  /* the client's, or made here */
	char *queue_id;                   /* the queue's Id, for lookups */
	bool resent;                      /* sent again after two empty lookups */
	bool finding;                     /* the resend was a duplicate: find the first */
	int checks;                       /* lookups by Reference so far */
	char why[512];                    /* why the add was ambiguous */
	char folder_id[24];               /* folder.id in decimal, for messages */
	cJSON *item;                      /* ITEM: read, waiting for its queue's name */
	struct delayq_item wait;
	struct rel_wait rw;
	struct orch_call call;
};

void queue_init(uv_loop_t *loop, const struct conf *conf);
/* The timing of the last lookup (twice timeout), from a reloaded config. */
void queue_configure(const struct conf *conf);
void queue_close(void);
/* From now on nothing new is sent (SHUTDOWN), and an ambiguous add is
 * answered UNKNOWN at once. */
void queue_shutdown(void);
/* The drain deadline: requests waiting for a lookup are answered UNKNOWN. */
void queue_abort(void);

/* Each calls q->done exactly once, later, from the loop (or before it
 * returns, for SHUTDOWN, found without asking anybody). */
void queue_enqueue(struct queue_req *q);
void queue_item(struct queue_req *q);
/* Takes q back wherever it is; q->done will not be called. */
void queue_cancel(struct queue_req *q);

/* STATS. */
unsigned long queue_added(void);       /* items answered OK by ENQUEUE */
unsigned long queue_lookups(void);     /* QueueItems queries by Reference sent */
unsigned long queue_duplicates(void);  /* ENQUEUEs answered DUPLICATE */
unsigned long queue_item_reads(void);  /* GET QueueItems({Id}) sent */

#endif
