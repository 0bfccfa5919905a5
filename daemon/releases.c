#include "releases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "enc.h"
#include "log.h"
#include "orch.h"

/* A cached value is "KEY\nNAME" for a release, or "!MESSAGE" for a name
 * Orchestrator did not know (keys are GUIDs; names hold no control
 * characters). */
#define NEGATIVE '!'
#define SWEEP_MIN 256

TAILQ_HEAD(rel_waiters, rel_wait);

static const struct kind {
	char tag;                    /* in the cache key */
	enum scope_op op;
	const char *collection;
	const char *by;              /* the filter's field */
	bool numeric;                /* the name is an id */
	const char *key;             /* the answer's field kept */
	const char *noun;            /* for messages */
} kinds[] = {
	[REL_PROCESS] = {'r', OP_RELEASES, "Releases", "Name", false, "Key", "process"},
	[REL_QUEUE] = {'q', OP_QUEUE_DEFS, "QueueDefinitions", "Name", false, "Id", "queue"},
	[REL_QUEUE_ID] = {'i', OP_QUEUE_DEFS, "QueueDefinitions", "Id", true, "Id", "queue"},
};

struct rel_lookup {
	struct cache_entry *entry;
	const struct kind *kind;
	char *process;               /* the name looked up */
	char *folder;                /* for messages */
	struct rel_waiters waiters;
	struct orch_call call;
};

static struct {
	uv_loop_t *loop;
	uint64_t ttl_ms, negative_ms;
	struct cache cache;
	size_t sweep_at;             /* entries that trigger a sweep of expired ones */
	unsigned long lookups;
} R;

static char *cache_key(enum rel_kind kind, const struct rel_folder *f, const char *name)
{
	if (f->id > 0)
		return xasprintf("%ci:%lld\n%s", kinds[kind].tag, (long long)f->id, name);
	return xasprintf("%cp:%s\n%s", kinds[kind].tag, f->path, name);
}

void releases_init(uv_loop_t *loop, unsigned ttl_s, unsigned negative_ttl_s)
{
	R.loop = loop;
	R.sweep_at = SWEEP_MIN;
	cache_init(&R.cache);
	releases_configure(ttl_s, negative_ttl_s);
}

static bool is_negative(const struct cache_entry *e)
{
	return e->value && e->value[0] == NEGATIVE;
}

static bool drop_negative(struct cache_entry *e, void *arg)
{
	(void)arg;
	if (!is_negative(e))
		return false;
	free(e->value);
	e->value = NULL;
	return !e->user;
}

void releases_configure(unsigned ttl_s, unsigned negative_ttl_s)
{
	R.ttl_ms = (uint64_t)ttl_s * 1000;
	R.negative_ms = (uint64_t)negative_ttl_s * 1000;
	cache_foreach(&R.cache, drop_negative, NULL);
}

static void lookup_free(struct rel_lookup *lk)
{
	free(lk->process);
	free(lk->folder);
	free(lk);
}

static bool cancel_lookup(struct cache_entry *e, void *arg)
{
	struct rel_lookup *lk = e->user;
	(void)arg;

	if (lk) {
		orch_cancel(&lk->call);
		lookup_free(lk);
		e->user = NULL;
	}
	return true;
}

void releases_close(void)
{
	cache_foreach(&R.cache, cancel_lookup, NULL);
	cache_close(&R.cache);
}

enum proto_code releases_cached(enum rel_kind kind, const struct rel_folder *f, const char *process,
				char **key, char **name)
{
	char *k = cache_key(kind, f, process);
	const char *v = cache_get(&R.cache, k, uv_now(R.loop));

	free(k);
	if (!v)
		return PC__COUNT;
	if (v[0] == NEGATIVE) {
		*key = xstrdup(v + 1);
		*name = NULL;
		return PC_NOT_FOUND;
	}
	size_t n = strcspn(v, "\n");
	*key = xstrndup(v, n);
	*name = xstrdup(v[n] ? v + n + 1 : "");
	return PC_OK;
}

/* Entries for names nobody asks again (random names, say) would stay for
 * ever: once the cache has doubled, the expired ones without a lookup go. */
static bool drop_expired(struct cache_entry *e, void *now)
{
	return !e->user && (!e->value || e->expires <= *(uint64_t *)now);
}

static void sweep(void)
{
	uint64_t now = uv_now(R.loop);

	if (R.cache.count < R.sweep_at)
		return;
	cache_foreach(&R.cache, drop_expired, &now);
	R.sweep_at = R.cache.count * 2 > SWEEP_MIN ? R.cache.count * 2 : SWEEP_MIN;
}

