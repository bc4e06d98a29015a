/* The Debian Security Tracker's JSON
 * (https://security-tracker.debian.org/tracker/data/json) into a feed.
 *
 * The whole file is one object of about 80 MB, {srcpkg: {id: {...}}}:
 * rather than a tree of all of it, its top level is split here as the
 * bytes come, and each package's object (a few KB) is handed to jansson
 * alone, so memory stays bounded by the largest package. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/vet/feed-internal.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"

enum split_state {
	S_START, S_KEY_OR_END, S_KEY_REQ, S_KEY, S_COLON, S_VALUE_START, S_VALUE, S_AFTER, S_DONE,
};

struct splitter {
	enum split_state st;
	const char *where;
	struct rain_vet_feed *f;
	const char *release;
	size_t line;
	char *key;              /* the raw key, quotes included */
	size_t nkey, capkey;
	char *val;              /* the raw value */
	size_t nval, capval;
	bool in_str, esc;
	int depth;
	size_t packages;
};

static int buf_add(char **b, size_t *n, size_t *cap, char c, size_t max)
{
	if (*n + 2 > *cap) {
		size_t nc = *cap ? *cap * 2 : 4096;
		char *p;

		if (*n + 2 > max)
			return RAIN_ETOOBIG;
		if (nc > max)
			nc = max;
		p = realloc(*b, nc);
		if (!p)
			return rain_error_oom();
		*b = p;
		*cap = nc;
	}
	(*b)[(*n)++] = c;
	return 0;
}

static const char *json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* One CVE of one package: its entry for s->release, if any. */
static int tracker_add_id(struct splitter *s, const char *pkg, const char *id, json_t *cve)
{
	struct rain_vet_advisory a = { .package = pkg, .id = id };
	json_t *rels, *rel;
	const char *status, *fixed, *urg, *scope, *nodsa;
	int r;

	if (!json_is_object(cve))
		return rain_error_set(RAIN_EFORMAT, "%s: package %s, %s: not an object", s->where, pkg,
				      id);
	rels = json_object_get(cve, "releases");
	if (!rels)
		return 0;
	if (!json_is_object(rels))
		return rain_error_set(RAIN_EFORMAT, "%s: package %s, %s: releases is not an object",
				      s->where, pkg, id);
	rel = json_object_get(rels, s->release);
	if (!rel)
		return 0;
	if (!json_is_object(rel))
		return rain_error_set(RAIN_EFORMAT, "%s: package %s, %s: releases.%s is not an object",
				      s->where, pkg, id, s->release);
	status = json_str(rel, "status");
	fixed = json_str(rel, "fixed_version");
	urg = json_str(rel, "urgency");
	scope = json_str(cve, "scope");
	nodsa = json_str(rel, "nodsa");
	if (!status)
		return rain_error_set(RAIN_EFORMAT, "%s: package %s, %s: releases.%s has no status",
				      s->where, pkg, id, s->release);
	if (!strcmp(status, "resolved")) {
		if (!fixed)
			return rain_error_set(RAIN_EFORMAT,
					      "%s: package %s, %s: resolved in %s without a fixed_version",
					      s->where, pkg, id, s->release);
		/* "0": the release never had the vulnerable code */
		if (!strcmp(fixed, "0"))
			return 0;
		a.fixed = fixed;
	} else if (strcmp(status, "open") && strcmp(status, "undetermined")) {
		return rain_error_set(RAIN_EFORMAT,
				      "%s: package %s, %s: status '%.40s' is not resolved, open or undetermined",
				      s->where, pkg, id, status);
	}
	/* a grade the tracker adds later is unknown here, not an error */
	if (urg && rain_vet_urgency_parse(urg, &a.urgency) < 0)
		a.urgency = RAIN_VET_URGENCY_UNKNOWN;
	if (scope && !strcmp(scope, "remote"))
		a.scope = RAIN_VET_SCOPE_REMOTE;
	else if (scope && !strcmp(scope, "local"))
		a.scope = RAIN_VET_SCOPE_LOCAL;
	if (nodsa && *nodsa)
		a.flags |= RAIN_VET_ADV_NODSA;
	a.description = json_str(cve, "description");
	r = rain_vet_feed_add(s->f, &a);
	if (r < 0)
		return rain_error_set(RAIN_EFORMAT, "%s: %s", s->where, rain_error_last());
	return 0;
}

