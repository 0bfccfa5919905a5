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

	cache_init(&c);
	assert_null(cache_get(&c, "p:Shared\nA", 0));
	struct cache_entry *e = cache_upsert(&c, "p:Shared\nA");
	assert_ptr_equal(cache_upsert(&c, "p:Shared\nA"), e);
	assert_null(cache_get(&c, "p:Shared\nA", 0)); /* no value yet */
	cache_set(e, "key-1", 1000, 600000);
	assert_string_equal(cache_get(&c, "p:Shared\nA", 1000), "key-1");
	assert_string_equal(cache_get(&c, "p:Shared\nA", 600999), "key-1");
	assert_null(cache_get(&c, "p:Shared\nA", 601000)); /* expired */
	assert_null(cache_get(&c, "p:Other\nA", 1000));    /* the folder is part of the key */
	assert_int_equal(c.hits, 2);
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

	cache_init(&c);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_foreach),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
