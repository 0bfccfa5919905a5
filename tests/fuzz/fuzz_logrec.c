/* libFuzzer target: a LOGS page made from a RobotLogs answer (logrec), the
 * answer being Orchestrator's (or a proxy's) bytes. The first byte picks the
 * limit. Checked: the page holds at most limit entries and reads no more than
 * $top; a cut message is at most LOGREC_MESSAGE_MAX bytes and valid UTF-8
 * when the message was; a stuck page's edge is an RFC 3339 date-time (it goes
 * into an OData filter); the answer written is JSON that cJSON reads back. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logrec.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int limit = 1 + data[0] % 8, top = limit + 1;
	cJSON *a = cJSON_ParseWithLength((const char *)data + 1, size - 1);
	struct logrec_page pg;

	if (!logrec_page(a, limit, top, &pg)) {
		cJSON_Delete(a);
		return 0;
	}
	if (pg.n < 0 || pg.n > limit)
		__builtin_trap();
	for (int i = 0; i < pg.n; i++) {
		const struct logrec_entry *e = &pg.e[i];
		if (e->message) {
			if (e->mlen > LOGREC_MESSAGE_MAX || e->mlen > strlen(e->message))
				__builtin_trap();
			if (text_utf8_valid(e->message, strlen(e->message)) &&
			    !text_utf8_valid(e->message, e->mlen))
				__builtin_trap();
		}
		if ((e->host && e->hlen > LOGREC_HOST_MAX) || (e->level && e->llen > LOGREC_LEVEL_MAX))
			__builtin_trap();
	}
	if (pg.stuck) {
		char again[TEXT_DATETIME_MAX];
		if (text_rfc3339(pg.edge, again) != TEXT_DATE_OK || strspn(pg.edge, "0123456789-T:.+Z") != strlen(pg.edge))
			__builtin_trap();
	}
	struct buf b = {0};
	logrec_page_json(&b, 7, &pg, NULL);
	cJSON *back = cJSON_ParseWithLength(b.p, b.len);
	if (!back)
		__builtin_trap();
	cJSON_Delete(back);
	buf_free(&b);
	logrec_page_free(&pg);
	cJSON_Delete(a);
	return 0;
}
