/*
 * logs: LOGS (docs/protocol.md, "LOGS"): a job's robot log entries, oldest
 * first, over watch (the job's read and the pacing) and orch (RobotLogs).
 *
 * It reads the job's record first (a recent read of a waited job will do)
 * for what RobotLogs needs and the rules decide on: the job's Key, its
 * folder's id (RobotLogs takes only X-UIPATH-OrganizationUnitId) and its
 * process. With [access] rules it goes on only when the peer may START that
 * process in that folder; DENIED names only what the request named. Then,
 * in its max_single_reads turn, one GET /odata/RobotLogs with $filter
 * "JobKey eq <key> and Level ge '<n>'" (and "TimeStamp gt <after>"),
 * $orderby "TimeStamp asc" and $top limit + 1 (limit at RobotLogs' cap), and
 * answers the page (logrec.h). A page stuck on one instant (more than
 * limit entries share a time stamp) costs one more RobotLogs read, in its
 * own turn: that instant alone, up to RobotLogs' cap, all answered, so that
 * a client going on with after = last loses none of it. A GET: temporary failures are retried by
 * http; 403 is SCOPE naming OR.Monitoring.Read (orch). No side effect: a
 * LOGS whose client left is cancelled, and its reads not made.
 */
#ifndef ORCHD_LOGS_H
#define ORCHD_LOGS_H

#include <stdbool.h>

#include "orch.h"
#include "watch.h"

struct request;

struct logs_req {
	/* Private. */
	struct watch_req wr;           /* the job's read */
	struct watch_turn turn;        /* RobotLogs' max_single_reads turn */
	struct orch_call call;         /* RobotLogs */
	bool reading, waiting, calling;
	bool instant;                  /* the second read: the stuck page's instant */
	int top;                       /* the $top sent */
	int first_top;                 /* the first read's, when it was stuck */
	cJSON *first;                  /* that first answer, to fall back on */
	char edge[40];                 /* that instant (logrec_page's edge) */
	char key[40];                  /* the job's Key (a GUID) */
};

/* Runs r (LOGS); answers it exactly once with request_answer. */
void logs_run(struct request *r);
/* Takes r back wherever it is: no answer, no read not yet sent. */
void logs_cancel(struct request *r);

#endif
