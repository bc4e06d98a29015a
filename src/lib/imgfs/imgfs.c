/* The front end of the image readers (rain/imgfs.h): format detection,
 * containers (disk, qcow2) and the choice of the root file system, path
 * normalization, symbolic links resolved inside the image, limits and
 * the walk. The readers are in readers/, behind rain/sys/imgfs.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rain/sys/imgfs.h"
#include "util/cleanup.h"

#define PROBLEMS_KEPT 100
#define HEAD_SIZE 65536
/* qcow2 -> disk -> file system */
#define MAX_NESTING 3

struct rain_imgfs {
	const struct rain_imgfs_backend *be;
	void *impl;
	struct rain_imgfs_info info;
	struct rain_imgfs_limits lim;
	struct rain_imgfs_src **srcs;   /* every source, freed at close in reverse */
	size_t nsrcs;
	char **problems;
	size_t nproblems;               /* kept */
	size_t problems_total;
	/* what rain_imgfs_stat hands out */
	char path[RAIN_IMGFS_MAX_PATH + 1];
	char *link;
	uint64_t walk_read;
};

struct rain_imgfs_file {
	struct rain_imgfs *fs;
	void *file;
};

/* ---- sources ---- */

struct rain_imgfs_src *rain_imgfs_src_new(void)
{
	struct rain_imgfs_src *s = calloc(1, sizeof(*s));

	if (s)
		s->fd = -1;
	return s;
}

void rain_imgfs_src_free(struct rain_imgfs_src *src)
{
	if (!src)
		return;
	if (src->free)
		src->free(src);
	if (src->fd >= 0)
		close(src->fd);
	free(src);
}

int rain_imgfs_src_read(struct rain_imgfs_src *src, void *buf, size_t len, uint64_t off, const char *what)
{
	ssize_t n;

	if (off > src->size || len > src->size - off)
		return rain_error_set(RAIN_EFORMAT, "%s: %s (%zu bytes at byte %llu) lies past its end (%llu bytes)",
				      src->name, what, len, (unsigned long long)off,
				      (unsigned long long)src->size);
	n = src->pread(src, buf, len, off);
	if (n < 0)
		return (int)n;
	if ((size_t)n != len)
		return rain_error_set(RAIN_EFORMAT, "%s: %s at byte %llu is cut short", src->name, what,
				      (unsigned long long)off);
	return 0;
}

static ssize_t file_pread(struct rain_imgfs_src *src, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	len = rain_imgfs_src_clip(src, off, len);
	while (done < len) {
		ssize_t n = pread(src->fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot read %s at byte %llu", src->name,
						(unsigned long long)(off + done));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

struct range {
	struct rain_imgfs_src *parent;
	uint64_t off;
};

static ssize_t range_pread(struct rain_imgfs_src *src, void *buf, size_t len, uint64_t off)
{
	struct range *r = src->impl;

	len = rain_imgfs_src_clip(src, off, len);
	return r->parent->pread(r->parent, buf, len, r->off + off);
}

static void range_free(struct rain_imgfs_src *src)
{
	free(src->impl);
}

struct rain_imgfs_src *rain_imgfs_src_range(struct rain_imgfs_src *parent, uint64_t off, uint64_t len,
					    const char *label)
{
	struct rain_imgfs_src *s = rain_imgfs_src_new();
	struct range *r = calloc(1, sizeof(*r));

	if (!s || !r) {
		free(s);
		free(r);
		return NULL;
	}
	r->parent = parent;
	r->off = off;
	s->impl = r;
	s->base = parent->base + off;
	s->pread = range_pread;
	s->free = range_free;
	s->size = off > parent->size ? 0 : (len > parent->size - off ? parent->size - off : len);
	snprintf(s->name, sizeof(s->name), "%.200s: %s", parent->name, label);
	return s;
}

static int keep_src(struct rain_imgfs *fs, struct rain_imgfs_src *src)
{
	if (ARRAY_GROW1(fs->srcs, fs->nsrcs) < 0) {
		rain_imgfs_src_free(src);
		return rain_error_oom();
	}
	fs->srcs[fs->nsrcs++] = src;
	return 0;
}

/* ---- problems ---- */

void rain_imgfs_problem(struct rain_imgfs *fs, const char *fmt, ...)
{
	va_list ap;
	char *m;

	fs->problems_total++;
	if (fs->nproblems >= PROBLEMS_KEPT || ARRAY_GROW1(fs->problems, fs->nproblems) < 0)
		return;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) >= 0)
		fs->problems[fs->nproblems++] = m;
	va_end(ap);
}

