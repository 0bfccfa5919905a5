#include "backoff.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

uint64_t backoff_delay(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd)
{
	uint64_t ceil = base_ms;

	for (unsigned i = 0; i < attempt && ceil < cap_ms; i++)
		ceil *= 2;
	if (ceil > cap_ms)
		ceil = cap_ms;
	return (uint64_t)((double)rnd / 4294967296.0 * (double)(ceil + 1));
}

uint64_t backoff_refresh_at(uint64_t lifetime_ms, uint32_t rnd)
{
	uint64_t lo = lifetime_ms * 2 / 3, hi = lifetime_ms * 4 / 5;

	return lo + (uint64_t)((double)rnd / 4294967296.0 * (double)(hi - lo));
}

int64_t backoff_retry_after(const char *value, int64_t now)
{
	char *end;

	while (*value == ' ' || *value == '\t')
		value++;
	if (*value >= '0' && *value <= '9') {
		long s = strtol(value, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (*end || s < 0 || s > 86400)
			return -1;
		return (int64_t)s * 1000;
	}
	time_t t = curl_getdate(value, NULL);
	if (t == -1)
		return -1;
	return t <= now ? 0 : (int64_t)(t - now) * 1000;
}

uint64_t backoff_doubling(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd)
{
	uint64_t d = attempt >= 32 || (base_ms << attempt) > cap_ms ? cap_ms : base_ms << attempt;

	/* d * (0.8 + 0.4 * rnd / 2^32), in integers. */
	return d * 4 / 5 + (d * 2 / 5 * rnd >> 32);
}
