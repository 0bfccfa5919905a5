/* Unit tests of the job record (common/jobrec.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobrec.h"
#include "util.h"

static char *record(const char *dto)
{
	cJSON *j = cJSON_Parse(dto);
	struct buf b = {0};

	assert_non_null(j);
	jobrec_append(&b, j);
	cJSON_Delete(j);
	/* Always one valid JSON object. */
	cJSON *back = cJSON_Parse(b.p);
	assert_true(cJSON_IsObject(back));
	cJSON_Delete(back);
	return buf_steal(&b);
}

static char *item_record(const char *dto, bool details)
{
	cJSON *j = cJSON_Parse(dto);
	struct buf b = {0};

	assert_non_null(j);
	jobrec_item_append(&b, j, details);
	cJSON_Delete(j);
	cJSON *back = cJSON_Parse(b.p);
	assert_true(cJSON_IsObject(back));
	cJSON_Delete(back);
	return buf_steal(&b);
}

static void test_item_record(void **state)
{
	(void)state;
	char *r = item_record("{\"Id\":991,\"Key\":\"k-1\",\"Status\":\"New\",\"Reference\":\"inv-42\","
			      "\"QueueDefinitionId\":7,\"Output\":null}", false);
	assert_string_equal(r, "{\"id\":991,\"key\":\"k-1\",\"status\":\"New\",\"reference\":\"inv-42\"}");
	free(r);
	r = item_record("{\"Id\":991,\"Status\":\"Successful\",\"Output\":{\"Total\":12.5,\"Ok\":true}}", true);
	assert_string_equal(r, "{\"id\":991,\"key\":null,\"status\":\"Successful\",\"reference\":null,"
			       "\"output\":{\"Total\":12.5,\"Ok\":true},\"processing_exception\":null}");
	free(r);
	/* Output serialized into a string (as job outputs are) is parsed;
	 * anything not an object is null. */
	r = item_record("{\"Id\":1,\"Output\":\"{\\\"a\\\":1}\"}", true);
	assert_non_null(strstr(r, "\"output\":{\"a\":1}"));
	free(r);
	r = item_record("{\"Id\":1,\"Output\":[1,2]}", true);
	assert_non_null(strstr(r, "\"output\":null"));
	free(r);
	r = item_record("{\"Id\":2,\"Status\":\"Failed\",\"ProcessingException\":{\"Reason\":\"no PDF\","
			"\"Details\":\"line 1\\nline 2\",\"Type\":\"BusinessException\"}}", true);
	assert_non_null(strstr(r, "\"processing_exception\":{\"reason\":\"no PDF\",\"details\":\"line 1\\nline 2\","
				  "\"type\":\"BusinessException\"}"));
	free(r);
	r = item_record("{\"Id\":2,\"ProcessingException\":{}}", true);
	assert_non_null(strstr(r, "{\"reason\":null,\"details\":null,\"type\":null}"));
	free(r);

	cJSON *j = cJSON_Parse("{\"QueueDefinitionId\":7}");
	assert_int_equal(jobrec_item_queue(j), 7);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"QueueDefinitionId\":\"7\"}");
	assert_int_equal(jobrec_item_queue(j), 0);
	cJSON_Delete(j);
	assert_int_equal(jobrec_item_queue(NULL), 0);
}

/* Ids from Orchestrator's doubles: whole, 1..2^53, else 0 (no cast of an
 * out-of-range double, which is undefined). */