const char *const *rain_imgfs_problems(const struct rain_imgfs *fs, size_t *n, size_t *total)
{
	*n = fs->nproblems;
	if (total)
		*total = fs->problems_total;
	return (const char *const *)fs->problems;
}

/* ---- opening ---- */

static const struct rain_imgfs_backend *const backends[] = {
	&rain_imgfs_qcow2, &rain_imgfs_squashfs, &rain_imgfs_disk, &rain_imgfs_ext4, &rain_imgfs_tar, &rain_imgfs_dir, NULL,
};

static const struct rain_imgfs_backend *backend_named(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

static int detect(struct rain_imgfs_src *src, const struct rain_imgfs_backend **out)
{
	_cleanup_free_ unsigned char *head = malloc(HEAD_SIZE);
	ssize_t n;

	*out = NULL;
	if (!head)
		return rain_error_oom();
	n = src->pread(src, head, HEAD_SIZE, 0);
	if (n < 0)
		return (int)n;
	for (size_t i = 0; backends[i]; i++)
		if (backends[i]->probe && backends[i]->probe(head, (size_t)n)) {
			*out = backends[i];
			return 0;
		}
	return rain_error_set(RAIN_EFORMAT, "%s is no image format rain can read (%s): expected a "
			      "raw disk with an MBR or GPT table, qcow2, ext2/3/4, squashfs or tar "
			      "(plain, gzip, xz or zstd)", src->name,
			      n < 512 ? "it is smaller than 512 bytes" : "no known signature at its start");
}

/* A file system candidate while a container is opened. */
struct cand {
	const struct rain_imgfs_backend *be;
	void *impl;
	char detail[256];
	uint64_t size, base;
	unsigned partition;
	bool linux_fs, os_release;
};

static int resolve(struct rain_imgfs *fs, const struct rain_imgfs_backend *be, void *impl, const char *path,
		   bool follow, uint64_t *node, struct rain_imgfs_entry *e, char *real);

static int open_src(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_backend *be,
		    int depth, struct cand **cands, size_t *ncands, bool linux_fs, const char *label,
		    unsigned partition);

static int open_container(struct rain_imgfs *fs, struct rain_imgfs_src *src,
			  const struct rain_imgfs_backend *be, int depth, struct cand **cands, size_t *ncands,
			  const char *label, unsigned partition)
{
	_cleanup_free_ struct rain_imgfs_part *parts = NULL;
	char detail[128] = "";
	size_t n = 0;
	int r;

	r = be->contents(fs, src, &parts, &n, detail, sizeof(detail));
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (keep_src(fs, parts[i].src) < 0) {
			for (size_t j = i + 1; j < n; j++)
				rain_imgfs_src_free(parts[j].src);
			return rain_error_oom();
		}
	}
	for (size_t i = 0; i < n; i++) {
		char sub[256];
		const struct rain_imgfs_backend *inner;

		snprintf(sub, sizeof(sub), "%s%s%s%s%s", label, *label ? " -> " : "", detail,
			 *parts[i].label ? " " : "", parts[i].label);
		r = detect(parts[i].src, &inner);
		if (r == RAIN_ENOMEM)
			return r;
		if (r < 0 || inner == &rain_imgfs_tar) {
			/* a partition of another system (a boot loader's, swap)
			 * is not worth a word */
			if (parts[i].linux_fs)
				rain_imgfs_problem(fs, "%s: %s", parts[i].src->name,
						   r < 0 ? rain_error_last() : "no file system rain can read");
			continue;
		}
		r = open_src(fs, parts[i].src, inner, depth + 1, cands, ncands, parts[i].linux_fs, sub,
			     parts[i].number ? parts[i].number : partition);
		if (r == RAIN_ENOMEM)
			return r;
		if (r < 0)
			rain_imgfs_problem(fs, "%s: %s", parts[i].src->name, rain_error_last());
	}
	return 0;
}

