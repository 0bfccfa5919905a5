/*
 * jobs: one START from request to answer. Resolves the release key (cache or
 * lookup), builds the StartJobs body (orchestrator-api.md section 6), sends
 * it once, and reads the jobs out of the answer. A StartJobs that may have
 * reached Orchestrator is never sent again: it is answered UNKNOWN. When
 * StartJobs says the release is gone, the key is dropped, looked up again and
 * the start tried once more (nothing was started by the refused call).
 */
#ifndef ORCHD_JOBS_H
#define ORCHD_JOBS_H

#include <stdbool.h>

#include "conf.h"
#include "orch.h"
#include "proto.h"
#include "releases.h"

struct job;
/* text is the OK answer's JSON when code is PC_OK, else a message. */
typedef void jobs_done_fn(struct job *j, enum proto_code code, const char *text);

struct job {
	const struct proto_start *st;  /* the caller's; must outlive the job */
	jobs_done_fn *done;
	void *data;

	/* Private. */
	struct rel_folder folder;      /* folder.path is folder_path */
	char *folder_path;             /* ours: a reload may change the default */
	char *release;
	bool release_retried;
	bool sent;                     /* StartJobs handed to http */
	struct rel_wait rw;
	struct orch_call call;
};

void jobs_init(const struct conf *conf);
void jobs_close(void);
/* From now on, a job whose StartJobs is not sent yet is answered SHUTDOWN. */
void jobs_shutdown(void);

/* Starts j; j->done is called exactly once, possibly before this returns
 * (for errors found without asking anybody). */
void jobs_start(struct job *j);

unsigned long jobs_started(void);

#endif
