/* libFuzzer target: the release cache's state file (statefile_parse), on any
 * file content. Every entry it hands over must have passed its checks. */
#include <stdint.h>
#include <string.h>

#include "proto.h"
#include "statefile.h"

static void entry(const struct statefile_entry *e, void *arg)
{
	(void)arg;
	if (!strchr("rqi", e->kind) || !e->kind || (e->folder_id > 0) == (e->folder_path != NULL) ||
	    !e->name[0] || !e->key[0] || !e->resolved[0] || e->age_s < 0 ||
	    e->age_s > STATEFILE_MAX_AGE_S || proto_has_ctl(e->name, strlen(e->name)) ||
	    proto_has_ctl(e->resolved, strlen(e->resolved)) ||
	    (e->folder_path && proto_has_ctl(e->folder_path, strlen(e->folder_path))))
		__builtin_trap();
}

static void skip(size_t index, const char *why, void *arg)
{
	(void)index;
	(void)arg;
	if (!why[0])
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[128];

	/* A fixed clock and cap: the time checks and the cap are exercised. */
	statefile_parse((const char *)data, size, 1.9e9, size % 2 ? 3 : 0, entry, skip, NULL, why,
			sizeof(why));
	return 0;
}
