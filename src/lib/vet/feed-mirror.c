/* A feed derived from a Debian mirror (rain vet feed build): the suite's
 * Sources index, each source package's debian/changelog, and in it the
 * CVEs each entry names, fixed by that entry's version.
 *
 * Trust goes down from the suite's Release file (InRelease, its
 * signature checked by gpgv, when a keyring is given): the Sources index
 * is checked against Release's SHA256 and size, each downloaded file
 * against the index's. Everything is read
 * through libarchive as a stream, from private temporary files. */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/vet/feed-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"

#define MAX_INDEX (512U << 20)          /* a Sources or Release file, uncompressed */
#define MAX_SOURCE_FILE (1ULL << 30)    /* one downloaded file */
#define MAX_CHANGELOG (64U << 20)

/* --- deb822 (Release, Sources) ------------------------------------------ */

struct field {
	const char *name;
	size_t nlen;
	const char *value;      /* first line's value, then its continuation lines */
	size_t vlen;
};

/* The next field of the stanza at *p (NULL name at a stanza's end: a
 * blank line or the end of the text). Returns false at the end. */
static bool next_field(const char **p, const char *end, struct field *fl)
{
	const char *s = *p, *colon, *e;

	memset(fl, 0, sizeof(*fl));
	if (s >= end)
		return false;
	e = memchr(s, '\n', (size_t)(end - s));
	e = e ? e : end;
	if (e == s || (e == s + 1 && *s == '\r')) {
		*p = e < end ? e + 1 : end;
		return true;            /* a blank line */
	}
	colon = memchr(s, ':', (size_t)(e - s));
	if (!colon || *s == ' ' || *s == '\t') {
		/* not a field (a stray continuation line): skipped */
		*p = e < end ? e + 1 : end;
		fl->name = "";
		return true;
	}
	fl->name = s;
	fl->nlen = (size_t)(colon - s);
	fl->value = colon + 1;
	while (fl->value < e && (*fl->value == ' ' || *fl->value == '\t'))
		fl->value++;
	/* continuation lines */
	while (e < end && e + 1 < end && (e[1] == ' ' || e[1] == '\t')) {
		const char *n = memchr(e + 1, '\n', (size_t)(end - e - 1));

		e = n ? n : end;
	}
	fl->vlen = (size_t)(e - fl->value);
	*p = e < end ? e + 1 : end;
	return true;
}

static bool field_is(const struct field *fl, const char *name)
{
	return fl->name && fl->nlen == strlen(name) && !strncasecmp(fl->name, name, fl->nlen);
}

/* One "sha256 size name" line of a checksum list, from [*p, end). */
static bool next_checksum(const char **p, const char *end, char sha[65], uint64_t *size,
			  char *name, size_t namelen)
{
	while (*p < end) {
		const char *e = memchr(*p, '\n', (size_t)(end - *p));
		char line[1024];
		size_t n;

		e = e ? e : end;
		n = (size_t)(e - *p);
		*p = e < end ? e + 1 : end;
		if (n == 0 || n >= sizeof(line))
			continue;
		memcpy(line, e - n, n);
		line[n] = '\0';
		if (sscanf(line, " %64[0-9a-f] %" SCNu64 " %1000s", sha, size, name) == 3 &&
		    strlen(sha) == 64 && strlen(name) < namelen)
			return true;
	}
	return false;
}

/* A path of the archive as a mirror gives it: relative, no "..", no
 * blanks, nothing but what Debian's pool uses. */
static bool archive_path_ok(const char *s)
{
	if (!*s || *s == '/' || strstr(s, "..") || strlen(s) > 512)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("/._+~-:", *s))
			return false;
	return true;
}

/* --- downloads ------------------------------------------------------------- */

struct mirror {
	const struct rain_vet_mirror_options *o;
	const char *component;
	struct rain_vet_feed *f;
};