static int open_src(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_backend *be,
		    int depth, struct cand **cands, size_t *ncands, bool linux_fs, const char *label,
		    unsigned partition)
{
	struct cand c = { .be = be, .linux_fs = linux_fs, .size = src->size, .base = src->base,
			  .partition = partition };
	char detail[64] = "";
	struct rain_imgfs_entry e;
	uint64_t node;
	int r;

	if (be->version != RAIN_IMGFS_BACKEND_VERSION)
		return rain_error_set(RAIN_EINVAL, "imgfs: reader %s is of table version %u, not %u", be->name,
				      be->version, RAIN_IMGFS_BACKEND_VERSION);
	if (be->contents) {
		if (depth >= MAX_NESTING)
			return rain_error_set(RAIN_EFORMAT, "%s: a %s inside a %s is nested too deeply",
					      src->name, be->name, label);
		return open_container(fs, src, be, depth, cands, ncands, label, partition);
	}
	r = be->open(fs, src, &fs->lim, &c.impl, detail, sizeof(detail));
	if (r < 0)
		return r;
	if (*label)
		snprintf(c.detail, sizeof(c.detail), "%.180s (%s)", label, *detail ? detail : be->name);
	else
		snprintf(c.detail, sizeof(c.detail), "%s", *detail ? detail : be->name);
	c.os_release = resolve(fs, be, c.impl, "/etc/os-release", true, &node, &e, NULL) == 0 &&
		       S_ISREG(e.mode);
	if (ARRAY_GROW1(*cands, *ncands) < 0) {
		be->close(c.impl);
		return rain_error_oom();
	}
	(*cands)[(*ncands)++] = c;
	return 0;
}

static void lim_defaults(struct rain_imgfs_limits *l, const struct rain_imgfs_limits *in)
{
	if (in)
		*l = *in;
	if (!l->max_entries)
		l->max_entries = 10000000;
	if (!l->max_read)
		l->max_read = 64ull << 20;
	if (!l->max_walk_read)
		l->max_walk_read = 64ull << 30;
}

/* A new handle with its first source (named name), and the reader
 * format names (NULL for auto). */
static int handle_new(const char *name, const char *format, const struct rain_imgfs_limits *lim,
		      struct rain_imgfs **fsp, struct rain_imgfs_src **srcp, const struct rain_imgfs_backend **be)
{
	struct rain_imgfs *fs;
	struct rain_imgfs_src *src;

	*be = NULL;
	if (format && strcmp(format, "auto") != 0 && !(*be = backend_named(format)))
		return rain_error_set(RAIN_EINVAL, "imgfs: unknown image format %s: use auto, dir, tar, ext4, "
				      "squashfs, disk or qcow2", format);
	fs = calloc(1, sizeof(*fs));
	src = rain_imgfs_src_new();
	if (!fs || !src) {
		free(fs);
		free(src);
		return rain_error_oom();
	}
	lim_defaults(&fs->lim, lim);
	snprintf(src->name, sizeof(src->name), "%.300s", name);
	if (keep_src(fs, src) < 0) {
		free(fs);
		return rain_error_oom();
	}
	*fsp = fs;
	*srcp = src;
	return 0;
}

static int open_top(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_backend *be,
		    struct rain_imgfs **out);

struct cb_src {
	rain_imgfs_read_fn read;
	void *ud;
};

static ssize_t cb_pread(struct rain_imgfs_src *src, void *buf, size_t len, uint64_t off)
{
	struct cb_src *c = src->impl;
	size_t done = 0;

	len = rain_imgfs_src_clip(src, off, len);
	while (done < len) {
		ssize_t n = c->read(c->ud, off + done, (char *)buf + done, len - done);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void cb_free(struct rain_imgfs_src *src)
{
	free(src->impl);
}

int rain_imgfs_open_read(rain_imgfs_read_fn read, void *ud, uint64_t size, const char *name, const char *format,
			 const struct rain_imgfs_limits *lim, struct rain_imgfs **out)
{
	struct rain_imgfs *fs;
	struct rain_imgfs_src *src;
	const struct rain_imgfs_backend *be;
	struct cb_src *c;
	int r;

	rain_error_clear();
	*out = NULL;
	r = handle_new(name, format, lim, &fs, &src, &be);
	if (r < 0)
		return r;
	if (be == &rain_imgfs_dir) {
		rain_imgfs_close(fs);
		return rain_error_set(RAIN_EINVAL, "imgfs: %s: a directory is opened by its path", name);
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rain_imgfs_close(fs);
		return rain_error_oom();
	}
	c->read = read;
	c->ud = ud;
	src->impl = c;
	src->free = cb_free;
	src->pread = cb_pread;
	src->size = size;
	if (!be && (r = detect(src, &be)) < 0) {
		rain_imgfs_close(fs);
		return r;
	}
	return open_top(fs, src, be, out);
}

int rain_imgfs_open(const char *path, const char *format, const struct rain_imgfs_limits *lim,
		    struct rain_imgfs **out)
{
	struct rain_imgfs *fs;
	struct rain_imgfs_src *src;
	const struct rain_imgfs_backend *be = NULL;
	struct stat st;
	int r;

	rain_error_clear();
	*out = NULL;
	r = handle_new(path, format, lim, &fs, &src, &be);
	if (r < 0)
		return r;
	src->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (src->fd < 0 && errno == EISDIR)
		src->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (src->fd < 0) {
		r = rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, errno, "imgfs: cannot open %s",
				     path);
		goto fail;
	}
	if (fstat(src->fd, &st) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "imgfs: cannot stat %s", path);
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		if (be && be != &rain_imgfs_dir) {
			r = rain_error_set(RAIN_EFORMAT, "imgfs: %s is a directory, not a %s image", path, be->name);
			goto fail;
		}
		be = &rain_imgfs_dir;
	} else if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		if (be == &rain_imgfs_dir) {
			r = rain_error_set(RAIN_EFORMAT, "imgfs: %s is not a directory", path);
			goto fail;
		}
		if (S_ISBLK(st.st_mode)) {
			off_t end = lseek(src->fd, 0, SEEK_END);

			st.st_size = end < 0 ? 0 : end;
		}
		src->size = (uint64_t)st.st_size;
		src->pread = file_pread;
		if (fcntl(src->fd, F_SETFL, 0) < 0) {
			r = rain_error_errno(RAIN_EIO, errno, "imgfs: %s", path);
			goto fail;
		}
		if (!be && (r = detect(src, &be)) < 0)
			goto fail;
	} else {
		r = rain_error_set(RAIN_EFORMAT, "imgfs: %s is neither a regular file, a block device nor a "
				   "directory", path);
		goto fail;
	}

	return open_top(fs, src, be, out);
