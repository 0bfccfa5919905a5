/*
 * jobs: one START from request to answer. Resolves the release key (cache or
 * lookup), builds the StartJobs body (docs/orchestrator.md section 6), sends
 * it, and reads the jobs out of the answer.
 *
 * Every StartJobs carries a Reference (the client's, or one made here). A
 * StartJobs that may have reached Orchestrator without an answer (timeout,
 * reset, 5xx) is never replayed blindly: the job is looked up by its
 * Reference, after 1 s and again after twice the HTTP timeout (4 s at
 * least); found, it is answered OK; not found twice, it is taken not to exist
 * and is started once more; when the
 * lookup is impossible (no OR.Jobs.Read scope, rate limit, errors) the answer
 * is UNKNOWN with the reference. When StartJobs says the release is gone, the
 * key is dropped, looked up again and the start tried once more.
 */
#ifndef ORCHD_JOBS_H
#define ORCHD_JOBS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "conf.h"
#include "delayq.h"
#include "orch.h"
#include "proto.h"
#include "releases.h"

struct job;
/* text is the OK answer's JSON when code is PC_OK, else a message. */
typedef void jobs_done_fn(struct job *j, enum proto_code code, const char *text);

struct job {
	const struct proto_start *st;  /* the caller's; must outlive the job */
	jobs_done_fn *done;
	/* Asked with the process Name Orchestrator resolved, before StartJobs:
	 * false answers DENIED and sends nothing. NULL: always allowed. */
	bool (*allowed)(struct job *j, const char *name);
	void *data;

	/* Private. */
	struct rel_folder folder;      /* folder.path is folder_path */
	char *folder_path;             /* ours: a reload may change the default */
	char *reference;               /* the client's, or made here */
	char *release;
	bool release_retried;
	bool resent;                   /* started again after two empty lookups */
	int checks;                    /* lookups by Reference so far */
	char why[512];                 /* why the start was ambiguous */
	struct delayq_item wait;       /* waiting for the next lookup */
	struct rel_wait rw;
	struct orch_call call;
};

void jobs_init(uv_loop_t *loop, const struct conf *conf);
/* Takes a reloaded config's default folder. */
void jobs_configure(const struct conf *conf);
void jobs_close(void);
/* From now on, a job whose StartJobs is not sent yet is answered SHUTDOWN,
 * and an ambiguous start is answered UNKNOWN at once (no lookup waits). */
void jobs_shutdown(void);
/* The drain deadline: jobs waiting to look their start up by Reference are
 * answered UNKNOWN now. */
void jobs_abort(void);
/* Takes j back wherever it is; j->done will not be called. */
void jobs_cancel(struct job *j);
/* The folder a request without one goes to, or NULL. */
const char *jobs_default_folder(void);

/* Starts j; j->done is called exactly once, possibly before this returns
 * (for errors found without asking anybody). */
void jobs_start(struct job *j);

unsigned long jobs_started(void);
/* Ambiguous starts resolved by a lookup: found, or started again. */
unsigned long jobs_resolved(void);

#endif
