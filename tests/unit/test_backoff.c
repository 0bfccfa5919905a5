/* Unit tests of backoff, refresh timing and Retry-After (common/backoff.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_jitter_bounds),
		cmocka_unit_test(test_doubling_with_jitter),
		cmocka_unit_test(test_refresh_window),
		cmocka_unit_test(test_retry_after),
	};
	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
