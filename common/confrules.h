/*
 * confrules: the syntax of one [access] allow rule, "WHO GLOB
 * [folder=FOLDERGLOB|folder=#ID] [max=N]" (docs/protocol.md section 3),
 * read into a struct conf_allow (conf.h) and checked for form only: WHO is
 * user:NAME, group:NAME, uid:N or gid:N with N in 0..4294967294; a GLOB
 * starting with "queue:" is a queue rule (the prefix dropped, no max=);
 * folder= and max= come at most once each; a word holding a space is
 * written as a JSON string literal. Whether names exist, and whether a rule
 * lets a request through, is the daemon's (daemon/access.c). conf.c calls
 * this for each "allow" line and reports the message with the line.
 */
#ifndef ORCHD_CONFRULES_H
#define ORCHD_CONFRULES_H

#include <stddef.h>

#include "conf.h"

/* Parses value into a (zeroed by the caller, line set). Returns 0, or -1
 * with a message in why; either way a is released with confrules_free(). */
int confrules_parse(const char *value, struct conf_allow *a, char *why, size_t whylen);
/* Frees the strings a holds. */
void confrules_free(struct conf_allow *a);

#endif
