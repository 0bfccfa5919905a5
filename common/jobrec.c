#include "jobrec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "enc.h"

bool jobrec_final(const char *state)
{
	return state && (strcmp(state, "Successful") == 0 || strcmp(state, "Faulted") == 0 ||
			 strcmp(state, "Stopped") == 0);
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *jobrec_state(const cJSON *job)
{
	return str(job, "State");
}

const char *jobrec_process(const cJSON *job)
{
	return str(job, "ReleaseName");
}

static void add_str(struct buf *b, const char *name, const char *v)
{
	buf_printf(b, ",\"%s\":", name);
	if (v)
		enc_json_str(b, v);
	else
		buf_adds(b, "null");
}

static void add_number(struct buf *b, const char *name, const cJSON *v)
{
	buf_printf(b, "\"%s\":", name);
	if (cJSON_IsNumber(v) && v->valuedouble > -9e15 && v->valuedouble < 9e15 &&
	    v->valuedouble == (double)(long long)v->valuedouble)
		buf_printf(b, "%lld", (long long)v->valuedouble);
	else
		buf_adds(b, "null");
}

/* How deeply v nests (a scalar is 1), counted no further than limit: an
 * output can nest as deeply as cJSON parses (1,000 levels). */
static int depth(const cJSON *v, int limit)
{
	const cJSON *c;
	int d = 0;

	if (limit <= 1)
		return 1;
	cJSON_ArrayForEach(c, v) {
		int k = depth(c, limit - 1);
		if (k > d)
			d = k;
		if (d + 1 >= limit)
			break;
	}
	return d + 1;
}

/* o compact when it is an object at most JOBREC_MAX_DEPTH deep, else null:
 * orchd's answer wraps a record in a few more levels, and a client reading
 * it with cJSON (orchctl) refuses more than 1,000 in all. Returns whether o
 * was written. */
static bool add_shallow_object(struct buf *b, const cJSON *o)
{
	if (cJSON_IsObject(o) && depth(o, JOBREC_MAX_DEPTH + 1) <= JOBREC_MAX_DEPTH) {
		char *s = cJSON_PrintUnformatted(o);
		buf_adds(b, s);
		cJSON_free(s);
		return true;
	}
	buf_adds(b, "null");
	return false;
}

const char *jobrec_output_file(const cJSON *job)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(job, "OutputArguments");

	return !args || cJSON_IsNull(args) ? str(job, "OutputFile") : NULL;
}

static bool append(struct buf *b, const cJSON *job, const char *fout, size_t flen, const char *why);

void jobrec_append(struct buf *b, const cJSON *job)
{
	append(b, job, NULL, 0, NULL);
}

bool jobrec_append_file(struct buf *b, const cJSON *job, const char *out, size_t len, const char *why)
{
	return append(b, job, out, len, why ? why : out ? NULL : "not read");
}

/* An output file's JSON: after a UTF-8 byte order mark, which Windows
 * tools write, one value and nothing after it but blanks; else NULL. */
static cJSON *parse_file(const char *p, size_t len)
{
	const char *end;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		len -= 3;
	}
	cJSON *v = cJSON_ParseWithLengthOpts(p, len, &end, false);
	while (v && end < p + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (v && end != p + len) {
		cJSON_Delete(v);
		v = NULL;
	}
	return v;
}

/* The record; fout and flen: what was read of the OutputFile (NULL: not
 * read), why: why it was not. Returns whether it has an output. */
