/* OSV records (https://ossf.github.io/osv-schema/) into a feed: one JSON
 * file, a folder of them, or osv.dev's zip of an ecosystem. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/vet/feed-internal.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* The package family of an ecosystem ("Debian:12", "AlmaLinux:9"), or -1. */
static int ecosystem_family(const char *eco)
{
	static const char *const deb[] = { "Debian", "Ubuntu", NULL };
	static const char *const rpm[] = {
		"AlmaLinux", "Rocky Linux", "Red Hat", "openSUSE", "SUSE", "Mageia", "openEuler", NULL,
	};
	size_t n = strcspn(eco, ":");

	for (size_t i = 0; deb[i]; i++)
		if (strlen(deb[i]) == n && !strncmp(eco, deb[i], n))
			return RAIN_PKG_DEB;
	for (size_t i = 0; rpm[i]; i++)
		if (strlen(rpm[i]) == n && !strncmp(eco, rpm[i], n))
			return RAIN_PKG_RPM;
	return -1;
}

static const char *str_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An urgency word from obj.key when there is one. */
static void urgency_from(json_t *obj, const char *key, enum rain_vet_urgency *u)
{
	const char *s = str_of(obj, key);

	if (s && rain_vet_urgency_parse(s, u) < 0)
		*u = RAIN_VET_URGENCY_UNKNOWN;
}

/* Append the strings of arr (ids) not yet in *list, space-separated. */
static int ids_add(char **list, json_t *arr, const char *self)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr))
		return 0;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		size_t n, old = *list ? strlen(*list) : 0;
		char *p;

		if (!s || !*s || strchr(s, ' ') || !strcmp(s, self))
			continue;
		n = strlen(s);
		if (*list) {
			const char *hit = *list;

			/* a whole word already there */
			while ((hit = strstr(hit, s)) &&
			       !((hit == *list || hit[-1] == ' ') && (hit[n] == ' ' || hit[n] == '\0')))
				hit++;
			if (hit)
				continue;
		}
		if (old + n + 2 > 4096)
			break;
		p = realloc(*list, old + n + 2);
		if (!p)
			return rain_error_oom();
		if (old)
			p[old++] = ' ';
		memcpy(p + old, s, n + 1);
		*list = p;
	}
	return 0;
}

struct osv_ctx {
	struct rain_vet_feed *f;
	char eco[64];
	const char *where;
	int64_t newest;         /* the newest "modified" seen, seconds */
	size_t records;
};

