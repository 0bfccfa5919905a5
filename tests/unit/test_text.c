/* Unit tests of the text checks: UTF-8, UTF-16 length, RFC 3339 date-times (common/text.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

static bool utf8(const char *s)
{
	return text_utf8_valid(s, strlen(s));
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(utf8(""));
	assert_true(utf8("plain"));
	assert_true(utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
	assert_false(utf8("\xc0\x80"));          /* overlong NUL */
	assert_false(utf8("\xe0\x80\xaf"));      /* overlong '/' */
	assert_false(utf8("\xed\xa0\x80"));      /* a surrogate */
	assert_false(utf8("\xf4\x90\x80\x80"));  /* above U+10FFFF */
	assert_false(utf8("\xe2\x82"));          /* cut short */
	assert_false(utf8("\x80"));              /* a lone continuation byte */
	assert_false(utf8("\xff"));
	/* The length given counts, not a NUL. */
	assert_true(text_utf8_valid("a\0b", 3));
	assert_false(text_utf8_valid("\xc3\xa9", 1));
}

static void test_utf16_len(void **state)
{
	(void)state;
	assert_int_equal(text_utf16_len("", 0), 0);
	assert_int_equal(text_utf16_len("abc", 3), 3);
	/* U+00E9 and U+20AC are one unit each, U+1F600 a surrogate pair. */
	assert_int_equal(text_utf16_len("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), 4);
	/* Each ill-formed byte is one U+FFFD. */
	assert_int_equal(text_utf16_len("\xff\xfe", 2), 2);
	assert_int_equal(text_utf16_len("\xf0\x9f\x98", 3), 3);
}

/* A date or date-time in, the RFC 3339 date-time sent out (issue 20). */
static void test_rfc3339(void **state)
{
	(void)state;
	static const char *const sent[][2] = {
		{"2026-12-01", "2026-12-01T00:00:00Z"},
		{"2000-02-29", "2000-02-29T00:00:00Z"},
		{"2026-12-01T10:00Z", "2026-12-01T10:00:00Z"},
		{"2026-12-01T10:00-08:00", "2026-12-01T10:00:00-08:00"},
		{"2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"},
		{"2024-02-29T23:59:59.1234567+05:30", "2024-02-29T23:59:59.1234567+05:30"},
		{"9999-12-31T23:59:59.123456789+14:00", "9999-12-31T23:59:59.123456789+14:00"}, /* the longest */
	};
	static const char *const no_zone[] = {
		"2026-12-01T10:00", "2000-02-29T01:02:03", "2026-12-01T10:00:00.123",
	};
	static const char *const bad[] = {
		"", "2026", "2026-12", "2026-13-01", "2026-00-10", "2026-02-29", "1900-02-29", "2026-04-31",
		"2026-12-01T", "2026-12-01T24:00", "2026-12-01T10:60", "2026-12-01T10:00:61",
		"2026-12-01T10:00:00.", "2026-12-01T10:00:00Zx", "2026-12-01T10:00:00+5:00",
		"2026-12-01T10:00:00+15:00", "2026-12-01 10:00:00", "26-12-01", "2026-12-01T10:00:00+05:3",
		"0000-01-01", "2026-1-01", "2026-12-01T10:00:00.1234567890Z", "2026-12-01T10Z",
		"2026-12-01T10:00.5Z", "2026-12-01T10:00:00z", "2026-12-01Z", "2026-12-01T10:00:00+0100",
	};
	char out[TEXT_DATETIME_MAX];

	for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
		if (text_rfc3339(sent[i][0], out) != TEXT_DATE_OK)
			fail_msg("\"%s\" refused", sent[i][0]);
		assert_string_equal(out, sent[i][1]);
	}
	for (size_t i = 0; i < sizeof(no_zone) / sizeof(no_zone[0]); i++)
		if (text_rfc3339(no_zone[i], out) != TEXT_DATE_NO_ZONE)
			fail_msg("\"%s\" not refused for its missing zone", no_zone[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (text_rfc3339(bad[i], out) != TEXT_DATE_BAD)
			fail_msg("\"%s\" not refused as malformed", bad[i]);
}

/* Cuts keep whole characters: a character that would straddle the limit
 * goes whole; text within the limit is kept whole. */
static void test_utf8_cut(void **state)
{
	char s[32];
	(void)state;

	assert_int_equal(text_utf8_cut("abc", 3, 3), 3);
	assert_int_equal(text_utf8_cut("abc", 3, 8), 3);
	assert_int_equal(text_utf8_cut("abcd", 4, 3), 3);
	/* "a\xc3\xa9": é is bytes 1-2; a cut at 2 would split it. */
	assert_int_equal(text_utf8_cut("a\xc3\xa9" "b", 4, 2), 1);
	assert_int_equal(text_utf8_cut("a\xc3\xa9" "b", 4, 3), 3);
	/* € (3 bytes) and U+1F600 (4 bytes), cut at each of their bytes. */
	snprintf(s, sizeof(s), "ab\xe2\x82\xac");
	assert_int_equal(text_utf8_cut(s, 5, 3), 2);
	assert_int_equal(text_utf8_cut(s, 5, 4), 2);
	snprintf(s, sizeof(s), "a\xf0\x9f\x98\x80z");
	assert_int_equal(text_utf8_cut(s, 6, 2), 1);
	assert_int_equal(text_utf8_cut(s, 6, 3), 1);
	assert_int_equal(text_utf8_cut(s, 6, 4), 1);
	assert_int_equal(text_utf8_cut(s, 6, 5), 5);
	/* Only continuation bytes (not UTF-8): cut where asked, never before
	 * the start. */
	assert_int_equal(text_utf8_cut("\x80\x80\x80\x80\x80\x80", 6, 5), 5);
	assert_int_equal(text_utf8_cut("\x80\x80\x80", 3, 1), 1);
	assert_int_equal(text_utf8_cut("\x80\x80\x80", 3, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf16_len),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_utf8_cut),
	};
	return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
