#include "httphead.h"

#include <string.h>

/* Where the head ends (the offset past its empty line) within the first
 * len bytes, or 0 when it has not ended yet. */
static size_t head_end(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < len && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Only the first complete head is judged, and only within max bytes, so
 * that what follows it (or a longer read) cannot change the verdict. */
enum httphead_verdict httphead_parse(const char *p, size_t len, size_t max)
{
	size_t end = head_end(p, len < max ? len : max);

	if (end == 0)
		return len > max ? HTTPHEAD_TOO_LONG : HTTPHEAD_MORE;
	if (end < 4 || memcmp(p, "GET ", 4) != 0)
		return HTTPHEAD_NOT_ALLOWED;
	const char *target = p + 4;
	size_t n = 0;
	while (target + n < p + end && !memchr(" ?\r\n", target[n], 4))
		n++;
	if (n == 8 && memcmp(target, "/metrics", 8) == 0)
		return HTTPHEAD_METRICS;
	return HTTPHEAD_NOT_FOUND;
}