/* Download mirror/rel into a new temporary file, checked against sha
 * (hex, NULL: unchecked) and size (0: unchecked); rewound. */
static int mirror_get(struct mirror *m, const char *rel, const char *sha, uint64_t size,
		      uint64_t max, int *out, int64_t *mtime)
{
	_cleanup_free_ char *url = NULL;
	_cleanup_close_ int fd = -1;
	unsigned char got[32];
	char hex[65];
	off_t len;
	int r;

	*out = -1;
	if (asprintf(&url, "%s/%s", m->o->mirror, rel) < 0)
		return rain_error_oom();
	r = feed_tmpfile(&fd);
	if (r < 0)
		return r;
	r = feed_fetch(url, fd, size ? size : max, got, mtime, m->o->cancel);
	if (r < 0)
		return r;
	len = lseek(fd, 0, SEEK_CUR);
	hex_encode(got, 32, hex);
	if ((size && (uint64_t)len != size) || (sha && strcmp(hex, sha)))
		return rain_error_set(RAIN_EFORMAT,
				      "%s: %lld bytes with SHA256 %s where the index says %llu bytes, %s: "
				      "the mirror is inconsistent or tampered with",
				      url, (long long)len, hex, (unsigned long long)size, sha ? sha : "-");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return rain_error_errno(RAIN_EIO, errno, "%s: cannot rewind", url);
	*out = TAKE_FD(fd);
	return 0;
}

/* The whole of fd decompressed (any compression libarchive reads, or
 * none), at most max bytes. */
static int read_decompressed(int fd, const char *what, size_t max, char **out, size_t *outlen)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	la_ssize_t n;
	int r = 0;

	*out = NULL;
	if (!a)
		return rain_error_oom();
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		r = rain_error_set(RAIN_EFORMAT, "%s: %s", what, archive_error_string(a));
		goto done;
	}
	for (;;) {
		if (len + 65536 + 1 > cap) {
			char *p;

			cap = cap ? cap * 2 : 1 << 20;
			p = realloc(buf, cap);
			if (!p) {
				r = rain_error_oom();
				goto done;
			}
			buf = p;
		}
		n = archive_read_data(a, buf + len, 65536);
		if (n < 0) {
			r = rain_error_set(RAIN_EFORMAT, "%s: %s", what, archive_error_string(a));
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = rain_error_set(RAIN_ETOOBIG, "%s: over %zu MB uncompressed: refused", what,
					   max >> 20);
			goto done;
		}
	}
	if (!buf && !(buf = malloc(1))) {
		r = rain_error_oom();
		goto done;
	}
	buf[len] = '\0';
	*out = TAKE_PTR(buf);
	*outlen = len;
done:
	archive_read_free(a);
	return r;
}

/* --- changelogs ------------------------------------------------------------- */

struct cve_fix {
	char id[32];
	char *version;
	enum rain_vet_urgency urgency;
	char *line;             /* the changelog line that names it, trimmed */
};

/* [line, line + len) without its leading blanks and "* " or "- " */
static char *line_trimmed(const char *line, size_t len)
{
	while (len && strchr(" \t*-+", *line))
		line++, len--;
	while (len && isspace((unsigned char)line[len - 1]))
		len--;
	return strndup(line, len > 300 ? 300 : len);
}

static int cve_note(struct cve_fix **v, size_t *n, size_t *cap, const char *id, const char *version,
		    enum rain_vet_urgency u, const char *line, size_t len)
{
	struct cve_fix *c = NULL;

	for (size_t i = 0; i < *n && !c; i++)
		if (!strcmp((*v)[i].id, id)) {
			/* the oldest entry naming it fixed it */
			if (rain_pkg_vercmp_deb(version, (*v)[i].version) >= 0)
				return 0;
			c = &(*v)[i];
			free(c->version);
			free(c->line);
		}
	if (!c) {
		if (ARRAY_GROW(*v, *n, *cap) < 0)
			return rain_error_oom();
		c = &(*v)[(*n)++];
		snprintf(c->id, sizeof(c->id), "%s", id);
	}
	c->version = strdup(version);
	c->line = line_trimmed(line, len);
	c->urgency = u;
	if (!c->version || !c->line)
		return rain_error_oom();
	return 0;
}

