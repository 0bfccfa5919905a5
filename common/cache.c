#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

void cache_init(struct cache *c)
{
	memset(c, 0, sizeof(*c));
	c->nslots = 64;
	c->slots = xcalloc(c->nslots, sizeof(*c->slots));
}

static void entry_free(struct cache_entry *e)
{
	free(e->key);
	free(e->value);
	free(e);
}

void cache_clear(struct cache *c)
{
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

	while (e && strcmp(e->key, key) != 0)
		e = e->next;
	return e;
}

struct cache_entry *cache_fresh(struct cache *c, const char *key, uint64_t now)
{
	struct cache_entry *e = cache_find(c, key);

	if (e && e->value && now < e->expires) {
		c->hits++;
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

struct cache_entry *cache_upsert(struct cache *c, const char *key)
{
	struct cache_entry *e = cache_find(c, key);

	if (e)
		return e;
	if (c->count + 1 > c->nslots)
		grow(c);
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	size_t i = hash(key) & (c->nslots - 1);
	e->next = c->slots[i];
	c->slots[i] = e;
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
		c->count--;
		entry_free(e);
	}
}

void cache_foreach(struct cache *c, bool (*fn)(struct cache_entry *e, void *arg), void *arg)
{
	for (size_t i = 0; i < c->nslots; i++) {
		struct cache_entry **p = &c->slots[i];
		while (*p) {
			struct cache_entry *e = *p;
			if (fn(e, arg)) {
				*p = e->next;
				c->count--;
				entry_free(e);
			} else {
				p = &e->next;
			}
		}
	}
}
