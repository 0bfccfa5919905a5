/* Unit tests of the growable buffer (common/util.c): printing appends
 * exactly, whether or not it fits in the room left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void test_buf_printf_every_size(void **state)
{
	char want[70000], piece[700];
	struct buf b = {0};
	size_t wn = 0;
	(void)state;

	/* Pieces of 0..600 characters, so that every amount of room left,
	 * the exact fit and the one-byte overflow all happen. */
	for (int i = 0; i <= 600; i += 7) {
		memset(piece, 'a' + i % 26, (size_t)i);
		piece[i] = '\0';
		buf_printf(&b, "%d:%s|", i, piece);
		wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "%d:%s|", i, piece);
		assert_int_equal(b.len, wn);
		assert_true(b.cap > b.len);
		assert_string_equal(b.p, want);
	}
	buf_free(&b);
}

static void test_xasprintf(void **state)
{
	(void)state;
	char *s = xasprintf("%s-%05d", "x", 42);
	assert_string_equal(s, "x-00042");
	free(s);
	s = xasprintf("%s", "");
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_printf_every_size),
		cmocka_unit_test(test_xasprintf),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