/* Each CVE-YYYY-NNNN[NNN] of line (len bytes) noted as fixed by version. */
static int line_cves(const char *line, size_t len, const char *version, enum rain_vet_urgency u,
		     struct cve_fix **v, size_t *n, size_t *cap)
{
	for (size_t i = 0; i + 13 <= len; i++) {
		size_t j, k;
		char id[32];
		int r;

		if (strncmp(line + i, "CVE-", 4) || (i > 0 && isalnum((unsigned char)line[i - 1])))
			continue;
		for (j = i + 4; j < len && j < i + 8 && isdigit((unsigned char)line[j]); j++)
			;
		if (j != i + 8 || j >= len || line[j] != '-')
			continue;
		for (k = j + 1; k < len && k < j + 9 && isdigit((unsigned char)line[k]); k++)
			;
		if (k - j - 1 < 4 || (k < len && isalnum((unsigned char)line[k])))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(k - i), line + i);
		r = cve_note(v, n, cap, id, version, u, line, len);
		if (r < 0)
			return r;
		i = k - 1;
	}
	return 0;
}

/* "pkg (version) dist...; urgency=medium[, ...]": the version and urgency;
 * 0, 1 when the line is not a header at all, or RAIN_EFORMAT when it
 * tries to be one and is malformed. */
static int changelog_header(const char *line, size_t len, const char *where, size_t lineno,
			    char *version, size_t vlen, enum rain_vet_urgency *u)
{
	const char *open = memchr(line, '(', len), *close, *semi, *urg;
	char word[32];
	size_t n;

	*u = RAIN_VET_URGENCY_UNKNOWN;
	semi = memchr(line, ';', len);
	if (!open || !semi || open > semi || open == line || open[-1] != ' ')
		return 1;
	close = memchr(open, ')', (size_t)(semi - open));
	if (!close)
		return rain_error_set(RAIN_EFORMAT, "%s:%zu: a changelog entry's version has no ')'",
				      where, lineno);
	n = (size_t)(close - open - 1);
	if (n == 0 || n >= vlen)
		return rain_error_set(RAIN_EFORMAT, "%s:%zu: a changelog entry's version is empty or too long",
				      where, lineno);
	memcpy(version, open + 1, n);
	version[n] = '\0';
	if (rain_pkg_version_check(RAIN_PKG_DEB, version) < 0)
		return rain_error_set(RAIN_EFORMAT, "%s:%zu: changelog entry: %s", where, lineno,
				      rain_error_last());
	for (const char *c = version; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return rain_error_set(RAIN_EFORMAT,
					      "%s:%zu: changelog entry: version '%s' has a blank or control character",
					      where, lineno, version);
	urg = memmem(semi, len - (size_t)(semi - line), "urgency=", 8);
	if (urg) {
		urg += 8;
		/* the line is not NUL-terminated */
		for (n = 0; urg + n < line + len && !strchr(", \t\r\n(", urg[n]); n++)
			;
		if (n < sizeof(word)) {
			memcpy(word, urg, n);
			word[n] = '\0';
			if (rain_vet_urgency_parse(word, u) < 0)
				*u = RAIN_VET_URGENCY_UNKNOWN;
		}
	}
	return 0;
}

int rain_vet_feed_add_changelog(struct rain_vet_feed *f, const char *package, const char *text,
				size_t len, const char *where)
{
	struct cve_fix *v = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	const char *p = text, *end = text + len;
	char version[256] = "";
	enum rain_vet_urgency u = RAIN_VET_URGENCY_UNKNOWN;
	bool entries = false;
	int r = 0;

	if (!where)
		where = "changelog";
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t ll;

		e = e ? e : end;
		ll = (size_t)(e - p);
		lineno++;
		if (ll && !memchr(p, '\0', ll)) {
			if (p[0] != ' ' && p[0] != '\t') {
				r = changelog_header(p, ll, where, lineno, version, sizeof(version), &u);
				if (r < 0)
					goto done;
				if (r == 1) {
					/* the old-format tail ("Old Changelog:",
					 * "Local variables:") ends what is read */
					if (entries)
						break;
					r = rain_error_set(RAIN_EFORMAT,
							   "%s:%zu: not a Debian changelog: the first line is "
							   "not 'package (version) distribution; urgency=...'",
							   where, lineno);
					goto done;
				}
				entries = true;
			} else if (entries && !(ll > 4 && !strncmp(p, " -- ", 4))) {
				r = line_cves(p, ll, version, u, &v, &n, &cap);
				if (r < 0)
					goto done;
			}
		}
		p = e < end ? e + 1 : end;
	}
	if (!entries) {
		r = rain_error_set(RAIN_EFORMAT, "%s: has no changelog entry", where);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		struct rain_vet_advisory a = {
			.package = package, .id = v[i].id, .fixed = v[i].version, .urgency = v[i].urgency,
			.description = v[i].line,
		};

		r = rain_vet_feed_add(f, &a);
		if (r < 0) {
			if (r != RAIN_ENOMEM)
				r = rain_error_set(RAIN_EFORMAT, "%s: %s", where, rain_error_last());
			goto done;
		}
	}
	r = 0;
done:
	for (size_t i = 0; i < n; i++) {
		free(v[i].version);
		free(v[i].line);
	}
	free(v);
	return r;
}

