/* libFuzzer target: one [access] allow rule's text (common/confrules.c).
 * A rule that parses must be one the daemon can apply as written: a WHO of
 * a known kind, a non-empty GLOB, and options within their ranges. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "confrules.h"
#include "proto.h"

/* Traps unless a is a rule as confrules.h describes it. */
static void check_rule(const struct conf_allow *a)
{
	if (!a->who || !a->glob || !a->glob[0] || a->line != 7)
		__builtin_trap();
	const char *colon = strchr(a->who, ':');
	size_t kind = colon ? (size_t)(colon - a->who) : 0;
	if (!colon || !colon[1] ||
	    !((kind == 4 && !strncmp(a->who, "user", 4)) || (kind == 5 && !strncmp(a->who, "group", 5)) ||
	      (kind == 3 && (!strncmp(a->who, "uid", 3) || !strncmp(a->who, "gid", 3)))))
		__builtin_trap();
	if (kind == 3) {
		const char *n = colon + 1;
		if (strspn(n, "0123456789") != strlen(n) || strtoull(n, NULL, 10) > 4294967294ULL)
			__builtin_trap();
	}
	if (a->folder && (!a->folder[0] || a->folder_id))
		__builtin_trap(); /* a glob or an id, not both */
	if (a->folder_id < 0 || a->folder_id > 9007199254740991LL)
		__builtin_trap();
	if (a->max < 0 || a->max > PROTO_COUNT_MAX || (a->queue && a->max))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = xstrndup((const char *)data, size); /* as conf.c hands it: a C string */
	struct conf_allow a = {.line = 7};
	char why[256];

	why[0] = 0;
	if (confrules_parse(value, &a, why, sizeof(why)) == 0)
		check_rule(&a);
	else if (!why[0])
		__builtin_trap(); /* a refusal says why */
	confrules_free(&a);
	free(value);
	return 0;
}
