/* Unit tests of making outside text inert on a terminal (common/termsafe.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "termsafe.h"

/* in defanged, compared with want. */
static void defangs(const char *in, const char *want)
{
	char *s = strdup(in);

	termsafe_defang(s);
	assert_string_equal(s, want);
	free(s);
}

static void escapes(const char *in, const char *want)
{
	char *s = termsafe_json(in);

	assert_string_equal(s, want);
	free(s);
}

static void test_defang(void **state)
{
	(void)state;
	defangs("", "");
	defangs("plain caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "plain caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	defangs("a\x1b[2J\x07\n\t\x7f", "a?[2J????");
	/* C1: U+0080 and U+009F, not U+00A0. */
	defangs("\xc2\x80\xc2\x9b\xc2\x9f\xc2\xa0", "??????\xc2\xa0");
	/* Bidi: U+202A..U+202E, U+2066..U+2069; not U+2029, U+202F, U+2065, U+206A. */
	defangs("\xe2\x80\xaa\xe2\x80\xae\xe2\x81\xa6\xe2\x81\xa9", "????????????");
	defangs("\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa", "\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa");
	/* Ill-formed bytes: a lone 0x9b (CSI to an 8-bit terminal), overlong,
	 * cut short at the end. */
	defangs("a\x9b" "b\xc0\x9b" "c\xe2\x80", "a?b??c??");
}

static void test_json(void **state)
{
	(void)state;
	escapes("", "");
	escapes("{\"a\":\"x\\u001b\\\"y\"}", "{\"a\":\"x\\u001b\\\"y\"}");
	escapes("{\"a\":\"\x7f\xc2\x9b\xe2\x80\xae\xe2\x81\xa6\xc3\xa9\"}",
		"{\"a\":\"\\u007f\\u009b\\u202e\\u2066\xc3\xa9\"}");
	escapes("\x1b\x9b\xf0\x9f\x98\x80", "\\u001b\\ufffd\xf0\x9f\x98\x80");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defang),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests_name("termsafe", tests, NULL, NULL);
}