/* debian/changelog out of a debian.tar.* or a native source tarball. */
static int changelog_from_tar(int fd, const char *what, char **out, size_t *len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r = 0, ar;

	*out = NULL;
	if (!a)
		return rain_error_oom();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		r = rain_error_set(RAIN_EFORMAT, "%s: %s", what, archive_error_string(a));
		goto done;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		const char *slash;
		_cleanup_free_ char *buf = NULL;
		size_t n = 0;
		la_ssize_t got;

		if (!name || archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (str_has_prefix(name, "./"))
			name += 2;
		/* debian/changelog, or TOP/debian/changelog in a native tarball */
		slash = strchr(name, '/');
		if (strcmp(name, "debian/changelog") && !(slash && !strcmp(slash + 1, "debian/changelog")))
			continue;
		if (archive_entry_size(e) > (int64_t)MAX_CHANGELOG) {
			r = rain_error_set(RAIN_ETOOBIG, "%s: debian/changelog over %u MB: refused", what,
					   MAX_CHANGELOG >> 20);
			goto done;
		}
		buf = malloc((size_t)archive_entry_size(e) + 1);
		if (!buf) {
			r = rain_error_oom();
			goto done;
		}
		while (n < (size_t)archive_entry_size(e) &&
		       (got = archive_read_data(a, buf + n, (size_t)archive_entry_size(e) - n)) > 0)
			n += (size_t)got;
		if (n != (size_t)archive_entry_size(e)) {
			r = rain_error_set(RAIN_EFORMAT, "%s: debian/changelog is cut short: %s", what,
					   archive_error_string(a));
			goto done;
		}
		buf[n] = '\0';
		*out = TAKE_PTR(buf);
		*len = n;
		goto done;
	}
	r = rain_error_set(RAIN_ENOTFOUND, "%s: has no debian/changelog%s%s", what,
			   ar == ARCHIVE_EOF ? "" : ": ", ar == ARCHIVE_EOF ? "" : archive_error_string(a));
done:
	archive_read_free(a);
	return r;
}

