#include "confrules.h"
#include "proto.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Frees what a rule holds (not a itself). */
void confrules_free(struct conf_allow *a)
{
	free(a->who);
	free(a->glob);
	free(a->folder);
}

/* The next word of *p: bare bytes up to white space, where a '"' opens a
 * JSON string literal (spaces allowed inside) that runs to its closing
 * quote and is decoded. NULL at the end, or with *bad set. */
static char *next_word(const char **p, bool *bad)
{
	struct buf w = {0};
	const char *s = *p + strspn(*p, " \t");

	if (!*s) {
		*p = s;
		return NULL;
	}
	while (*s && *s != ' ' && *s != '\t') {
		if (*s != '"') {
			buf_add(&w, s++, 1);
			continue;
		}
		const char *e = s + 1;
		while (*e && *e != '"')
			e += e[0] == '\\' && e[1] ? 2 : 1;
		cJSON *j = *e ? cJSON_ParseWithLength(s, (size_t)(e + 1 - s)) : NULL;
		if (!cJSON_IsString(j) || !j->valuestring[0]) {
			cJSON_Delete(j);
			buf_free(&w);
			*bad = true;
			return NULL;
		}
		buf_adds(&w, j->valuestring);
		cJSON_Delete(j);
		s = e + 1;
	}
	*p = s;
	return buf_steal(&w);
}

/* A decimal in lo..hi, digits only (no sign, no space, no wrap-around). */
static bool parse_range(const char *v, unsigned long long lo, unsigned long long hi,
			unsigned long long *out)
{
	if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 19)
		return false;
	unsigned long long n = strtoull(v, NULL, 10);
	if (n < lo || n > hi)
		return false;
	*out = n;
	return true;
}

/* Parses one allow value into a: WHO and GLOB first, then the options in
 * any order. Returns 0, or -1 with why (a may hold parts: free it). */
int confrules_parse(const char *value, struct conf_allow *a, char *why, size_t whylen)
{
	bool bad = false;
	const char *p = value;
	unsigned long long n;

	a->who = next_word(&p, &bad);
	a->glob = next_word(&p, &bad);
	if (bad || !a->who || !a->glob) {
		snprintf(why, whylen, "\"%s\" is not WHO GLOB", value);
		return -1;
	}
	const char *colon = strchr(a->who, ':');
	size_t kind = colon ? (size_t)(colon - a->who) : 0;
	bool numeric = (kind == 3 && (strncmp(a->who, "uid", 3) == 0 || strncmp(a->who, "gid", 3) == 0));
	bool named = (kind == 4 && strncmp(a->who, "user", 4) == 0) ||
		     (kind == 5 && strncmp(a->who, "group", 5) == 0);
	if (!colon || !colon[1] || (!numeric && !named)) {
		snprintf(why, whylen, "\"%s\" is not user:NAME, group:NAME, uid:N or gid:N", a->who);
		return -1;
	}
	/* uid_t is 32 bits and (uid_t)-1 means "nobody known": 4294967295 and
	 * anything strtoul would wrap (uid:-1, uid:4294967296 = root) are refused. */
	if (numeric && !parse_range(colon + 1, 0, 4294967294ULL, &n)) {
		snprintf(why, whylen, "\"%s\": expected a number from 0 to 4294967294", a->who);
		return -1;
	}
	if (strncmp(a->glob, "queue:", 6) == 0) {
		a->queue = true;
		memmove(a->glob, a->glob + 6, strlen(a->glob + 6) + 1);
		if (!a->glob[0]) {
			snprintf(why, whylen, "\"queue:\" needs a queue-name glob");
			return -1;
		}
	}
	for (char *w; (w = next_word(&p, &bad)); free(w)) {
		if (strncmp(w, "folder=", 7) == 0 && !a->folder && !a->folder_id) {
			if (w[7] == '#') {
				if (!parse_range(w + 8, 1, 9007199254740991ULL, &n)) {
					snprintf(why, whylen, "\"%s\": expected folder=#ID with a positive id", w);
					free(w);
					return -1;
				}
				a->folder_id = (long long)n;
			} else if (w[7]) {
				a->folder = xstrdup(w + 7);
			} else {
				snprintf(why, whylen, "\"folder=\" needs a folder glob or #ID");
				free(w);
				return -1;
			}
		} else if (strncmp(w, "max=", 4) == 0 && !a->max && !a->queue) {
			if (!parse_range(w + 4, 1, PROTO_COUNT_MAX, &n)) {
				snprintf(why, whylen, "\"%s\": expected max=N with N from 1 to %d", w,
					 PROTO_COUNT_MAX);
				free(w);
				return -1;
			}
			a->max = (int)n;
		} else {
			snprintf(why, whylen, "unexpected \"%s\" (each of folder= and max= at most once; "
				 "max= is for process rules)", w);
			free(w);
			return -1;
		}
	}
	if (bad) {
		snprintf(why, whylen, "a quoted word in \"%s\" is not a JSON string literal", value);
		return -1;
	}
	return 0;
}