static void on_lookup(struct orch_call *c)
{
	struct rel_lookup *lk = c->data;
	struct cache_entry *e = lk->entry;
	enum proto_code code = c->code;
	char msg[1024], idbuf[32];
	const char *key = NULL, *name = NULL;
	char *value = NULL;

	if (code == PC_OK) {
		cJSON *value_a = cJSON_GetObjectItemCaseSensitive(c->json, "value");
		int n = cJSON_IsArray(value_a) ? cJSON_GetArraySize(value_a) : -1;
		cJSON *rel = n == 1 ? cJSON_GetArrayItem(value_a, 0) : NULL;
		cJSON *k = cJSON_GetObjectItemCaseSensitive(rel, lk->kind->key);
		cJSON *nm = cJSON_GetObjectItemCaseSensitive(rel, "Name");
		/* A release Key is a GUID string; a queue's Id is kept in decimal. */
		const char *kv = cJSON_IsString(k) ? k->valuestring : NULL;
		if (cJSON_IsNumber(k) && k->valuedouble >= 1 && k->valuedouble < 9e15 &&
		    k->valuedouble == (double)(long long)k->valuedouble) {
			snprintf(idbuf, sizeof(idbuf), "%lld", (long long)k->valuedouble);
			kv = idbuf;
		}
		if (n == 0) {
			code = PC_NOT_FOUND;
			if (lk->kind->numeric)
				snprintf(msg, sizeof(msg), "no queue with id %s in folder \"%s\"", lk->process,
					 lk->folder);
			else
				snprintf(msg, sizeof(msg),
					 "no %s named \"%s\" in folder \"%s\" (the name is the %s's display name in that folder)",
					 lk->kind->noun, lk->process, lk->folder, lk->kind->noun);
			if (R.negative_ms) {
				value = xasprintf("%c%s", NEGATIVE, msg);
				cache_set(e, value, uv_now(R.loop), R.negative_ms);
				free(value);
				value = NULL;
			}
		} else if (n > 1) {
			code = PC_AMBIGUOUS;
			snprintf(msg, sizeof(msg), "several %ss are named \"%s\" in folder \"%s\": rename one",
				 lk->kind->noun, lk->process, lk->folder);
		} else if (!kv || !kv[0] || strchr(kv, '\n')) {
			code = PC_REJECTED;
			snprintf(msg, sizeof(msg), "Orchestrator's %s answer has no %s %s", lk->kind->collection,
				 lk->kind->noun, lk->kind->key);
		} else {
			/* Without a Name (an older server), the name asked for is it. */
			name = cJSON_IsString(nm) && nm->valuestring[0] &&
					       !proto_has_ctl(nm->valuestring, strlen(nm->valuestring))
				       ? nm->valuestring : lk->process;
			value = xasprintf("%s\n%s", kv, name);
			cache_set(e, value, uv_now(R.loop), R.ttl_ms);
			key = kv;
		}
	} else {
		snprintf(msg, sizeof(msg), "%s", c->msg);
	}
	if (code != PC_OK) {
		char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX], q3[LOG_QUOTE_MAX];
		log_info("releases: %s %s in %s: %s %s", lk->kind->noun, log_quote(q1, lk->process),
			 log_quote(q2, lk->folder),
			 proto_code_name(code), log_quote(q3, msg));
	}

	/* Detach before answering: a waiter may start a new lookup of the same
	 * key (after a drop), which must find no lookup in flight. The answer
	 * comes from copies: the entry may be dropped meanwhile. */
	struct rel_waiters ws = TAILQ_HEAD_INITIALIZER(ws);
	TAILQ_CONCAT(&ws, &lk->waiters, link);
	e->user = NULL;
	char *keycopy = key ? xstrdup(key) : NULL, *namecopy = name ? xstrdup(name) : NULL;
	free(value);
	if (!e->value)
		cache_remove(&R.cache, e);
	orch_call_reset(&lk->call);
	lookup_free(lk);
	sweep();

	struct rel_wait *w;
	while ((w = TAILQ_FIRST(&ws))) {
		TAILQ_REMOVE(&ws, w, link);
		w->lookup = NULL;
		w->cb(w, code, keycopy ? keycopy : msg, namecopy);
	}
	free(keycopy);
	free(namecopy);
}

void releases_wait(struct rel_wait *w, enum rel_kind kind, const struct rel_folder *f,
		   const char *process)
{
	char *key = cache_key(kind, f, process);
	struct cache_entry *e = cache_upsert(&R.cache, key);
	struct rel_lookup *lk = e->user;

	free(key);
	if (!lk) {
		lk = xcalloc(1, sizeof(*lk));
		lk->entry = e;
		lk->kind = &kinds[kind];
		lk->process = xstrdup(process);
		lk->folder = f->id > 0 ? xasprintf("%lld", (long long)f->id) : xstrdup(f->path);
		TAILQ_INIT(&lk->waiters);
		e->user = lk;

		/* Two, so that an ambiguous name shows. */
		const struct kind *k = lk->kind;
		char *q = k->numeric ? xasprintf("%s%%20eq%%20%s", k->by, process) : enc_odata_eq(k->by, process);
		lk->call.op = k->op;
		lk->call.url = xasprintf("%s/odata/%s?$filter=%s&$top=2&$select=%s,Name", orch_base(),
					 k->collection, q, k->key);
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

void releases_cancel(struct rel_wait *w)
{
	/* The lookup goes on for the others, or to fill the cache. */
	if (w->lookup) {
		TAILQ_REMOVE(&w->lookup->waiters, w, link);
		w->lookup = NULL;
	}
}

void releases_drop(enum rel_kind kind, const struct rel_folder *f, const char *process, const char *key)
{
	char *k = cache_key(kind, f, process);
	struct cache_entry *e = cache_find(&R.cache, k);

	free(k);
	size_t n = strlen(key);
	if (e && e->value && strncmp(e->value, key, n) == 0 && e->value[n] == '\n') {
		char q[LOG_QUOTE_MAX];
		log_info("releases: %s %s of %s is gone; looking it up again", kinds[kind].key, key,
			 log_quote(q, process));
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