/* debian/changelog out of a .diff.gz: the lines its hunks add. */
static int changelog_from_diff(int fd, const char *what, char **out, size_t *len)
{
	_cleanup_free_ char *diff = NULL, *buf = NULL;
	size_t dlen, n = 0;
	const char *p, *end;
	bool in = false;
	int r;

	*out = NULL;
	r = read_decompressed(fd, what, MAX_INDEX, &diff, &dlen);
	if (r < 0)
		return r;
	buf = malloc(dlen + 1);
	if (!buf)
		return rain_error_oom();
	for (p = diff, end = diff + dlen; p < end;) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t ll;

		e = e ? e : end;
		ll = (size_t)(e - p);
		if (ll > 4 && !strncmp(p, "+++ ", 4)) {
			const char *sp = memchr(p + 4, '/', ll - 4);

			in = sp && (size_t)(e - sp) >= 17 && !strncmp(sp, "/debian/changelog", 17) &&
			     (sp + 17 == e || sp[17] == '\t' || sp[17] == ' ' || sp[17] == '\r');
		} else if (in && ll >= 1 && p[0] == '+') {
			memcpy(buf + n, p + 1, ll - 1);
			n += ll - 1;
			buf[n++] = '\n';
		} else if (in && ll >= 4 && !strncmp(p, "diff", 4)) {
			in = false;
		}
		p = e < end ? e + 1 : end;
	}
	if (!n)
		return rain_error_set(RAIN_ENOTFOUND, "%s: adds no debian/changelog", what);
	buf[n] = '\0';
	*out = TAKE_PTR(buf);
	*len = n;
	return 0;
}

/* --- the suite ------------------------------------------------------------ */

struct source {
	char *package, *version, *dir;
	char file[256], sha[65];
	uint64_t size;
	bool diff;
};

static void sources_free(struct source *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].package);
		free(v[i].version);
		free(v[i].dir);
	}
	free(v);
}

static bool wanted(const struct rain_vet_mirror_options *o, const char *pkg)
{
	if (!o->sources)
		return true;
	for (size_t i = 0; o->sources[i]; i++)
		if (!strcmp(o->sources[i], pkg))
			return true;
	return false;
}

/* The file with the changelog among a stanza's Checksums-Sha256: the
 * debian.tar.*, else a .diff.gz, else the native .tar.*. */
static void pick_file(struct source *s, const char *list, size_t len)
{
	const char *p = list, *end = list + len;
	char sha[65], name[1001];
	uint64_t size;
	int best = 0;

	while (next_checksum(&p, end, sha, &size, name, sizeof(s->file))) {
		int rank = strstr(name, ".debian.tar.") ? 3 : str_has_suffix(name, ".diff.gz") ? 2 :
			   (strstr(name, ".tar.") && !strstr(name, ".orig")) ? 1 : 0;

		if (rank > best) {
			best = rank;
			memcpy(s->file, name, strlen(name) + 1); /* shorter: next_checksum */
			memcpy(s->sha, sha, sizeof(s->sha));
			s->size = size;
			s->diff = rank == 2;
		}
	}
}

static int parse_sources(struct mirror *m, const char *text, size_t len, const char *where,
			 struct source **out, size_t *nout)
{
	struct source *v = NULL, cur = { 0 };
	size_t n = 0, cap = 0;
	const char *p = text, *end = text + len;
	const char *sums = NULL;
	size_t sumslen = 0;
	struct field fl;
	bool more;
	int r = 0;

