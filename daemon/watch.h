/*
 * watch: every job orchd reads or waits for (docs/protocol.md, "The job's
 * life"; the API in docs/orchestrator.md section 8), and the pacing of single
 * reads.
 *
 * Requests for one job (folder, id) share it: one read in flight at a time,
 * whose answer goes to every request that wants it. A read request gets the
 * next read; a wait gets the first read that shows a final state
 * (Successful, Faulted, Stopped), or TIMEOUT at its deadline, or SHUTDOWN.
 * A waited job is read with GET /odata/Jobs({Id}) soon at first (1, 2, 4 s)
 * and then every poll_interval, however many wait for it; a folder with many
 * waited jobs is swept instead (sweep.h), and each job that ended is then
 * read once by itself for its outputs.
 *
 * Single reads are limited to max_single_reads a second daemon-wide (the
 * outputs read excepted; other modules' single reads, LOGS' RobotLogs, take
 * their turn with watch_turn): those over it wait in one FIFO behind one timer,
 * so thousands of them cost no CPU while they wait. A read nobody wants any
 * more is not made. A failed read that is worth retrying ends no wait: the
 * next read comes at the next poll, never in a hot loop.
 *
 * At shutdown every wait, and every read not sent yet, ends SHUTDOWN at once
 * (later, from the loop); reads in flight finish.
 */
#ifndef ORCHD_WATCH_H
#define ORCHD_WATCH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "conf.h"
#include "delayq.h"
#include "folder.h"
#include "proto.h"

struct watch_req;
struct watched;
/* On PC_OK, job is Orchestrator's job object (valid for the call only);
 * otherwise msg says why (NOT_FOUND for an unknown id, TIMEOUT, SHUTDOWN,
 * SCOPE, ...). */
typedef void watch_fn(struct watch_req *w, enum proto_code code, const cJSON *job,
		      const char *msg);

struct watch_req {
	watch_fn *cb;
	void *data;

	/* Private. */
	struct watched *job;
	bool final_only;               /* a wait */
	bool from_last;                /* a read answered from the last one */
	int64_t id;
	char state[32];                /* its job's state when it was let go */
	struct delayq_item timeout;
	TAILQ_ENTRY(watch_req) link;
};

/* A read of another kind (LOGS' RobotLogs read) waiting for its
 * max_single_reads slot, in the same FIFO as the job reads. */
struct watch_turn;
typedef void watch_turn_fn(struct watch_turn *t, enum proto_code code);
struct watch_turn {
	watch_turn_fn *go;
	void *data;

	/* Private. */
	bool queued, ours;             /* ours: a watched job's, not a caller's */
	TAILQ_ENTRY(watch_turn) link;
};

/* Starts sweep too. */
void watch_init(uv_loop_t *loop, const struct conf *conf);
/* poll_interval and max_single_reads from now on; reads keep going. */
void watch_configure(const struct conf *conf);
/* SIGTERM: every wait and every read not sent yet ends SHUTDOWN; reads in
 * flight finish. */
void watch_shutdown(void);
/* Takes back what is still in flight: no callback any more. */
void watch_close(void);

/* w->cb is called exactly once, later, from the loop, with the next read
 * of job id in folder f; with recent, the last single read of a job being
 * waited for will do (what a new WAIT needs for its access check, so that
 * many waiters cost no read each; in a swept folder it may be older than
 * poll_interval: the process of a job does not change). A callback must not
 * free another request's watch_req. */
void watch_read(struct watch_req *w, const struct folder *f, int64_t id, bool recent);
/* w->cb is called exactly once, later, from the loop: with the job once a
 * read shows it final, or TIMEOUT after timeout_s seconds. */
void watch_wait(struct watch_req *w, const struct folder *f, int64_t id, int timeout_s);
/* Takes w back; its callback will not be called. */
void watch_cancel(struct watch_req *w);
/* t->go is called exactly once, later, from the loop: with PC_OK when a
 * max_single_reads slot is t's (the caller sends its read then, and only
 * then), or PC_SHUTDOWN when orchd stops first. */
void watch_turn(struct watch_turn *t);
/* Takes t back; t->go will not be called. */
void watch_turn_cancel(struct watch_turn *t);
/* The state of w's job at its last read ("" before one). */
const char *watch_state(const struct watch_req *w);

/* For STATS. */
int watch_waits(void);
int watch_jobs(void);
int watch_paced(void);
unsigned long watch_single_reads(void);

#endif
