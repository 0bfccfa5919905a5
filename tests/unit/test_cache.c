/* Unit tests of the release cache's table (common/cache.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "util.h"

static void test_cache(void **state)
{
	struct cache c;
	char key[32];
	(void)state;

	cache_init(&c, 0);
	assert_null(cache_get(&c, "p:Shared\nA", 0));
	struct cache_entry *e = cache_upsert(&c, "p:Shared\nA");
	assert_ptr_equal(cache_upsert(&c, "p:Shared\nA"), e);
	assert_null(cache_get(&c, "p:Shared\nA", 0)); /* no value yet */
	cache_set(e, "key-1", 1000, 600000);
	assert_string_equal(cache_get(&c, "p:Shared\nA", 1000), "key-1");
	assert_string_equal(cache_get(&c, "p:Shared\nA", 600999), "key-1");
	assert_null(cache_get(&c, "p:Shared\nA", 601000)); /* expired */
	assert_null(cache_get(&c, "p:Other\nA", 1000));    /* the folder is part of the key */
	/* ASCII letters fold: one entry, its key as first spelled. */
	assert_ptr_equal(cache_upsert(&c, "P:SHARED\na"), e);
	assert_string_equal(e->key, "p:Shared\nA");
	assert_string_equal(cache_get(&c, "p:sHaReD\nA", 1000), "key-1");
	assert_int_equal(c.count, 1);
	cache_upsert(&c, "p:Shared\n\xc3\xa4");               /* only ASCII folds: not \xc3\x84 */
	assert_null(cache_find(&c, "p:Shared\n\xc3\x84"));
	cache_remove(&c, cache_find(&c, "p:Shared\n\xc3\xa4"));
	assert_int_equal(c.hits, 3);
	assert_int_equal(c.misses, 4);

	/* Growth keeps every entry reachable. */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cache_set(cache_upsert(&c, key), key, 0, 10);
	}
	assert_int_equal(c.count, 1001);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_string_equal(cache_get(&c, key, 5), key);
	}
	cache_remove(&c, cache_find(&c, "k500"));
	assert_null(cache_find(&c, "k500"));
	assert_non_null(cache_find(&c, "k501"));
	assert_int_equal(c.count, 1000);
	cache_close(&c);
}

static bool drop_odd(struct cache_entry *e, void *arg)
{
	(*(int *)arg)++;
	return atoi(e->key + 1) % 2 == 1;
}

static void test_cache_foreach(void **state)
{
	struct cache c;
	char key[32];
	int seen = 0;
	(void)state;

	cache_init(&c, 0);
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cache_set(cache_upsert(&c, key), key, 0, 10);
	}
	cache_foreach(&c, drop_odd, &seen);
	assert_int_equal(seen, 300);
	assert_int_equal(c.count, 150);
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		if (i % 2)
			assert_null(cache_find(&c, key));
		else
			assert_string_equal(cache_get(&c, key, 1), key);
	}
	cache_clear(&c);
	assert_int_equal(c.count, 0);
	assert_null(cache_find(&c, "k0"));
	cache_set(cache_upsert(&c, "again"), "v", 0, 10);   /* the table still works */
	assert_string_equal(cache_get(&c, "again", 1), "v");
	cache_close(&c);
}

/* The cap frees the least recently used entries first (a hit or an upsert
 * is a use), never one with a user pointer, and the walk goes oldest first. */
static bool collect(struct cache_entry *e, void *arg)
{
	strcat(arg, e->key);
	return false;
}

static void test_cache_max_entries(void **state)
{
	struct cache c;
	char order[64] = "";
	int lookup;
	(void)state;

	cache_init(&c, 3);
	cache_set(cache_upsert(&c, "a"), "1", 0, 100);
	cache_set(cache_upsert(&c, "b"), "2", 0, 100);
	cache_set(cache_upsert(&c, "c"), "3", 0, 100);
	assert_non_null(cache_get(&c, "a", 1));      /* a used again: b is now the oldest */
	cache_set(cache_upsert(&c, "d"), "4", 0, 100);
	assert_int_equal(c.count, 3);
	assert_null(cache_find(&c, "b"));
	cache_foreach(&c, collect, order);
	assert_string_equal(order, "cad");

	/* An entry with a lookup in flight stays, over the cap until trimmed. */
	cache_find(&c, "c")->user = &lookup;
	cache_upsert(&c, "a");
	cache_set(cache_upsert(&c, "e"), "5", 0, 100);
	cache_set(cache_upsert(&c, "f"), "6", 0, 100);
	assert_int_equal(c.count, 3);
	assert_non_null(cache_find(&c, "c"));
	assert_null(cache_find(&c, "a"));
	cache_set_max(&c, 1);
	assert_int_equal(c.count, 1);                /* only c, held */
	cache_upsert(&c, "g");
	assert_int_equal(c.count, 2);
	cache_find(&c, "c")->user = NULL;
	cache_trim(&c);
	assert_int_equal(c.count, 1);
	assert_non_null(cache_find(&c, "g"));
	cache_remove(&c, cache_find(&c, "g"));
	assert_null(c.oldest);
	assert_null(c.newest);
	cache_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_foreach),
		cmocka_unit_test(test_cache_max_entries),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
