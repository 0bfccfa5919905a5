/*
 * cache: a string-keyed hash table of string values that expire, the pure
 * part of the release cache. Time is passed in (milliseconds of any
 * monotonic clock) so that expiry can be tested without waiting.
 *
 * It holds at most max entries (0: no cap; design 4b): creating one more
 * first frees the least recently used entries (a fresh hit or an upsert is
 * a use) that have no user pointer; entries with one (a lookup in flight)
 * are the owner's and stay, and cache_trim frees the excess once they are
 * released.
 *
 * Keys are compared with ASCII letters folded (Orchestrator matches names
 * without case): "Invoice Bot" and "INVOICE BOT" are one entry, whose key
 * stays as it was first spelled. Other bytes (UTF-8 included) compare as
 * they are.
 */
#ifndef ORCHD_CACHE_H
#define ORCHD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache_entry {
	char *key;
	char *value;          /* NULL while no value is known */
	uint64_t expires;     /* value is fresh while now < expires */
	uint64_t set_at;      /* when cache_set gave it its value */
	uint64_t next_try;    /* the owner's: e.g. no refresh before then */
	void *user;           /* the owner's, e.g. a lookup in flight */
	struct cache_entry *next;                 /* in its slot */
	struct cache_entry *older, *newer;        /* in the use order */
};

struct cache {
	struct cache_entry **slots;
	size_t nslots;
	size_t count;
	size_t max;                               /* 0: no cap */
	struct cache_entry *oldest, *newest;      /* the use order */
	unsigned long hits, misses;
};

/* An empty cache holding at most max entries (0: no cap). */
void cache_init(struct cache *c, size_t max);
/* A new cap, applied now (cache_trim). */
void cache_set_max(struct cache *c, size_t max);
/* Frees the least recently used entries without a user pointer until at
 * most max remain (or only entries with one are left over it). */
void cache_trim(struct cache *c);
/* Frees every entry and the table; entries' user pointers must have been
 * released. */
void cache_close(struct cache *c);
/* Frees every entry, keeping the table for new ones (the same rule). */
void cache_clear(struct cache *c);

/* The entry for key if its value is fresh, or NULL; counts a hit or a miss. */
struct cache_entry *cache_fresh(struct cache *c, const char *key, uint64_t now);
/* The fresh value for key, or NULL; counts a hit or a miss. */
const char *cache_get(struct cache *c, const char *key, uint64_t now);
/* The entry for key, or NULL. */
struct cache_entry *cache_find(struct cache *c, const char *key);
/* The entry for key, created empty if needed; either way now the most
 * recently used. Creating it may free others (see the cap above). */
struct cache_entry *cache_upsert(struct cache *c, const char *key);
/* Sets the value of e, fresh for ttl_ms from now (set_at = now). */
void cache_set(struct cache_entry *e, const char *value, uint64_t now, uint64_t ttl_ms);
/* Removes and frees e. */
void cache_remove(struct cache *c, struct cache_entry *e);
/* Calls fn for every entry, the least recently used first; an entry for
 * which fn returns true is removed and freed (its user pointer must have
 * been released by fn). */
void cache_foreach(struct cache *c, bool (*fn)(struct cache_entry *e, void *arg), void *arg);

#endif
