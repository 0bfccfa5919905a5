/*
 * cache: a string-keyed hash table of string values that expire, the pure
 * part of the release cache. Time is passed in (milliseconds of any
 * monotonic clock) so that expiry can be tested without waiting.
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
	struct cache_entry *next;
};

struct cache {
	struct cache_entry **slots;
	size_t nslots;
	size_t count;
	unsigned long hits, misses;
};

void cache_init(struct cache *c);
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
/* The entry for key, created empty if needed. */
struct cache_entry *cache_upsert(struct cache *c, const char *key);
/* Sets the value of e, fresh for ttl_ms from now (set_at = now). */
void cache_set(struct cache_entry *e, const char *value, uint64_t now, uint64_t ttl_ms);
/* Removes and frees e. */
void cache_remove(struct cache *c, struct cache_entry *e);
/* Calls fn for every entry; an entry for which fn returns true is removed
 * and freed (its user pointer must have been released by fn). */
void cache_foreach(struct cache *c, bool (*fn)(struct cache_entry *e, void *arg), void *arg);

#endif
