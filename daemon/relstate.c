#include "relstate.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* The state file: written this long after a change (changes come in
 * bursts), and entries older than this are not loaded. */
#define SAVE_DELAY_MS 1000
#define STATE_MAX_AGE_S (7 * 86400)
#define STATE_MAX_BYTES (16 << 20)

static struct {
	uv_loop_t *loop;
	struct cache *cache;
	relstate_keep_fn *keep;
	relstate_adopt_fn *adopt;
	char *state_path;            /* [cache] state_file, or NULL */
	bool dirty;                  /* changed since the last save */
	uv_timer_t save_timer;
} S;

static void on_save_timer(uv_timer_t *t)
{
	(void)t;
	relstate_save();
}

void relstate_changed(void)
{
	S.dirty = true;
	if (S.state_path && !uv_is_active((uv_handle_t *)&S.save_timer))
		uv_timer_start(&S.save_timer, on_save_timer, SAVE_DELAY_MS, 0);
}

void relstate_init(uv_loop_t *loop, struct cache *cache, relstate_keep_fn *keep,
		   relstate_adopt_fn *adopt)
{
	S.loop = loop;
	S.cache = cache;
	S.keep = keep;
	S.adopt = adopt;
	uv_timer_init(loop, &S.save_timer);
}

void relstate_close(void)
{
	relstate_save();
	uv_close((uv_handle_t *)&S.save_timer, NULL);
	free(S.state_path);
	S.state_path = NULL;
}

/* Adds e to the array arr as {"k","v","set"} if it is unexpired and kept,
 * its "set" time turned from the loop's clock into wall-clock seconds. */
static bool save_one(struct cache_entry *e, void *arr)
{
	uint64_t now = uv_now(S.loop);

	if (e->value && S.keep(e) && e->expires > now) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "k", e->key);
		cJSON_AddStringToObject(o, "v", e->value);
		cJSON_AddNumberToObject(o, "set", (double)time(NULL) - (double)(now - e->set_at) / 1000.0);
		cJSON_AddItemToArray(arr, o);
	}
	return false;
}

void relstate_save(void)
{
	if (!S.state_path || !S.dirty)
		return;
	uv_timer_stop(&S.save_timer);
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "version", 1);
	cache_foreach(S.cache, save_one, cJSON_AddArrayToObject(root, "entries"));
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (file_write_atomic(S.state_path, text) != 0) {
		log_warn("releases: cannot save %s: %s (the cache stays in memory)", S.state_path,
			 strerror(errno));
	} else {
		S.dirty = false;
	}
	cJSON_free(text);
}

/* Reads path and hands each entry of the right form, at most a week old,
 * to adopt. A missing file is an empty cache; another failure to read it
 * is logged. */
static void load(const char *path)
{
	char *text = file_read(path, STATE_MAX_BYTES);
	cJSON *root = text ? cJSON_Parse(text) : NULL, *it;
	uint64_t now = uv_now(S.loop);
	double wall = (double)time(NULL);
	int n = 0, stale = 0;

	if (!text) {
		if (errno != ENOENT)
			log_warn("releases: cannot read %s: %s (starting with an empty cache)", path,
				 strerror(errno));
		free(text);
		return;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "entries")) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "k");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "v");
		const cJSON *set = cJSON_GetObjectItemCaseSensitive(it, "set");
		if (!cJSON_IsString(k) || !cJSON_IsString(v) || !cJSON_IsNumber(set))
			continue;
		double age_s = wall - set->valuedouble;
		uint64_t age = age_s > 0 ? (uint64_t)(age_s * 1000) : 0;
		if (age_s > STATE_MAX_AGE_S || age > now)
			continue;
		int used = S.adopt(k->valuestring, v->valuestring, age);
		if (used < 0)
			continue;
		stale += used;
		n++;
	}
	cJSON_Delete(root);
	free(text);
	log_info("releases: %d entries read from %s (%d past their TTL, being refreshed)", n, path, stale);
}

void relstate_use(const char *path)
{
	bool same = S.state_path && path && strcmp(S.state_path, path) == 0;

	if (same)
		return;
	relstate_save();
	free(S.state_path);
	S.state_path = path ? xstrdup(path) : NULL;
	if (S.state_path) {
		load(S.state_path);
		relstate_changed();
	}
}
