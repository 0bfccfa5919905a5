/*
 * stats: the daemon's counters and the latency histogram, and the STATS
 * answer (docs/protocol.md section 2) built from them and from the other
 * modules' own counters.
 *
 * Latency is kept in a histogram (common/hist.h) rather than a ring of
 * samples: a flood of STATS costs a few microseconds each, never a sort.
 * Its percentiles are since the start.
 */
#ifndef ORCHD_STATS_H
#define ORCHD_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto.h"
#include "releases.h"

void stats_init(uv_loop_t *loop);
/* Nothing to free: the counters are static. For the order of main. */
void stats_close(void);

/* A request was received; a START among them. */
void stats_request(void);
void stats_start(void);
/* A request was answered with code after us microseconds. ok_counts: an OK
 * that counts (a START's; PINGs are not counted as "ok"). */
void stats_answered(enum proto_code code, bool ok_counts, uint64_t us);

/* Gauges: clients connected (server), requests waiting on Orchestrator
 * (request). */
void stats_clients(int delta);
void stats_pending(int delta);

/* The STATS answer as a tree (the caller cJSON_Deletes it), or as JSON
 * (cJSON_free). "processes" lists the cached names keep allows (all with
 * keep NULL): a peer learns only the names it may start. */
struct cJSON *stats_object(releases_keep_fn *keep, void *ctx);
char *stats_json(releases_keep_fn *keep, void *ctx);

#endif
