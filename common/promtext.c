#include "promtext.h"

#include <stdio.h>
#include <string.h>

/* One metric family: name, type, help, and where STATS holds its value. */
struct family {
	const char *name, *type, *help;
	const char *path[3];   /* keys down the STATS object */
	double scale;          /* STATS unit to the metric's (0: 1) */
};

static const struct family families[] = {
	{"orchd_requests_total", "counter", "Requests received on the socket.", {"requests"}, 0},
	{"orchd_starts_total", "counter", "START requests received.", {"starts"}, 0},
	{"orchd_starts_ok_total", "counter", "START requests answered OK.", {"ok"}, 0},
	{"orchd_jobs_started_total", "counter", "Jobs Orchestrator started for orchd.", {"jobs_started"}, 0},
	{"orchd_jobs_resolved_total", "counter", "Ambiguous starts settled by a lookup by Reference.",
	 {"jobs_resolved"}, 0},
	{"orchd_token_refreshes_total", "counter", "Access tokens obtained.", {"token_refreshes"}, 0},
	{"orchd_token_age_seconds", "gauge", "Age of the access token in use (absent without one).",
	 {"token_age_s"}, 0},
	{"orchd_release_cache_hits_total", "counter", "Release cache hits.", {"cache", "hits"}, 0},
	{"orchd_release_cache_misses_total", "counter", "Release cache misses.", {"cache", "misses"}, 0},
	{"orchd_release_lookups_total", "counter", "Lookups by name (Releases, QueueDefinitions).",
	 {"cache", "lookups"}, 0},
	{"orchd_release_refreshes_total", "counter", "Lookups made ahead of expiry, in the background.",
	 {"cache", "refreshes"}, 0},
	{"orchd_inflight", "gauge", "Requests waiting on Orchestrator, not answered yet.", {"inflight"}, 0},
	{"orchd_http_inflight", "gauge", "Requests to Orchestrator and Identity in libcurl.",
	 {"http_inflight"}, 0},
	{"orchd_upkeeps_total", "counter", "Requests sent to keep the idle connection open.", {"upkeeps"}, 0},
	{"orchd_clients", "gauge", "Connected socket clients.", {"clients"}, 0},
	{"orchd_waits", "gauge", "WAIT requests (and STARTs with wait) in progress.", {"waits"}, 0},
	{"orchd_jobs_watched", "gauge", "Jobs read for waits and reads.", {"jobs_watched"}, 0},
	{"orchd_job_reads_single_total", "counter", "GET Jobs({Id}) reads.", {"job_reads", "single"}, 0},
	{"orchd_job_reads_collection_total", "counter", "Jobs collection queries (Id in ...).",
	 {"job_reads", "collection"}, 0},
	{"orchd_collection_queries_last_minute", "gauge",
	 "Collection queries of every kind in the last 60 s (counted against list_budget).",
	 {"job_reads", "collection_last_minute"}, 0},
	{"orchd_collection_rate_limited_total", "counter", "Collection queries answered 429.",
	 {"job_reads", "rate_limited"}, 0},
	{"orchd_queue_items_added_total", "counter", "ENQUEUE requests answered OK.",
	 {"queue", "items_added"}, 0},
	{"orchd_queue_lookups_total", "counter", "QueueItems queries by Reference.", {"queue", "lookups"}, 0},
	{"orchd_queue_duplicates_total", "counter", "ENQUEUE requests answered DUPLICATE.",
	 {"queue", "duplicates"}, 0},
	{"orchd_queue_item_reads_total", "counter", "GET QueueItems({Id}) reads.", {"queue", "item_reads"}, 0},
	{"orchd_attachments_uploaded_total", "counter", "Big inputs uploaded as attachments.",
	 {"attachments", "uploaded"}, 0},
	{"orchd_attachments_downloaded_total", "counter", "Output files read.", {"attachments", "downloaded"}, 0},
	{"orchd_attachments_failed_total", "counter", "Uploads and output reads that failed.",
	 {"attachments", "failed"}, 0},
	{"orchd_attachments_waiting", "gauge", "Transfers waiting for a blob store slot.",
	 {"attachments", "waiting"}, 0},
	{"orchd_heap_bytes", "gauge", "Heap in use (mallinfo2).", {"heap_in_use"}, 0},
	{"orchd_uptime_seconds", "gauge", "Seconds since orchd started.", {"uptime_s"}, 0},
};

static const cJSON *at(const cJSON *o, const char *const *path)
{
	for (int i = 0; i < 3 && path[i] && o; i++)
		o = cJSON_GetObjectItemCaseSensitive(o, path[i]);
	return o;
}

static void header(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void promtext_from_stats(struct buf *out, const cJSON *stats)
{
	for (size_t i = 0; i < ARRAY_LEN(families); i++) {
		const struct family *f = &families[i];
		const cJSON *v = at(stats, f->path);
		if (!cJSON_IsNumber(v))
			continue; /* not known (a token age without a token) */
		header(out, f->name, f->type, f->help);
		buf_printf(out, "%s %.17g\n", f->name, v->valuedouble);
	}
	/* Error answers by code: every code, zeros included, so that rates
	 * start from a known value. */
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(stats, "errors"), *e;
	header(out, "orchd_errors_total", "counter", "Requests answered ERR, by code.");
	cJSON_ArrayForEach(e, errs)
		if (cJSON_IsNumber(e))
			buf_printf(out, "orchd_errors_total{code=\"%s\"} %.17g\n", e->string, e->valuedouble);
	/* The latency of every answer (PING included), as a histogram. */
	const cJSON *lat = cJSON_GetObjectItemCaseSensitive(stats, "latency_us");
	const cJSON *le = cJSON_GetObjectItemCaseSensitive(lat, "le");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(lat, "samples");
	const cJSON *sum = cJSON_GetObjectItemCaseSensitive(lat, "sum");
	if (!cJSON_IsNumber(n) || !cJSON_IsNumber(sum))
		return;
	header(out, "orchd_request_duration_seconds", "histogram",
	       "Time from a request's arrival to its answer (buckets within ~6 %).");
	for (size_t i = 0; i < ARRAY_LEN(promtext_bounds_us); i++) {
		char k[24];
		snprintf(k, sizeof(k), "%llu", (unsigned long long)promtext_bounds_us[i]);
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(le, k);
		buf_printf(out, "orchd_request_duration_seconds_bucket{le=\"%g\"} %.17g\n",
			   (double)promtext_bounds_us[i] / 1e6, cJSON_IsNumber(c) ? c->valuedouble : 0.0);
	}
	buf_printf(out, "orchd_request_duration_seconds_bucket{le=\"+Inf\"} %.17g\n", n->valuedouble);
	buf_printf(out, "orchd_request_duration_seconds_sum %.17g\n", sum->valuedouble / 1e6);
	buf_printf(out, "orchd_request_duration_seconds_count %.17g\n", n->valuedouble);
}
