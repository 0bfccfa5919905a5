/* Unit tests of a LOGS page made from RobotLogs' answer (common/logrec.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logrec.h"

/* RobotLogs' answer with one entry per time stamp in times (NULL ends). */
static cJSON *answer_of(const char *const *times)
{
	cJSON *a = cJSON_CreateObject(), *v = cJSON_AddArrayToObject(a, "value");
	char msg[16];

	for (int i = 0; times[i]; i++) {
		cJSON *e = cJSON_CreateObject();
		snprintf(msg, sizeof(msg), "m%d", i);
		cJSON_AddStringToObject(e, "Level", "Info");
		cJSON_AddStringToObject(e, "TimeStamp", times[i]);
		cJSON_AddStringToObject(e, "Message", msg);
		cJSON_AddStringToObject(e, "HostMachineName", "H");
		cJSON_AddItemToArray(v, e);
	}
	return a;
}

static char *page_json(const cJSON *a, int limit, int top, const char *after)
{
	struct logrec_page pg;
	struct buf b = {0};

	assert_true(logrec_page(a, limit, top, &pg));
	logrec_page_json(&b, 7, &pg, after);
	logrec_page_free(&pg);
	return buf_steal(&b);
}

static void test_more_and_the_edge_instant(void **state)
{
	static const char *const t[] = {"2026-12-01T10:00:00.1Z", "2026-12-01T10:00:00.2Z",
					"2026-12-01T10:00:00.3Z", "2026-12-01T10:00:00.3Z", NULL};
	cJSON *a = answer_of(t);
	char *s;
	(void)state;

	/* Everything fits: no more; last is the last entry's time. */
	s = page_json(a, 10, 11, NULL);
	assert_non_null(strstr(s, "\"more\":false,\"last\":\"2026-12-01T10:00:00.3Z\"}"));
	assert_non_null(strstr(s, "{\"id\":7,\"logs\":[{\"time\":\"2026-12-01T10:00:00.1Z\",\"level\":\"Info\","
				  "\"message\":\"m0\",\"host\":\"H\"},"));
	free(s);
	/* limit 3 of 4, the 4th at the 3rd's instant: both wait for the next page. */
	s = page_json(a, 3, 4, NULL);
	assert_non_null(strstr(s, "\"m1\""));
	assert_null(strstr(s, "\"m2\""));
	assert_non_null(strstr(s, "\"more\":true,\"last\":\"2026-12-01T10:00:00.2Z\"}"));
	free(s);
	/* limit 2: the peeked 3rd is another instant, nothing to leave out. */
	s = page_json(a, 2, 3, NULL);
	assert_non_null(strstr(s, "\"m1\""));
	assert_non_null(strstr(s, "\"more\":true,\"last\":\"2026-12-01T10:00:00.2Z\"}"));
	free(s);
	/* No peek (top == limit): a full page says more and leaves its last
	 * instant out. */
	s = page_json(a, 4, 4, NULL);
	assert_null(strstr(s, "\"m2\""));
	assert_non_null(strstr(s, "\"more\":true,\"last\":\"2026-12-01T10:00:00.2Z\"}"));
	free(s);
	cJSON_Delete(a);
	/* One instant for the whole page: stuck on it, for the caller to read
	 * that instant alone; a page with another instant before is not. */
	static const char *const same[] = {"2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z",
					   "2026-12-01T10:00:00Z", NULL};
	struct logrec_page pg;
	a = answer_of(same);
	assert_true(logrec_page(a, 2, 3, &pg));
	assert_true(pg.stuck && pg.more);
	assert_string_equal(pg.edge, "2026-12-01T10:00:00Z");
	logrec_page_free(&pg);
	/* All of it, and no more than came: not stuck. */
	assert_true(logrec_page(a, 3, 4, &pg));
	assert_false(pg.stuck || pg.more);
	assert_int_equal(pg.n, 3);
	logrec_page_free(&pg);
	cJSON_Delete(a);
	a = answer_of(t);
	assert_true(logrec_page(a, 3, 4, &pg));
	assert_false(pg.stuck);
	logrec_page_free(&pg);
	cJSON_Delete(a);
}

/* A hostile page: millions of elements are not all read, an element that
 * is no object makes no page, long hosts and levels are cut. */