	*out = NULL;
	*nout = 0;
	do {
		more = next_field(&p, end, &fl);
		if (more && fl.name) {
			char **dst = field_is(&fl, "Package") ? &cur.package :
				     field_is(&fl, "Version") ? &cur.version :
				     field_is(&fl, "Directory") ? &cur.dir : NULL;

			if (dst) {
				free(*dst);
				*dst = strndup(fl.value, fl.vlen);
				if (!*dst) {
					r = rain_error_oom();
					goto fail;
				}
				(*dst)[strcspn(*dst, "\r\n")] = '\0';
			} else if (field_is(&fl, "Checksums-Sha256")) {
				sums = fl.value;
				sumslen = fl.vlen;
			}
			continue;
		}
		/* a stanza's end */
		if (cur.package && wanted(m->o, cur.package)) {
			size_t i;

			if (!cur.version || !cur.dir || !sums ||
			    rain_pkg_version_check(RAIN_PKG_DEB, cur.version) < 0 ||
			    !archive_path_ok(cur.dir)) {
				r = rain_error_set(RAIN_EFORMAT,
						   "%s: source %.80s: no valid Version, Directory or Checksums-Sha256",
						   where, cur.package);
				goto fail;
			}
			pick_file(&cur, sums, sumslen);
			if (!cur.file[0] || !archive_path_ok(cur.file)) {
				r = rain_error_set(RAIN_EFORMAT,
						   "%s: source %.80s %s: no debian.tar, diff.gz or tar file listed",
						   where, cur.package, cur.version);
				goto fail;
			}
			/* a suite may hold two versions of a package: the newest */
			for (i = 0; i < n; i++)
				if (!strcmp(v[i].package, cur.package))
					break;
			if (i < n) {
				if (rain_pkg_vercmp_deb(cur.version, v[i].version) > 0) {
					free(v[i].package);
					free(v[i].version);
					free(v[i].dir);
					v[i] = cur;
					memset(&cur, 0, sizeof(cur));
				}
			} else {
				if (ARRAY_GROW(v, n, cap) < 0) {
					r = rain_error_oom();
					goto fail;
				}
				v[n++] = cur;
				memset(&cur, 0, sizeof(cur));
			}
		}
		free(cur.package);
		free(cur.version);
		free(cur.dir);
		memset(&cur, 0, sizeof(cur));
		sums = NULL;
	} while (more);
	*out = v;
	*nout = n;
	return 0;
fail:
	free(cur.package);
	free(cur.version);
	free(cur.dir);
	sources_free(v, n);
	return r;
}

struct gpgv_out {
	char text[512];
};

static void gpgv_line(void *ud, const char *line)
{
	struct gpgv_out *g = ud;
	size_t n = strlen(g->text);

	/* the last lines, for the message */
	if (n + strlen(line) + 3 >= sizeof(g->text))
		n = 0;
	snprintf(g->text + n, sizeof(g->text) - n, "%s%s", n ? "; " : "", line);
}

/* The suite's InRelease, its signature checked by gpgv against the
 * keyring: the signed text (Release's) into *out. */
static int release_verified(struct mirror *m, char **out, size_t *len)
{
	char dir[] = "/tmp/rain-feed-XXXXXX";
	_cleanup_free_ char *rel = NULL, *signed_path = NULL, *text_path = NULL, *keyring = NULL;
	_cleanup_close_ int fd = -1;
	struct gpgv_out g = { "" };
	const char *tmp = getenv("TMPDIR");
	char *tmpl = NULL;
	int r, status = 0;

	*out = NULL;
	if (tmp && *tmp && asprintf(&tmpl, "%s/rain-feed-XXXXXX", tmp) < 0)
		return rain_error_oom();
	if (!mkdtemp(tmpl ? tmpl : dir)) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot make a temporary folder");
		free(tmpl);
		return r;
	}
	if (asprintf(&rel, "dists/%s/InRelease", m->o->suite) < 0 ||
	    asprintf(&signed_path, "%s/InRelease", tmpl ? tmpl : dir) < 0 ||
	    asprintf(&text_path, "%s/Release", tmpl ? tmpl : dir) < 0 ||
	    /* gpgv reads a name without a slash from its home: a path here */
	    asprintf(&keyring, "%s%s", strchr(m->o->keyring, '/') ? "" : "./", m->o->keyring) < 0) {
		r = rain_error_oom();
		goto done;
	}
	fd = open(signed_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", signed_path);
		goto done;
	}
	{
		_cleanup_free_ char *url = NULL;

		if (asprintf(&url, "%s/%s", m->o->mirror, rel) < 0) {
			r = rain_error_oom();
			goto done;
		}
		r = feed_fetch(url, fd, 64U << 20, NULL, NULL, m->o->cancel);
		if (r < 0)
			goto done;
	}
	closep(&fd);
	{
		const char *argv[] = { "gpgv", "--keyring", keyring, "--output", text_path, signed_path, NULL };
		struct process_opts po = {
			.argv = argv, .stdin_fd = -1, .timeout_s = 120, .on_line = gpgv_line, .ud = &g,
		};

		r = process_run(&po, &status);
		if (r < 0)
			goto done;
	}
	if (status != 0) {
		r = rain_error_set(RAIN_EFORMAT,
				   "%s/%s: its signature does not check against %s (gpgv: %s)",
				   m->o->mirror, rel, m->o->keyring, g.text);
		goto done;
	}
	r = fs_read_small(text_path, 64U << 20, out, len);