static int osv_record(struct osv_ctx *c, json_t *rec)
{
	_cleanup_free_ char *aliases = NULL;
	_cleanup_free_ char *desc = NULL;
	enum rain_vet_urgency urgency = RAIN_VET_URGENCY_UNKNOWN;
	const char *id, *summary, *modified;
	json_t *affected, *aff, *sev;
	size_t i;
	int r;

	if (!json_is_object(rec))
		return rain_error_set(RAIN_EFORMAT, "%s: an OSV record is not a JSON object", c->where);
	id = str_of(rec, "id");
	if (!id || !*id)
		return rain_error_set(RAIN_EFORMAT, "%s: an OSV record has no id", c->where);
	c->records++;
	if (json_object_get(rec, "withdrawn"))
		return 0;
	modified = str_of(rec, "modified");
	if (modified) {
		int64_t us;

		if (time_parse_iso(modified, &us) == 0 && us / 1000000 > c->newest)
			c->newest = us / 1000000;
	}
	affected = json_object_get(rec, "affected");
	if (!affected)
		return 0;
	if (!json_is_array(affected))
		return rain_error_set(RAIN_EFORMAT, "%s: %s: affected is not an array", c->where, id);
	r = ids_add(&aliases, json_object_get(rec, "aliases"), id);
	if (r == 0)
		r = ids_add(&aliases, json_object_get(rec, "upstream"), id);
	if (r == 0)
		r = ids_add(&aliases, json_object_get(rec, "related"), id);
	if (r < 0)
		return r;
	summary = str_of(rec, "summary");
	if (!summary || !*summary)
		summary = str_of(rec, "details");
	if (summary) {
		desc = strndup(summary, 500);
		if (!desc)
			return rain_error_oom();
	}
	/* severity words ("Ubuntu": "medium"; GHSA's MODERATE); CVSS
	 * vectors are not graded here */
	sev = json_object_get(rec, "severity");
	if (json_is_array(sev)) {
		json_t *s;

		json_array_foreach(sev, i, s) {
			const char *score = str_of(s, "score");

			if (score && !str_has_prefix(score, "CVSS:"))
				urgency_from(s, "score", &urgency);
		}
	}
	urgency_from(json_object_get(rec, "database_specific"), "severity", &urgency);
	urgency_from(json_object_get(rec, "database_specific"), "urgency", &urgency);
	urgency_from(json_object_get(rec, "ecosystem_specific"), "urgency", &urgency);

	json_array_foreach(affected, i, aff) {
		json_t *pkg = json_object_get(aff, "package"), *ranges, *range;
		const char *eco = str_of(pkg, "ecosystem"), *name = str_of(pkg, "name");
		enum rain_vet_urgency u = urgency;
		size_t j;

		if (!json_is_object(aff) || !eco || !name)
			return rain_error_set(RAIN_EFORMAT,
					      "%s: %s: affected[%zu] has no package ecosystem and name",
					      c->where, id, i);
		/* "Debian" without a version applies to every release */
		if (strcmp(eco, c->eco) && !(!strchr(eco, ':') && str_has_prefix(c->eco, eco) &&
					     c->eco[strlen(eco)] == ':'))
			continue;
		urgency_from(json_object_get(aff, "database_specific"), "urgency", &u);
		urgency_from(json_object_get(aff, "ecosystem_specific"), "urgency", &u);
		urgency_from(json_object_get(aff, "ecosystem_specific"), "severity", &u);
		ranges = json_object_get(aff, "ranges");
		if (!json_is_array(ranges))
			continue;
		json_array_foreach(ranges, j, range) {
			const char *type = str_of(range, "type");
			json_t *events = json_object_get(range, "events"), *ev;
			const char *start = NULL;
			bool open = false;
			size_t k;

			if (!type || strcmp(type, "ECOSYSTEM"))
				continue;
			if (!json_is_array(events))
				return rain_error_set(RAIN_EFORMAT,
						      "%s: %s: an ECOSYSTEM range without events",
						      c->where, id);
			/* introduced/fixed pairs, in order; a range left open
			 * at the end is not fixed yet */
			json_array_foreach(events, k, ev) {
				const char *intro = str_of(ev, "introduced"), *fix = str_of(ev, "fixed");
				struct rain_vet_advisory a = {
					.package = name, .id = id, .aliases = aliases,
					.urgency = u, .description = desc,
				};

				if (intro) {
					start = strcmp(intro, "0") ? intro : NULL;
					open = true;
				} else if (fix && open) {
					a.introduced = start;
					a.fixed = fix;
					r = rain_vet_feed_add(c->f, &a);
					if (r < 0)
						return rain_error_set(RAIN_EFORMAT, "%s: %s", c->where,
								      rain_error_last());
					open = false;
				}
			}
			if (open) {
				struct rain_vet_advisory a = {
					.package = name, .id = id, .aliases = aliases, .introduced = start,
					.urgency = u, .description = desc,
				};

				r = rain_vet_feed_add(c->f, &a);
				if (r < 0)
					return rain_error_set(RAIN_EFORMAT, "%s: %s", c->where,
							      rain_error_last());
			}
		}
	}
	return 0;
}

static int osv_mem(struct osv_ctx *c, const char *data, size_t len)
{
	_cleanup_json_ json_t *j = NULL;
	json_error_t err;
	size_t i;
	json_t *rec;
	int r;

	j = json_loadb(data, len, 0, &err);
	if (!j)
		return rain_error_set(RAIN_EFORMAT, "%s:%d:%d: not JSON: %s", c->where, err.line,
				      err.column, err.text);
	if (!json_is_array(j))
		return osv_record(c, j);
	json_array_foreach(j, i, rec) {
		r = osv_record(c, rec);
		if (r < 0)
			return r;
	}
	return 0;
}

static int osv_ctx_init(struct osv_ctx *c, struct rain_vet_feed *f, const char *where)
{
	const char *eco;

	memset(c, 0, sizeof(*c));
	c->f = f;
	c->where = where ? where : "OSV";
	eco = feed_release_ecosystem(rain_vet_feed_release(f), c->eco, sizeof(c->eco));
	if (eco != c->eco)
		snprintf(c->eco, sizeof(c->eco), "%s", eco);
	return 0;
}

int rain_vet_feed_add_osv_mem(struct rain_vet_feed *f, const char *data, size_t len,
			      const char *where)
{
	struct osv_ctx c;

	rain_error_clear();
	osv_ctx_init(&c, f, where);
	return osv_mem(&c, data, len);
}

