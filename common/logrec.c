#include "logrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enc.h"
#include "proto.h"

bool logrec_time(const char *t, char out[TEXT_DATETIME_MAX])
{
	char zoned[TEXT_DATETIME_MAX + 1];
	enum text_date td = t ? text_rfc3339(t, out) : TEXT_DATE_BAD;

	if (td == TEXT_DATE_NO_ZONE && strlen(t) < sizeof(zoned) - 1) {
		snprintf(zoned, sizeof(zoned), "%sZ", t);
		td = text_rfc3339(zoned, out);
	}
	if (td != TEXT_DATE_OK)
		out[0] = '\0';
	return td == TEXT_DATE_OK;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An entry's Level: the name, or the name of its number (a server that
 * serializes the enum as a number). */
static const char *level_of(const cJSON *o)
{
	static const char *const names[] = PROTO_LOG_LEVELS;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "Level");

	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < (double)ARRAY_LEN(names))
		return names[(int)v->valuedouble];
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool logrec_page(const cJSON *answer, int limit, int top, struct logrec_page *pg)
{
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(answer, "value"), *it;
	int got = 0;

	memset(pg, 0, sizeof(*pg));
	if (!cJSON_IsArray(value))
		return false;
	pg->e = xcalloc((size_t)(top > 0 ? top : 1), sizeof(*pg->e));
	cJSON_ArrayForEach(it, value) {
		if (got == top)
			break;
		if (!cJSON_IsObject(it)) {
			logrec_page_free(pg);
			return false;
		}
		struct logrec_entry *e = &pg->e[got++];
		logrec_time(str(it, "TimeStamp"), e->time);
		if ((e->level = level_of(it)))
			e->llen = text_utf8_cut(e->level, strlen(e->level), LOGREC_LEVEL_MAX);
		if ((e->host = str(it, "HostMachineName")))
			e->hlen = text_utf8_cut(e->host, strlen(e->host), LOGREC_HOST_MAX);
		if ((e->message = str(it, "Message"))) {
			size_t len = strlen(e->message);
			e->mlen = text_utf8_cut(e->message, len, LOGREC_MESSAGE_MAX);
			e->cut = e->mlen < len;
		}
	}
	pg->more = got > limit || (top == limit && got == limit && got > 0);
	pg->n = got > limit ? limit : got;
	if (pg->more) {
		/* The instant the page would end in: its entries wait for the
		 * next page (see the header); when they are all of it, the
		 * page is stuck on that instant. */
		const char *edge = pg->e[got > limit ? limit : limit - 1].time;
		int keep = pg->n;
		while (keep > 0 && strcmp(pg->e[keep - 1].time, edge) == 0)
			keep--;
		if (keep > 0) {
			pg->n = keep;
		} else if (edge[0]) {
			pg->stuck = true;
			memcpy(pg->edge, edge, sizeof(pg->edge));
		}
	}
	return true;
}

void logrec_page_free(struct logrec_page *pg)
{
	free(pg->e);
	memset(pg, 0, sizeof(*pg));
}

static void add_str(struct buf *b, const char *v)
{
	if (v)
		enc_json_str(b, v);
	else
		buf_adds(b, "null");
}

/* v's first len bytes (all of v, or a cut of it). */
static void add_strn(struct buf *b, const char *v, size_t len)
{
	if (v && v[len]) {
		char *m = xstrndup(v, len);
		enc_json_str(b, m);
		free(m);
	} else {
		add_str(b, v);
	}
}

void logrec_page_json(struct buf *b, long long id, const struct logrec_page *pg, const char *after)
{
	const char *last = after;

	buf_printf(b, "{\"id\":%lld,\"logs\":[", id);
	for (int i = 0; i < pg->n; i++) {
		const struct logrec_entry *e = &pg->e[i];
		buf_adds(b, i ? ",{\"time\":" : "{\"time\":");
		add_str(b, e->time[0] ? e->time : NULL);
		buf_adds(b, ",\"level\":");
		add_strn(b, e->level, e->llen);
		buf_adds(b, ",\"message\":");
		add_strn(b, e->message, e->mlen);
		buf_adds(b, ",\"host\":");
		add_strn(b, e->host, e->hlen);
		buf_adds(b, e->cut ? ",\"cut\":true}" : "}");
		if (e->time[0])
			last = e->time;
	}
	buf_printf(b, "],\"more\":%s,\"last\":", pg->more ? "true" : "false");
	add_str(b, last);
	buf_adds(b, "}");
}
