/*
 * backoff: retry delays and refresh times, pure functions of their inputs and
 * a random number, so that their bounds can be tested.
 */
#ifndef ORCHD_BACKOFF_H
#define ORCHD_BACKOFF_H

#include <stdint.h>

/*
 * "Full jitter" exponential backoff: a delay uniform in [0, min(cap, base *
 * 2^attempt)] milliseconds, attempt counting from 0. rnd is a uniform 32-bit
 * random number.
 */
uint64_t backoff_delay(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd);

/*
 * A doubling delay with +-20 % jitter: base_ms * 2^attempt, at most cap_ms,
 * times a factor uniform in [0.8, 1.2]. For token requests once failing
 * (docs/protocol.md section 4: about 2 s, 4, 8, ... up to 60 s).
 */
uint64_t backoff_doubling(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd);

/*
 * When to refresh a token that lives lifetime_ms: uniformly between 2/3 and
 * 80 % of its life, so that many daemons sharing an app do not refresh in
 * lockstep and a refresh has a fifth of the life left to succeed.
 */
uint64_t backoff_refresh_at(uint64_t lifetime_ms, uint32_t rnd);

/*
 * Parses a Retry-After value, delta-seconds or HTTP-date (curl_getdate),
 * into milliseconds from now (unix seconds). Returns -1 if unparsable.
 */
int64_t backoff_retry_after(const char *value, int64_t now);

#endif
