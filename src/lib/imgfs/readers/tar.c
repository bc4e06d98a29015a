/* imgfs reader "tar": tar archives, plain or compressed (zstd, gzip, xz,
 * bzip2), through libarchive.
 *
 * Open reads the archive once and builds an index of its entries (a tree
 * of normalized paths; a later entry of the same path replaces an earlier
 * one, as extraction would; parents missing from the archive are made as
 * directories 0755 root:root). Memory: the index (about 100 bytes plus
 * the path per entry, at most limits.max_entries entries, and paths and
 * link targets of TAR_NAMES_TOTAL bytes at most) and the content
 * of small regular files: each of at most TAR_CACHE_FILE bytes while all
 * together stay under TAR_CACHE_TOTAL, files in the directories vetting
 * reads whole (fact_dirs, up to TAR_CACHE_FACTS), and, once walked, files with
 * other hard links (TAR_KEEP_LINKED at most). Reading any other file streams the
 * archive again from its start up to that file (cheap for a plain tar,
 * whose data libarchive skips by seeking; a decompression for the
 * others). The walk is one more pass over the archive, in its order, each
 * entry's parents given first.
 *
 * Entries whose name holds "..", is longer than RAIN_IMGFS_MAX_PATH or
 * has a component longer than RAIN_IMGFS_MAX_NAME, and hard links to
 * nothing before them, are skipped (rain_imgfs_problems()).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "rain/sys/imgfs.h"
#include "util/cleanup.h"

#define TAR_CACHE_FILE (256u << 10)
#define TAR_CACHE_TOTAL (32u << 20)
/* Files under these are kept first, with a budget of their own: what
 * vetting reads whole before its walk (accounts, sshd_config, the package
 * databases), each a decompression from the start otherwise. */
#define TAR_CACHE_FACT_FILE (16u << 20)
#define TAR_CACHE_FACTS (96u << 20)
static const char *const fact_dirs[] = {
	"/etc/", "/var/lib/dpkg/", "/var/lib/rpm/", "/usr/lib/sysimage/rpm/", "/root/", "/home/",
	NULL,
};
#define TAR_KEEP_LINKED (64u << 20)
#define TAR_NAMES_TOTAL (256u << 20)
#define NONE UINT32_MAX

struct tnode {
	char *path;             /* absolute, normalized */
	char *link;             /* symbolic link target */
	uint32_t parent, child, next;   /* tree: first child, next sibling */
	uint32_t ord;           /* its header in the archive (NONE: made up) */
	uint32_t data;          /* whose content (itself, or a hard link's target) */
	uint32_t hnext;         /* hash chain */
	struct rain_imgfs_entry e;
	char *cache;            /* content when kept */
	bool cached, emitted, skipped;
};

struct tarfs {
	struct rain_imgfs *fs;
	struct rain_imgfs_src *src;
	uint64_t max_entries;
	struct tnode *n;
	size_t nn, cap;
	uint32_t *hash;         /* buckets of path hashes */
	size_t nbuckets;
	uint32_t *ords;         /* header number -> node or NONE */
	size_t nords, ordcap;
	size_t cached_total, kept_total, facts_total;
	size_t names_total;     /* bytes of paths and link targets */
	bool zstd;              /* zstd-compressed (decompressed by stream_open) */
	char detail[32];
	/* during the walk: the header read and its node (its xattrs) */
	struct archive_entry *walk_ae;
	uint32_t walk_node;
};

/* One pass over the archive. */
struct stream {
	struct rain_imgfs_src *src;
	uint64_t pos;
	struct archive *a;
	/* zstd is decompressed here rather than by libarchive's filter,
	 * which copies the data once more and is half as fast */
	ZSTD_DCtx *zd;
	ZSTD_inBuffer zin;
	bool zend;
	unsigned char zbuf[1 << 17];
	unsigned char buf[1 << 17];
};

struct tfile {
	struct stream *s;       /* streaming, or NULL */
	const char *data;       /* cached */
	size_t len, off;
	bool borrowed;          /* s belongs to the walk */
};

