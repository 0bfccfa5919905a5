/*
 * startint: what the two files of the start module share (start.c: START
 * and StartJobs; startwait.c: the waits of a START with wait). Not for other
 * modules.
 */
#ifndef ORCHD_STARTINT_H
#define ORCHD_STARTINT_H

#include "proto.h"

struct request;

/* r's one answer; nothing of r is touched after it. */
void start_finish(struct request *r, enum proto_code code, const char *text);
/* The OK answer: the jobs, or their final records. */
void start_answer_ok(struct request *r);
/* Waits for each job r made; answers r once they all ended, or one wait
 * failed. */
void start_wait_jobs(struct request *r);

#endif