fail:
	rain_imgfs_close(fs);
	return r;
}

/* Open what src (fs's first source) holds as be and hand fs out; fs is
 * freed on failure. */
static int open_top(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_backend *be,
		    struct rain_imgfs **out)
{
	struct cand *cands = NULL;
	size_t ncands = 0, best = SIZE_MAX;
	int r;

	r = open_src(fs, src, be, 0, &cands, &ncands, true, "", 0);
	if (r < 0)
		goto fail;
	/* The root file system: the one with /etc/os-release, else the
	 * largest marked Linux, else the largest. */
	for (size_t i = 0; i < ncands; i++) {
		struct cand *c = &cands[i], *b = best == SIZE_MAX ? NULL : &cands[best];

		if (!b || (c->os_release != b->os_release ? c->os_release :
			   c->linux_fs != b->linux_fs ? c->linux_fs : c->size > b->size))
			best = i;
	}
	if (best == SIZE_MAX) {
		r = rain_error_set(RAIN_EFORMAT, "imgfs: %s (%s) holds no file system rain can read%s%s", src->name,
				   be->name, fs->nproblems ? ": " : "", fs->nproblems ? fs->problems[0] : "");
		goto fail;
	}
	for (size_t i = 0; i < ncands; i++)
		if (i != best)
			cands[i].be->close(cands[i].impl);
	fs->be = cands[best].be;
	fs->impl = cands[best].impl;
	fs->info.format = be->name;
	snprintf(fs->info.detail, sizeof(fs->info.detail), "%s", cands[best].detail);
	fs->info.partition = cands[best].partition;
	fs->info.offset = cands[best].base;
	fs->info.length = cands[best].size;
	free(cands);
	*out = fs;
	return 0;
fail:
	for (size_t i = 0; i < ncands; i++)
		cands[i].be->close(cands[i].impl);
	free(cands);
	rain_imgfs_close(fs);
	return r;
}

const struct rain_imgfs_info *rain_imgfs_info(const struct rain_imgfs *fs)
{
	return &fs->info;
}

void rain_imgfs_close(struct rain_imgfs *fs)
{
	if (!fs)
		return;
	if (fs->be)
		fs->be->close(fs->impl);
	for (size_t i = fs->nsrcs; i > 0; i--)
		rain_imgfs_src_free(fs->srcs[i - 1]);
	free(fs->srcs);
	for (size_t i = 0; i < fs->nproblems; i++)
		free(fs->problems[i]);
	free(fs->problems);
	free(fs->link);
	free(fs);
}

/* ---- paths ---- */

static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > RAIN_IMGFS_MAX_NAME || memchr(name, '/', len) || memchr(name, '\0', len))
		return false;
	return !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.');
}

/* Resolve path inside the image: components one by one from the root,
 * links (all but a last one when !follow) replaced by their targets
 * relative to the directory that holds them ("/" is the image's root,
 * ".." stops there). real (RAIN_IMGFS_MAX_PATH + 1 bytes, may be NULL)
 * gets the path without links. */
