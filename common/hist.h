/*
 * hist: a fixed log-linear histogram of microsecond latencies, the pure
 * part of STATS. Values below 32 have a bucket each; above, each power of
 * two is cut into 16 steps (~6 % resolution); 2^32 us and more share the
 * last bucket. Adding is one increment and a percentile walks the buckets,
 * so neither depends on how many samples there were.
 */
#ifndef ORCHD_HIST_H
#define ORCHD_HIST_H

#include <stdint.h>

#define HIST_BUCKETS 480

struct hist {
	uint64_t buckets[HIST_BUCKETS];
	uint64_t samples, max, sum;
};

void hist_add(struct hist *h, uint64_t us);
/* The p-th percentile (0..100): the upper bound of the bucket holding it,
 * at most the largest value seen; 0 without samples. */
uint64_t hist_percentile(const struct hist *h, unsigned p);
/* Samples of at most us, counted by whole buckets: exact when us is a
 * bucket's largest value, else those of the buckets wholly below us. */
uint64_t hist_count_le(const struct hist *h, uint64_t us);
/* The bucket of us, and the largest value bucket i holds. */
unsigned hist_bucket(uint64_t us);
uint64_t hist_bucket_max(unsigned i);

#endif
