/*
 * request: one request's life, from its line to its answer line: parse
 * (proto), admit, dispatch to its verb through one table, answer, and the
 * log line, journal fields and STATS of the answer. No verb logic lives
 * here: each verb family is a module (start, jobverbs, enqueue, logs) that gets
 * the request and answers it exactly once with request_answer().
 *
 * Admission (docs/protocol.md, "Admission"), in this order, each before
 * anything costs: the access rules that can decide without Orchestrator
 * (a peer no rule of the verb's kind could match, in the folder the request
 * names, is DENIED); stopping (SHUTDOWN); then a place of max_queue, at most
 * max_queue_per_peer of them per uid, and the bytes of the line against
 * max_pending_bytes (a quarter of it per uid), else BUSY. Places and bytes
 * are given back with the answer, or at once when the client goes and the
 * request has no effect to see through (JOB, WAIT, ITEM, LOGS, the wait of a
 * START): it is then dropped, and a read nobody else wants is not made.
 * START, STOP and ENQUEUE run to their end, and are logged.
 *
 * It knows nothing of connections: the server hands it a line and the
 * peer, and gets the answer line back.
 */
#ifndef ORCHD_REQUEST_H
#define ORCHD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "access.h"
#include "enqueue.h"
#include "folder.h"
#include "jobverbs.h"
#include "logs.h"
#include "proto.h"
#include "start.h"

struct request;
/* r was answered: r->answer holds the line. */
typedef void request_done_fn(struct request *r);

/* What a verb tells of its answer, for the journal (journalctl
 * ORCHD_JOB_ID=4711): no answer text is parsed back. */
#define REQUEST_FACT_IDS 8
struct request_facts {
	long long ids[REQUEST_FACT_IDS];  /* jobs started or read, or the item */
	int nids;
	bool item;                        /* ids are queue items' */
	const char *state;                /* one job's state or item's status */
	const char *reference;            /* the reference used */
};

struct verb;

struct request {
	/* The owner's (the server's connection); request never touches these. */
	void *owner;                    /* NULL once the client is gone */
	request_done_fn *done_cb;
	TAILQ_ENTRY(request) order;
	LIST_ENTRY(request) all;

	/* Known once request_start returned. */
	bool tagged;                    /* answered as soon as done, not in order */
	bool quit;                      /* QUIT: the connection ends after this answer */
	/* Known once answered, or taken back (cancelled: never answered; the
	 * owner frees it). */
	bool done, cancelled;
	char *answer;                   /* the answer line, LF included */
	size_t alen;

	/* For the verbs, read-only: what was asked, in which folder (the
	 * default resolved once), by whom (valid until answered). */
	struct proto_req preq;
	struct folder folder;
	struct access_peer peer;
	/* Set by the verb before it answers. */
	struct request_facts facts;
	/* The verb's own state: one of these, by verb. */
	union {
		struct start_req start;       /* START */
		struct jobverbs_req jv;       /* JOB, WAIT, STOP */
		struct enqueue_req enq;       /* ENQUEUE, ITEM */
		struct logs_req lg;           /* LOGS */
	};

	/* Private. */
	const struct verb *verb;
	char *folder_path;              /* ours: a reload may change the default */
	uint64_t t0;                    /* uv_hrtime() at arrival */
	bool parsed;                    /* the line was a valid request */
	bool starting;                  /* request_start is on the stack */
	bool at_work;                   /* the verb runs: it may be dropped or cancelled */
	struct admit_use *use;          /* its place and bytes, until answered */
	size_t bytes;                   /* its line's and held's */
	size_t held;                    /* outputs' (request_hold), until its answer leaves */
	bool placed;                    /* holds its place of max_queue */
	LIST_ENTRY(request) live;
};

/* Modules request uses start first: access, the verbs' engines. */
void request_init(const struct conf *conf);
/* max_queue, its per-peer share, max_pending_bytes and the default folder,
 * from now on. */
void request_configure(const struct conf *conf);
/* From now on, a request that would reach Orchestrator is answered
 * SHUTDOWN. */
void request_shutdown(void);
/* Takes every request still at work back from its verb: none is answered
 * any more. Those whose owner is gone are freed; the owner frees the
 * others. Then frees what request holds. */
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
/* r's client is gone (r->owner is NULL now). Returns true when r was
 * dropped (no effect to see through): it is then cancelled, its place and
 * bytes given back, and the owner frees it; false when it runs on. */
bool request_orphaned(struct request *r);
void request_free(struct request *r);

/* For the verbs: r's one answer (text is the OK answer's JSON, or a
 * message). r->done_cb is told unless request_start is on the stack. */
void request_answer(struct request *r, enum proto_code code, const char *text);
/* The rules asked of name (a queue's when queue) in r's folder, for
 * count jobs. */
bool request_allowed(const struct request *r, bool queue, const char *name, int count);
/* Whether r's peer may see job (JOB, WAIT, STOP, LOGS): it may START the
 * job's process in r's folder (a job without a process fails closed).
 * When not, r is answered DENIED naming only what the request named (the
 * id), a rate-limited line is logged, and false is returned: doing says
 * what was refused ("read", "stop", "read the log of"). */
bool request_job_access(struct request *r, const cJSON *job, const char *doing);
/* A DENIED line for the log, rate-limited. */
void request_log_denied(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* r holds bytes more until answered (a job's output read from its file),
 * against max_pending_bytes as its line does; false (nothing held) with
 * *why saying which limit. */
bool request_hold(struct request *r, size_t bytes, const char **why);
/* Whether r's client is gone (r runs on for its effect). */
bool request_gone(const struct request *r);
/* Whether orchd is stopping (nothing new is sent). */
bool request_stopping(void);
/* wait_timeout: the seconds of a WAIT or a START that waits without its own. */
int request_wait_timeout(void);

/* Requests not freed yet, their clients gone or not. */
int request_live(void);

#endif