static int resolve(struct rain_imgfs *fs, const struct rain_imgfs_backend *be, void *impl, const char *path,
		   bool follow, uint64_t *node, struct rain_imgfs_entry *e, char *real)
{
	/* rest: what is left to resolve; grows with link targets */
	char rest[2 * RAIN_IMGFS_MAX_PATH + 2], cur[RAIN_IMGFS_MAX_PATH + 1];
	uint64_t stack[RAIN_IMGFS_MAX_PATH / 2 + 1];
	size_t depth = 0, curlen = 0, restlen, pos = 0;
	bool stale = false;
	int hops = 0, r;

	restlen = strlen(path);
	if (restlen > RAIN_IMGFS_MAX_PATH)
		return rain_error_set(RAIN_EINVAL, "imgfs: path %.64s... is longer than %d bytes", path,
				      RAIN_IMGFS_MAX_PATH);
	memcpy(rest, path, restlen + 1);
	r = be->root(impl, &stack[0], e);
	if (r < 0)
		return r;
	cur[0] = '\0';
	for (;;) {
		const char *name;
		size_t len;
		uint64_t child;

		while (pos < restlen && rest[pos] == '/')
			pos++;
		if (pos >= restlen)
			break;
		name = rest + pos;
		len = strcspn(name, "/");
		pos += len;
		if (len == 1 && name[0] == '.')
			continue;
		if (len == 2 && name[0] == '.' && name[1] == '.') {
			if (!S_ISDIR(e->mode))
				return rain_error_set(RAIN_ENOTFOUND, "imgfs: %s: %s is not a directory", path, cur);
			if (depth > 0) {
				depth--;
				curlen = strrchr(cur, '/') - cur;
				cur[curlen] = '\0';
				stale = true;
			}
			continue;
		}
		if (len > RAIN_IMGFS_MAX_NAME)
			return rain_error_set(RAIN_ENOTFOUND, "imgfs: %s: a name in it is longer than %d bytes",
					      path, RAIN_IMGFS_MAX_NAME);
		if (!S_ISDIR(e->mode))
			return rain_error_set(RAIN_ENOTFOUND, "imgfs: %s: %s is not a directory", path,
					      *cur ? cur : "/");
		if (curlen + 1 + len > RAIN_IMGFS_MAX_PATH)
			return rain_error_set(RAIN_ENOTFOUND, "imgfs: %s leads to a path longer than %d bytes", path,
					      RAIN_IMGFS_MAX_PATH);
		{
			char comp[RAIN_IMGFS_MAX_NAME + 1];

			memcpy(comp, name, len);
			comp[len] = '\0';
			r = be->lookup(impl, stack[depth], *cur ? cur : "/", comp, &child, e);
			if (r == RAIN_ENOTFOUND)
				return rain_error_set(RAIN_ENOTFOUND, "imgfs: %s: there is no %s%s%s", path, cur,
						      "/", comp);
			if (r < 0)
				return r;
			while (pos < restlen && rest[pos] == '/')
				pos++;
			if (S_ISLNK(e->mode) && (pos < restlen || follow)) {
				size_t tl = e->link ? strlen(e->link) : 0;

				if (++hops > RAIN_IMGFS_MAX_LINKS)
					return rain_error_set(RAIN_EFORMAT, "imgfs: %s: more than %d symbolic links "
							      "(a loop?) at %s/%s", path, RAIN_IMGFS_MAX_LINKS,
							      cur, comp);
				if (tl == 0)
					return rain_error_set(RAIN_ENOTFOUND, "imgfs: %s: %s/%s is an empty symbolic "
							      "link", path, cur, comp);
				if (tl + 1 + (restlen - pos) > sizeof(rest) - 1)
					return rain_error_set(RAIN_ENOTFOUND, "imgfs: %s: symbolic links make a path "
							      "longer than %d bytes", path, RAIN_IMGFS_MAX_PATH);
				/* rest = target "/" what was left */
				memmove(rest + tl + 1, rest + pos, restlen - pos + 1);
				memcpy(rest, e->link, tl);
				rest[tl] = '/';
				restlen = tl + 1 + (restlen - pos);
				pos = 0;
				if (rest[0] == '/') {
					depth = 0;
					curlen = 0;
					cur[0] = '\0';
				}
				/* we are in a directory again, whose entry e no
				 * longer describes */
				e->mode = S_IFDIR;
				stale = true;
				continue;
			}
			cur[curlen] = '/';
			memcpy(cur + curlen + 1, comp, len + 1);
			curlen += 1 + len;
			stack[++depth] = child;
			stale = false;
		}
	}
	if (stale && depth == 0) {
		r = be->root(impl, &stack[0], e);
		if (r < 0)
			return r;
	} else if (stale) {
		char *slash = strrchr(cur, '/');
		uint64_t again;

		*slash = '\0';
		r = be->lookup(impl, stack[depth - 1], *cur ? cur : "/", slash + 1, &again, e);
		*slash = '/';
		if (r < 0)
			return r;
	}
	*node = stack[depth];
	if (real)
		memcpy(real, *cur ? cur : "/", (*cur ? curlen : 1) + 1);
	return 0;
}

