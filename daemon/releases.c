#include "releases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "enc.h"
#include "log.h"
#include "orch.h"

TAILQ_HEAD(rel_waiters, rel_wait);

struct rel_lookup {
	struct cache_entry *entry;
	char *process;
	char *folder;                /* for messages */
	struct rel_waiters waiters;
	struct orch_call call;
};

static struct {
	uv_loop_t *loop;
	uint64_t ttl_ms;
	struct cache cache;
	unsigned long lookups;
} R;

static char *cache_key(const struct rel_folder *f, const char *process)
{
	if (f->id > 0)
		return xasprintf("i:%lld\n%s", (long long)f->id, process);
	return xasprintf("p:%s\n%s", f->path, process);
}

void releases_init(uv_loop_t *loop, unsigned ttl_s)
{
	R.loop = loop;
	R.ttl_ms = (uint64_t)ttl_s * 1000;
	cache_init(&R.cache);
}

void releases_set_ttl(unsigned ttl_s)
{
	R.ttl_ms = (uint64_t)ttl_s * 1000;
}

void releases_close(void)
{
	/* Lookups in flight were aborted with http_close(); free them. */
	for (size_t i = 0; i < R.cache.nslots; i++)
		for (struct cache_entry *e = R.cache.slots[i]; e; e = e->next) {
			struct rel_lookup *lk = e->user;
			if (!lk)
				continue;
			orch_call_reset(&lk->call);
			free(lk->process);
			free(lk->folder);
			free(lk);
			e->user = NULL;
		}
	cache_close(&R.cache);
}

const char *releases_cached(const struct rel_folder *f, const char *process)
{
	char *key = cache_key(f, process);
	const char *v = cache_get(&R.cache, key, uv_now(R.loop));

	free(key);
	return v;
}

static void on_lookup(struct orch_call *c)
{
	struct rel_lookup *lk = c->data;
	struct cache_entry *e = lk->entry;
	enum proto_code code = c->code;
	char msg[1024];
	const char *key = NULL;

	if (code == PC_OK) {
		cJSON *value = cJSON_GetObjectItemCaseSensitive(c->json, "value");
		int n = cJSON_IsArray(value) ? cJSON_GetArraySize(value) : -1;
		cJSON *k = n == 1 ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(value, 0), "Key")
				  : NULL;
		if (n == 0) {
			code = PC_NOT_FOUND;
			snprintf(msg, sizeof(msg),
				 "no process named \"%s\" in folder \"%s\" (the name is the process's display name in that folder)",
				 lk->process, lk->folder);
		} else if (n > 1) {
			code = PC_AMBIGUOUS;
			snprintf(msg, sizeof(msg),
				 "several processes are named \"%s\" in folder \"%s\": rename one",
				 lk->process, lk->folder);
		} else if (!cJSON_IsString(k) || !k->valuestring[0]) {
			code = PC_REJECTED;
			snprintf(msg, sizeof(msg), "Orchestrator's Releases answer has no release Key");
		} else {
			cache_set(e, k->valuestring, uv_now(R.loop), R.ttl_ms);
			key = e->value;
		}
	} else {
		snprintf(msg, sizeof(msg), "%s", c->msg);
	}
	if (code != PC_OK)
		log_info("releases: \"%s\" in \"%s\": %s %s", lk->process, lk->folder,
			 proto_code_name(code), msg);

	/* Detach before answering: a waiter may start a new lookup of the same
	 * key (after a drop), which must find no lookup in flight. */
	struct rel_waiters ws = TAILQ_HEAD_INITIALIZER(ws);
	TAILQ_CONCAT(&ws, &lk->waiters, link);
	e->user = NULL;
	char *keycopy = key ? xstrdup(key) : NULL;
	if (!e->value)
		cache_remove(&R.cache, e);
	orch_call_reset(&lk->call);
	free(lk->process);
	free(lk->folder);
	free(lk);

	struct rel_wait *w;
	while ((w = TAILQ_FIRST(&ws))) {
		TAILQ_REMOVE(&ws, w, link);
		w->lookup = NULL;
		w->cb(w, code, keycopy ? keycopy : msg);
	}
	free(keycopy);
}

void releases_wait(struct rel_wait *w, const struct rel_folder *f, const char *process)
{
	char *key = cache_key(f, process);
	struct cache_entry *e = cache_upsert(&R.cache, key);
	struct rel_lookup *lk = e->user;

	free(key);
	if (!lk) {
		lk = xcalloc(1, sizeof(*lk));
		lk->entry = e;
		lk->process = xstrdup(process);
		lk->folder = f->id > 0 ? xasprintf("%lld", (long long)f->id) : xstrdup(f->path);
		TAILQ_INIT(&lk->waiters);
		e->user = lk;

		char *q = enc_odata_eq("Name", process);
		lk->call.op = OP_RELEASES;
		lk->call.url = xasprintf("%s/odata/Releases?$filter=%s&$top=2&$select=Key,Name",
					 orch_base(), q);
		lk->call.folder_hdr = enc_folder_header(f->path, f->id);
		lk->call.folder = lk->folder;
		lk->call.done = on_lookup;
		lk->call.data = lk;
		free(q);
		R.lookups++;
		orch_send(&lk->call);
	}
	w->lookup = lk;
	TAILQ_INSERT_TAIL(&lk->waiters, w, link);
}

void releases_drop(const struct rel_folder *f, const char *process, const char *key)
{
	char *k = cache_key(f, process);
	struct cache_entry *e = cache_find(&R.cache, k);

	free(k);
	if (e && e->value && strcmp(e->value, key) == 0) {
		log_info("releases: release %s of \"%s\" is gone; looking it up again", key, process);
		free(e->value);
		e->value = NULL;
		if (!e->user)
			cache_remove(&R.cache, e);
	}
}

unsigned long releases_hits(void)
{
	return R.cache.hits;
}

unsigned long releases_misses(void)
{
	return R.cache.misses;
}

unsigned long releases_lookups(void)
{
	return R.lookups;
}
