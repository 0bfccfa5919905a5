/* Unit tests of the latency histogram (common/hist.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "util.h"

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

static void test_count_le(void **state)
{
	static struct hist h;
	(void)state;

	for (uint64_t us = 1; us <= 1000; us++)
		hist_add(&h, us);
	assert_int_equal(h.sum, 500500);
	assert_int_equal(hist_count_le(&h, 0), 0);
	assert_int_equal(hist_count_le(&h, 31), 31);           /* one bucket per value below 32 */
	assert_int_equal(hist_count_le(&h, 100000), 1000);
	/* A bound inside a bucket counts the buckets wholly below it: never
	 * more than the truth, within one bucket (~6 %) of it. */
	uint64_t n = hist_count_le(&h, 500);
	assert_true(n <= 500 && n >= 470);
	/* Monotonic in the bound. */
	for (uint64_t b = 1, last = 0; b < 2000; b += 7) {
		uint64_t c = hist_count_le(&h, b);
		assert_true(c >= last);
		last = c;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist),
		cmocka_unit_test(test_count_le),
	};
	return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
