#include "hist.h"

#define EXACT 32
#define STEPS 16

unsigned hist_bucket(uint64_t us)
{
	if (us < EXACT)
		return (unsigned)us;
	unsigned e = 63u - (unsigned)__builtin_clzll(us);
	unsigned i = EXACT + (e - 5) * STEPS + (unsigned)((us >> (e - 4)) & (STEPS - 1));
	return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

uint64_t hist_bucket_max(unsigned i)
{
	if (i < EXACT)
		return i;
	if (i >= HIST_BUCKETS - 1)
		return UINT64_MAX;
	unsigned e = (i - EXACT) / STEPS + 5, step = (i - EXACT) % STEPS;
	return ((uint64_t)(STEPS + step + 1) << (e - 4)) - 1;
}

void hist_add(struct hist *h, uint64_t us)
{
	h->buckets[hist_bucket(us)]++;
	h->samples++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

uint64_t hist_percentile(const struct hist *h, unsigned p)
{
	if (!h->samples)
		return 0;
	uint64_t rank = h->samples * p / 100, seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen > rank) {
			uint64_t v = hist_bucket_max(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

uint64_t hist_count_le(const struct hist *h, uint64_t us)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < HIST_BUCKETS && hist_bucket_max(i) <= us; i++)
		n += h->buckets[i];
	return n;
}