/* Every *.json of a zip (osv.dev's all.zip), streamed. */
static int osv_zip(struct osv_ctx *c, int fd)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	_cleanup_free_ char *buf = NULL;
	int r = 0, ar;

	if (!a)
		return rain_error_oom();
	archive_read_support_format_zip(a);
	archive_read_support_filter_none(a);
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		r = rain_error_set(RAIN_EFORMAT, "%s: not a zip: %s", c->where, archive_error_string(a));
		goto done;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		_cleanup_free_ char *where = NULL;
		int64_t size = archive_entry_size(e);
		la_ssize_t n;
		size_t len = 0;
		char *p;

		if (archive_entry_filetype(e) != AE_IFREG || !name || !str_has_suffix(name, ".json"))
			continue;
		if (archive_entry_size_is_set(e) && size > (int64_t)RAIN_VET_FEED_MAX_RECORD) {
			r = rain_error_set(RAIN_ETOOBIG, "%s: member %.200s is %lld bytes: refused",
					   c->where, name, (long long)size);
			goto done;
		}
		p = realloc(buf, RAIN_VET_FEED_MAX_RECORD + 1);
		if (!p) {
			r = rain_error_oom();
			goto done;
		}
		buf = p;
		while ((n = archive_read_data(a, buf + len, RAIN_VET_FEED_MAX_RECORD + 1 - len)) > 0) {
			len += (size_t)n;
			if (len > RAIN_VET_FEED_MAX_RECORD) {
				r = rain_error_set(RAIN_ETOOBIG, "%s: member %.200s is over %u MB: refused",
						   c->where, name, RAIN_VET_FEED_MAX_RECORD >> 20);
				goto done;
			}
		}
		if (n < 0) {
			r = rain_error_set(RAIN_EFORMAT, "%s: member %.200s: %s", c->where, name,
					   archive_error_string(a));
			goto done;
		}
		if (asprintf(&where, "%s:%s", c->where, name) < 0) {
			r = rain_error_oom();
			goto done;
		}
		{
			const char *outer = c->where;

			c->where = where;
			r = osv_mem(c, buf, len);
			c->where = outer;
		}
		if (r < 0)
			goto done;
	}
	if (ar != ARCHIVE_EOF)
		r = rain_error_set(RAIN_EFORMAT, "%s: %s", c->where, archive_error_string(a));
done:
	archive_read_free(a);
	return r;
}

/* Every regular *.json of a folder (links not followed). */
static int osv_dir(struct osv_ctx *c, int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d)
		return rain_error_errno(RAIN_EIO, errno, "cannot list %s", c->where);
	while ((de = readdir(d))) {
		_cleanup_free_ char *buf = NULL, *where = NULL;
		_cleanup_close_ int fd = -1;
		size_t len;

		if (!str_has_suffix(de->d_name, ".json") || de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0) {
			if (errno == ELOOP)
				continue;
			r = rain_error_errno(RAIN_EIO, errno, "cannot open %s/%s", c->where, de->d_name);
			break;
		}
		if (asprintf(&where, "%s/%s", c->where, de->d_name) < 0) {
			r = rain_error_oom();
			break;
		}
		r = fs_read_small_fd(fd, RAIN_VET_FEED_MAX_RECORD, where, &buf, &len);
		if (r < 0)
			break;
		{
			const char *outer = c->where;

			c->where = where;
			r = osv_mem(c, buf, len);
			c->where = outer;
		}
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

int rain_vet_feed_import_osv(struct rain_vet_feed **out, const char *path_or_url,
			     const char *release)
{
	_cleanup_close_ int fd = -1;
	struct rain_vet_feed *f = NULL;
	struct osv_ctx c;
	char ecobuf[64], magic[4];
	const char *eco;
	int64_t mtime;
	bool is_dir;
	int family, r;

	rain_error_clear();
	*out = NULL;
	if (!release)
		return rain_error_set(RAIN_EINVAL, "OSV: which release (bookworm, Debian:12)?");
	eco = feed_release_ecosystem(release, ecobuf, sizeof(ecobuf));
	family = ecosystem_family(eco);
	if (family < 0)
		return rain_error_set(RAIN_EINVAL,
				      "OSV: ecosystem '%.64s': its versions are not compared here "
				      "(Debian, Ubuntu and the rpm distributions are)", eco);
	r = rain_vet_feed_new(&f, RAIN_VET_FEED_OSV, (enum rain_pkg_family)family, release,
			      path_or_url, 0);
	if (r < 0)
		return r;
	osv_ctx_init(&c, f, path_or_url);
	r = feed_open_input(path_or_url, RAIN_VET_FEED_MAX_INPUT, true, &fd, &is_dir, &mtime);
	if (r < 0)
		goto done;
	if (is_dir) {
		r = osv_dir(&c, TAKE_FD(fd));
	} else if (pread(fd, magic, 4, 0) == 4 && !memcmp(magic, "PK\3\4", 4)) {
		r = osv_zip(&c, fd);
	} else {
		_cleanup_free_ char *buf = NULL;
		size_t len;

		r = fs_read_small_fd(fd, RAIN_VET_FEED_MAX_INPUT, path_or_url, &buf, &len);
		if (r == 0)
			r = osv_mem(&c, buf, len);
	}
	if (r == 0 && !c.records)
		r = rain_error_set(RAIN_EFORMAT, "%s: has no OSV record", path_or_url);
	rain_vet_feed_set_date(f, c.newest ? c.newest : mtime);
done:
	if (r < 0) {
		rain_vet_feed_free(f);
		return r;
	}
	*out = f;
	return 0;
}
