/*
 * start: START, and START with wait (docs/protocol.md section 2; the API in
 * docs/orchestrator.md section 6), over releases, settle and watch.
 *
 * Resolves the release key (cache or one lookup), asks the [access] rules
 * again with the process Name Orchestrator resolved, sends StartJobs with a
 * Reference (the client's, or one made here) and answers the jobs it made.
 * When StartJobs says the release is gone, the key is dropped, looked up
 * again and the start tried once more. An ambiguous StartJobs is settled by
 * its Reference (settle.h). With wait, each job made is then waited for and
 * the answer holds their final records (a job's output read from its
 * OutputFile when it has one: attach.h).
 *
 * An input over 10,000 characters is uploaded first (attach.h) and sent as
 * InputFile: a failed upload is a failure before StartJobs, never a job.
 *
 * A START runs to its end when its client goes (the job exists either way)
 * but its wait does not: once StartJobs was answered, it can be dropped.
 */
#ifndef ORCHD_START_H
#define ORCHD_START_H

#include <stdbool.h>
#include <stdint.h>

#include "attach.h"
#include "orch.h"
#include "releases.h"
#include "settle.h"
#include "watch.h"

struct request;

/* A job StartJobs made. */
struct start_job {
	int64_t id;
	char *key;                     /* keybuf, or allocated when longer */
	char keybuf[40];
	char state[32];
	char *record;                  /* with wait: its final record (JSON) */
	struct watch_req *wait;        /* with wait: in start_req's waits */
	struct attach_rec *out;        /* with wait: its output file being read */
};

struct start_req {
	/* Private. */
	char *reference;               /* the client's, or made here */
	char *release;
	bool release_retried;
	char *why;                     /* why the start was ambiguous, once it was */
	struct settle settle;
	struct rel_wait rw;
	struct orch_call call;
	struct start_job *jobs;        /* once StartJobs answered: &one, or allocated */
	struct start_job one;
	struct watch_req *waits;       /* with wait: one per job */
	int njobs, nleft;
	bool waiting;                  /* only the waits are left */
	/* A big input (over PROTO_INPUT_MAX characters) goes as a file. */
	bool big_input;
	struct attach *upload;         /* while it is uploaded */
	char *input_file;              /* its attachment's Id, once uploaded */
};

void start_init(void);
/* Runs r (START); answers it exactly once with request_answer. */
void start_run(struct request *r);
/* Takes r back wherever it is: no answer. */
void start_cancel(struct request *r);
/* Whether r is down to its waits (StartJobs was answered): nothing it does
 * from now on has an effect, so it may be dropped when its client goes. */
bool start_only_waits(const struct request *r);

/* STATS: jobs started; ambiguous starts settled (found, or started again). */
unsigned long start_jobs_started(void);
unsigned long start_resolved(void);

#endif
