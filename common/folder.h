/*
 * folder: an Orchestrator folder as a request names it, a path ("Shared/
 * Finance") or an id (42), and the one rule for a request that names none:
 * the config's default folder, resolved once per request (a reload in the
 * middle of a request must not send it to two folders).
 */
#ifndef ORCHD_FOLDER_H
#define ORCHD_FOLDER_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* A path, or an id > 0 (then path is NULL). The path is not owned. */
struct folder {
	const char *path;
	int64_t id;
};

/* For messages: the path, or the id in decimal (in buf). */
#define FOLDER_NAME_MAX 24
const char *folder_name(const struct folder *f, char buf[FOLDER_NAME_MAX]);

/*
 * The folder a request names (path, or id > 0), or the default dflt when it
 * names none. The path is copied into *owned (the caller frees it) so that
 * f outlives a reload. Returns false when there is none (no default).
 */
bool folder_pick(struct folder *f, char **owned, const char *path, int64_t id, const char *dflt);

/* The same folder as named the same way (both ids, or both paths). */
bool folder_same(const struct folder *a, const struct folder *b);

/* Appends f to b as the answers give it: a JSON number (id) or string (path). */
void folder_json(struct buf *b, const struct folder *f);

#endif
