/*
 * releases: release keys by (folder, process name), cached for release_ttl
 * seconds. A miss starts ONE Releases lookup however many requests wait for
 * it (single flight); a hit costs no HTTP.
 */
#ifndef ORCHD_RELEASES_H
#define ORCHD_RELEASES_H

#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "proto.h"

struct rel_lookup;
struct rel_wait;
/* key_or_msg is the release key when code is PC_OK, else a message. */
typedef void releases_fn(struct rel_wait *w, enum proto_code code, const char *key_or_msg);

struct rel_wait {
	releases_fn *cb;
	void *data;
	struct rel_lookup *lookup;   /* private */
	TAILQ_ENTRY(rel_wait) link;  /* private */
};

/* A folder as a request names it: a path, or an id > 0. */
struct rel_folder {
	const char *path;
	int64_t id;
};

void releases_init(uv_loop_t *loop, unsigned ttl_s);
void releases_set_ttl(unsigned ttl_s);
void releases_close(void);

/* The cached key, or NULL on a miss. */
const char *releases_cached(const struct rel_folder *f, const char *process);
/* Looks the key up; w->cb is called exactly once, later, from the loop. */
void releases_wait(struct rel_wait *w, const struct rel_folder *f, const char *process);
/* Forgets key for (f, process) if it is still the cached one (the release
 * is gone, StartJobs said). */
void releases_drop(const struct rel_folder *f, const char *process, const char *key);

unsigned long releases_hits(void);
unsigned long releases_misses(void);
unsigned long releases_lookups(void);

#endif
