/*
 * check: "orchd check" (docs/protocol.md section 1), every step the daemon needs, run against the real
 * servers with the daemon's own config, token and HTTP code, each result
 * explained in words a user can act on. Never starts a job.
 */
#ifndef ORCHD_CHECK_H
#define ORCHD_CHECK_H

#include <stdbool.h>

struct check_opts {
	const char *config;
	bool json;
	const char *folder;   /* checked besides the default folder */
	const char *process;  /* looked up when set */
	const char *queue;    /* looked up when set; nothing is added */
};

/* Returns the exit status: 0 when everything the daemon needs works. */
int check_run(const struct check_opts *opts);

#endif
