#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ASCII only, whatever the locale. */
static unsigned char fold(char ch)
{
	unsigned char c = (unsigned char)ch;

	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ fold(*s)) * 0x100000001b3ULL;
	return h;
}

static bool same_key(const char *a, const char *b)
{
	for (; *a && fold(*a) == fold(*b); a++, b++)
		;
	return fold(*a) == fold(*b);
}

void cache_init(struct cache *c, size_t max)
{
	memset(c, 0, sizeof(*c));
	c->nslots = 64;
	c->slots = xcalloc(c->nslots, sizeof(*c->slots));
	c->max = max;
}

/* Takes e out of the use order. */
static void unlink_use(struct cache *c, struct cache_entry *e)
{
	*(e->older ? &e->older->newer : &c->oldest) = e->newer;
	*(e->newer ? &e->newer->older : &c->newest) = e->older;
	e->older = e->newer = NULL;
}

/* Puts e (out of the use order) at its most recent end. */
static void link_newest(struct cache *c, struct cache_entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	*(c->newest ? &c->newest->newer : &c->oldest) = e;
	c->newest = e;
}

/* A use of e: it goes last in the eviction order. */
static void touch(struct cache *c, struct cache_entry *e)
{
	if (c->newest != e) {
		unlink_use(c, e);
		link_newest(c, e);
	}
}

static void entry_free(struct cache_entry *e)
{
	free(e->key);
	free(e->value);
	free(e);
}

void cache_clear(struct cache *c)
{
	c->oldest = c->newest = NULL;
	for (size_t i = 0; i < c->nslots; i++) {
		struct cache_entry *e = c->slots[i], *next;
		for (; e; e = next) {
			next = e->next;
			entry_free(e);
		}
		c->slots[i] = NULL;
	}
	c->count = 0;
}

void cache_close(struct cache *c)
{
	cache_clear(c);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

struct cache_entry *cache_find(struct cache *c, const char *key)
{
	struct cache_entry *e = c->slots[hash(key) & (c->nslots - 1)];

	while (e && !same_key(e->key, key))
		e = e->next;
	return e;
}

struct cache_entry *cache_fresh(struct cache *c, const char *key, uint64_t now)
{
	struct cache_entry *e = cache_find(c, key);

	if (e && e->value && now < e->expires) {
		c->hits++;
		touch(c, e);
		return e;
	}
	c->misses++;
	return NULL;
}

const char *cache_get(struct cache *c, const char *key, uint64_t now)
{
	struct cache_entry *e = cache_fresh(c, key, now);

	return e ? e->value : NULL;
}

static void grow(struct cache *c)
{
	size_t n = c->nslots * 2;
	struct cache_entry **slots = xcalloc(n, sizeof(*slots));

	for (size_t i = 0; i < c->nslots; i++) {
		struct cache_entry *e = c->slots[i], *next;
		for (; e; e = next) {
			next = e->next;
			size_t j = hash(e->key) & (n - 1);
			e->next = slots[j];
			slots[j] = e;
		}
	}
	free(c->slots);
	c->slots = slots;
	c->nslots = n;
}

/* Frees the least recently used entries without a user pointer until at
 * most keep remain. */
static void trim_to(struct cache *c, size_t keep)
{
	struct cache_entry *e = c->oldest, *newer;

	for (; e && c->count > keep; e = newer) {
		newer = e->newer;
		if (!e->user)
			cache_remove(c, e);
	}
}

void cache_trim(struct cache *c)
{
	if (c->max)
		trim_to(c, c->max);
}

void cache_set_max(struct cache *c, size_t max)
{
	c->max = max;
	cache_trim(c);
}

struct cache_entry *cache_upsert(struct cache *c, const char *key)
{
	struct cache_entry *e = cache_find(c, key);

	if (e) {
		touch(c, e);
		return e;
	}
	if (c->max)
		trim_to(c, c->max - 1);
	if (c->count + 1 > c->nslots)
		grow(c);
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	size_t i = hash(key) & (c->nslots - 1);
	e->next = c->slots[i];
	c->slots[i] = e;
	link_newest(c, e);
	c->count++;
	return e;
}

void cache_set(struct cache_entry *e, const char *value, uint64_t now, uint64_t ttl_ms)
{
	free(e->value);
	e->value = value ? xstrdup(value) : NULL;
	e->expires = now + ttl_ms;
	e->set_at = now;
	e->next_try = 0;
}

void cache_remove(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **p = &c->slots[hash(e->key) & (c->nslots - 1)];

	while (*p && *p != e)
		p = &(*p)->next;
	if (*p) {
		*p = e->next;
		unlink_use(c, e);
		c->count--;
		entry_free(e);
	}
}

void cache_foreach(struct cache *c, bool (*fn)(struct cache_entry *e, void *arg), void *arg)
{
	struct cache_entry *e = c->oldest, *newer;

	for (; e; e = newer) {
		newer = e->newer;
		if (fn(e, arg))
			cache_remove(c, e);
	}
}
