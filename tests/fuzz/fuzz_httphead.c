/* libFuzzer target: the /metrics request head parser, at the daemon's bound
 * and at a small one. A verdict must be final (a shorter read that was not
 * HTTPHEAD_MORE agrees with the whole input), and GET /metrics is only ever
 * what the input begins with. */
#include <stdint.h>
#include <string.h>

#include "httphead.h"

static void check(const char *p, size_t size, size_t max)
{
	enum httphead_verdict v = httphead_parse(p, size, max);

	if (v > HTTPHEAD_TOO_LONG)
		__builtin_trap();
	if (v == HTTPHEAD_METRICS && (size < 13 || memcmp(p, "GET /metrics", 12) != 0))
		__builtin_trap();
	if (v == HTTPHEAD_TOO_LONG && size <= max)
		__builtin_trap();
	if (v == HTTPHEAD_MORE && size > max)
		__builtin_trap();
	for (size_t k = 0; k < size; k += 1 + k / 2) {
		enum httphead_verdict w = httphead_parse(p, k, max);
		if (w != HTTPHEAD_MORE && w != v)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check((const char *)data, size, 8192);
	check((const char *)data, size, 64);
	return 0;
}
