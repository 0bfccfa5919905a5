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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist),
	};
	return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
