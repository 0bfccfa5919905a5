#include "releases.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "enc.h"
#include "jobrec.h"
#include "log.h"
#include "orch.h"
#include "relstate.h"

/* A cached value is "KEY\nNAME" for a release, or "!MESSAGE" for a name
 * Orchestrator did not know (keys are GUIDs; names hold no control
 * characters). */
#define NEGATIVE '!'
#define SWEEP_MIN 256

TAILQ_HEAD(rel_waiters, rel_wait);

static const struct kind {
	char tag;                    /* in the cache key */
	enum scope_ep ep;
	const char *by;              /* the filter's field */
	bool numeric;                /* the name is an id */
	const char *key;             /* the answer's field kept */
	const char *noun;            /* for messages */
} kinds[] = {
	[REL_PROCESS] = {'r', EP_RELEASES, "Name", false, "Key", "process"},
	[REL_QUEUE] = {'q', EP_QUEUE_DEFS, "Name", false, "Id", "queue"},
	[REL_QUEUE_ID] = {'i', EP_QUEUE_DEFS, "Id", true, "Id", "queue"},
};

struct rel_lookup {
	struct cache_entry *entry;
	const struct kind *kind;
	char *process;               /* the name looked up */
	char *folder;                /* for messages */
	struct rel_waiters waiters;
	bool refresh;                /* ahead of expiry, in the background */
	struct orch_call call;
};

static struct {
	uv_loop_t *loop;
	uint64_t ttl_ms, negative_ms;
	struct cache cache;
	size_t sweep_at;             /* entries that trigger a sweep of expired ones */
	unsigned long lookups, refreshes;
} R;

static void lookup_start(struct cache_entry *e, enum rel_kind kind, const struct folder *f,
			 const char *name, bool refresh);

/* Refresh ahead: a key used in the last quarter of its TTL is looked up
 * again in the background while the hit uses it; a refresh that fails
 * keeps it for a quarter of the TTL more at most (the grace), trying
 * again no sooner than an eighth of the TTL later. */
static uint64_t refresh_at(const struct cache_entry *e)
{
	return e->set_at + R.ttl_ms - R.ttl_ms / 4;
}

static uint64_t grace_ms(void)
{
	return R.ttl_ms / 4 > 1000 ? R.ttl_ms / 4 : 1000;
}

static char *cache_key(enum rel_kind kind, const struct folder *f, const char *name)
{
	if (f->id > 0)
		return xasprintf("%ci:%lld\n%s", kinds[kind].tag, (long long)f->id, name);
	return xasprintf("%cp:%s\n%s", kinds[kind].tag, f->path, name);
}

static bool is_negative(const struct cache_entry *e)
{
	return e->value && e->value[0] == NEGATIVE;
}

/* What the state file keeps: release keys and queue ids, not the names
 * Orchestrator did not know. */
static bool is_positive(const struct cache_entry *e)
{
	return !is_negative(e);
}

/* Puts a checked entry read back from the state file in the cache: within
 * its TTL as it is, past it for the grace while it is looked up again at
 * once. Returns -1 when it is not used (a spelling of its key is cached
 * already), else 1 when it is refreshed. */
static int adopt(const struct statefile_entry *se, uint64_t age)
{
	struct folder f = {se->folder_path, se->folder_id};
	uint64_t now = uv_now(R.loop);
	size_t i = 0;
	int stale = 0;

	while (i < ARRAY_LEN(kinds) && kinds[i].tag != se->kind)
		i++;
	if (i == ARRAY_LEN(kinds))
		return -1;
	enum rel_kind kind = (enum rel_kind)i;
	char *key = cache_key(kind, &f, se->name);
	if (cache_find(&R.cache, key)) {
		free(key);
		return -1;
	}
	struct cache_entry *e = cache_upsert(&R.cache, key);
	char *value = xasprintf("%s\n%s", se->key, se->resolved);
	free(key);
	if (age < R.ttl_ms) {
		cache_set(e, value, now, R.ttl_ms - age);
		e->set_at = now - age;
	} else {
		/* Past its TTL: usable for the grace, refreshed at once (a
		 * release gone since is caught by StartJobs' answer). */
		cache_set(e, value, now, grace_ms());
		e->set_at = now > R.ttl_ms ? now - R.ttl_ms : 0;
		lookup_start(e, kind, &f, se->name, true);
		stale = 1;
	}
	free(value);
	return stale;
}

