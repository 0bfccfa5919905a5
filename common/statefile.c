#include "statefile.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "util.h"

#define CLOCK_STEP_S 60.0          /* "set" may be this far in the future */

/* A positive integer in decimal, without sign or leading zero, that fits a
 * JSON number exactly (Orchestrator's ids are int64, in practice far less). */
static bool positive_id(const char *s, long long *out)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 15 || s[n] || s[0] == '0')
		return false;
	if (out)
		*out = strtoll(s, NULL, 10);
	return true;
}

static bool text_ok(const char *s)
{
	return s[0] && !proto_has_ctl(s, strlen(s));
}

/* Splits "<head>\n<tail>" in buf (a copy it owns), or returns false. */
static bool split(char *buf, char **tail)
{
	char *nl = strchr(buf, '\n');

	if (!nl)
		return false;
	*nl = '\0';
	*tail = nl + 1;
	return true;
}

/* Checks one entry and fills e from it (its strings in kbuf and vbuf, the
 * caller's copies of "k" and "v"). Returns NULL when it is good, else why
 * not; *stale is set for an entry that is merely too old. */
static const char *check(const cJSON *it, double now, char **kbuf, char **vbuf,
			 struct statefile_entry *e, bool *stale)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "k");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "v");
	const cJSON *set = cJSON_GetObjectItemCaseSensitive(it, "set");
	char *folder, *name, *key, *resolved;

	if (!cJSON_IsString(k) || !cJSON_IsString(v) || !cJSON_IsNumber(set))
		return "it is not {\"k\":string,\"v\":string,\"set\":number}";
	*kbuf = xstrdup(k->valuestring);
	*vbuf = xstrdup(v->valuestring);
	if (!strchr("rqi", (*kbuf)[0]) || !(*kbuf)[0] || ((*kbuf)[1] != 'p' && (*kbuf)[1] != 'i') ||
	    (*kbuf)[2] != ':' || !split(*kbuf + 3, &name))
		return "its key is not <kind><form>:<folder>\\n<name>";
	folder = *kbuf + 3;
	memset(e, 0, sizeof(*e));
	e->kind = (*kbuf)[0];
	if ((*kbuf)[1] == 'i' ? !positive_id(folder, &e->folder_id) : !text_ok(folder))
		return (*kbuf)[1] == 'i' ? "its folder id is not a positive integer"
					: "its folder is empty or holds a control character";
	e->folder_path = (*kbuf)[1] == 'p' ? folder : NULL;
	if (!text_ok(name))
		return "its name is empty or holds a control character";
	if (e->kind == 'i' && !positive_id(name, NULL))
		return "its queue id is not a positive integer";
	if (!split(*vbuf, &resolved))
		return "its value is not <key>\\n<name>";
	key = *vbuf;
	if (e->kind == 'r' ? !util_is_guid(key) : !positive_id(key, NULL))
		return e->kind == 'r' ? "its release key is not a GUID" : "its queue id is not a positive integer";
	if (!text_ok(resolved))
		return "its resolved name is empty or holds a control character";
	double age = now - set->valuedouble;
	if (!isfinite(age) || age < -CLOCK_STEP_S)
		return "its time is in the future";
	*stale = age > STATEFILE_MAX_AGE_S;
	e->name = name;
	e->key = key;
	e->resolved = resolved;
	e->age_s = age > 0 ? age : 0;
	return NULL;
}

int statefile_parse(const char *text, size_t len, double now, size_t max, statefile_entry_fn *entry,
		    statefile_skip_fn *skip, void *arg, char *why, size_t whylen)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
	int used = 0;

	if (!root || !cJSON_IsNumber(version) || version->valuedouble != 1 || !cJSON_IsArray(entries)) {
		snprintf(why, whylen, "%s", !root ? "it is not JSON"
			 : "it is not an orchd state file ({\"version\":1,\"entries\":[...]})");
		cJSON_Delete(root);
		return -1;
	}
	size_t n = (size_t)cJSON_GetArraySize(entries), i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, entries) {
		char *kbuf = NULL, *vbuf = NULL;
		struct statefile_entry e;
		bool stale = false;
		if (max == 0 || n - i <= max) {
			const char *bad = check(it, now, &kbuf, &vbuf, &e, &stale);
			if (bad) {
				skip(i, bad, arg);
			} else if (!stale) {
				entry(&e, arg);
				used++;
			}
		}
		free(kbuf);
		free(vbuf);
		i++;
	}
	cJSON_Delete(root);
	return used;
}