static void test_ids(void **state)
{
	static const struct { const char *json; long long id; } cases[] = {
		{"4711", 4711}, {"1", 1}, {"9007199254740991", 9007199254740991LL}, {"0", 0},
		{"9007199254740992", 0}, /* 2^53 + 1 would read as it too */
		{"-3", 0}, {"4711.5", 0}, {"1e300", 0}, {"-1e300", 0}, {"1e999", 0}, {"\"4711\"", 0},
		{"null", 0}, {"true", 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *v = cJSON_Parse(cases[i].json);
		if (jobrec_id(v) != cases[i].id)
			fail_msg("jobrec_id(%s) = %lld, not %lld", cases[i].json, jobrec_id(v), cases[i].id);
		cJSON_Delete(v);
	}
	assert_int_equal(jobrec_id(NULL), 0);
}

static void test_final_states(void **state)
{
	(void)state;
	assert_true(jobrec_final("Successful") && jobrec_final("Faulted") && jobrec_final("Stopped"));
	assert_false(jobrec_final("Suspended") || jobrec_final("Resumed") || jobrec_final("Running") ||
		     jobrec_final("Pending") || jobrec_final("Stopping") || jobrec_final("Terminating"));
	assert_false(jobrec_final("SomethingNew") || jobrec_final(NULL) || jobrec_final("successful"));
}

static void test_record(void **state)
{
	(void)state;
	char *r = record("{\"Id\":4711,\"Key\":\"3c1f\",\"State\":\"Successful\",\"ReleaseName\":\"Invoice Bot\","
			 "\"Reference\":\"inv-42\",\"Info\":\"Job completed\","
			 "\"OutputArguments\":\"{\\\"Result\\\":\\\"done\\\",\\\"n\\\":2}\","
			 "\"CreationTime\":\"2026-12-01T10:00:00.1Z\",\"StartTime\":\"2026-12-01T10:00:01Z\","
			 "\"EndTime\":\"2026-12-01T10:00:09Z\",\"HostMachineName\":\"ROBOT-7\",\"Extra\":1}");
	assert_string_equal(r, "{\"id\":4711,\"key\":\"3c1f\",\"state\":\"Successful\",\"process\":\"Invoice Bot\","
			       "\"reference\":\"inv-42\",\"info\":\"Job completed\",\"output\":{\"Result\":\"done\",\"n\":2},"
			       "\"created\":\"2026-12-01T10:00:00.1Z\",\"started\":\"2026-12-01T10:00:01Z\","
			       "\"ended\":\"2026-12-01T10:00:09Z\",\"host\":\"ROBOT-7\"}");
	free(r);
	/* Running: nulls; an output that is not a JSON object is null too. */
	r = record("{\"Id\":1,\"State\":\"Running\",\"OutputArguments\":null,\"Info\":null}");
	assert_string_equal(r, "{\"id\":1,\"key\":null,\"state\":\"Running\",\"process\":null,\"reference\":null,"
			       "\"info\":null,\"output\":null,\"created\":null,\"started\":null,\"ended\":null,\"host\":null}");
	free(r);
	r = record("{\"Id\":2,\"State\":\"Faulted\",\"OutputArguments\":\"not json\","
		   "\"JobError\":{\"Code\":\"Robot.Exception\",\"Title\":\"Boom\",\"Detail\":\"a\\nb\",\"Category\":\"User\"}}");
	assert_non_null(strstr(r, "\"output\":null"));
	assert_non_null(strstr(r, ",\"error\":{\"code\":\"Robot.Exception\",\"title\":\"Boom\",\"detail\":\"a\\nb\"}}"));
	free(r);
	r = record("{\"Id\":3,\"OutputArguments\":\"[1,2]\",\"Key\":\"k\\\"q\"}");
	assert_non_null(strstr(r, "\"output\":null"));
	assert_non_null(strstr(r, "\"key\":\"k\\\"q\""));
	free(r);
}

/* A job whose output is in a file: named when not read, the file's object
 * when read, and why not when it could not be had. */
static void test_output_file(void **state)
{
	static const char dto[] = "{\"Id\":7,\"State\":\"Successful\",\"OutputArguments\":null,"
				  "\"OutputFile\":\"0b6f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b\"}";
	cJSON *j = cJSON_Parse(dto);
	struct buf b = {0};
	char *r;
	(void)state;

	assert_string_equal(jobrec_output_file(j), "0b6f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b");
	r = record(dto);
	assert_non_null(strstr(r, "\"output\":null,\"output_file\":\"0b6f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b\","));
	assert_null(strstr(r, "output_error"));
	free(r);
	jobrec_append_file(&b, j, "{\"a\":[1,2]}", 11, NULL);
	assert_non_null(strstr(b.p, "\"output\":{\"a\":[1,2]},\"created\""));
	buf_reset(&b);
	/* Only the len bytes given count. */
	jobrec_append_file(&b, j, "{\"a\":1}garbage", 7, NULL);
	assert_non_null(strstr(b.p, "\"output\":{\"a\":1},"));
	buf_reset(&b);
	/* A byte order mark before it and blanks after it are no fault;
	 * anything else after the value is (and so is an empty file). */
	jobrec_append_file(&b, j, "\xef\xbb\xbf{\"a\":2}\r\n", 12, NULL);
	assert_non_null(strstr(b.p, "\"output\":{\"a\":2},"));
	buf_reset(&b);
	jobrec_append_file(&b, j, "{\"a\":1} x", 9, NULL);
	assert_non_null(strstr(b.p, "\"output_error\":\"the output file holds no JSON object"));
	buf_reset(&b);
	jobrec_append_file(&b, j, "", 0, NULL);
	assert_non_null(strstr(b.p, "\"output_error\":\"the output file holds no JSON object"));
	buf_reset(&b);
	jobrec_append_file(&b, j, "[1]", 3, NULL);
	assert_non_null(strstr(b.p, "\"output_error\":\"the output file holds no JSON object"));
	buf_reset(&b);
	jobrec_append_file(&b, j, NULL, 0, "too \"big\"");
	assert_non_null(strstr(b.p, "\"output\":null,\"output_file\":"));
	assert_non_null(strstr(b.p, "\"output_error\":\"too \\\"big\\\"\""));
	buf_free(&b);
	cJSON_Delete(j);
	/* OutputArguments given: the file is not the output. */
	j = cJSON_Parse("{\"OutputArguments\":\"{}\",\"OutputFile\":\"x\"}");
	assert_null(jobrec_output_file(j));
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_final_states), cmocka_unit_test(test_item_record),
		cmocka_unit_test(test_record),       cmocka_unit_test(test_ids),
		cmocka_unit_test(test_output_file),
	};
	return cmocka_run_group_tests_name("jobrec", tests, NULL, NULL);
}
