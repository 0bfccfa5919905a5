/*
 * statefile: the release cache's state file as text, its format and reading
 * it back with every entry checked (design 4b, "Names, files and text from
 * outside"); the pure part of relstate, so that it can be fuzzed. Whether
 * the file may be trusted at all (its owner and mode) is relstate's.
 *
 * The file is {"version":1,"entries":[{"k":KEY,"v":VALUE,"set":UNIX},...]},
 * the least recently used entry first. KEY is "<kind><form>:<folder>\n<name>":
 * kind 'r' (a release key by process name), 'q' (a queue id by queue name)
 * or 'i' (a queue's name by its id, the name being that id); form 'p' (the
 * folder is a path) or 'i' (a folder id). VALUE is "<key>\n<resolved name>",
 * the key a release Key or a queue Id, the name Orchestrator's Name. UNIX is
 * the wall-clock time, in seconds, the value was set. These are the release
 * cache's own keys and values (releases.c), written as they are.
 *
 * An entry is used only when it is whole and checked: a release key is a
 * GUID, folder and queue ids are positive integers, the folder and names are
 * not empty and hold no control characters, and it was set at most 7 days
 * ago and not in the future (a minute of clock steps allowed).
 */
#ifndef ORCHD_STATEFILE_H
#define ORCHD_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>

#define STATEFILE_MAX_AGE_S (7 * 86400)

/* One checked entry; its strings live for the callback only. */
struct statefile_entry {
	char kind;                  /* 'r', 'q' or 'i' */
	long long folder_id;        /* > 0, or 0 when the folder is a path */
	const char *folder_path;    /* NULL when the folder is an id */
	const char *name;           /* as the key has it */
	const char *key;            /* a GUID, or a positive integer */
	const char *resolved;       /* Orchestrator's Name */
	double age_s;               /* how long ago it was set, 0 or more */
};

/* A checked entry, at most STATEFILE_MAX_AGE_S old. */
typedef void statefile_entry_fn(const struct statefile_entry *e, void *arg);
/* The entry at index (from 0, in the file) is skipped, for why (a phrase
 * such as "its release key is not a GUID"). */
typedef void statefile_skip_fn(size_t index, const char *why, void *arg);

/*
 * Reads text (len bytes), now being the wall-clock time in seconds: each
 * checked entry goes to entry, each bad one to skip; entries older than 7
 * days go to neither (they are merely stale). Only the last max entries
 * (the most recently used) are read when max > 0. Returns the number of
 * entries given to entry, or -1 when text is not a state file at all, with
 * why (a phrase such as "it is not JSON") written to why.
 */
int statefile_parse(const char *text, size_t len, double now, size_t max, statefile_entry_fn *entry,
		    statefile_skip_fn *skip, void *arg, char *why, size_t whylen);

#endif