/* A whole key and value of the top level: one source package. */
static int tracker_package(struct splitter *s)
{
	_cleanup_json_ json_t *k = NULL, *v = NULL;
	json_error_t err;
	const char *pkg, *id;
	json_t *cve;
	int r;

	k = json_loadb(s->key, s->nkey, JSON_DECODE_ANY, &err);
	if (!json_is_string(k))
		return rain_error_set(RAIN_EFORMAT, "%s:%zu: a package name is not a JSON string",
				      s->where, s->line);
	pkg = json_string_value(k);
	v = json_loadb(s->val, s->nval, 0, &err);
	if (!v)
		return rain_error_set(RAIN_EFORMAT, "%s: package %.80s: %s (line %d of its object)",
				      s->where, pkg, err.text, err.line);
	if (!json_is_object(v))
		return rain_error_set(RAIN_EFORMAT, "%s: package %.80s: not an object", s->where, pkg);
	s->packages++;
	json_object_foreach(v, id, cve) {
		r = tracker_add_id(s, pkg, id, cve);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int split_error(struct splitter *s, char c, const char *want)
{
	return rain_error_set(RAIN_EFORMAT,
			      "%s:%zu: '%c' where %s was expected: not the Security Tracker's JSON",
			      s->where, s->line, (unsigned char)c >= ' ' && c != 0x7f ? c : '?', want);
}

static int split_feed(struct splitter *s, const char *data, size_t len)
{
	int r;

	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (c == '\n')
			s->line++;
		switch (s->st) {
		case S_START:
			if (is_ws(c))
				break;
			if (c != '{')
				return split_error(s, c, "the object that holds the packages");
			s->st = S_KEY_OR_END;
			break;
		case S_KEY_OR_END:
		case S_KEY_REQ:
			if (is_ws(c))
				break;
			if (c == '}' && s->st == S_KEY_OR_END) {
				s->st = S_DONE;
				break;
			}
			if (c != '"')
				return split_error(s, c, "a package name");
			s->nkey = 0;
			s->in_str = true;
			s->esc = false;
			s->st = S_KEY;
			/* fall through */
		case S_KEY:
			r = buf_add(&s->key, &s->nkey, &s->capkey, c, 4096);
			if (r < 0)
				return r == RAIN_ETOOBIG ?
					rain_error_set(RAIN_EFORMAT, "%s:%zu: a package name over 4 KB",
						       s->where, s->line) : r;
			if (s->nkey == 1)
				break;
			if (s->esc)
				s->esc = false;
			else if (c == '\\')
				s->esc = true;
			else if (c == '"')
				s->st = S_COLON;
			else if ((unsigned char)c < ' ')
				return split_error(s, c, "a character of a string");
			break;
		case S_COLON:
			if (is_ws(c))
				break;
			if (c != ':')
				return split_error(s, c, "':'");
			s->st = S_VALUE_START;
			break;
		case S_VALUE_START:
			if (is_ws(c))
				break;
			if (c != '{')
				return split_error(s, c, "a package's object");
			s->nval = 0;
			s->depth = 0;
			s->in_str = false;
			s->esc = false;
			s->st = S_VALUE;
			/* fall through */
		case S_VALUE:
			r = buf_add(&s->val, &s->nval, &s->capval, c, RAIN_VET_FEED_MAX_RECORD);
			if (r < 0)
				return r == RAIN_ETOOBIG ?
					rain_error_set(RAIN_ETOOBIG, "%s:%zu: a package's object over %u MB: refused",
						       s->where, s->line, RAIN_VET_FEED_MAX_RECORD >> 20) : r;
			if (s->in_str) {
				if (s->esc)
					s->esc = false;
				else if (c == '\\')
					s->esc = true;
				else if (c == '"')
					s->in_str = false;
				break;
			}
			if (c == '"') {
				s->in_str = true;
			} else if (c == '{' || c == '[') {
				if (++s->depth > 64)
					return rain_error_set(RAIN_EFORMAT, "%s:%zu: nested over 64 deep",
							      s->where, s->line);
			} else if (c == '}' || c == ']') {
				if (--s->depth == 0) {
					r = tracker_package(s);
					if (r < 0)
						return r;
					s->st = S_AFTER;
				}
			}
			break;
		case S_AFTER:
			if (is_ws(c))
				break;
			if (c == ',')
				s->st = S_KEY_REQ;
			else if (c == '}')
				s->st = S_DONE;
			else
				return split_error(s, c, "',' or '}'");
			break;
		case S_DONE:
			if (!is_ws(c))
				return split_error(s, c, "the end of the file");
			break;
		}
	}
	return 0;
}

static int split_end(struct splitter *s)
{
	if (s->st != S_DONE)
		return rain_error_set(RAIN_EFORMAT,
				      "%s: ends at line %zu in the middle of the JSON: cut short?",
				      s->where, s->line);
	if (!s->packages)
		return rain_error_set(RAIN_EFORMAT, "%s: has no package", s->where);
	return 0;
}

static void split_free(struct splitter *s)
{
	free(s->key);
	free(s->val);
}

int rain_vet_feed_import_tracker_mem(struct rain_vet_feed **out, const char *data, size_t len,
				     const char *where, const char *release)
{
	struct splitter s = { .where = where ? where : "tracker JSON", .line = 1 };
	struct rain_vet_feed *f = NULL;
	int r;

	rain_error_clear();
	*out = NULL;
	r = rain_vet_feed_new(&f, RAIN_VET_FEED_TRACKER, RAIN_PKG_DEB, release, s.where, 0);
	if (r < 0)
		return r;
	s.f = f;
	s.release = rain_vet_feed_release(f);
	r = split_feed(&s, data, len);
	if (r == 0)
		r = split_end(&s);
	split_free(&s);
	if (r < 0) {
		rain_vet_feed_free(f);
		return r;
	}
	*out = f;
	return 0;
}

int rain_vet_feed_import_tracker(struct rain_vet_feed **out, const char *path_or_url,
				 const char *release)
{
	struct splitter s = { .where = path_or_url, .line = 1 };
	_cleanup_close_ int fd = -1;
	struct rain_vet_feed *f = NULL;
	char buf[65536];
	uint64_t total = 0;
	int64_t mtime;
	ssize_t n;
	int r;

	rain_error_clear();
	*out = NULL;
	r = rain_vet_feed_new(&f, RAIN_VET_FEED_TRACKER, RAIN_PKG_DEB, release, path_or_url, 0);
	if (r < 0)
		return r;
	s.f = f;
	s.release = rain_vet_feed_release(f);
	r = feed_open_input(path_or_url, RAIN_VET_FEED_MAX_INPUT, false, &fd, NULL, &mtime);
	if (r < 0)
		goto done;
	rain_vet_feed_set_date(f, mtime);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = rain_error_errno(RAIN_EIO, errno, "cannot read %s", path_or_url);
			goto done;
		}
		total += (uint64_t)n;
		if (total > RAIN_VET_FEED_MAX_INPUT) {
			r = rain_error_set(RAIN_ETOOBIG, "%s: larger than %llu bytes: refused",
					   path_or_url, (unsigned long long)RAIN_VET_FEED_MAX_INPUT);
			goto done;
		}
		r = split_feed(&s, buf, (size_t)n);
		if (r < 0)
			goto done;
	}
	r = split_end(&s);
done:
	split_free(&s);
	if (r < 0) {
		rain_vet_feed_free(f);
		return r;
	}
	*out = f;
	return 0;
}