static ssize_t z_read(struct archive *a, struct stream *s, const void **out)
{
	ZSTD_outBuffer o = { s->buf, sizeof(s->buf), 0 };

	while (o.pos < o.size) {
		size_t z;

		if (s->zin.pos == s->zin.size) {
			ssize_t n = s->src->pread(s->src, s->zbuf, sizeof(s->zbuf), s->pos);

			if (n < 0) {
				archive_set_error(a, EIO, "%s", rain_error_last());
				return -1;
			}
			if (n == 0) {
				if (!s->zend) {
					archive_set_error(a, EIO, "the zstd data is cut short");
					return -1;
				}
				break;
			}
			s->pos += (uint64_t)n;
			s->zin = (ZSTD_inBuffer){ s->zbuf, (size_t)n, 0 };
		}
		z = ZSTD_decompressStream(s->zd, &o, &s->zin);
		if (ZSTD_isError(z)) {
			archive_set_error(a, EIO, "zstd: %s", ZSTD_getErrorName(z));
			return -1;
		}
		s->zend = z == 0;
	}
	*out = s->buf;
	return (ssize_t)o.pos;
}

static ssize_t s_read(struct archive *a, void *ud, const void **out)
{
	struct stream *s = ud;
	ssize_t n;

	if (s->zd)
		return z_read(a, s, out);
	n = s->src->pread(s->src, s->buf, sizeof(s->buf), s->pos);

	if (n < 0) {
		archive_set_error(a, EIO, "%s", rain_error_last());
		return -1;
	}
	s->pos += (uint64_t)n;
	*out = s->buf;
	return n;
}

static la_int64_t s_skip(struct archive *a, void *ud, la_int64_t req)
{
	struct stream *s = ud;
	uint64_t left = s->src->size > s->pos ? s->src->size - s->pos : 0;

	if (req < 0 || s->zd)
		return 0;       /* (zstd: read through) */
	if ((uint64_t)req > left)
		req = (la_int64_t)left;
	s->pos += (uint64_t)req;
	return req;
}

static la_int64_t s_seek(struct archive *a, void *ud, la_int64_t off, int whence)
{
	struct stream *s = ud;
	int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)s->pos : (int64_t)s->src->size;

	if (base + off < 0 || s->zd)
		return ARCHIVE_FATAL;
	s->pos = (uint64_t)(base + off);
	return (la_int64_t)s->pos;
}

static void stream_free(struct stream *s)
{
	if (!s)
		return;
	if (s->a)
		archive_read_free(s->a);
	ZSTD_freeDCtx(s->zd);
	free(s);
}