static bool append(struct buf *b, const cJSON *job, const char *fout, size_t flen, const char *why)
{
	buf_adds(b, "{");
	add_number(b, "id", cJSON_GetObjectItemCaseSensitive(job, "Id"));
	add_str(b, "key", str(job, "Key"));
	add_str(b, "state", str(job, "State"));
	add_str(b, "process", str(job, "ReleaseName"));
	add_str(b, "reference", str(job, "Reference"));
	add_str(b, "info", str(job, "Info"));
	/* OutputArguments is a JSON object serialized into a string; anything
	 * else (null while running, dropped by the robot, not JSON) is null. */
	const char *out = str(job, "OutputArguments"), *file = jobrec_output_file(job);
	cJSON *parsed = out ? cJSON_Parse(out) : file && fout ? parse_file(fout, flen) : NULL;
	buf_adds(b, ",\"output\":");
	bool had = add_shallow_object(b, parsed);
	if (!had && file) {
		/* Not had: the client can still read the file itself. */
		add_str(b, "output_file", file);
		if (why || fout)
			add_str(b, "output_error", why ? why : "the output file holds no JSON object "
				"(or one nesting deeper than 512 levels)");
	}
	cJSON_Delete(parsed);
	add_str(b, "created", str(job, "CreationTime"));
	add_str(b, "started", str(job, "StartTime"));
	add_str(b, "ended", str(job, "EndTime"));
	add_str(b, "host", str(job, "HostMachineName"));
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(job, "JobError");
	if (cJSON_IsObject(e)) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "Code");
		buf_adds(b, ",\"error\":{\"code\":");
		if (cJSON_IsString(code))
			enc_json_str(b, code->valuestring);
		else if (cJSON_IsNumber(code) && isfinite(code->valuedouble))
			buf_printf(b, "%.17g", code->valuedouble); /* 1e999 parses as inf: no JSON */
		else
			buf_adds(b, "null");
		add_str(b, "title", str(e, "Title"));
		add_str(b, "detail", str(e, "Detail"));
		buf_adds(b, "}");
	}
	buf_adds(b, "}");
	return had;
}

/* A JSON object, or one serialized into a string, compact; else null. */
static void add_object(struct buf *b, const char *name, const cJSON *v)
{
	cJSON *parsed = cJSON_IsString(v) ? cJSON_Parse(v->valuestring) : NULL;
	const cJSON *o = parsed ? parsed : v;

	buf_printf(b, ",\"%s\":", name);
	add_shallow_object(b, o);
	cJSON_Delete(parsed);
}

void jobrec_item_append(struct buf *b, const cJSON *item, bool details)
{
	buf_adds(b, "{");
	add_number(b, "id", cJSON_GetObjectItemCaseSensitive(item, "Id"));
	add_str(b, "key", str(item, "Key"));
	add_str(b, "status", str(item, "Status"));
	add_str(b, "reference", str(item, "Reference"));
	if (details) {
		add_object(b, "output", cJSON_GetObjectItemCaseSensitive(item, "Output"));
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(item, "ProcessingException");
		if (cJSON_IsObject(e)) {
			const char *reason = str(e, "Reason");
			buf_adds(b, ",\"processing_exception\":{\"reason\":");
			if (reason)
				enc_json_str(b, reason);
			else
				buf_adds(b, "null");
			add_str(b, "details", str(e, "Details"));
			add_str(b, "type", str(e, "Type"));
			buf_adds(b, "}");
		} else {
			buf_adds(b, ",\"processing_exception\":null");
		}
	}
	buf_adds(b, "}");
}

long long jobrec_id(const cJSON *v)
{
	/* The range first: only then is the cast defined. */
	return cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 9007199254740991.0 &&
			       v->valuedouble == (double)(long long)v->valuedouble
		       ? (long long)v->valuedouble : 0;
}

/* A positive integer id field of o, or 0. */
static long long id_of(const cJSON *o, const char *name)
{
	return jobrec_id(cJSON_GetObjectItemCaseSensitive(o, name));
}

long long jobrec_item_queue(const cJSON *item)
{
	return id_of(item, "QueueDefinitionId");
}

long long jobrec_folder_id(const cJSON *job)
{
	return id_of(job, "OrganizationUnitId");
}

static int cmp_id(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

bool jobrec_ids_usable(const cJSON *value)
{
	int n = cJSON_GetArraySize(value), i = 0;
	double *ids = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*ids));
	const cJSON *it;
	bool ok = true;

	cJSON_ArrayForEach(it, value) {
		/* Whole ids only: start.c keeps an int64_t, so 4711.25 and
		 * 4711.75 would be one id. */
		long long id = jobrec_id(cJSON_GetObjectItemCaseSensitive(it, "Id"));
		if (!id) {
			ok = false;
			break;
		}
		ids[i++] = (double)id;
	}
	/* Sorted, a repeated id sits beside itself (a START may make 10,000). */
	qsort(ids, (size_t)i, sizeof(*ids), cmp_id);
	for (int k = 1; ok && k < i; k++)
		ok = ids[k] != ids[k - 1];
	free(ids);
	return ok;
}