int rain_imgfs_stat(struct rain_imgfs *fs, const char *path, bool follow, struct rain_imgfs_entry *out)
{
	uint64_t node;
	int r;

	rain_error_clear();
	r = resolve(fs, fs->be, fs->impl, path, follow, &node, out, fs->path);
	if (r < 0)
		return r;
	free(fs->link);
	fs->link = NULL;
	if (out->link && !(fs->link = strdup(out->link)))
		return rain_error_oom();
	out->path = fs->path;
	out->link = fs->link;
	if (!fs->be->walk)
		out->node = node;
	return 0;
}

/* ---- extended attributes ---- */

struct xattrs {
	struct rain_imgfs *fs;
	const char *path;
	rain_imgfs_xattr_fn fn;
	void *ud;
	size_t n, bytes;
	bool cut;
};

static int xattr_check(void *ud, const char *name, const void *value, size_t size)
{
	struct xattrs *x = ud;
	size_t len = strnlen(name, RAIN_IMGFS_MAX_XATTR_NAME + 1);

	if (x->cut)
		return 0;
	if (len == 0 || len > RAIN_IMGFS_MAX_XATTR_NAME || !strchr(name, '.')) {
		rain_imgfs_problem(x->fs, "%s: an extended attribute whose name is empty, longer than %d bytes "
				   "or has no namespace: skipped", x->path, RAIN_IMGFS_MAX_XATTR_NAME);
		return 0;
	}
	if (size > RAIN_IMGFS_MAX_XATTR_VALUE) {
		rain_imgfs_problem(x->fs, "%s: extended attribute %s holds %zu bytes, more than %d: skipped",
				   x->path, name, size, RAIN_IMGFS_MAX_XATTR_VALUE);
		return 0;
	}
	if (x->n >= RAIN_IMGFS_MAX_XATTRS || x->bytes + len + size > RAIN_IMGFS_MAX_XATTR_BYTES) {
		rain_imgfs_problem(x->fs, "%s: more than %d extended attributes or %d bytes of them: %s and "
				   "those after it skipped", x->path, RAIN_IMGFS_MAX_XATTRS,
				   RAIN_IMGFS_MAX_XATTR_BYTES, name);
		x->cut = true;
		return 0;
	}
	x->n++;
	x->bytes += len + size;
	return x->fn(x->ud, name, value, size);
}

int rain_imgfs_xattrs(struct rain_imgfs *fs, const struct rain_imgfs_entry *e, rain_imgfs_xattr_fn fn,
		      void *ud)
{
	struct xattrs x = { .fs = fs, .path = e->path ? e->path : "?", .fn = fn, .ud = ud };

	if (!fs->be->xattrs)
		return 0;
	return fs->be->xattrs(fs->impl, e->node, x.path, e, xattr_check, &x);
}