done:
	fs_remove_tree(tmpl ? tmpl : dir);
	free(tmpl);
	return r;
}

/* RFC 2822 "Sat, 07 Dec 2026 10:11:12 UTC" into seconds, or 0. */
static int64_t parse_release_date(const char *s)
{
	struct tm tm = { 0 };
	const char *e;

	e = strptime(s, "%a, %d %b %Y %H:%M:%S", &tm);
	if (!e)
		return 0;
	return (int64_t)timegm(&tm);
}

/* Release: its Date and the SHA256 and size of the Sources index. */
static int read_release(struct mirror *m, const char *text, size_t len, const char *want,
			char sha[65], uint64_t *size, int64_t *date)
{
	const char *p = text, *end = text + len;
	struct field fl;

	*size = 0;
	sha[0] = '\0';
	*date = 0;
	while (next_field(&p, end, &fl)) {
		if (field_is(&fl, "Date")) {
			char d[64];

			snprintf(d, sizeof(d), "%.*s", (int)(fl.vlen < 63 ? fl.vlen : 63), fl.value);
			*date = parse_release_date(d);
		} else if (field_is(&fl, "SHA256")) {
			const char *q = fl.value, *qe = fl.value + fl.vlen;
			char s[65], name[1001];
			uint64_t sz;

			while (next_checksum(&q, qe, s, &sz, name, sizeof(name)))
				if (!strcmp(name, want)) {
					memcpy(sha, s, 65);
					*size = sz;
				}
		}
	}
	return 0;
}

