#include "folder.h"

#include <stdio.h>
#include <string.h>

#include "enc.h"

const char *folder_name(const struct folder *f, char buf[FOLDER_NAME_MAX])
{
	if (f->id <= 0)
		return f->path ? f->path : "(none)";
	snprintf(buf, FOLDER_NAME_MAX, "%lld", (long long)f->id);
	return buf;
}

bool folder_pick(struct folder *f, char **owned, const char *path, int64_t id, const char *dflt)
{
	*owned = NULL;
	f->id = id > 0 ? id : 0;
	f->path = NULL;
	if (f->id > 0)
		return true;
	if (!path)
		path = dflt;
	if (!path)
		return false;
	*owned = xstrdup(path);
	f->path = *owned;
	return true;
}

bool folder_same(const struct folder *a, const struct folder *b)
{
	if (a->id > 0 || b->id > 0)
		return a->id == b->id;
	return a->path && b->path && strcmp(a->path, b->path) == 0;
}

void folder_json(struct buf *b, const struct folder *f)
{
	if (f->id > 0)
		buf_printf(b, "%lld", (long long)f->id);
	else
		enc_json_str(b, f->path);
}