int rain_imgfs_read(struct rain_imgfs *fs, const char *path, size_t max, char **data, size_t *len)
{
	struct rain_imgfs_entry e;
	_cleanup_free_ char *buf = NULL;
	void *file = NULL;
	uint64_t node;
	size_t n = 0;
	int r;

	rain_error_clear();
	*data = NULL;
	*len = 0;
	if (!max || max > fs->lim.max_read)
		max = fs->lim.max_read;
	r = resolve(fs, fs->be, fs->impl, path, true, &node, &e, fs->path);
	if (r < 0)
		return r;
	if (!S_ISREG(e.mode))
		return rain_error_set(RAIN_EINVAL, "imgfs: %s (%s) is not a regular file", path, fs->path);
	if (e.size > max)
		return rain_error_set(RAIN_ETOOBIG, "imgfs: %s is larger than %zu bytes (%llu)", path, max,
				      (unsigned long long)e.size);
	buf = malloc((size_t)e.size + 1);
	if (!buf)
		return rain_error_oom();
	r = fs->be->open_file(fs->impl, node, fs->path, &file);
	if (r < 0)
		return r;
	while (n < e.size) {
		ssize_t k = fs->be->read_file(fs->impl, file, buf + n, (size_t)e.size - n);

		if (k < 0) {
			r = (int)k;
			break;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	fs->be->close_file(fs->impl, file);
	if (r < 0)
		return r;
	if (n < e.size)
		return rain_error_set(RAIN_EFORMAT, "imgfs: %s: its content ends after %zu of its %llu bytes", path,
				      n, (unsigned long long)e.size);
	buf[n] = '\0';
	*data = TAKE_PTR(buf);
	*len = n;
	return 0;
}

ssize_t rain_imgfs_file_read(struct rain_imgfs_file *f, void *buf, size_t len)
{
	struct rain_imgfs *fs = f->fs;
	ssize_t n;

	if (fs->walk_read >= fs->lim.max_walk_read)
		return rain_error_set(RAIN_ETOOBIG, "imgfs: the walk read more than %llu bytes of files: "
				      "stopped", (unsigned long long)fs->lim.max_walk_read);
	if (len > fs->lim.max_walk_read - fs->walk_read)
		len = (size_t)(fs->lim.max_walk_read - fs->walk_read);
	n = fs->be->read_file(fs->impl, f->file, buf, len);
	if (n > 0)
		fs->walk_read += (uint64_t)n;
	return n;
}

/* ---- the walk ---- */

/* A set of directory nodes met (directories have one name: a second
 * means a corrupt tree that would make the walk go round). */
struct nodeset {
	uint64_t *v;
	size_t cap, n;
};

static int nodeset_add(struct nodeset *s, uint64_t x, bool *had)
{
	size_t i;

	x++;    /* 0 marks a free slot */
	if (x == 0)
		x = 1;
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *v = calloc(cap, sizeof(*v));

		if (!v)
			return rain_error_oom();
		for (size_t j = 0; j < s->cap; j++) {
			if (!s->v[j])
				continue;
			for (i = (s->v[j] * 0x9e3779b97f4a7c15ull) & (cap - 1); v[i]; i = (i + 1) & (cap - 1))
				;
			v[i] = s->v[j];
		}
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	for (i = (x * 0x9e3779b97f4a7c15ull) & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
		if (s->v[i] == x) {
			*had = true;
			return 0;
		}
	s->v[i] = x;
	s->n++;
	*had = false;
	return 0;
}

struct walk {
	struct rain_imgfs *fs;
	rain_imgfs_walk_fn fn;
	void *ud;
	uint64_t entries;
	struct nodeset dirs;
};

struct child {
	char *name;
	uint64_t node;
	struct rain_imgfs_entry e;      /* link owned */
};

struct children {
	struct rain_imgfs *fs;
	const char *dirpath;
	struct child *v;
	size_t n, cap, max;
};

static int collect(void *ud, const char *name, size_t namelen, uint64_t node, const struct rain_imgfs_entry *e)
{
	struct children *c = ud;
	struct child *ch;

	if (!name_ok(name, namelen)) {
		if (!(namelen == 1 && name[0] == '.') && !(namelen == 2 && name[0] == '.' && name[1] == '.'))
			rain_imgfs_problem(c->fs, "%s: an entry of %zu bytes with a name that is empty, too long "
					   "or holds '/' or NUL: skipped", c->dirpath, namelen);
		return 0;
	}
	if (c->n >= c->max)
		return rain_error_set(RAIN_ETOOBIG, "imgfs: %s holds more than %zu entries: stopped", c->dirpath,
				      c->max);
	if (ARRAY_GROW(c->v, c->n, c->cap) < 0)
		return rain_error_oom();
	ch = &c->v[c->n];
	*ch = (struct child){ .node = node, .e = *e };
	ch->e.link = NULL;
	ch->name = strndup(name, namelen);
	if (!ch->name || (e->link && !(ch->e.link = strdup(e->link)))) {
		free(ch->name);
		return rain_error_oom();
	}
	c->n++;
	return 0;
}

static int child_cmp(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->name, ((const struct child *)b)->name);
}

static int visit(struct walk *w, const char *path, const struct rain_imgfs_entry *e0, uint64_t node,
		 void *file, int *skip)
{
	struct rain_imgfs_entry e = *e0;
	struct rain_imgfs_file f = { w->fs, file };

	if (++w->entries > w->fs->lim.max_entries)
		return rain_error_set(RAIN_ETOOBIG, "imgfs: the image has more than %llu entries: stopped "
				      "at %s", (unsigned long long)w->fs->lim.max_entries, path);
	e.path = path;
	if (!w->fs->be->walk)
		e.node = node;
	if (!S_ISREG(e.mode) && !S_ISLNK(e.mode))
		e.size = 0;
	*skip = w->fn(w->ud, &e, file ? &f : NULL);
	if (*skip < 0)
		return *skip;
	return 0;
}

static int walk_dir(struct walk *w, uint64_t dir, char *path, size_t pathlen, int depth)
{
	struct rain_imgfs *fs = w->fs;
	struct children c = { .fs = fs, .dirpath = pathlen ? path : "/",
			      .max = w->entries < fs->lim.max_entries ?
				     (size_t)(fs->lim.max_entries - w->entries) : 0 };
	int r;

	r = fs->be->readdir(fs->impl, dir, pathlen ? path : "/", collect, &c);
	if (r < 0) {
		if (r == RAIN_ENOMEM)
			goto done;
		rain_imgfs_problem(fs, "%s: %s", pathlen ? path : "/", rain_error_last());
		r = 0;
	}
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), child_cmp);
	for (size_t i = 0; i < c.n; i++) {
		struct child *ch = &c.v[i];
		size_t len = strlen(ch->name);
		void *file = NULL;
		int skip = 0;
		bool had;

		if (pathlen + 1 + len > RAIN_IMGFS_MAX_PATH) {
			rain_imgfs_problem(fs, "%s/%s...: path longer than %d bytes: skipped", pathlen ? path : "",
					   ch->name, RAIN_IMGFS_MAX_PATH);
			continue;
		}
		path[pathlen] = '/';
		memcpy(path + pathlen + 1, ch->name, len + 1);
		if (i > 0 && strcmp(ch->name, c.v[i - 1].name) == 0) {
			rain_imgfs_problem(fs, "%s: a second entry of this name: skipped", path);
			goto next;
		}
		if (S_ISDIR(ch->e.mode)) {
			r = nodeset_add(&w->dirs, ch->node, &had);
			if (r < 0)
				goto done;
			if (had) {
				rain_imgfs_problem(fs, "%s: a directory met before under another name (a cycle "
						   "in a corrupt file system): skipped", path);
				goto next;
			}
		}
		if (S_ISREG(ch->e.mode)) {
			r = fs->be->open_file(fs->impl, ch->node, path, &file);
			if (r == RAIN_ENOMEM)
				goto done;
			if (r < 0) {
				rain_imgfs_problem(fs, "%s: %s", path, rain_error_last());
				file = NULL;
			}
		}
		r = visit(w, path, &ch->e, ch->node, file, &skip);
		if (file)
			fs->be->close_file(fs->impl, file);
		if (r < 0)
			goto done;
		if (S_ISDIR(ch->e.mode) && skip != 1) {
			if (depth + 1 >= RAIN_IMGFS_MAX_DEPTH) {
				rain_imgfs_problem(fs, "%s: deeper than %d directories: its entries are skipped",
						   path, RAIN_IMGFS_MAX_DEPTH);
				goto next;
			}
			r = walk_dir(w, ch->node, path, pathlen + 1 + len, depth + 1);
			if (r < 0)
				goto done;
		}
next:
		path[pathlen] = '\0';
	}
	r = 0;
done:
	path[pathlen] = '\0';
	for (size_t i = 0; i < c.n; i++) {
		free(c.v[i].name);
		free((char *)c.v[i].e.link);
	}
	free(c.v);
	return r;
}

