/*
 * request: one request's life, from its line to its answer line: parsing
 * (proto), the access check, dispatch by a table of verbs, the answer, and
 * its log line and STATS. It knows nothing of connections: the server hands
 * it a line and the peer, and gets the answer line back. The verbs, answers
 * and codes are those of docs/protocol.md.
 */
#ifndef ORCHD_REQUEST_H
#define ORCHD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "access.h"
#include "jobs.h"
#include "proto.h"
#include "queue.h"
#include "watch.h"

struct request;
/* r was answered: r->answer holds the line. */
typedef void request_done_fn(struct request *r);

struct request {
	/* The owner's (the server's connection); request never touches these. */
	void *owner;                    /* NULL once the client is gone */
	request_done_fn *done_cb;
	TAILQ_ENTRY(request) order;
	LIST_ENTRY(request) all;

	/* Known once request_start returned. */
	bool tagged;                    /* answered as soon as done, not in order */
	bool quit;                      /* QUIT: the connection ends after this answer */
	/* Known once answered, or taken back by request_close (cancelled:
	 * never answered; the owner frees it). */
	bool done, cancelled;
	char *answer;                   /* the answer line, LF included */
	size_t alen;

	/* Private. */
	struct proto_req preq;
	/* A request is one verb: one of these is in use (is_start, watching,
	 * queueing say which), and the union halves what is zeroed per
	 * request (callgrind). */
	union {
		struct job job;         /* START */
		struct watch_req wr;    /* JOB, WAIT, STOP */
		struct queue_req qr;    /* ENQUEUE, ITEM */
	};
	char *folder_path;              /* theirs: a reload may change the default */
	char *stop_answer;              /* STOP: the answer, once the stop is accepted */
	/* START with wait: the OK answer, and a wait per job it made. */
	cJSON *started;
	struct watch_req *waits;
	char **records;
	int nwaits, nleft;
	struct access_peer peer;        /* for the check of the resolved name */
	uint64_t t0;                    /* uv_hrtime() at arrival */
	bool is_start, watching, queueing, starting;
	bool parsed;                    /* the line was a valid request */
	int weight;                     /* counted against max_queue until answered */
	LIST_ENTRY(request) live;
};

void request_init(const struct conf *conf);
/* max_queue (requests waiting on Orchestrator daemon-wide before BUSY:
 * START, JOB, WAIT, STOP, ENQUEUE, ITEM; a START that waits weighs the
 * jobs it waits for) and wait_timeout, from now on. */
void request_configure(const struct conf *conf);
/* From now on, a START is answered SHUTDOWN. */
void request_shutdown(void);
/* Takes every request still at work back from jobs (after a forced stop):
 * none is answered any more. Those whose owner is gone are freed; the
 * owner frees the others. */
void request_close(void);

/* A new request of owner's, counted live until request_free; done is
 * called for its answer when that comes after request_start returned. */
struct request *request_new(void *owner, request_done_fn *done);
/*
 * Handles one line (len bytes, without its LF) from a peer. When r is
 * answered at once (r->done on return), done() is not called; otherwise
 * it is called exactly once, later, from the loop.
 */
void request_start(struct request *r, const char *line, size_t len, const struct access_peer *peer,
		   pid_t pid);
/* Answers r TOO_LONG at once (a line over max_line). */
void request_too_long(struct request *r, size_t max_line);
void request_free(struct request *r);

/* Requests not freed yet, their clients gone or not. */
int request_live(void);

#endif
