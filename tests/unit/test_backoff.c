/* Unit tests of backoff, refresh timing and Retry-After (common/backoff.c)
 * and of the release cache's table (common/cache.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "cache.h"
#include "hist.h"
#include "util.h"

static void test_full_jitter_bounds(void **state)
{
	(void)state;
	/* The bounds: 0 and min(cap, base * 2^attempt). */
	assert_int_equal(backoff_delay(0, 250, 8000, 0), 0);
	assert_int_equal(backoff_delay(0, 250, 8000, UINT32_MAX), 250);
	assert_int_equal(backoff_delay(3, 250, 8000, UINT32_MAX), 2000);
	assert_int_equal(backoff_delay(5, 250, 8000, UINT32_MAX), 8000);
	assert_int_equal(backoff_delay(60, 250, 8000, UINT32_MAX), 8000);
	/* Many random draws stay inside and spread over the range. */
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < 10000; i++) {
		uint64_t d = backoff_delay(2, 250, 8000, rand32());
		assert_true(d <= 1000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo < 50);
	assert_true(hi > 950);
}

static void test_doubling_with_jitter(void **state)
{
	(void)state;
	/* 2 s, 4, 8, 16, 32, then 60 for ever; each within +-20 %. */
	uint64_t want[] = {2000, 4000, 8000, 16000, 32000, 60000, 60000};
	for (unsigned a = 0; a < ARRAY_LEN(want); a++) {
		assert_int_equal(backoff_doubling(a, 2000, 60000, 0), want[a] * 4 / 5);
		uint64_t hi = backoff_doubling(a, 2000, 60000, UINT32_MAX);
		assert_true(hi <= want[a] * 6 / 5 && hi >= want[a] * 6 / 5 - 1);
	}
	assert_int_equal(backoff_doubling(40, 2000, 60000, 0), 48000);
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < 10000; i++) {
		uint64_t d = backoff_doubling(1, 2000, 60000, rand32());
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo >= 3200 && lo < 3300 && hi <= 4800 && hi > 4700);
}

static void test_refresh_window(void **state)
{
	(void)state;
	assert_int_equal(backoff_refresh_at(3600000, 0), 2400000);
	assert_true(backoff_refresh_at(3600000, UINT32_MAX) <= 2880000);
	assert_true(backoff_refresh_at(3600000, UINT32_MAX) > 2879000);
	for (int i = 0; i < 10000; i++) {
		uint64_t t = backoff_refresh_at(3000, rand32());
		assert_true(t >= 2000 && t <= 2400);
	}
}

static void test_retry_after(void **state)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	(void)state;

	assert_int_equal(backoff_retry_after("1", now), 1000);
	assert_int_equal(backoff_retry_after(" 120\r\n", now), 120000);
	assert_int_equal(backoff_retry_after("-1", now), -1);
	assert_int_equal(backoff_retry_after("soon", now), -1);
	assert_int_equal(backoff_retry_after("5x", now), -1);
	gmtime_r(&(time_t){now + 30}, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_int_equal(backoff_retry_after(date, now), 30000);
	assert_int_equal(backoff_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), 0);
}

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
	cache_close(&c);
}

static void test_hist(void **state)
{
	static struct hist h;
	(void)state;

	/* Every value lands in a bucket whose bounds hold it, ~6 % wide. */
	for (uint64_t v = 0; v < 5000000; v = v < 100 ? v + 1 : v * 21 / 20) {
		unsigned i = hist_bucket(v);
		assert_true(v <= hist_bucket_max(i));
		assert_true(i == 0 || v > hist_bucket_max(i - 1));
		assert_true(hist_bucket_max(i) - v <= v / 16 + 1);
	}
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
	assert_int_equal(hist_percentile(&h, 50), 0);
	for (uint64_t v = 1; v <= 1000; v++)
		hist_add(&h, v);
	assert_int_equal(h.samples, 1000);
	uint64_t p50 = hist_percentile(&h, 50), p99 = hist_percentile(&h, 99);
	assert_true(p50 >= 500 && p50 <= 532);
	assert_true(p99 >= 990 && p99 <= 1000);
	assert_int_equal(hist_percentile(&h, 100), 1000);  /* never above the max seen */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_jitter_bounds),
		cmocka_unit_test(test_doubling_with_jitter),
		cmocka_unit_test(test_refresh_window),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_foreach),
		cmocka_unit_test(test_hist),
	};
	return cmocka_run_group_tests_name("backoff+cache", tests, NULL, NULL);
}
