/* Unit tests of the encodings (common/enc.c), with the vectors of
 * docs/orchestrator.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "enc.h"
#include "util.h"

static void expect_str(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_odata(void **state)
{
	(void)state;
	expect_str(enc_odata_literal("Invoice Bot"), "'Invoice Bot'");
	expect_str(enc_odata_literal("O'Brien"), "'O''Brien'");
	expect_str(enc_odata_literal("''"), "''''''");
	expect_str(enc_odata_literal(""), "''");
	expect_str(enc_url("Name eq 'O''Brien & Co'"), "Name%20eq%20%27O%27%27Brien%20%26%20Co%27");
	expect_str(enc_odata_eq("Name", "O'Brien & Co"), "Name%20eq%20%27O%27%27Brien%20%26%20Co%27");
}

static void test_folder_header(void **state)
{
	(void)state;
	/* ASCII paths go plain. */
	expect_str(enc_folder_header("Shared", 0), "X-UIPATH-FolderPath: Shared");
	expect_str(enc_folder_header("Shared/Finance", 0), "X-UIPATH-FolderPath: Shared/Finance");
	/* Anything else: base64 of the UTF-16LE bytes (surrogate pairs beyond
	 * the BMP); the api doc's vectors are in test_base64. */
	expect_str(enc_folder_header("Français/Équipe", 0),
		   "X-UIPATH-FolderPath-Encoded: RgByAGEAbgDnAGEAaQBzAC8AyQBxAHUAaQBwAGUA");
	expect_str(enc_folder_header("\xf0\x9f\x98\x80", 0), "X-UIPATH-FolderPath-Encoded: PdgA3g==");
	expect_str(enc_folder_header("ignored", 42), "X-UIPATH-OrganizationUnitId: 42");
	assert_null(enc_folder_header("\xc3\x28", 0));
}

static void test_base64(void **state)
{
	size_t n;
	(void)state;

	/* docs/orchestrator.md section 4 vectors: the UTF-16LE bytes of
	 * "Shared" and "Shared/Finance". */
	const unsigned char shared[] = {'S', 0, 'h', 0, 'a', 0, 'r', 0, 'e', 0, 'd', 0};
	expect_str(enc_base64(shared, sizeof(shared)), "UwBoAGEAcgBlAGQA");
	const unsigned char fin[] = {'S', 0, 'h', 0, 'a', 0, 'r', 0, 'e', 0, 'd', 0, '/', 0,
				     'F', 0, 'i', 0, 'n', 0, 'a', 0, 'n', 0, 'c', 0, 'e', 0};
	expect_str(enc_base64(fin, sizeof(fin)), "UwBoAGEAcgBlAGQALwBGAGkAbgBhAG4AYwBlAA==");
	expect_str(enc_base64url((const unsigned char *)"\xfb\xff", 2), "-_8");
	unsigned char *d = enc_base64_decode("-_8", 3, &n);
	assert_non_null(d);
	assert_int_equal(n, 2);
	assert_memory_equal(d, "\xfb\xff", 2);
	free(d);
	d = enc_base64_decode("UwBoAGEAcgBlAGQA", 16, &n);
	assert_int_equal(n, 12);
	assert_memory_equal(d, shared, 12);
	free(d);
	assert_null(enc_base64_decode("abcde", 5, &n));
	assert_null(enc_base64_decode("a*b=", 4, &n));
}

static void test_pkce_and_form(void **state)
{
	struct buf b = {0};
	(void)state;

	/* RFC 7636 appendix B. */
	expect_str(enc_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
		   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	enc_form_add(&b, "grant_type", "client_credentials");
	enc_form_add(&b, "scope", "OR.Jobs OR.Execution");
	enc_form_add(&b, "client_secret", "a+b/c=&d");
	assert_string_equal(b.p, "grant_type=client_credentials&scope=OR.Jobs%20OR.Execution"
				 "&client_secret=a%2Bb%2Fc%3D%26d");
	buf_free(&b);
}

static char *json_str(const char *s)
{
	struct buf b = {0};
	enc_json_str(&b, s);
	return buf_steal(&b);
}

static void test_json_str(void **state)
{
	(void)state;
	char *j = json_str("plain");
	assert_string_equal(j, "\"plain\"");
	free(j);
	j = json_str("say \"hi\"\\ \n\t\r\b\f\x01\x1f end");
	assert_string_equal(j, "\"say \\\"hi\\\"\\\\ \\n\\t\\r\\b\\f\\u0001\\u001f end\"");
	free(j);
	j = json_str("");
	assert_string_equal(j, "\"\"");
	free(j);
	/* UTF-8 goes through as it is. */
	j = json_str("Rechnungsprüfung – 請求書");
	assert_string_equal(j, "\"Rechnungsprüfung – 請求書\"");
	free(j);
	/* Every byte 1..255 in every position: cJSON reads back the same. */
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)(i < 128 ? i : 'x');
	all[255] = '\0';
	j = json_str(all);
	cJSON *v = cJSON_Parse(j);
	assert_non_null(v);
	assert_true(cJSON_IsString(v));
	assert_string_equal(v->valuestring, all);
	cJSON_Delete(v);
	free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_odata),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_folder_header),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_pkce_and_form),
	};
	return cmocka_run_group_tests_name("enc", tests, NULL, NULL);
}