void releases_init(uv_loop_t *loop, unsigned ttl_s, unsigned negative_ttl_s)
{
	R.loop = loop;
	R.sweep_at = SWEEP_MIN;
	cache_init(&R.cache, 0);
	relstate_init(loop, &R.cache, is_positive, adopt);
	releases_configure(ttl_s, negative_ttl_s);
}

void releases_limit(size_t max_entries)
{
	cache_set_max(&R.cache, max_entries);
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
	relstate_close();
	cache_foreach(&R.cache, cancel_lookup, NULL);
	cache_close(&R.cache);
}

enum proto_code releases_cached(enum rel_kind kind, const struct folder *f, const char *process,
				char **key, char **name)
{
	char *k = cache_key(kind, f, process);
	uint64_t now = uv_now(R.loop);
	/* One hash lookup on the hit path: the entry serves the value and the
	 * refresh-ahead test. */
	struct cache_entry *e = cache_fresh(&R.cache, k, now);
	const char *v = e ? e->value : NULL;

	free(k);
	if (!v)
		return PC__COUNT;
	if (v[0] == NEGATIVE) {
		*key = xstrdup(v + 1);
		*name = NULL;
		return PC_NOT_FOUND;
	}
	if (!e->user && R.ttl_ms && now >= refresh_at(e) && now >= e->next_try)
		lookup_start(e, kind, f, process, true);
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
		if (jobrec_id(k)) {
			snprintf(idbuf, sizeof(idbuf), "%lld", jobrec_id(k));
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
			} else {
				cache_set(e, NULL, 0, 0); /* a refreshed key: it is gone */
			}
			relstate_changed();
		} else if (n > 1) {
			code = PC_AMBIGUOUS;
			snprintf(msg, sizeof(msg), "several %ss are named \"%s\" in folder \"%s\": rename one",
				 lk->kind->noun, lk->process, lk->folder);
		} else if (!kv || !kv[0] || strchr(kv, '\n')) {
			code = PC_REJECTED;
			snprintf(msg, sizeof(msg), "Orchestrator's %s answer has no %s %s",
				 scope_endpoint(lk->kind->ep)->path,
				 lk->kind->noun, lk->kind->key);
		} else {
			/* Without a Name (an older server), the name asked for is it. */
			name = cJSON_IsString(nm) && nm->valuestring[0] &&
					       !proto_has_ctl(nm->valuestring, strlen(nm->valuestring))
				       ? nm->valuestring : lk->process;
			value = xasprintf("%s\n%s", kv, name);
			cache_set(e, value, uv_now(R.loop), R.ttl_ms);
			key = kv;
			relstate_changed();
		}
	} else {
		snprintf(msg, sizeof(msg), "%s", c->msg);
	}
	if (code != PC_OK && lk->refresh && e->value && !is_negative(e) && code != PC_NOT_FOUND &&
	    code != PC_AMBIGUOUS) {
		/* The old key stays, for the grace at most. */
		uint64_t now = uv_now(R.loop), end = e->set_at + R.ttl_ms + grace_ms();
		char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX], q3[LOG_QUOTE_MAX];
		if (e->expires < end)
			e->expires = end;
		e->next_try = now + (R.ttl_ms / 8 > 1000 ? R.ttl_ms / 8 : 1000);
		log_warn("releases: refreshing %s %s in %s failed (%s %s); the old key stays in use for "
			 "%llu s more at most", lk->kind->noun, log_quote(q1, lk->process),
			 log_quote(q2, lk->folder), proto_code_name(code), log_quote(q3, msg),
			 (unsigned long long)(e->expires > now ? e->expires - now : 0) / 1000);
	} else if (code != PC_OK) {
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
	cache_trim(&R.cache);   /* entries kept over max_entries by their lookups */
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

static void lookup_start(struct cache_entry *e, enum rel_kind kind, const struct folder *f,
			 const char *name, bool refresh)
{
	struct rel_lookup *lk = xcalloc(1, sizeof(*lk));
	const struct kind *k = &kinds[kind];

	lk->entry = e;
	lk->kind = k;
	lk->refresh = refresh;
	lk->process = xstrdup(name);
	lk->folder = f->id > 0 ? xasprintf("%lld", (long long)f->id) : xstrdup(f->path);
	TAILQ_INIT(&lk->waiters);
	e->user = lk;

	/* Two, so that an ambiguous name shows. */
	char *q = k->numeric ? xasprintf("%s%%20eq%%20%s", k->by, name) : enc_odata_eq(k->by, name);
	lk->call.ep = k->ep;
	lk->call.query = xasprintf("$filter=%s&$top=2&$select=%s,Name", q, k->key);
	lk->call.folder = (struct folder){f->id > 0 ? NULL : lk->folder, f->id};
	lk->call.done = on_lookup;
	lk->call.data = lk;
	free(q);
	R.lookups++;
	R.refreshes += refresh;
	orch_send(&lk->call);
}

void releases_wait(struct rel_wait *w, enum rel_kind kind, const struct folder *f,
		   const char *process)
{
	char *key = cache_key(kind, f, process);
	struct cache_entry *e = cache_upsert(&R.cache, key);

	free(key);
	if (!e->user)
		lookup_start(e, kind, f, process, false);
	w->lookup = e->user;
	TAILQ_INSERT_TAIL(&w->lookup->waiters, w, link);
}

void releases_cancel(struct rel_wait *w)
{
	/* The lookup goes on for the others, or to fill the cache. */
	if (w->lookup) {
		TAILQ_REMOVE(&w->lookup->waiters, w, link);
		w->lookup = NULL;
	}
}

void releases_drop(enum rel_kind kind, const struct folder *f, const char *process, const char *key)
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
		relstate_changed();
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

unsigned long releases_refreshes(void)
{
	return R.refreshes;
}

struct names {
	cJSON *arr;
	int left;
	releases_keep_fn *keep;
	void *ctx;
};

/* Whether keep allows name in the folder of key (cache_key's form). */
static bool kept(const struct names *n, const char *key, const char *nl, const char *name)
{
	if (!n->keep)
		return true;
	struct folder f = {NULL, 0};
	char *path = NULL;
	if (key[1] == 'i')
		f.id = strtoll(key + 3, NULL, 10);
	else
		f.path = path = xstrndup(key + 3, (size_t)(nl - key - 3));
	bool ok = n->keep(name, &f, n->ctx);
	free(path);
	return ok;
}

static bool add_name(struct cache_entry *e, void *arg)
{
	struct names *n = arg;
	const char *nl = e->key[0] == kinds[REL_PROCESS].tag ? strchr(e->key, '\n') : NULL;
	const char *v = e->value;

	if (!nl || !v || is_negative(e) || n->left <= 0)
		return false;
	/* The Name Orchestrator resolved, once each. */
	const char *name = strchr(v, '\n') ? strchr(v, '\n') + 1 : nl + 1;
	if (!kept(n, e->key, nl, name))
		return false;
	cJSON *it;
	cJSON_ArrayForEach(it, n->arr)
		if (strcmp(it->valuestring, name) == 0)
			return false;
	cJSON_AddItemToArray(n->arr, cJSON_CreateString(name));
	n->left--;
	return false;
}

void releases_names(cJSON *arr, int max, releases_keep_fn *keep, void *ctx)
{
	struct names n = {arr, max, keep, ctx};

	cache_foreach(&R.cache, add_name, &n);
}

void releases_state(const char *path)
{
	relstate_use(path);
}
