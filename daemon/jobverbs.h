/*
 * jobverbs: JOB, WAIT and STOP (docs/protocol.md, "The job's life"), over
 * watch (reads and waits) and orch (StopJob).
 *
 * With [access] rules each reads the job first (a recent read will do for
 * a WAIT) and goes on only when the peer may START that job's process in
 * that folder; DENIED names only what the request named. JOB answers that
 * read; WAIT waits for a final state; STOP answers a final job at once with
 * "stopping":false, else sends StopJob (SoftStop or Kill; idempotent, so a
 * lost answer is retried like a GET) and answers the record read before it.
 * JOB and WAIT read a job's output from its OutputFile when it has one
 * (attach.h) before they answer.
 */
#ifndef ORCHD_JOBVERBS_H
#define ORCHD_JOBVERBS_H

#include <stdbool.h>

#include "attach.h"
#include "orch.h"
#include "watch.h"

struct request;

struct jobverbs_req {
	/* Private. */
	struct watch_req wr;
	bool watching, stopping;
	char *stop_answer;             /* STOP: the answer, once the stop is accepted */
	char subject[32];              /* "job 4711" */
	struct orch_call call;         /* STOP's StopJob */
	struct attach_rec *out;        /* JOB, WAIT: the output file being read */
	char state[32];                /* its job's state, for the answer's facts */
};

/* Runs r (JOB, WAIT or STOP); answers it exactly once with request_answer. */
void jobverbs_run(struct request *r);
/* Takes r back wherever it is: no answer. */
void jobverbs_cancel(struct request *r);

#endif
