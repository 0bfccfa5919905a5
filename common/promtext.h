/*
 * promtext: STATS (docs/protocol.md section 2) as the Prometheus text
 * exposition format, version 0.0.4, as a pure function, so that the
 * daemon's /metrics and "orchctl metrics" (for node_exporter's textfile
 * collector) print the same text. Names follow Prometheus' conventions:
 * the orchd_ prefix, base units (seconds, bytes), _total on counters; error
 * answers carry a code label; the request latency is a histogram. STATS
 * holds no secret, so neither does this.
 */
#ifndef ORCHD_PROMTEXT_H
#define ORCHD_PROMTEXT_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "util.h"

/* The histogram's upper bounds, in microseconds (STATS latency_us.le). */
static const uint64_t promtext_bounds_us[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000,
};

/* Appends the metrics of stats (STATS' JSON object) to out. */
void promtext_from_stats(struct buf *out, const cJSON *stats);

#endif
