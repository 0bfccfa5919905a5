/*
 * relstate: the release cache's state file ([cache] state_file), so that a
 * restart starts with the release keys and queue ids it had instead of a
 * lookup for each (docs/protocol.md section 4, "Release cache").
 *
 * The file's form and the checks of each entry are statefile's
 * (common/statefile.h). Only the unexpired entries the owner's keep function
 * accepts are written (positive ones: release keys and queue ids, no
 * secret), the least recently used first, the most recently used that fit
 * in 16 MiB (the most that is read back), atomically (file_write_atomic:
 * mode 0600 for a new file), a second after a change (changes come in
 * bursts) and at close. Reading it back (design 4b) happens only when the
 * file is a regular file owned by orchd's effective uid and not writable by
 * group or others; then each checked entry at most a week old, of the last
 * max_entries (the cache's cap), goes to the owner's adopt function; what it
 * becomes is the owner's decision. A file not trusted, not a state file, or
 * that cannot be read or written, and each bad entry, is logged with why and
 * otherwise ignored: the cache works in memory without it.
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
#include "statefile.h"

/* Whether e, an entry with a value, belongs in the file. */
typedef bool relstate_keep_fn(const struct cache_entry *e);
/* Takes a checked entry read back from the file, its value set age_ms ago
 * (never more than a week, never before the loop's clock began). Returns -1
 * when it is not used (its key is cached already), 0 when used as it is, 1
 * when used while being looked up again (past its TTL). */
typedef int relstate_adopt_fn(const struct statefile_entry *e, uint64_t age_ms);

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
