#include "access.h"

#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

struct rule {
	bool group;    /* matches a gid, else a uid */
	unsigned id;
	char *glob;
	bool queue;
	char *folder;
	long long folder_id;
	int max;
};

static struct {
	struct rule *rules;
	size_t n;
} X;

static int resolve(const struct conf_allow *a, struct rule *r, struct buf *err, const char *path)
{
	const char *name = strchr(a->who, ':') + 1;
	char tmp[16384];

	r->group = strncmp(a->who, "group:", 6) == 0 || strncmp(a->who, "gid:", 4) == 0;
	if (strncmp(a->who, "uid:", 4) == 0 || strncmp(a->who, "gid:", 4) == 0) {
		r->id = (unsigned)strtoul(name, NULL, 10); /* conf checked 0..4294967294 */
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
	r->queue = a->queue;
	r->folder = a->folder ? xstrdup(a->folder) : NULL;
	r->folder_id = a->folder_id;
	r->max = a->max;
	return 0;
}

static void rule_free(struct rule *r)
{
	free(r->glob);
	free(r->folder);
}

/* In a user namespace the kernel reports every peer outside it as the
 * overflow uid (65534): rules could only ever match nobody, and a rule for
 * nobody would let everybody in. */
static int check_uid_map(const struct conf *conf, struct buf *err)
{
	const char *uid_map_path = "/proc/self/uid_map";
	char *map = file_read(uid_map_path, 4096);

	if (!map)
		return 0; /* no /proc: nothing maps uids either */
	char *words[4];
	int n = 0;
	char *save = NULL;
	for (char *w = strtok_r(map, " \t\n", &save); w && n < 4; w = strtok_r(NULL, " \t\n", &save))
		words[n++] = w;
	bool identity = n == 3 && strcmp(words[0], "0") == 0 && strcmp(words[1], "0") == 0 &&
			strcmp(words[2], "4294967295") == 0;
	free(map);
	if (identity)
		return 0;
	buf_printf(err, "%s:%d: allow: orchd runs in a user namespace (%s is not \"0 0 4294967295\"), "
		   "where the kernel reports every peer as uid 65534 (nobody): user, group, uid and "
		   "gid rules cannot work; remove PrivateUsers= from the unit\n",
		   conf->path, conf->allow[0].line, uid_map_path);
	return -1;
}

int access_init(const struct conf *conf, struct buf *err)
{
	if (conf->nallow && check_uid_map(conf, err) != 0)
		return -1;

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
			rule_free(&rules[i]);
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
		rule_free(&X.rules[i]);
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

pid_t access_peer_of(struct access_peer *p, int fd)
{
	struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
	socklen_t clen = sizeof(cred);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		log_warn("server: SO_PEERCRED: %s", strerror(errno));
		cred.uid = (uid_t)-1;
		cred.gid = (gid_t)-1;
		cred.pid = 0;
	}
	access_peer_init(p, cred.uid, cred.gid);
	return cred.pid;
}

void access_peer_copy(struct access_peer *dst, const struct access_peer *src)
{
	dst->uid = src->uid;
	dst->ngroups = src->ngroups;
	dst->groups = xmalloc((size_t)src->ngroups * sizeof(gid_t));
	memcpy(dst->groups, src->groups, (size_t)src->ngroups * sizeof(gid_t));
}

void access_peer_free(struct access_peer *p)
{
	free(p->groups);
	p->groups = NULL;
}

static bool folder_matches(const struct rule *r, const struct access_ask *a)
{
	if (r->folder_id)
		return a->folder_id == r->folder_id;
	if (r->folder)  /* a folder named by id matches no path rule: fail closed */
		return a->folder_id <= 0 && a->folder_path && fnmatch(r->folder, a->folder_path, 0) == 0;
	return true;
}

bool access_allowed(const struct access_peer *p, const struct access_ask *a)
{
	if (!access_enabled())
		return true;
	for (size_t i = 0; i < X.n; i++) {
		const struct rule *r = &X.rules[i];
		bool who = false;
		if (r->queue != a->queue)
			continue;
		if (!r->group)
			who = p->uid == r->id;
		for (int g = 0; r->group && g < p->ngroups && !who; g++)
			who = p->groups[g] == r->id;
		if (who && (!a->name || fnmatch(r->glob, a->name, 0) == 0) && folder_matches(r, a) &&
		    (!r->max || a->count <= r->max))
			return true;
	}
	return false;
}