static int stream_open(struct tarfs *t, struct stream **out)
{
	struct stream *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return rain_error_oom();
	s->src = t->src;
	s->a = archive_read_new();
	if (t->zstd)
		s->zd = ZSTD_createDCtx();
	if (!s->a || (t->zstd && !s->zd)) {
		stream_free(s);
		return rain_error_oom();
	}
	archive_read_support_format_tar(s->a);
	archive_read_support_format_gnutar(s->a);
	archive_read_support_filter_gzip(s->a);
	archive_read_support_filter_xz(s->a);
	archive_read_support_filter_zstd(s->a);
	archive_read_support_filter_bzip2(s->a);
	archive_read_set_callback_data(s->a, s);
	archive_read_set_read_callback(s->a, s_read);
	archive_read_set_skip_callback(s->a, s_skip);
	archive_read_set_seek_callback(s->a, s_seek);
	if (archive_read_open1(s->a) != ARCHIVE_OK) {
		int r = rain_error_set(RAIN_EFORMAT, "tar %s: %s", t->src->name, archive_error_string(s->a));

		stream_free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* ---- the index ---- */

static uint32_t hash_path(const char *p)
{
	uint32_t h = 2166136261u;

	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static uint32_t find(struct tarfs *t, const char *path)
{
	uint32_t i = t->hash[hash_path(path) & (t->nbuckets - 1)];

	for (; i != NONE; i = t->n[i].hnext)
		if (strcmp(t->n[i].path, path) == 0)
			return i;
	return NONE;
}

static int rehash(struct tarfs *t)
{
	size_t nb = t->nbuckets ? t->nbuckets * 2 : 4096;
	uint32_t *h = malloc(nb * sizeof(*h));

	if (!h)
		return rain_error_oom();
	memset(h, 0xff, nb * sizeof(*h));
	for (size_t i = 0; i < t->nn; i++) {
		uint32_t b = hash_path(t->n[i].path) & (nb - 1);

		t->n[i].hnext = h[b];
		h[b] = (uint32_t)i;
	}
	free(t->hash);
	t->hash = h;
	t->nbuckets = nb;
	return 0;
}

/* A new node for path (absolute, normalized, not there yet) under
 * parent. */
static int add(struct tarfs *t, const char *path, uint32_t parent, uint32_t *out)
{
	struct tnode *n;
	uint32_t b;

	if (t->nn >= t->max_entries || t->nn >= NONE - 1)
		return rain_error_set(RAIN_ETOOBIG, "tar %s: more than %llu entries: refused", t->src->name,
				      (unsigned long long)t->max_entries);
	if (t->names_total > TAR_NAMES_TOTAL)
		return rain_error_set(RAIN_ETOOBIG, "tar %s: paths and link targets of more than %u MiB: "
				      "refused", t->src->name, TAR_NAMES_TOTAL >> 20);
	if (ARRAY_GROW(t->n, t->nn, t->cap) < 0)
		return rain_error_oom();
	n = &t->n[t->nn];
	*n = (struct tnode){ .parent = parent, .child = NONE, .next = NONE, .ord = NONE,
			     .data = (uint32_t)t->nn };
	n->path = strdup(path);
	if (!n->path)
		return rain_error_oom();
	t->names_total += strlen(path) + 1;
	n->e = (struct rain_imgfs_entry){ .mode = S_IFDIR | 0755, .nlink = 1 };
	if (parent != NONE) {
		n->next = t->n[parent].child;
		t->n[parent].child = (uint32_t)t->nn;
	}
	*out = (uint32_t)t->nn++;
	if (t->nn * 2 > t->nbuckets)
		return rehash(t);
	b = hash_path(path) & (t->nbuckets - 1);
	n->hnext = t->hash[b];
	t->hash[b] = *out;
	return 0;
}

/* The node of path, made with its missing parents (as directories). */
static int get(struct tarfs *t, char *path, uint32_t *out)
{
	uint32_t i = find(t, path), parent;
	char *slash;
	int r;

	if (i != NONE) {
		*out = i;
		return 0;
	}
	slash = strrchr(path, '/');
	if (slash == path) {
		parent = 0;
	} else {
		*slash = '\0';
		r = get(t, path, &parent);
		*slash = '/';
		if (r < 0)
			return r;
	}
	return add(t, path, parent, out);
}

/* name as an absolute normalized path into out (RAIN_IMGFS_MAX_PATH + 1):
 * false when it cannot be one (the reason in why). */
static bool normalize(const char *name, char *out, const char **why)
{
	size_t len = 0;

	while (*name) {
		const char *c;
		size_t cl;

		while (*name == '/')
			name++;
		c = name;
		cl = strcspn(c, "/");
		name += cl;
		if (cl == 0 || (cl == 1 && c[0] == '.'))
			continue;
		if (cl == 2 && c[0] == '.' && c[1] == '.') {
			*why = "it holds \"..\"";
			return false;
		}
		if (cl > RAIN_IMGFS_MAX_NAME) {
			*why = "a name in it is too long";
			return false;
		}
		if (len + 1 + cl > RAIN_IMGFS_MAX_PATH) {
			*why = "it is too long";
			return false;
		}
		out[len++] = '/';
		memcpy(out + len, c, cl);
		len += cl;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return true;
}

static void node_clear(struct tnode *n)
{
	free(n->link);
	free(n->cache);
	n->link = n->cache = NULL;
	n->cached = false;
}

static int index_entry(struct tarfs *t, struct stream *s, struct archive_entry *ae, uint32_t ord)
{
	char path[RAIN_IMGFS_MAX_PATH + 1];
	const char *name = archive_entry_pathname(ae), *hl = archive_entry_hardlink(ae), *why = NULL;
	const char *sl = archive_entry_symlink(ae);
	mode_t type = archive_entry_filetype(ae);
	struct tnode *n;
	uint32_t i, target = NONE;
	int r;

	if (!name || !normalize(name, path, &why)) {
		rain_imgfs_problem(t->fs, "tar %s: entry %u (%.100s): %s: skipped", t->src->name, ord,
				   name ? name : "without a name", why ? why : "no name");
		return 0;
	}
	if (hl) {
		char tp[RAIN_IMGFS_MAX_PATH + 1];

		if (!normalize(hl, tp, &why) || (target = find(t, tp)) == NONE ||
		    !S_ISREG(t->n[target].e.mode)) {
			rain_imgfs_problem(t->fs, "tar %s: %s: a hard link to %.100s, which is no regular file "
					   "before it: skipped", t->src->name, path, hl);
			return 0;
		}
		target = t->n[target].data;
	} else if (!S_ISREG(type) && !S_ISDIR(type) && !S_ISLNK(type) && !S_ISCHR(type) && !S_ISBLK(type) &&
		   !S_ISFIFO(type) && !S_ISSOCK(type)) {
		rain_imgfs_problem(t->fs, "tar %s: %s: an entry of unknown type %o: skipped", t->src->name, path,
				   (unsigned)type);
		return 0;
	}
	if (S_ISLNK(type) && !sl) {
		rain_imgfs_problem(t->fs, "tar %s: %s: a symbolic link without a target: skipped", t->src->name,
				   path);
		return 0;
	}
	r = get(t, path, &i);
	if (r < 0)
		return r;
	n = &t->n[i];
	if (n->ord != NONE)
		t->ords[n->ord] = NONE;     /* replaced by this one */
	node_clear(n);
	n->ord = ord;
	t->ords[ord] = i;
	n->data = i;
	n->e = (struct rain_imgfs_entry){
		.mode = (uint32_t)(type | (archive_entry_perm(ae) & 07777)),
		.uid = (uint32_t)archive_entry_uid(ae), .gid = (uint32_t)archive_entry_gid(ae),
		.nlink = 1, .mtime = archive_entry_mtime(ae),
		.rdev_major = (uint32_t)archive_entry_rdevmajor(ae),
		.rdev_minor = (uint32_t)archive_entry_rdevminor(ae),
	};
	if (hl) {
		struct tnode *tn = &t->n[target];

		n->data = target;
		n->e = tn->e;
		tn->e.nlink++;
		n->e.nlink = tn->e.nlink;
		return 0;
	}
	if (i == 0 && !S_ISDIR(type)) {
		rain_imgfs_problem(t->fs, "tar %s: an entry for / that is not a directory: taken as one",
				   t->src->name);
		n->e.mode = S_IFDIR | (n->e.mode & 07777);
	}
	if (S_ISLNK(type)) {
		n->link = strdup(sl);
		if (!n->link)
			return rain_error_oom();
		t->names_total += strlen(sl) + 1;       /* (checked by the next add) */
		n->e.size = strlen(sl);
	} else if (S_ISREG(type)) {
		la_int64_t size = archive_entry_size(ae);

		bool fact = false;

		n->e.size = size < 0 ? 0 : (uint64_t)size;
		for (const char *const *d = fact_dirs; *d && !fact; d++)
			fact = strncmp(path, *d, strlen(*d)) == 0 && n->e.size <= TAR_CACHE_FACT_FILE &&
			       t->facts_total + n->e.size <= TAR_CACHE_FACTS;
		if (fact || (n->e.size <= TAR_CACHE_FILE &&
			     t->cached_total + n->e.size <= TAR_CACHE_TOTAL)) {
			size_t got = 0;

			n->cache = malloc(n->e.size + 1);
			if (!n->cache)
				return rain_error_oom();
			while (got < n->e.size) {
				la_ssize_t k = archive_read_data(s->a, n->cache + got, n->e.size - got);

				if (k < 0)
					return rain_error_set(RAIN_EFORMAT, "tar %s: %s: %s", t->src->name, path,
							      archive_error_string(s->a));
				if (k == 0)
					break;
				got += (size_t)k;
			}
			if (got != n->e.size)
				return rain_error_set(RAIN_EFORMAT, "tar %s: %s: the archive ends within its data",
						      t->src->name, path);
			n->cached = true;
			if (fact)
				t->facts_total += n->e.size;
			else
				t->cached_total += n->e.size;
		}
	}
	return 0;
}

static int build_index(struct tarfs *t)
{
	struct stream *s = NULL;
	struct archive_entry *ae;
	uint32_t root;
	int r;

	r = stream_open(t, &s);
	if (r < 0)
		return r;
	r = rehash(t);
	if (r < 0)
		goto done;
	r = add(t, "/", NONE, &root);
	if (r < 0)
		goto done;
	for (;;) {
		int ar = archive_read_next_header(s->a, &ae);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = rain_error_set(RAIN_EFORMAT, "tar %s: after %zu entries: %s", t->src->name, t->nords,
					   archive_error_string(s->a));
			goto done;
		}
		if (t->nords >= t->max_entries) {
			r = rain_error_set(RAIN_ETOOBIG, "tar %s: more than %llu entries: refused", t->src->name,
					   (unsigned long long)t->max_entries);
			goto done;
		}
		if (ARRAY_GROW(t->ords, t->nords, t->ordcap) < 0) {
			r = rain_error_oom();
			goto done;
		}
		t->ords[t->nords] = NONE;
		r = index_entry(t, s, ae, (uint32_t)t->nords);
		t->nords++;
		if (r < 0)
			goto done;
	}
	if (t->nords == 0) {
		r = rain_error_set(RAIN_EFORMAT, "tar %s: an archive without entries", t->src->name);
		goto done;
	}
	{
		const char *f = t->zstd ? "zstd" :
				archive_filter_count(s->a) > 1 ? archive_filter_name(s->a, 0) : "none";

		snprintf(t->detail, sizeof(t->detail), "tar%s", strcmp(f, "zstd") == 0 ? ".zst" :
			 strcmp(f, "gzip") == 0 ? ".gz" : strcmp(f, "xz") == 0 ? ".xz" :
			 strcmp(f, "bzip2") == 0 ? ".bz2" : "");
	}
	r = 0;
done:
	stream_free(s);
	return r;
}

/* ---- the reader ---- */

static void tar_close(void *impl)
{
	struct tarfs *t = impl;

	if (!t)
		return;
	for (size_t i = 0; i < t->nn; i++) {
		node_clear(&t->n[i]);
		free(t->n[i].path);
	}
	free(t->n);
	free(t->hash);
	free(t->ords);
	free(t);
}

static bool tar_probe(const unsigned char *h, size_t len)
{
	static const unsigned char zst[] = { 0x28, 0xb5, 0x2f, 0xfd }, xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 };

	if (len >= 263 && memcmp(h + 257, "ustar", 5) == 0)
		return true;
	return (len >= 4 && memcmp(h, zst, 4) == 0) || (len >= 6 && memcmp(h, xz, 6) == 0) ||
	       (len >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8) ||
	       (len >= 4 && memcmp(h, "BZh", 3) == 0 && h[3] >= '1' && h[3] <= '9');
}

static int tar_open(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_limits *lim,
		    void **impl, char *detail, size_t detail_len)
{
	struct tarfs *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return rain_error_oom();
	t->fs = fs;
	t->src = src;
	t->max_entries = lim->max_entries;
	{
		unsigned char m[4];

		t->zstd = src->pread(src, m, 4, 0) == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f &&
			  m[3] == 0xfd;
	}
	r = build_index(t);
	if (r < 0) {
		tar_close(t);
		return r;
	}
	snprintf(detail, detail_len, "%s", t->detail);
	*impl = t;
	return 0;
}

static void fill(struct tarfs *t, uint32_t i, struct rain_imgfs_entry *e)
{
	*e = t->n[i].e;
	e->link = t->n[i].link;
	e->path = NULL;
}

static int tar_root(void *impl, uint64_t *node, struct rain_imgfs_entry *e)
{
	*node = 0;
	fill(impl, 0, e);
	return 0;
}

static int tar_lookup(void *impl, uint64_t dir, const char *dirpath, const char *name, uint64_t *node,
		      struct rain_imgfs_entry *e)
{
	struct tarfs *t = impl;
	char path[RAIN_IMGFS_MAX_PATH * 2 + 2];
	uint32_t i;

	snprintf(path, sizeof(path), "%s/%s", strcmp(dirpath, "/") == 0 ? "" : dirpath, name);
	i = find(t, path);
	if (i == NONE)
		return RAIN_ENOTFOUND;
	*node = i;
	fill(t, i, e);
	return 0;
}

static int tar_readdir(void *impl, uint64_t dir, const char *dirpath, rain_imgfs_dirent_fn fn, void *ud)
{
	struct tarfs *t = impl;

	if (dir >= t->nn)
		return rain_error_set(RAIN_EINVAL, "tar %s: no node %llu", t->src->name, (unsigned long long)dir);
	for (uint32_t i = t->n[dir].child; i != NONE; i = t->n[i].next) {
		struct rain_imgfs_entry e;
		const char *base = strrchr(t->n[i].path, '/') + 1;
		int r;

		fill(t, i, &e);
		r = fn(ud, base, strlen(base), i, &e);
		if (r)
			return r;
	}
	return 0;
}

/* Stream the archive up to header ord, for reading its data. */
static int stream_to(struct tarfs *t, uint32_t ord, struct stream **out)
{
	struct stream *s;
	struct archive_entry *ae;
	int r = stream_open(t, &s);

	if (r < 0)
		return r;
	for (uint32_t k = 0;; k++) {
		int ar = archive_read_next_header(s->a, &ae);

		if (ar < ARCHIVE_WARN || ar == ARCHIVE_EOF) {
			r = rain_error_set(RAIN_EFORMAT, "tar %s: the archive changed while it was read", t->src->name);
			stream_free(s);
			return r;
		}
		if (k == ord)
			break;
	}
	*out = s;
	return 0;
}

static int open_data(struct tarfs *t, uint32_t i, struct stream *walking, void **file)
{
	struct tnode *d;
	struct tfile *f;
	int r;

	if (i >= t->nn || !S_ISREG(t->n[i].e.mode))
		return rain_error_set(RAIN_EINVAL, "tar %s: node %u is not a regular file", t->src->name, i);
	d = &t->n[t->n[i].data];
	f = calloc(1, sizeof(*f));
	if (!f)
		return rain_error_oom();
	f->len = (size_t)d->e.size;
	if (d->cached) {
		f->data = d->cache;
	} else if (walking) {
		f->s = walking;
		f->borrowed = true;
	} else {
		r = stream_to(t, d->ord, &f->s);
		if (r < 0) {
			free(f);
			return r;
		}
	}
	*file = f;
	return 0;
}

static int tar_open_file(void *impl, uint64_t node, const char *path, void **file)
{
	return open_data(impl, (uint32_t)node, NULL, file);
}

static ssize_t tar_read_file(void *impl, void *file, void *buf, size_t len)
{
	struct tarfs *t = impl;
	struct tfile *f = file;
	la_ssize_t n;

	if (f->data) {
		if (len > f->len - f->off)
			len = f->len - f->off;
		memcpy(buf, f->data + f->off, len);
		f->off += len;
		return (ssize_t)len;
	}
	n = archive_read_data(f->s->a, buf, len);
	if (n < 0)
		return rain_error_set(RAIN_EFORMAT, "tar %s: %s", t->src->name, archive_error_string(f->s->a));
	return n;
}

static void tar_close_file(void *impl, void *file)
{
	struct tfile *f = file;

	if (f && !f->borrowed)
		stream_free(f->s);
	free(f);
}

struct twalk {
	struct tarfs *t;
	rain_imgfs_node_fn fn;
	void *ud;
};

/* Read n's data from s into its cache, for the hard links to it. */
static int keep(struct tarfs *t, struct tnode *n, struct stream *s)
{
	size_t got = 0;

	n->cache = malloc((size_t)n->e.size + 1);
	if (!n->cache)
		return rain_error_oom();
	while (got < n->e.size) {
		la_ssize_t k = archive_read_data(s->a, n->cache + got, (size_t)n->e.size - got);

		if (k <= 0) {
			free(n->cache);
			n->cache = NULL;
			return k < 0 ? rain_error_set(RAIN_EFORMAT, "tar %s: %s: %s", t->src->name, n->path,
						      archive_error_string(s->a)) :
				       rain_error_set(RAIN_EFORMAT, "tar %s: %s: the archive ends within its data",
						      t->src->name, n->path);
		}
		got += (size_t)k;
	}
	n->cached = true;
	t->kept_total += got;
	return 0;
}

/* Give node i (and first its parents) unless done or under a skipped
 * directory; walking: the stream at i's data, or NULL. */
static int emit(struct twalk *w, uint32_t i, struct stream *walking)
{
	struct tarfs *t = w->t;
	struct tnode *n = &t->n[i];
	struct rain_imgfs_entry e;
	void *file = NULL;
	int r;

	if (n->emitted)
		return 0;
	if (n->parent != NONE) {
		r = emit(w, n->parent, NULL);
		if (r < 0)
			return r;
		if (t->n[n->parent].skipped) {
			n->emitted = n->skipped = true;
			return 0;
		}
		if (!S_ISDIR(t->n[n->parent].e.mode)) {
			rain_imgfs_problem(t->fs, "tar %s: %s: its parent is not a directory: skipped",
					   t->src->name, n->path);
			n->emitted = n->skipped = true;
			return 0;
		}
	}
	n->emitted = true;
	fill(t, i, &e);
	if (S_ISREG(n->e.mode) && n->data == i && walking && !n->cached && n->e.nlink > 1 &&
	    n->e.size <= TAR_KEEP_LINKED - t->kept_total) {
		/* the names to come read it from memory, not from a new
		 * pass over the archive */
		r = keep(t, n, walking);
		if (r < 0)
			return r;
	}
	if (S_ISREG(n->e.mode)) {
		r = open_data(t, i, n->data == i ? walking : NULL, &file);
		if (r == RAIN_ENOMEM)
			return r;
		if (r < 0)
			rain_imgfs_problem(t->fs, "%s: %s", n->path, rain_error_last());
	}
	r = w->fn(w->ud, n->path, &e, file);
	tar_close_file(t, file);
	if (r < 0)
		return r;
	n->skipped = r == 1;
	return 0;
}

static int tar_walk(void *impl, rain_imgfs_node_fn fn, void *ud)
{
	struct tarfs *t = impl;
	struct twalk w = { t, fn, ud };
	struct stream *s = NULL;
	struct archive_entry *ae;
	int r;

	for (size_t i = 0; i < t->nn; i++)
		t->n[i].emitted = t->n[i].skipped = false;
	r = emit(&w, 0, NULL);
	if (r < 0)
		return r;
	r = stream_open(t, &s);
	if (r < 0)
		return r;
	for (size_t k = 0; k < t->nords; k++) {
		int ar = archive_read_next_header(s->a, &ae);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = rain_error_set(RAIN_EFORMAT, "tar %s: after %zu entries: %s", t->src->name, k,
					   archive_error_string(s->a));
			goto done;
		}
		if (t->ords[k] == NONE)
			continue;
		t->walk_ae = ae;
		t->walk_node = t->ords[k];
		r = emit(&w, t->ords[k], s);
		t->walk_ae = NULL;
		if (r < 0)
			goto done;
	}
	/* what the archive did not reach again (it changed) */
	for (size_t i = 0; i < t->nn; i++) {
		r = emit(&w, (uint32_t)i, NULL);
		if (r < 0)
			goto done;
	}
	r = 0;
done:
	stream_free(s);
	return r;
}

/* Only during the walk, for the entry whose header was just read: what
 * its SCHILY.xattr.* and LIBARCHIVE.xattr.* records (GNU tar --xattrs,
 * bsdtar) said. ACLs that GNU tar keeps as text (SCHILY.acl.*) are not
 * attributes here. */
static int tar_xattrs(void *impl, uint64_t node, const char *path, const struct rain_imgfs_entry *e,
		      rain_imgfs_xattr_fn fn, void *ud)
{
	struct tarfs *t = impl;
	const char *name;
	const void *value;
	size_t size;

	if (!t->walk_ae || strcmp(t->n[t->walk_node].path, path))
		return 0;
	archive_entry_xattr_reset(t->walk_ae);
	while (archive_entry_xattr_next(t->walk_ae, &name, &value, &size) == ARCHIVE_OK) {
		int r = fn(ud, name, value, size);

		if (r)
			return r;
	}
	return 0;
}

const struct rain_imgfs_backend rain_imgfs_tar = {
	.version = RAIN_IMGFS_BACKEND_VERSION,
	.name = "tar",
	.probe = tar_probe,
	.open = tar_open,
	.close = tar_close,
	.root = tar_root,
	.lookup = tar_lookup,
	.readdir = tar_readdir,
	.open_file = tar_open_file,
	.read_file = tar_read_file,
	.close_file = tar_close_file,
	.walk = tar_walk,
	.xattrs = tar_xattrs,
};
