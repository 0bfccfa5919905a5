/*
 * httphead: what an HTTP/1.x request head asks of orchd's /metrics endpoint
 * (daemon/metrics.c), judged from the bytes received so far. The head ends
 * at its first empty line (CR LF CR LF, or bare LFs from a lax client); only
 * its request line matters: GET /metrics, a query string ignored. Pure: no I/O,
 * no allocation, no NUL terminator needed, any bytes safe (fuzzed by
 * tests/fuzz/fuzz_httphead.c). A verdict other than HTTPHEAD_MORE does not
 * change when more bytes arrive.
 */
#ifndef ORCHD_HTTPHEAD_H
#define ORCHD_HTTPHEAD_H

#include <stddef.h>

enum httphead_verdict {
	HTTPHEAD_MORE,          /* no end of head yet: read on */
	HTTPHEAD_METRICS,       /* GET /metrics */
	HTTPHEAD_NOT_FOUND,     /* GET of another path */
	HTTPHEAD_NOT_ALLOWED,   /* another method */
	HTTPHEAD_TOO_LONG,      /* no end of head within max bytes */
};

/* The verdict on the len bytes at p, a head allowed at most max bytes. */
enum httphead_verdict httphead_parse(const char *p, size_t len, size_t max);

#endif
