#include "access.h"

#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct rule {
	bool group;    /* matches a gid, else a uid */
	unsigned id;
	char *glob;
};

static struct {
	struct rule *rules;
	size_t n;
} X;

static int resolve(const struct conf_allow *a, struct rule *r, struct buf *err, const char *path)
{
	const char *name = strchr(a->who, ':') + 1;
	char *end, tmp[16384];

	r->group = strncmp(a->who, "group:", 6) == 0 || strncmp(a->who, "gid:", 4) == 0;
	if (strncmp(a->who, "uid:", 4) == 0 || strncmp(a->who, "gid:", 4) == 0) {
		unsigned long n = strtoul(name, &end, 10);
		if (*end || end == name) {
			buf_printf(err, "%s:%d: allow: \"%s\" is not a number\n", path, a->line, name);
			return -1;
		}
		r->id = (unsigned)n;
	} else if (r->group) {
		struct group g, *gp = NULL;
		if (getgrnam_r(name, &g, tmp, sizeof(tmp), &gp) != 0 || !gp) {
			buf_printf(err, "%s:%d: allow: no group named \"%s\"\n", path, a->line, name);
			return -1;
		}
		r->id = gp->gr_gid;
	} else {
		struct passwd pw, *pp = NULL;
		if (getpwnam_r(name, &pw, tmp, sizeof(tmp), &pp) != 0 || !pp) {
			buf_printf(err, "%s:%d: allow: no user named \"%s\"\n", path, a->line, name);
			return -1;
		}
		r->id = pp->pw_uid;
	}
	r->glob = xstrdup(a->glob);
	return 0;
}

int access_init(const struct conf *conf, struct buf *err)
{
	struct rule *rules = xcalloc(conf->nallow, sizeof(*rules));
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < conf->nallow; i++)
		if (resolve(&conf->allow[i], &rules[n], err, conf->path) == 0)
			n++;
		else
			rc = -1;
	if (rc != 0) {
		/* Keep the rules in force: a reload with a bad rule changes nothing. */
		for (size_t i = 0; i < n; i++)
			free(rules[i].glob);
		free(rules);
		return rc;
	}
	access_close();
	X.rules = rules;
	X.n = n;
	return 0;
}

void access_close(void)
{
	for (size_t i = 0; i < X.n; i++)
		free(X.rules[i].glob);
	free(X.rules);
	X.rules = NULL;
	X.n = 0;
}

bool access_enabled(void)
{
	return X.rules != NULL && X.n > 0;
}

void access_peer_init(struct access_peer *p, uid_t uid, gid_t gid)
{
	char tmp[16384];
	struct passwd pw, *pp = NULL;
	int n = 64;

	p->uid = uid;
	p->groups = xcalloc((size_t)n, sizeof(gid_t));
	p->groups[0] = gid;
	p->ngroups = 1;
	if (!access_enabled() || getpwuid_r(uid, &pw, tmp, sizeof(tmp), &pp) != 0 || !pp)
		return;
	if (getgrouplist(pp->pw_name, gid, p->groups, &n) < 0) {
		p->groups = xrealloc(p->groups, (size_t)n * sizeof(gid_t));
		if (getgrouplist(pp->pw_name, gid, p->groups, &n) < 0)
			n = 1;
	}
	p->ngroups = n;
}

void access_peer_free(struct access_peer *p)
{
	free(p->groups);
	p->groups = NULL;
}

bool access_allowed(const struct access_peer *p, const char *process)
{
	if (!access_enabled())
		return true;
	for (size_t i = 0; i < X.n; i++) {
		const struct rule *r = &X.rules[i];
		bool who = false;
		if (!r->group)
			who = p->uid == r->id;
		for (int g = 0; r->group && g < p->ngroups && !who; g++)
			who = p->groups[g] == r->id;
		if (who && fnmatch(r->glob, process, 0) == 0)
			return true;
	}
	return false;
}
