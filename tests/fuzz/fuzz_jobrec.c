/* libFuzzer target: Orchestrator's job and queue item records (common/jobrec.c),
 * one record or a collection answer {"value":[...]}, made into orchd's
 * answers. What orchd writes must stay one valid JSON object, whatever
 * Orchestrator (or a proxy) sends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobrec.h"

/* How deeply v nests (a scalar is 1). */
static int depth(const cJSON *v)
{
	const cJSON *c;
	int d = 0;

	cJSON_ArrayForEach(c, v) {
		int k = depth(c);
		if (k > d)
			d = k;
	}
	return d + 1;
}

/* Traps unless b holds exactly one JSON object and nothing after it, shallow
 * enough for the answer that wraps it to stay within cJSON's depth limit. */
static void check_json(const struct buf *b)
{
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(b->p, b->len, &end, 0);

	if (!cJSON_IsObject(o) || end != b->p + b->len || depth(o) > JOBREC_MAX_DEPTH + 2)
		__builtin_trap();
	cJSON_Delete(o);
}

/* Every jobrec function on one record, as a job and as a queue item. */
static void check_record(const cJSON *rec)
{
	struct buf b = {0};

	jobrec_append(&b, rec);
	check_json(&b);
	for (int details = 0; details < 2; details++) {
		b.len = 0;
		jobrec_item_append(&b, rec, details);
		check_json(&b);
	}
	buf_free(&b);
	const char *state = jobrec_state(rec), *process = jobrec_process(rec);
	if (jobrec_final(state) && strcmp(state, "Successful") && strcmp(state, "Faulted") &&
	    strcmp(state, "Stopped"))
		__builtin_trap();
	if (process && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rec, "ReleaseName")))
		__builtin_trap();
	if (jobrec_folder_id(rec) < 0 || jobrec_item_queue(rec) < 0)
		__builtin_trap();
}

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* A StartJobs or lookup answer walked as daemon/start.c's take_jobs does
 * (it is daemon code, so its walk is copied here, but for the Id's cast): Id, Key and State of
 * each element, kept in fixed buffers, and each element as a record. */
static void walk_collection(const cJSON *resp, bool waiting)
{
	const cJSON *it, *value = cJSON_GetObjectItemCaseSensitive(resp, "value");
	int n = cJSON_GetArraySize(value), i = 0;

	if (!cJSON_IsArray(value) || n <= 0 || (waiting && !jobrec_ids_usable(value)))
		return;
	struct {
		int64_t id;
		char *key;
		char keybuf[40];
		char state[32];
	} *jobs = xcalloc((size_t)n, sizeof(*jobs));
	cJSON_ArrayForEach(it, value) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "Id");
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "Key");
		const char *state = jobrec_state(it);
		if (i >= n)
			__builtin_trap(); /* more elements than counted */
		/* start.c casts Id unchecked, undefined for 1e300 (reported);
		 * this copy converts only what int64_t holds, so the run goes on. */
		jobs[i].id = cJSON_IsNumber(id) && id->valuedouble > -9e18 && id->valuedouble < 9e18
				     ? (int64_t)id->valuedouble : 0;
		const char *k = cJSON_IsString(key) ? key->valuestring : "";
		jobs[i].key = strlen(k) < sizeof(jobs[i].keybuf) ? strcpy(jobs[i].keybuf, k) : xstrdup(k);
		snprintf(jobs[i].state, sizeof(jobs[i].state), "%s", state ? state : "");
		if (!waiting)
			check_record(it);
		i++;
	}
	/* A waited job is known by its id: each its own, as start.c keeps it. */
	int64_t *ids = xcalloc((size_t)n, sizeof(*ids));
	for (int j = 0; j < i; j++)
		ids[j] = jobs[j].id;
	qsort(ids, (size_t)i, sizeof(*ids), cmp_int64);
	for (int j = 0; waiting && j < i; j++)
		if (ids[j] < 1 || (j > 0 && ids[j] == ids[j - 1]))
			__builtin_trap();
	free(ids);
	for (int j = 0; j < i; j++)
		if (jobs[j].key != jobs[j].keybuf)
			free(jobs[j].key);
	free(jobs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLengthOpts((const char *)data, size, NULL, 0);

	if (!j)
		return 0;
	check_record(j);
	walk_collection(j, false);
	walk_collection(j, true);
	cJSON_Delete(j);
	return 0;
}
