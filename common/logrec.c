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
	int got = cJSON_GetArraySize(value), i = 0;

	memset(pg, 0, sizeof(*pg));
	if (!cJSON_IsArray(value))
		return false;
	pg->e = xcalloc((size_t)(got > 0 ? got : 1), sizeof(*pg->e));
	cJSON_ArrayForEach(it, value) {
		struct logrec_entry *e = &pg->e[i++];
		logrec_time(str(it, "TimeStamp"), e->time);
		e->level = level_of(it);
		e->host = str(it, "HostMachineName");
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
		 * next page (see the header), unless they are all of it. */
		const char *edge = pg->e[got > limit ? limit : limit - 1].time;
		int keep = pg->n;
		while (keep > 0 && strcmp(pg->e[keep - 1].time, edge) == 0)
			keep--;
		if (keep > 0)
			pg->n = keep;
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

void logrec_page_json(struct buf *b, long long id, const struct logrec_page *pg, const char *after)
{
	const char *last = after;

	buf_printf(b, "{\"id\":%lld,\"logs\":[", id);
	for (int i = 0; i < pg->n; i++) {
		const struct logrec_entry *e = &pg->e[i];
		buf_adds(b, i ? ",{\"time\":" : "{\"time\":");
		add_str(b, e->time[0] ? e->time : NULL);
		buf_adds(b, ",\"level\":");
		add_str(b, e->level);
		buf_adds(b, ",\"message\":");
		if (e->cut) {
			char *m = xstrndup(e->message, e->mlen);
			enc_json_str(b, m);
			free(m);
		} else {
			add_str(b, e->message);
		}
		buf_adds(b, ",\"host\":");
		add_str(b, e->host);
		buf_adds(b, e->cut ? ",\"cut\":true}" : "}");
		if (e->time[0])
			last = e->time;
	}
	buf_printf(b, "],\"more\":%s,\"last\":", pg->more ? "true" : "false");
	add_str(b, last);
	buf_adds(b, "}");
}