int rain_vet_feed_build_mirror(struct rain_vet_feed **out, const struct rain_vet_mirror_options *o)
{
	struct mirror m = { .o = o };
	struct source *src = NULL;
	_cleanup_free_ char *release_text = NULL, *sources_text = NULL, *rel = NULL, *relname = NULL,
			     *origin = NULL;
	_cleanup_close_ int fd = -1;
	size_t nsrc = 0, len = 0;
	char sha[65];
	uint64_t size;
	int64_t date;
	int r;

	rain_error_clear();
	*out = NULL;
	if (!o->mirror || !feed_is_url(o->mirror))
		return rain_error_set(RAIN_EINVAL, "feed build: the mirror '%s' is not an http, https or file URL",
				      o->mirror ? o->mirror : "");
	if (!o->suite || !archive_path_ok(o->suite) || strchr(o->suite, '/'))
		return rain_error_set(RAIN_EINVAL, "feed build: '%s' is not a suite name (bookworm-security)",
				      o->suite ? o->suite : "");
	m.component = o->component ? o->component : "main";
	if (!archive_path_ok(m.component) || strchr(m.component, '/'))
		return rain_error_set(RAIN_EINVAL, "feed build: '%s' is not a component name", m.component);
	relname = o->release ? strdup(o->release) : strndup(o->suite, strcspn(o->suite, "-"));
	if (!relname || asprintf(&origin, "%s %s", o->mirror, o->suite) < 0)
		return rain_error_oom();
	r = rain_vet_feed_new(&m.f, RAIN_VET_FEED_MIRROR, RAIN_PKG_DEB, relname, origin, 0);
	if (r < 0)
		return r;

	/* Release, then the Sources index it vouches for */
	if (asprintf(&rel, "dists/%s/Release", o->suite) < 0) {
		r = rain_error_oom();
		goto done;
	}
	if (o->keyring) {
		r = release_verified(&m, &release_text, &len);
	} else {
		r = mirror_get(&m, rel, NULL, 0, 64U << 20, &fd, NULL);
		if (r == 0)
			r = read_decompressed(fd, rel, 64U << 20, &release_text, &len);
		closep(&fd);
	}
	if (r < 0)
		goto done;
	{
		static const char *const exts[] = { "xz", "gz" };
		char want[128];
		size_t i;

		for (i = 0; i < 2; i++) {
			snprintf(want, sizeof(want), "%s/source/Sources.%s", m.component, exts[i]);
			read_release(&m, release_text, len, want, sha, &size, &date);
			if (size)
				break;
		}
		if (!size) {
			r = rain_error_set(RAIN_ENOTFOUND,
					   "%s/dists/%s/Release lists no %s/source/Sources.xz or .gz: "
					   "is the suite mirrored with its sources?",
					   o->mirror, o->suite, m.component);
			goto done;
		}
		rain_vet_feed_set_date(m.f, date);
		free(rel);
		if (asprintf(&rel, "dists/%s/%s", o->suite, want) < 0) {
			r = rain_error_oom();
			goto done;
		}
	}
	r = mirror_get(&m, rel, sha, size, MAX_INDEX, &fd, NULL);
	if (r == 0)
		r = read_decompressed(fd, rel, MAX_INDEX, &sources_text, &len);
	closep(&fd);
	if (r < 0)
		goto done;
	r = parse_sources(&m, sources_text, len, rel, &src, &nsrc);
	if (r < 0)
		goto done;
	if (o->sources)
		for (size_t i = 0; o->sources[i]; i++) {
			size_t j;

			for (j = 0; j < nsrc && strcmp(src[j].package, o->sources[i]); j++)
				;
			if (j == nsrc) {
				r = rain_error_set(RAIN_ENOTFOUND,
						   "feed build: source package %s is not in %s %s",
						   o->sources[i], o->mirror, o->suite);
				goto done;
			}
		}

	for (size_t i = 0; i < nsrc; i++) {
		_cleanup_free_ char *path = NULL, *cl = NULL, *where = NULL;
		size_t cllen = 0;

		if (o->cancel && *o->cancel) {
			r = rain_error_set(RAIN_ECANCELED, "feed build: canceled");
			goto done;
		}
		if (asprintf(&path, "%s/%s", src[i].dir, src[i].file) < 0 ||
		    asprintf(&where, "%s/%s:debian/changelog", o->mirror, path) < 0) {
			r = rain_error_oom();
			goto done;
		}
		r = mirror_get(&m, path, src[i].sha, src[i].size, MAX_SOURCE_FILE, &fd, NULL);
		if (r == RAIN_ENOTFOUND && o->skipped) {
			o->skipped(o->progress_ud, src[i].package, rain_error_last());
			continue;
		}
		if (r == 0)
			r = src[i].diff ? changelog_from_diff(fd, path, &cl, &cllen) :
					  changelog_from_tar(fd, path, &cl, &cllen);
		closep(&fd);
		if (r == 0)
			r = rain_vet_feed_add_changelog(m.f, src[i].package, cl, cllen, where);
		if (r < 0)
			goto done;
		if (o->progress)
			o->progress(o->progress_ud, i + 1, nsrc, src[i].package);
	}
	*out = TAKE_PTR(m.f);
	r = 0;
done:
	sources_free(src, nsrc);
	rain_vet_feed_free(m.f);
	return r;
}
