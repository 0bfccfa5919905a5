/*
 * logrec: a page of a job's robot log as LOGS answers it (docs/protocol.md,
 * "LOGS"), made from RobotLogs' answer (docs/orchestrator.md section 11), as
 * pure functions: the entries as structs first, JSON only when written.
 *
 * A page never ends in the middle of one time stamp when more follow:
 * entries are fetched with "TimeStamp gt <after>", so a page that stopped
 * between two entries of the same instant would lose the second one for a
 * client that goes on with after = last. The entries of the page's last
 * instant are then left for the next page. When the whole page is one
 * instant (more than limit entries share it), the page is "stuck": the
 * caller asks for that instant alone ("TimeStamp eq <edge>", up to
 * RobotLogs' cap) and answers all of it, over limit.
 */
#ifndef ORCHD_LOGREC_H
#define ORCHD_LOGREC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "text.h"
#include "util.h"

/* A message longer than this is cut, on a character boundary. */
#define LOGREC_MESSAGE_MAX 8192
/* So are a host name and a level spelled otherwise than the six: LogDto's
 * are short, and a hostile answer's must not make an answer of megabytes. */
#define LOGREC_HOST_MAX 256
#define LOGREC_LEVEL_MAX 32

/* One entry; the strings point into the answer it was read from. */
struct logrec_entry {
	char time[TEXT_DATETIME_MAX];  /* RFC 3339 with its zone; "" when the entry has none */
	const char *level;             /* "Trace" .. "Fatal" (or as Orchestrator spelled it), or NULL */
	size_t llen;                   /* bytes of level given (at most LOGREC_LEVEL_MAX) */
	const char *message;           /* NULL when there is none */
	size_t mlen;                   /* bytes of message given (at most LOGREC_MESSAGE_MAX) */
	bool cut;                      /* message was longer */
	const char *host;              /* HostMachineName, or NULL */
	size_t hlen;                   /* bytes of host given (at most LOGREC_HOST_MAX) */
};

struct logrec_page {
	struct logrec_entry *e;
	int n;
	bool more;                     /* entries after these match too */
	bool stuck;                    /* more, and all n entries share the time edge */
	char edge[TEXT_DATETIME_MAX];  /* when stuck: that instant */
};

/*
 * Reads RobotLogs' answer (an object with a "value" array of LogDto, oldest
 * first) asked with $top = top for a page of at most limit entries (top is
 * limit + 1, to see whether more follow, or limit when that is over
 * RobotLogs' cap: a full page then counts as more). Fills pg (free it with
 * logrec_page_free); returns false when the answer has no "value" array of
 * objects. Entries past top are not read (a hostile page may hold millions).
 */
bool logrec_page(const cJSON *answer, int limit, int top, struct logrec_page *pg);
void logrec_page_free(struct logrec_page *pg);

/*
 * Appends LOGS' answer object for job id: {"id":..,"logs":[{"time","level",
 * "message","host"} and "cut":true when cut],"more":..,"last":..}; last is
 * the time of the last entry that has one, else after (may be NULL: null).
 */
void logrec_page_json(struct buf *b, long long id, const struct logrec_page *pg, const char *after);

/* Orchestrator's time stamp t as an RFC 3339 date-time with its zone into
 * out: kept when it is one, "Z" added when it has no zone (Orchestrator
 * keeps UTC). False (out "") when t is not a date-time. */
bool logrec_time(const char *t, char out[TEXT_DATETIME_MAX]);

#endif
