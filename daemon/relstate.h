/*
 * relstate: the release cache's state file ([cache] state_file), so that a
 * restart starts with the release keys and queue ids it had instead of a
 * lookup for each (docs/protocol.md section 4, "Release cache").
 *
 * The file is {"version":1,"entries":[{"k":KEY,"v":VALUE,"set":UNIX}]}:
 * a cache entry's key and value, and the wall-clock time its value was
 * set. Only the unexpired entries the owner's keep function accepts are
 * written (positive ones: release keys and queue ids, no secret), atomically
 * (file_write_atomic: mode 0600 for a new file), a second after a change
 * (changes come in bursts) and at close. Reading it back hands each
 * well-formed entry at most a week old to the owner's adopt function with
 * its age; what the entry becomes is the owner's decision. A file that
 * cannot be read or written is logged and otherwise ignored: the cache
 * works in memory without it.
 *
 * The cache, the form of its keys and values, and the TTLs are the
 * owner's (releases.c); this module only walks the cache to save it.
 */
#ifndef ORCHD_RELSTATE_H
#define ORCHD_RELSTATE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cache.h"

/* Whether e, an entry with a value, belongs in the file. */
typedef bool relstate_keep_fn(const struct cache_entry *e);
/* Takes an entry read back from the file, its value set age_ms ago (never
 * more than a week, never before the loop's clock began). Returns -1 when
 * it is not used (malformed, or the key is cached already), 0 when used as
 * it is, 1 when used while being looked up again (past its TTL). */
typedef int relstate_adopt_fn(const char *key, const char *value, uint64_t age_ms);

/* Starts with no file; saves walk cache, with keep, and reads go to adopt. */
void relstate_init(uv_loop_t *loop, struct cache *cache, relstate_keep_fn *keep,
		   relstate_adopt_fn *adopt);
/* Saves the pending changes, then stops using any file. */
void relstate_close(void);

/*
 * From now on the cache is saved to path, and what path holds is read now
 * (through adopt). NULL: no file. The same path again does nothing.
 */
void relstate_use(const char *path);
/* The cache changed: the file is written a second from now. */
void relstate_changed(void);
/* Writes the file now if the cache changed since the last save. */
void relstate_save(void);

#endif
