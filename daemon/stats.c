#include "stats.h"

#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "auth.h"
#include "budget.h"
#include "hist.h"
#include "http.h"
#include "admit.h"
#include "enqueue.h"
#include "promtext.h"
#include "start.h"
#include "sweep.h"
#include "releases.h"
#include "upkeep.h"
#include "watch.h"

static struct {
	uv_loop_t *loop;
	uint64_t started_at;
	unsigned long requests, starts, answered[PC__COUNT];
	int clients, pending;
	struct hist latency;
} T;

void stats_init(uv_loop_t *loop)
{
	memset(&T, 0, sizeof(T));
	T.loop = loop;
	T.started_at = uv_now(loop);
}

void stats_close(void)
{
	T.loop = NULL;
}

void stats_request(void)
{
	T.requests++;
}

void stats_start(void)
{
	T.starts++;
}

void stats_answered(enum proto_code code, bool ok_counts, uint64_t us)
{
	if (code != PC_OK || ok_counts)
		T.answered[code]++;
	hist_add(&T.latency, us);
}

void stats_clients(int delta)
{
	T.clients += delta;
}

void stats_pending(int delta)
{
	T.pending += delta;
}

cJSON *stats_object(releases_keep_fn *keep, void *ctx)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *errs = cJSON_CreateObject();
	unsigned long nerr = 0;

	cJSON_AddNumberToObject(o, "requests", (double)T.requests);
	cJSON_AddNumberToObject(o, "starts", (double)T.starts);
	cJSON_AddNumberToObject(o, "ok", (double)T.answered[PC_OK]);
	for (int i = 1; i < PC__COUNT; i++) {
		cJSON_AddNumberToObject(errs, proto_code_name(i), (double)T.answered[i]);
		nerr += T.answered[i];
	}
	cJSON_AddNumberToObject(o, "errors_total", (double)nerr);
	cJSON_AddItemToObject(o, "errors", errs);
	cJSON_AddNumberToObject(o, "jobs_started", (double)start_jobs_started());
	cJSON_AddNumberToObject(o, "jobs_resolved", (double)start_resolved());
	cJSON_AddNumberToObject(o, "token_refreshes", (double)auth_refresh_count());
	const char *ae = auth_last_error();
	if (ae)
		cJSON_AddStringToObject(o, "auth_error", ae);
	else
		cJSON_AddNullToObject(o, "auth_error");
	unsigned gen;
	if (auth_token(&gen))
		cJSON_AddNumberToObject(o, "token_age_s", (double)(auth_age(gen) / 1000));
	else
		cJSON_AddNullToObject(o, "token_age_s");
	cJSON *cache = cJSON_AddObjectToObject(o, "cache");
	cJSON_AddNumberToObject(cache, "hits", (double)releases_hits());
	cJSON_AddNumberToObject(cache, "misses", (double)releases_misses());
	cJSON_AddNumberToObject(cache, "lookups", (double)releases_lookups());
	cJSON_AddNumberToObject(cache, "refreshes", (double)releases_refreshes());
	releases_names(cJSON_AddArrayToObject(o, "processes"), 256, keep, ctx);
	cJSON_AddNumberToObject(o, "inflight", T.pending);
	cJSON *adm = cJSON_AddObjectToObject(o, "pending");
	cJSON_AddNumberToObject(adm, "places", admit_places());
	cJSON_AddNumberToObject(adm, "bytes", (double)admit_bytes());
	cJSON_AddNumberToObject(adm, "peers", admit_peers());
	cJSON_AddNumberToObject(o, "http_inflight", http_inflight());
	cJSON_AddNumberToObject(o, "upkeeps", (double)upkeep_sent());
	cJSON_AddNumberToObject(o, "clients", T.clients);
	cJSON_AddNumberToObject(o, "waits", watch_waits());
	cJSON_AddNumberToObject(o, "jobs_watched", watch_jobs());
	cJSON *reads = cJSON_AddObjectToObject(o, "job_reads");
	cJSON_AddNumberToObject(reads, "single", (double)watch_single_reads());
	cJSON_AddNumberToObject(reads, "paced", watch_paced());
	cJSON_AddNumberToObject(reads, "collection", (double)sweep_queries());
	cJSON_AddNumberToObject(reads, "collection_last_minute", budget_last_minute());
	cJSON_AddNumberToObject(reads, "rate_limited", (double)budget_rate_limited());
	cJSON *queue = cJSON_AddObjectToObject(o, "queue");
	cJSON_AddNumberToObject(queue, "items_added", (double)enqueue_added());
	cJSON_AddNumberToObject(queue, "lookups", (double)enqueue_lookups());
	cJSON_AddNumberToObject(queue, "duplicates", (double)enqueue_duplicates());
	cJSON_AddNumberToObject(queue, "item_reads", (double)enqueue_item_reads());
	cJSON *att = cJSON_AddObjectToObject(o, "attachments");
	cJSON_AddNumberToObject(att, "uploaded", (double)attach_uploaded());
	cJSON_AddNumberToObject(att, "downloaded", (double)attach_downloaded());
	cJSON_AddNumberToObject(att, "failed", (double)attach_failed());
	cJSON_AddNumberToObject(att, "waiting", attach_waiting());

	cJSON *lat = cJSON_AddObjectToObject(o, "latency_us");
	cJSON_AddNumberToObject(lat, "samples", (double)T.latency.samples);
	if (T.latency.samples) {
		cJSON_AddNumberToObject(lat, "p50", (double)hist_percentile(&T.latency, 50));
		cJSON_AddNumberToObject(lat, "p90", (double)hist_percentile(&T.latency, 90));
		cJSON_AddNumberToObject(lat, "p99", (double)hist_percentile(&T.latency, 99));
		cJSON_AddNumberToObject(lat, "max", (double)T.latency.max);
	}
	/* For a Prometheus histogram: the sum, and counts at fixed bounds
	 * (common/promtext.h). */
	cJSON_AddNumberToObject(lat, "sum", (double)T.latency.sum);
	cJSON *le = cJSON_AddObjectToObject(lat, "le");
	for (size_t i = 0; i < ARRAY_LEN(promtext_bounds_us); i++) {
		char k[24];
		snprintf(k, sizeof(k), "%llu", (unsigned long long)promtext_bounds_us[i]);
		cJSON_AddNumberToObject(le, k, (double)hist_count_le(&T.latency, promtext_bounds_us[i]));
	}
	struct mallinfo2 mi = mallinfo2();
	cJSON_AddNumberToObject(o, "heap_in_use", (double)mi.uordblks);
	cJSON_AddNumberToObject(o, "uptime_s", (double)((uv_now(T.loop) - T.started_at) / 1000));
	return o;
}

char *stats_json(releases_keep_fn *keep, void *ctx)
{
	cJSON *o = stats_object(keep, ctx);
	char *s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	return s;
}