static void test_hostile_page(void **state)
{
	struct logrec_page pg;
	struct buf b = {0};
	(void)state;

	cJSON *a = cJSON_Parse("{\"value\":[{\"Message\":\"a\"},0,0]}");
	assert_false(logrec_page(a, 1, 2, &pg));   /* the 2nd is read, and no entry */
	cJSON_Delete(a);
	a = cJSON_CreateObject();
	cJSON *v = cJSON_AddArrayToObject(a, "value");
	for (int i = 0; i < 100000; i++)
		cJSON_AddItemToArray(v, cJSON_CreateObject());
	assert_true(logrec_page(a, 1, 2, &pg));      /* only top (2) of 100,000 read */
	assert_int_equal(pg.n, 1);
	logrec_page_free(&pg);
	cJSON_Delete(a);
	char *big = malloc(5000);
	memset(big, 'h', 4999);
	big[4999] = '\0';
	a = cJSON_CreateObject();
	v = cJSON_AddArrayToObject(a, "value");
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "HostMachineName", big);
	cJSON_AddStringToObject(e, "Level", big);
	cJSON_AddItemToArray(v, e);
	assert_true(logrec_page(a, 5, 6, &pg));
	logrec_page_json(&b, 7, &pg, NULL);
	assert_true(b.len < 600);
	assert_non_null(strstr(b.p, "\"host\":\"hhhh"));
	logrec_page_free(&pg);
	buf_free(&b);
	cJSON_Delete(a);
	free(big);
}

static void test_empty_and_after(void **state)
{
	static const char *const none[] = {NULL};
	cJSON *a = answer_of(none);
	struct logrec_page pg;
	char *s;
	(void)state;

	s = page_json(a, 100, 101, NULL);
	assert_string_equal(s, "{\"id\":7,\"logs\":[],\"more\":false,\"last\":null}");
	free(s);
	s = page_json(a, 100, 101, "2026-12-01T10:00:00Z");
	assert_string_equal(s, "{\"id\":7,\"logs\":[],\"more\":false,\"last\":\"2026-12-01T10:00:00Z\"}");
	free(s);
	cJSON_Delete(a);
	a = cJSON_Parse("{\"values\":[]}");
	assert_false(logrec_page(a, 100, 101, &pg));
	logrec_page_free(&pg);
	cJSON_Delete(a);
}

/* A message over 8,192 bytes is cut on a character boundary and marked. */
static void test_cut_and_fields(void **state)
{
	char *msg = malloc(LOGREC_MESSAGE_MAX + 8);
	cJSON *a = cJSON_CreateObject(), *v = cJSON_AddArrayToObject(a, "value"), *e;
	(void)state;

	memset(msg, 'a', LOGREC_MESSAGE_MAX - 1);
	memcpy(msg + LOGREC_MESSAGE_MAX - 1, "\xc3\xa9z", 4);   /* é straddles byte 8,192 */
	e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "Level", 4);               /* a numeric level: its name */
	cJSON_AddStringToObject(e, "TimeStamp", "2026-12-01T10:00:05.1234567");  /* no zone: UTC */
	cJSON_AddStringToObject(e, "Message", msg);
	cJSON_AddItemToArray(v, e);
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "Level", "Warn");
	cJSON_AddStringToObject(e, "Message", "tab\tquote\"");
	cJSON_AddItemToArray(v, e);

	struct logrec_page pg;
	assert_true(logrec_page(a, 100, 101, &pg));
	assert_int_equal(pg.n, 2);
	assert_true(pg.e[0].cut);
	assert_int_equal(pg.e[0].mlen, LOGREC_MESSAGE_MAX - 1);
	assert_string_equal(pg.e[0].level, "Error");
	assert_string_equal(pg.e[0].time, "2026-12-01T10:00:05.1234567Z");
	assert_false(pg.e[1].cut);
	assert_string_equal(pg.e[1].time, "");
	struct buf b = {0};
	logrec_page_json(&b, 1, &pg, NULL);
	char *s = buf_steal(&b);
	cJSON *o = cJSON_Parse(s);
	cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "logs"), 0);
	cJSON *l1 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "logs"), 1);
	assert_int_equal(strlen(cJSON_GetObjectItem(l0, "message")->valuestring), LOGREC_MESSAGE_MAX - 1);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(l0, "cut")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(l0, "host")));
	assert_null(cJSON_GetObjectItem(l1, "cut"));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(l1, "time")));
	assert_string_equal(cJSON_GetObjectItem(l1, "message")->valuestring, "tab\tquote\"");
	/* last: the last entry that has a time. */
	assert_string_equal(cJSON_GetObjectItem(o, "last")->valuestring, "2026-12-01T10:00:05.1234567Z");
	cJSON_Delete(o);
	free(s);
	logrec_page_free(&pg);
	cJSON_Delete(a);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_more_and_the_edge_instant),
		cmocka_unit_test(test_hostile_page),
		cmocka_unit_test(test_empty_and_after),
		cmocka_unit_test(test_cut_and_fields),
	};
	return cmocka_run_group_tests_name("logrec", tests, NULL, NULL);
}
