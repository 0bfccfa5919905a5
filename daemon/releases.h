/*
 * releases: what orchd looks up by name in a folder and keeps
 * (docs/orchestrator.md sections 5 and 9; docs/protocol.md section 4,
 * "Release cache"): release keys by process name, queue ids by queue name,
 * and queue names by queue id. Each is cached for release_ttl seconds with
 * the Name Orchestrator resolved (access rules are checked against it
 * again). A miss starts ONE lookup however many requests wait for it
 * (single flight); a hit costs no HTTP. A name Orchestrator does not know
 * is remembered for negative_ttl seconds, so that repeating it costs no
 * lookup either; a reload forgets those.
 *
 * Refresh ahead (docs/protocol.md section 4): a key used in the last quarter
 * of its TTL is looked up again in the background; the hit uses it at once,
 * so no request after the first of a name waits for a lookup while its key
 * is fresh or being refreshed. A key nobody uses expires at its TTL. A
 * refresh that fails keeps the key for a quarter TTL more at most (logged).
 *
 * Names and folder paths are keys with ASCII letters folded (design 4b;
 * Orchestrator matches names without case): case variants of one name share
 * one entry and one lookup, the Name Orchestrator resolved being what the
 * access rules are asked again with. At most [cache] max_entries keys are
 * kept, the least recently used going first (common/cache.h).
 */
#ifndef ORCHD_RELEASES_H
#define ORCHD_RELEASES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "folder.h"
#include "proto.h"

/* What is looked up: the answer's key is a release Key (GET Releases by
 * Name), a queue's Id in decimal (GET QueueDefinitions by Name), or again
 * the Id with the queue's Name (GET QueueDefinitions by Id, the name
 * argument the Id in decimal). */
enum rel_kind { REL_PROCESS, REL_QUEUE, REL_QUEUE_ID };

struct rel_lookup;
struct rel_wait;
/* On PC_OK, key and name are the release key and the process's Name as
 * Orchestrator has it; otherwise key is a message and name NULL. Valid for
 * the call only. */
typedef void releases_fn(struct rel_wait *w, enum proto_code code, const char *key,
			 const char *name);

struct rel_wait {
	releases_fn *cb;
	void *data;
	struct rel_lookup *lookup;   /* private */
	TAILQ_ENTRY(rel_wait) link;  /* private */
};

void releases_init(uv_loop_t *loop, unsigned ttl_s, unsigned negative_ttl_s);
/* New TTLs; the names remembered as unknown are forgotten. */
void releases_configure(unsigned ttl_s, unsigned negative_ttl_s);
/* [cache] max_entries: at most that many keys, the least recently used
 * going first (now, when there are more); 0, as after init: no cap. */
void releases_limit(size_t max_entries);
/* Cancels the lookups in flight (their waiters are not called) and frees
 * the cache. */
void releases_close(void);

/*
 * What the cache knows of (kind, f, name) without asking: PC_OK with copies of
 * the key and name (the caller frees them), PC_NOT_FOUND with *key a copy of
 * the message for a name remembered as unknown, or PC__COUNT on a miss.
 */
enum proto_code releases_cached(enum rel_kind kind, const struct folder *f, const char *name,
				char **key, char **resolved);
/* Looks the key up; w->cb is called exactly once, later, from the loop. */
void releases_wait(struct rel_wait *w, enum rel_kind kind, const struct folder *f,
		   const char *name);
/* Takes w back; its callback will not be called. */
void releases_cancel(struct rel_wait *w);
/* Forgets key for (kind, f, name) if it is still the cached one (the
 * release is gone, StartJobs said). */
void releases_drop(enum rel_kind kind, const struct folder *f, const char *name, const char *key);

/*
 * [cache] state_file: from now on the cache is saved to path (atomically,
 * mode 0600 for a new file, a second after changes and at close), and what
 * path holds is read now: entries within their TTL are used as they are,
 * older ones (up to a week) are used for a grace while refreshed at once.
 * NULL: none. The same path again does nothing. The file itself is
 * relstate's (relstate.h).
 */
void releases_state(const char *path);

/* Adds to arr (a cJSON array) the names (as Orchestrator resolved them)
 * of up to max processes with a cached release key, each once, those keep
 * says true of in the folder they were cached for (all with keep NULL):
 * STATS "processes", for shell completion. */
struct cJSON;
typedef bool releases_keep_fn(const char *name, const struct folder *f, void *ctx);
void releases_names(struct cJSON *arr, int max, releases_keep_fn *keep, void *ctx);

unsigned long releases_hits(void);
unsigned long releases_misses(void);
unsigned long releases_lookups(void);
/* Lookups made ahead of expiry, in the background (part of lookups). */
unsigned long releases_refreshes(void);

#endif