static int own_walk_fn(void *ud, const char *path, const struct rain_imgfs_entry *e, void *file)
{
	struct walk *w = ud;
	int skip = 0, depth = 0, r;

	for (const char *p = path + 1; *p; p++)
		depth += *p == '/';
	if (depth >= RAIN_IMGFS_MAX_DEPTH) {
		/* its children are skipped with it, unseen */
		rain_imgfs_problem(w->fs, "%s: deeper than %d directories: skipped", path, RAIN_IMGFS_MAX_DEPTH);
		return 1;
	}
	r = visit(w, path, e, 0, file, &skip);
	return r < 0 ? r : skip == 1;
}

int rain_imgfs_walk(struct rain_imgfs *fs, rain_imgfs_walk_fn fn, void *ud)
{
	struct walk w = { .fs = fs, .fn = fn, .ud = ud };
	struct rain_imgfs_entry e;
	char path[RAIN_IMGFS_MAX_PATH + 2] = "";
	uint64_t root;
	bool had;
	int skip = 0, r;

	rain_error_clear();
	fs->walk_read = 0;
	if (fs->be->walk) {
		r = fs->be->walk(fs->impl, own_walk_fn, &w);
		goto done;
	}
	r = fs->be->root(fs->impl, &root, &e);
	if (r < 0)
		return r;
	r = nodeset_add(&w.dirs, root, &had);
	if (r < 0)
		goto done;
	r = visit(&w, "/", &e, root, NULL, &skip);
	if (r < 0 || skip == 1)
		goto done;
	r = walk_dir(&w, root, path, 0, 0);
done:
	free(w.dirs.v);
	return r;
}
