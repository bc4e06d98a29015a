/* Vetting's run (rain/vet.h): the facts, then one walk over the tree with
 * every group of rules, then the report. vet-internal.h has the plan. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rain/error.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"
#include "lib/vet/vet-internal.h"
#include "lib/vet/vet-parse.h"

/* Packages first: the others use what it says of the current entry. */
static const struct vet_group *const groups[] = {
	&vet_group_packages,
	&vet_group_files,
	&vet_group_accounts,
	&vet_group_services,
};
#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))

/* The target of the link at path (a resolved parent, a last component
 * as given), "" when it is not a link or not there; borrowed from the
 * cache. */
static int link_target(struct vet_ctx *c, const char *path, const char **out)
{
	struct vet_map_slot *s = vet_map_find(&c->links, path);
	struct rain_imgfs_entry e;
	char *t;
	int r;

	if (s) {
		*out = s->value;
		return 0;
	}
	r = rain_imgfs_stat(c->fs, path, false, &e);
	if (r == RAIN_ENOMEM || r == RAIN_EIO)
		return r;
	t = strdup(r == 0 && S_ISLNK(e.mode) && e.link ? e.link : "");
	if (!t)
		return rain_error_oom();
	r = vet_map_put(&c->links, path, t, NULL);
	if (r < 0) {
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

int vet_resolve(struct vet_ctx *c, const char *path, bool last, char **out)
{
	_cleanup_free_ char *rest = strdup(path), *done = malloc(RAIN_IMGFS_MAX_PATH + 2);
	char comp[RAIN_IMGFS_MAX_PATH + 1];
	size_t dlen = 0;
	int hops = 0, r;

	*out = NULL;
	if (!rest || !done)
		return rain_error_oom();
	done[0] = '\0';
	for (;;) {
		char *p = rest, *slash;
		const char *target = "";
		size_t clen;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		slash = strchr(p, '/');
		clen = slash ? (size_t)(slash - p) : strlen(p);
		if (clen >= sizeof(comp))
			return rain_error_set(RAIN_EFORMAT, "%s: a name is too long", path);
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		memmove(rest, p + clen, strlen(p + clen) + 1);
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			while (dlen && done[dlen - 1] != '/')
				dlen--;
			if (dlen)
				dlen--;
			done[dlen] = '\0';
			continue;
		}
		if (dlen + 1 + clen > RAIN_IMGFS_MAX_PATH)
			return rain_error_set(RAIN_EFORMAT, "%s: the path is too long", path);
		done[dlen] = '/';
		memcpy(done + dlen + 1, comp, clen + 1);
		if (!last && !rest[strspn(rest, "/")]) {
			dlen += 1 + clen;
			break;
		}
		r = link_target(c, done, &target);
		if (r < 0)
			return r;
		if (!*target) {
			dlen += 1 + clen;
			continue;
		}
		if (++hops > RAIN_IMGFS_MAX_LINKS)
			return rain_error_set(RAIN_EFORMAT, "%s: more than %d symbolic links (a loop?)",
					      path, RAIN_IMGFS_MAX_LINKS);
		{
			char *n;

			if (asprintf(&n, "%s/%s", target, rest) < 0)
				return rain_error_oom();
			free(rest);
			rest = n;
		}
		if (target[0] == '/')
			dlen = 0;
		done[dlen] = '\0';
	}
	if (!dlen)
		strcpy(done, "/");
	*out = TAKE_PTR(done);
	return 0;
}

/* ---- prefetch: a tar's files the facts read, in one first pass ----------
 * A compressed tar has no random access: each read of a file it could not
 * keep decompresses the archive again up to it (rain/imgfs.h's tar
 * reader), and the facts read hundreds of files (dpkg's .list and
 * .md5sums). So for a tar they are all kept in one first pass over it:
 * the files of the package database and of /etc. */

#define PREFETCH_FILE (64u << 20)
#define PREFETCH_ETC_FILE (1u << 20)
#define PREFETCH_TOTAL (512u << 20)

struct blob {
	size_t len;
	char data[];            /* NUL-terminated */
};

struct prefetch {
	struct vet_ctx *c;
	uint64_t total;
};

static uint64_t prefetch_max(const char *path)
{
	if (str_has_prefix(path, "/var/lib/dpkg/"))
		return PREFETCH_FILE;
	if (str_has_prefix(path, "/etc/"))
		return PREFETCH_ETC_FILE;
	return 0;
}

static int prefetch_entry(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct prefetch *p = ud;
	struct blob *b;
	size_t got = 0;
	int r;

	if (p->c->opts && p->c->opts->cancel && *p->c->opts->cancel)
		return rain_error_set(RAIN_ECANCELED, "vetting canceled");
	if (!f || !S_ISREG(e->mode) || e->size > prefetch_max(e->path) ||
	    p->total + e->size > PREFETCH_TOTAL)
		return 0;
	b = malloc(sizeof(*b) + e->size + 1);
	if (!b)
		return rain_error_oom();
	while (got < e->size) {
		ssize_t n = rain_imgfs_file_read(f, b->data + got, e->size - got);

		if (n <= 0) {
			free(b);
			return n < 0 ? (int)n : rain_error_set(RAIN_EFORMAT, "%s: shorter than its size", e->path);
		}
		got += (size_t)n;
	}
	b->len = got;
	b->data[got] = '\0';
	r = vet_map_put(&p->c->prefetched, e->path, b, NULL);
	if (r < 0) {
		free(b);
		return r;
	}
	p->total += got;
	return 0;
}

static int prefetch(struct vet_ctx *c)
{
	struct prefetch p = { .c = c };

	if (strcmp(rain_imgfs_info(c->fs)->format, "tar") != 0)
		return 0;
	return rain_imgfs_walk(c->fs, prefetch_entry, &p);
}

/* The kept copy of path (resolved inside the image), or NULL. */
static struct blob *prefetched(struct vet_ctx *c, const char *path)
{
	_cleanup_free_ char *real = NULL;

	if (!c->prefetched.n || vet_resolve(c, path, true, &real) < 0)
		return NULL;
	return vet_map_get(&c->prefetched, real);
}

int vet_read(struct vet_ctx *c, const char *path, size_t max, char **text, size_t *len)
{
	struct blob *b = prefetched(c, path);
	int r;

	if (b && b->len <= max) {
		*text = malloc(b->len + 1);
		if (!*text)
			return rain_error_oom();
		memcpy(*text, b->data, b->len + 1);
		*len = b->len;
		return 0;
	}
	r = rain_imgfs_read(c->fs, path, max, text, len);

	if (r == RAIN_ETOOBIG || r == RAIN_EINVAL || r == RAIN_EFORMAT) {
		*text = NULL;
		return vet_note(c, "%s: not read (%s)", path, rain_error_last()) < 0 ? RAIN_ENOMEM
										   : RAIN_ENOTFOUND;
	}
	return r;
}

int vet_strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int os_release_field(void *ud, const char *key, const char *value)
{
	struct vet_ctx *c = ud;
	char **dst = strcmp(key, "ID") == 0 ? &c->os_id : strcmp(key, "VERSION_ID") == 0 ? &c->os_version_id : NULL;

	if (!dst)
		return 0;
	free(*dst);
	*dst = strdup(value);
	return *dst ? 0 : rain_error_oom();
}

static int os_facts(struct vet_ctx *c)
{
	static const char *const paths[] = { "/etc/os-release", "/usr/lib/os-release" };
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = RAIN_ENOTFOUND;

	for (size_t i = 0; i < 2 && r == RAIN_ENOTFOUND; i++)
		r = vet_read(c, paths[i], 64 * 1024, &text, &len);
	if (r == RAIN_ENOTFOUND)
		return vet_note(c, "no os-release: the image's distribution is not known");
	if (r < 0)
		return r;
	return vet_os_release_parse(text, len, os_release_field, c, NULL);
}

static void ctx_free(struct vet_ctx *c)
{
	for (size_t g = 0; g < N_GROUPS; g++)
		if (groups[g]->free)
			groups[g]->free(c);
	json_decref(c->findings);
	json_decref(c->notes);
	json_decref(c->info);
	for (int i = 0; i < VET_RULE_COUNT; i++)
		json_decref(c->omitted[i]);
	rain_pkg_list_free(&c->pkgs);
	free(c->os_id);
	free(c->os_version_id);
	for (size_t i = 0; i < c->n_accounts; i++) {
		free(c->accounts[i].name);
		free(c->accounts[i].password);
		free(c->accounts[i].hash);
		free(c->accounts[i].home);
		free(c->accounts[i].shell);
	}
	free(c->accounts);
	vet_map_free(&c->owned, NULL);
	vet_map_free(&c->links, free);
	vet_map_free(&c->prefetched, free);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int report_make(struct vet_ctx *c, struct rain_imgfs *fs, const struct timespec *t0, json_t **out)
{
	const struct rain_imgfs_info *info = rain_imgfs_info(fs);
	const char *family = c->have_dpkg || (c->pkgs.n && c->pkgs.family == RAIN_PKG_DEB) ? "deb" :
			     c->pkgs.n ? "rpm" : NULL;
	_cleanup_json_ json_t *rep = NULL;

	for (int i = 0; i < VET_RULE_COUNT; i++) {
		json_t *o = c->omitted[i];

		if (!o)
			continue;
		if (json_object_set_new(o, "message",
					json_sprintf("%lld more findings of %s, not listed",
						     (long long)json_integer_value(json_object_get(o, "count")),
						     vet_rule_names[i])) < 0 ||
		    json_array_append(c->findings, o) < 0)
			return rain_error_oom();
	}
	rep = json_pack("{s:i, s:{s:s, s:s}, s:o, s:n, s:{s:I, s:s*}, s:{s:s*, s:s*}, s:O, s:O, s:I, s:f}",
			"version", 1,
			"image", "format", info->format, "detail", info->detail,
			"policy", rain_vet_policy_json(c->policy),
			"feed",
			"packages", "count", (json_int_t)c->pkgs.n,
			"family", family,
			"os", "id", c->os_id, "version_id", c->os_version_id,
			"notes", c->notes,
			"findings", c->findings,
			"entries", (json_int_t)c->entries,
			"seconds", seconds_since(t0));
	if (!rep)
		return rain_error_oom();
	if (!c->opts || !c->opts->feed) {
		if (json_array_append_new(json_object_get(rep, "notes"),
					  json_string("no vulnerability feed: vulnerable-package and "
						      "unfixed-vulnerability were not checked")) < 0)
			return rain_error_oom();
	}
	if (json_object_update(rep, c->info) < 0 || vet_report_count(rep) < 0)
		return rain_error_oom();
	*out = TAKE_PTR(rep);
	return 0;
}

int rain_vet_run(struct rain_imgfs *fs, const struct rain_vet_options *opts, json_t **report)
{
	struct vet_ctx c = { .fs = fs, .opts = opts };
	struct timespec t0;
	int r;

	rain_error_clear();
	*report = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c.policy = opts && opts->policy ? opts->policy : vet_policy_default();
	if (!c.policy)
		return rain_error_oom();
	c.findings = json_array();
	c.notes = json_array();
	c.info = json_object();
	if (!c.findings || !c.notes || !c.info) {
		r = rain_error_oom();
		goto done;
	}
	r = prefetch(&c);
	if (r >= 0)
		r = os_facts(&c);
	for (size_t g = 0; g < N_GROUPS && r >= 0; g++)
		if (groups[g]->facts)
			r = groups[g]->facts(&c);
	if (r >= 0)
		r = vet_walk(&c, groups, N_GROUPS);
	for (size_t g = 0; g < N_GROUPS && r >= 0; g++)
		if (groups[g]->finish)
			r = groups[g]->finish(&c);
	if (r >= 0)
		r = report_make(&c, fs, &t0, report);
done:
	ctx_free(&c);
	return r;
}
