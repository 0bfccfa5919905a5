#include "relstate.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* The state file: written this long after a change (changes come in
 * bursts), and at most this big (what is read back). */
#define SAVE_DELAY_MS 1000
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

/* Whether e belongs in the file: an unexpired value the owner keeps. */
static bool saved(const struct cache_entry *e, uint64_t now)
{
	return e->value && S.keep(e) && e->expires > now;
}

/* At most what its JSON takes in the file: cJSON escapes a character in at
 * most two bytes here (names hold no control character), plus the frame. */
static size_t entry_bound(const struct cache_entry *e)
{
	return 2 * (strlen(e->key) + strlen(e->value)) + 64;
}

void relstate_save(void)
{
	uint64_t now = uv_now(S.loop);
	size_t bytes = 64, skipped = 0;
	struct cache_entry *e, *first = NULL;

	if (!S.state_path || !S.dirty)
		return;
	uv_timer_stop(&S.save_timer);
	/* The most recently used entries that fit in what is read back; the
	 * older ones are left out. */
	for (e = S.cache->newest; e; e = e->older) {
		if (!saved(e, now))
			continue;
		if (skipped || bytes + entry_bound(e) > STATE_MAX_BYTES) {
			skipped++;
			continue;
		}
		bytes += entry_bound(e);
		first = e;
	}
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "version", 1);
	cJSON *arr = cJSON_AddArrayToObject(root, "entries");
	double wall = (double)time(NULL);
	for (e = first; e; e = e->newer) {
		if (!saved(e, now))
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "k", e->key);
		cJSON_AddStringToObject(o, "v", e->value);
		cJSON_AddNumberToObject(o, "set", wall - (double)(now - e->set_at) / 1000.0);
		cJSON_AddItemToArray(arr, o);
	}
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (skipped)
		log_warn("releases: %zu least recently used entries left out of %s (it holds %d MiB at most); "
			 "lower [cache] max_entries to keep every entry", skipped, S.state_path,
			 STATE_MAX_BYTES >> 20);
	if (file_write_atomic(S.state_path, text) != 0) {
		log_warn("releases: cannot save %s: %s (the cache stays in memory)", S.state_path,
			 strerror(errno));
	} else {
		S.dirty = false;
	}
	cJSON_free(text);
}

struct loading {
	const char *path;
	uint64_t now;
	int stale, skipped;
};

#define SKIP_LOGGED 10

/* A checked entry from the file: to the owner, its age on the loop's clock. */
static void load_entry(const struct statefile_entry *e, void *arg)
{
	struct loading *l = arg;
	uint64_t age = (uint64_t)(e->age_s * 1000);

	if (age > l->now)
		return; /* set before the loop's clock began */
	int used = S.adopt(e, age);
	if (used > 0)
		l->stale++;
}

/* A bad entry: logged (the first few), and skipped. */
static void skip_entry(size_t index, const char *why, void *arg)
{
	struct loading *l = arg;

	if (l->skipped++ < SKIP_LOGGED)
		log_warn("releases: entry %zu of %s skipped: %s (orchd rewrites the file without it)",
			 index + 1, l->path, why);
}

/* Whether the file open on fd may be trusted: a regular file of orchd's
 * effective uid that nobody else may write (design 4b); else why not, and
 * what to do, is logged. */
static bool trusted(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		log_warn("releases: cannot stat %s: %s (starting with an empty cache)", path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warn("releases: ignoring the state file %s: it is not a regular file; remove it "
			 "(starting with an empty cache)", path);
		return false;
	}
	if (st.st_uid != geteuid()) {
		log_warn("releases: ignoring the state file %s: it is owned by uid %u, not by orchd's uid %u; "
			 "chown it to orchd's user or remove it (starting with an empty cache)", path,
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return false;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_warn("releases: ignoring the state file %s: it is writable by group or others (mode %04o); "
			 "chmod go-w it, or remove it (starting with an empty cache)", path,
			 (unsigned)(st.st_mode & 07777));
		return false;
	}
	return true;
}

/* Reads path, if orchd may trust it, and hands each checked entry at most a
 * week old to adopt. A missing file is an empty cache; any other failure,
 * and each bad entry, is logged. */
static void load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct loading l = {path, uv_now(S.loop), 0, 0};
	char why[128];

	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("releases: cannot open %s: %s (starting with an empty cache)", path,
				 strerror(errno));
		return;
	}
	if (!trusted(fd, path)) {
		close(fd);
		return;
	}
	char *text = file_read_fd(fd, STATE_MAX_BYTES);
	int saved_errno = errno;
	close(fd);
	if (!text) {
		if (saved_errno == EFBIG)
			log_warn("releases: ignoring the state file %s: it is over %d MiB, more than orchd "
				 "writes; remove it (starting with an empty cache)", path, STATE_MAX_BYTES >> 20);
		else
			log_warn("releases: cannot read %s: %s (starting with an empty cache)", path,
				 strerror(saved_errno));
		return;
	}
	int n = statefile_parse(text, strlen(text), (double)time(NULL), S.cache->max, load_entry,
				skip_entry, &l, why, sizeof(why));
	free(text);
	if (n < 0) {
		log_warn("releases: ignoring the state file %s: %s; remove it (orchd writes a new one)", path,
			 why);
		return;
	}
	if (l.skipped > SKIP_LOGGED)
		log_warn("releases: %d more bad entries of %s skipped", l.skipped - SKIP_LOGGED, path);
	log_info("releases: %d entries read from %s (%d past their TTL, being refreshed; %d skipped)", n,
		 path, l.stale, l.skipped);
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
