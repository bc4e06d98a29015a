/* imgfs reader "ext4": ext2, ext3 and ext4 through libext2fs, read-only,
 * through an io_manager of its own that reads the source (so an ext4
 * inside a partition or a qcow2 is read the same way, never past the
 * source's end). The journal is not replayed: what a clean unmount left
 * is what is read (a problem is recorded when the journal holds more). Before libext2fs sees it, the superblock is checked
 * against the source (a file system larger than what holds it, absurd
 * block sizes or counts are refused), so libext2fs never sizes its
 * tables from absurd numbers. Nodes are inode numbers.
 *
 * Speed: libext2fs reads one block per call, and reads the same blocks
 * (directories, inode tables, extent nodes) again and again; the
 * io_manager keeps the last single blocks it read (a small direct-mapped
 * cache), and the content of a file with extents is read a run of blocks
 * at a time straight from the source into the caller's buffer (libext2fs
 * maps the blocks: ext2fs_extent_goto, as its own reads do); inline data
 * and block-mapped files (ext2, ext3) go through ext2fs_file_read.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>

#include "rain/sys/imgfs.h"
#include "util/cleanup.h"

/* The names of a directory, for lookups (see dir_lookup). */
struct dname {
	uint32_t hash, len;
	size_t off;             /* in names */
	ext2_ino_t ino;         /* 0: an empty slot */
};

struct dindex {
	ext2_ino_t dir;         /* 0: none */
	uint64_t stamp;         /* last used */
	struct dname *slots;    /* cap, a power of two, at most half full */
	size_t cap, n;
	char *names;
	size_t names_len, names_cap;
	bool full;              /* more than DIR_INDEX_MAX names: not kept */
};

#define DIR_INDEXES 64
#define INODE_CACHE 64
#define DIR_INDEX_MAX 200000

struct ext4fs {
	struct rain_imgfs *fs;
	struct rain_imgfs_src *src;
	ext2_filsys e2;
	char link[PATH_MAX + 1];
	bool ea_inode_told;
	struct dindex dirs[DIR_INDEXES];
	uint64_t stamp;
};

/* ---- the io_manager over a source ---- */

/* The source open hands to io_open (libext2fs opens by name only). */
static __thread struct rain_imgfs_src *opening;

static struct struct_io_manager src_manager;

/* Bytes of single blocks the channel keeps (a block size's worth of
 * slots, direct-mapped by block number). */
#define CACHE_BYTES (1u << 20)

struct chan {
	struct rain_imgfs_src *src;
	unsigned char *cache;   /* n_slots blocks of the channel's size */
	uint64_t *tags;         /* each slot's block number + 1; 0: empty */
	size_t n_slots;
};

static void chan_cache_drop(struct chan *c)
{
	free(c->cache);
	free(c->tags);
	c->cache = NULL;
	c->tags = NULL;
	c->n_slots = 0;
}

static errcode_t io_open(const char *name, int flags, io_channel *out)
{
	io_channel ch;
	struct chan *c;

	if (!opening || (flags & IO_FLAG_RW))
		return EXT2_ET_BAD_DEVICE_NAME;
	ch = calloc(1, sizeof(*ch));
	c = calloc(1, sizeof(*c));
	if (ch)
		ch->name = strdup(name);
	if (!ch || !c || !ch->name) {
		if (ch)
			free(ch->name);
		free(ch);
		free(c);
		return EXT2_ET_NO_MEMORY;
	}
	c->src = opening;
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = &src_manager;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = c;
	*out = ch;
	return 0;
}

static errcode_t io_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	chan_cache_drop(ch->private_data);
	free(ch->private_data);
	free(ch->name);
	free(ch);
	return 0;
}

static errcode_t io_set_blksize(io_channel ch, int blksize)
{
	if (blksize <= 0 || blksize > 65536)
		return EXT2_ET_INVALID_ARGUMENT;
	if (blksize != ch->block_size)
		chan_cache_drop(ch->private_data);
	ch->block_size = blksize;
	return 0;
}

static errcode_t read_span(struct rain_imgfs_src *src, void *data, size_t len, uint64_t off)
{
	ssize_t n = src->pread(src, data, len, off);

	if (n < 0)
		return EXT2_ET_SHORT_READ;
	if ((size_t)n < len) {
		memset((char *)data + n, 0, len - (size_t)n);
		return EXT2_ET_SHORT_READ;
	}
	return 0;
}

static errcode_t io_read_blk64(io_channel ch, unsigned long long block, int count, void *data)
{
	struct chan *c = ch->private_data;
	size_t bs = (size_t)ch->block_size;
	size_t len = count < 0 ? (size_t)-(long long)count : (size_t)count * bs;
	unsigned char *slot;
	size_t i;
	errcode_t err;

	if (block > UINT64_MAX / bs - 1)
		return EXT2_ET_LLSEEK_FAILED;
	if (count != 1)
		return read_span(c->src, data, len, block * bs);
	if (!c->n_slots) {
		c->cache = malloc(CACHE_BYTES);
		c->tags = calloc(CACHE_BYTES / bs, sizeof(*c->tags));
		if (!c->cache || !c->tags) {
			chan_cache_drop(c);
			return read_span(c->src, data, len, block * bs);
		}
		c->n_slots = CACHE_BYTES / bs;
	}
	i = (size_t)(block % c->n_slots);
	slot = c->cache + i * bs;
	if (c->tags[i] != block + 1) {
		c->tags[i] = 0;
		err = read_span(c->src, slot, bs, block * bs);
		if (err) {
			memcpy(data, slot, bs);
			return err;
		}
		c->tags[i] = block + 1;
	}
	memcpy(data, slot, bs);
	return 0;
}

static errcode_t io_read_blk(io_channel ch, unsigned long block, int count, void *data)
{
	return io_read_blk64(ch, block, count, data);
}

static errcode_t io_write_blk64(io_channel ch, unsigned long long block, int count, const void *data)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t io_write_blk(io_channel ch, unsigned long block, int count, const void *data)
{
	return EXT2_ET_RO_FILSYS;
}

static errcode_t io_flush(io_channel ch)
{
	return 0;
}

static errcode_t io_set_option(io_channel ch, const char *option, const char *arg)
{
	return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager src_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "rain imgfs source",
	.open = io_open,
	.close = io_close,
	.set_blksize = io_set_blksize,
	.read_blk = io_read_blk,
	.write_blk = io_write_blk,
	.flush = io_flush,
	.set_option = io_set_option,
	.read_blk64 = io_read_blk64,
	.write_blk64 = io_write_blk64,
};

/* ---- the reader ---- */

static int e2err(struct ext4fs *x, errcode_t code, const char *what, ext2_ino_t ino)
{
	return rain_error_set(RAIN_EFORMAT, "ext4 %s: %s (inode %u): %s", x->src->name, what, ino,
			      error_message(code));
}

static bool ext4_probe(const unsigned char *h, size_t len)
{
	return len >= 1024 + 2048 && h[1024 + 56] == 0x53 && h[1024 + 57] == 0xef &&
	       h[1024 + 24] <= 6;      /* s_log_block_size: 1 KiB to 64 KiB */
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What libext2fs would size its tables from, against the source. */
static int check_super(struct rain_imgfs_src *src)
{
	unsigned char sb[1024];
	uint64_t blocks, bsize;
	uint32_t log, per_group, feat_incompat;
	int r = rain_imgfs_src_read(src, sb, sizeof(sb), 1024, "the ext4 superblock");

	if (r < 0)
		return r;
	if (sb[56] != 0x53 || sb[57] != 0xef)
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: no ext2/3/4 superblock (magic 0xEF53 at byte 1080)",
				      src->name);
	log = le32(sb + 24);
	feat_incompat = le32(sb + 96);
	blocks = le32(sb + 4);
	if (feat_incompat & 0x80)       /* 64bit */
		blocks |= (uint64_t)le32(sb + 0x150) << 32;
	per_group = le32(sb + 32);
	if (log > 6)
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: superblock: block size 2^%u KiB is absurd", src->name,
				      log);
	bsize = 1024ull << log;
	if (blocks == 0 || per_group == 0 || per_group > 8 * bsize || le32(sb + 0) == 0)
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: superblock: %llu blocks, %u per group, %u inodes: "
				      "corrupt", src->name, (unsigned long long)blocks, per_group, le32(sb + 0));
	if (blocks > src->size / bsize)
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: superblock: %llu blocks of %llu bytes, more than the "
				      "%llu bytes that hold it (truncated or corrupt)", src->name,
				      (unsigned long long)blocks, (unsigned long long)bsize,
				      (unsigned long long)src->size);
	return 0;
}

static void dindex_clear(struct dindex *d)
{
	free(d->slots);
	free(d->names);
	memset(d, 0, sizeof(*d));
}

static void ext4_close(void *impl)
{
	struct ext4fs *x = impl;

	if (!x)
		return;
	for (size_t i = 0; i < DIR_INDEXES; i++)
		dindex_clear(&x->dirs[i]);
	if (x->e2)
		ext2fs_close_free(&x->e2);
	free(x);
}

static int ext4_open(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_limits *lim,
		     void **impl, char *detail, size_t detail_len)
{
	struct ext4fs *x;
	errcode_t err;
	int r;

	r = check_super(src);
	if (r < 0)
		return r;
	x = calloc(1, sizeof(*x));
	if (!x)
		return rain_error_oom();
	x->fs = fs;
	x->src = src;
	opening = src;
	err = ext2fs_open2(src->name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP | EXT2_FLAG_IGNORE_CSUM_ERRORS,
			   0, 0, &src_manager, &x->e2);
	opening = NULL;
	if (err) {
		x->e2 = NULL;
		r = rain_error_set(RAIN_EFORMAT, "ext4 %s: %s", src->name, error_message(err));
		ext4_close(x);
		return r;
	}
	/* libext2fs keeps 4 inodes; the directories of the paths looked up
	 * are read again and again (each read verifies a checksum) */
	if (x->e2->icache) {
		ext2fs_free_inode_cache(x->e2->icache);
		x->e2->icache = NULL;
	}
	ext2fs_create_inode_cache(x->e2, INODE_CACHE);      /* else libext2fs makes its own */
	if (ext2fs_has_feature_journal_needs_recovery(x->e2->super))
		rain_imgfs_problem(fs, "ext4 %s: the journal holds changes not written to the file system (it "
				   "was not unmounted cleanly); they are not replayed: what is read may be older "
				   "than what the image boots with", src->name);
	snprintf(detail, detail_len, "%s",
		 ext2fs_has_feature_extents(x->e2->super) || ext2fs_has_feature_flex_bg(x->e2->super) ? "ext4" :
		 ext2fs_has_feature_journal(x->e2->super) ? "ext3" : "ext2");
	*impl = x;
	return 0;
}

static int entry_of(struct ext4fs *x, ext2_ino_t ino, struct rain_imgfs_entry *e)
{
	struct ext2_inode in;
	errcode_t err = ext2fs_read_inode(x->e2, ino, &in);

	if (err)
		return e2err(x, err, "cannot read an inode", ino);
	*e = (struct rain_imgfs_entry){
		.mode = in.i_mode, .uid = inode_uid(in), .gid = inode_gid(in), .nlink = in.i_links_count,
		.mtime = (int32_t)in.i_mtime,
	};
	if (LINUX_S_ISREG(in.i_mode) || LINUX_S_ISLNK(in.i_mode))
		e->size = EXT2_I_SIZE(&in);
	if (LINUX_S_ISCHR(in.i_mode) || LINUX_S_ISBLK(in.i_mode)) {
		if (in.i_block[0]) {
			e->rdev_major = (in.i_block[0] >> 8) & 255;
			e->rdev_minor = in.i_block[0] & 255;
		} else {
			e->rdev_major = (in.i_block[1] & 0xfff00) >> 8;
			e->rdev_minor = (in.i_block[1] & 0xff) | ((in.i_block[1] >> 12) & 0xfff00);
		}
	}
	if (!LINUX_S_ISLNK(in.i_mode))
		return 0;
	if (e->size > PATH_MAX)
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: inode %u: a symbolic link of %llu bytes", x->src->name,
				      ino, (unsigned long long)e->size);
	if (ext2fs_is_fast_symlink(&in)) {
		memcpy(x->link, in.i_block, e->size);
	} else if (in.i_flags & EXT4_INLINE_DATA_FL) {
		char buf[EXT2_MAX_BLOCK_SIZE];
		size_t n = 0;

		err = ext2fs_inline_data_size(x->e2, ino, &n);
		if (!err && n > sizeof(buf))
			err = EXT2_ET_INLINE_DATA_NO_SPACE;
		if (!err)
			err = ext2fs_inline_data_get(x->e2, ino, &in, buf, &n);
		if (err)
			return e2err(x, err, "cannot read a symbolic link", ino);
		if (n < e->size)
			e->size = n;
		memcpy(x->link, buf, e->size);
	} else {
		ext2_file_t f;
		unsigned int got = 0;

		err = ext2fs_file_open2(x->e2, ino, &in, 0, &f);
		if (!err) {
			err = ext2fs_file_read(f, x->link, (unsigned int)e->size, &got);
			ext2fs_file_close(f);
		}
		if (err)
			return e2err(x, err, "cannot read a symbolic link", ino);
		e->size = got;
	}
	x->link[e->size] = '\0';
	e->link = x->link;
	return 0;
}

static int ext4_root(void *impl, uint64_t *node, struct rain_imgfs_entry *e)
{
	struct ext4fs *x = impl;
	int r = entry_of(x, EXT2_ROOT_INO, e);

	if (r < 0)
		return r;
	if (!LINUX_S_ISDIR(e->mode))
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: the root inode is not a directory", x->src->name);
	*node = EXT2_ROOT_INO;
	return 0;
}

/* ---- lookups: libext2fs's ext2fs_lookup reads every block of the
 * directory for each name (vetting looks up thousands of names in dpkg's
 * info directory and in /usr/lib/..., and each path is looked up from
 * the root); the names of the last DIR_INDEXES directories looked up in
 * are kept in hash tables, each name once and the first of a name, as
 * ext2fs_lookup finds it (the same iteration, the same bytes compared).
 * A directory that cannot be read whole, or holds more than
 * DIR_INDEX_MAX names, is left to ext2fs_lookup. ---- */

static uint32_t name_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

/* The slot of name in d: its own, or the empty one it would take. */
static struct dname *dindex_slot(struct dindex *d, const char *name, size_t len, uint32_t h)
{
	for (size_t i = h & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
		struct dname *s = &d->slots[i];

		if (!s->ino || (s->hash == h && s->len == len && memcmp(d->names + s->off, name, len) == 0))
			return s;
	}
}

static int dindex_add(struct dindex *d, const char *name, size_t len, ext2_ino_t ino)
{
	uint32_t h = name_hash(name, len);
	struct dname *s;

	if ((d->n + 1) * 2 > d->cap) {
		struct dindex grown = *d;

		grown.cap = d->cap ? d->cap * 2 : 64;
		grown.slots = calloc(grown.cap, sizeof(*grown.slots));
		if (!grown.slots)
			return -1;
		for (size_t i = 0; i < d->cap; i++)
			if (d->slots[i].ino)
				*dindex_slot(&grown, d->names + d->slots[i].off, d->slots[i].len,
					     d->slots[i].hash) = d->slots[i];
		free(d->slots);
		*d = grown;
	}
	s = dindex_slot(d, name, len, h);
	if (s->ino)
		return 0;       /* the first of a name is the one found */
	if (!d->names || d->names_len + len > d->names_cap) {
		size_t cap = (d->names_cap ? d->names_cap * 2 : 4096) + len;
		char *p = realloc(d->names, cap);

		if (!p)
			return -1;
		d->names = p;
		d->names_cap = cap;
	}
	memcpy(d->names + d->names_len, name, len);
	*s = (struct dname){ .hash = h, .len = (uint32_t)len, .off = d->names_len, .ino = ino };
	d->names_len += len;
	d->n++;
	return 0;
}

static int dindex_cb(struct ext2_dir_entry *de, int offset, int blocksize, char *buf, void *priv)
{
	struct dindex *d = priv;

	if (!de->inode)
		return 0;       /* not given without DIRENT_FLAG_INCLUDE_EMPTY; 0 marks empty slots */
	if (d->n >= DIR_INDEX_MAX || dindex_add(d, de->name, ext2fs_dirent_name_len(de), de->inode) < 0) {
		d->full = true;
		return DIRENT_ABORT;
	}
	return 0;
}

/* name in dir through the kept names: 0 and *ino, RAIN_ENOTFOUND, or 1
 * when dir is not kept (ext2fs_lookup's to answer). */
static int dir_lookup(struct ext4fs *x, ext2_ino_t dir, const char *name, ext2_ino_t *ino)
{
	struct dindex *d = NULL, *oldest = &x->dirs[0];
	struct dname *s;
	size_t len = strlen(name);

	for (size_t i = 0; i < DIR_INDEXES && !d; i++) {
		if (x->dirs[i].dir == dir)
			d = &x->dirs[i];
		else if (x->dirs[i].stamp < oldest->stamp)
			oldest = &x->dirs[i];
	}
	if (!d) {
		d = oldest;
		dindex_clear(d);
		if (ext2fs_dir_iterate(x->e2, dir, 0, NULL, dindex_cb, d) || d->full || !d->n) {
			dindex_clear(d);
			return 1;
		}
		d->dir = dir;
	}
	d->stamp = ++x->stamp;
	s = dindex_slot(d, name, len, name_hash(name, len));
	if (!s->ino)
		return RAIN_ENOTFOUND;
	*ino = s->ino;
	return 0;
}

static int ext4_lookup(void *impl, uint64_t dir, const char *dirpath, const char *name, uint64_t *node,
		       struct rain_imgfs_entry *e)
{
	struct ext4fs *x = impl;
	ext2_ino_t ino;
	int r = dir_lookup(x, (ext2_ino_t)dir, name, &ino);
	errcode_t err = 0;

	if (r == RAIN_ENOTFOUND)
		return r;
	if (r == 1)
		err = ext2fs_lookup(x->e2, (ext2_ino_t)dir, name, (int)strlen(name), NULL, &ino);

	if (err == EXT2_ET_FILE_NOT_FOUND)
		return RAIN_ENOTFOUND;
	if (err)
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: %s: %s", x->src->name, dirpath, error_message(err));
	*node = ino;
	return entry_of(x, ino, e);
}

struct rd {
	struct ext4fs *x;
	const char *dirpath;
	rain_imgfs_dirent_fn fn;
	void *ud;
	int r;
};

static int rd_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset, int blocksize, char *buf,
		 void *priv)
{
	struct rd *d = priv;
	int len = ext2fs_dirent_name_len(de);
	struct rain_imgfs_entry e;
	int r;

	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
		return 0;
	if ((len == 1 && de->name[0] == '.') || (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	r = entry_of(d->x, de->inode, &e);
	if (r == RAIN_ENOMEM) {
		d->r = r;
		return DIRENT_ABORT;
	}
	if (r < 0) {
		rain_imgfs_problem(d->x->fs, "%s/%.*s: %s: skipped", d->dirpath, len, de->name, rain_error_last());
		return 0;
	}
	r = d->fn(d->ud, de->name, (size_t)len, de->inode, &e);
	if (r) {
		d->r = r;
		return DIRENT_ABORT;
	}
	return 0;
}

static int ext4_readdir(void *impl, uint64_t dir, const char *dirpath, rain_imgfs_dirent_fn fn, void *ud)
{
	struct ext4fs *x = impl;
	struct rd d = { x, dirpath, fn, ud, 0 };
	errcode_t err = ext2fs_dir_iterate2(x->e2, (ext2_ino_t)dir, 0, NULL, rd_cb, &d);

	if (d.r)
		return d.r;
	if (err)
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: cannot list %s: %s", x->src->name, dirpath,
				      error_message(err));
	return 0;
}

/* An open file: by its extents, or through libext2fs (f). */
struct e4file {
	ext2_file_t f;
	ext2_extent_handle_t eh;
	struct ext2_inode in;   /* eh keeps a pointer to it */
	ext2_ino_t ino;
	uint64_t size, pos;
	/* the extent last found: blocks [lblk, lblk + len) at pblk */
	uint64_t lblk, len, pblk;
	bool uninit;
};

static void ext4_close_file(void *impl, void *file)
{
	struct e4file *f = file;

	if (f->f)
		ext2fs_file_close(f->f);
	if (f->eh)
		ext2fs_extent_free(f->eh);
	free(f);
}

static int ext4_open_file(void *impl, uint64_t node, const char *path, void **file)
{
	struct ext4fs *x = impl;
	struct e4file *f = calloc(1, sizeof(*f));
	errcode_t err;

	if (!f)
		return rain_error_oom();
	f->ino = (ext2_ino_t)node;
	err = ext2fs_read_inode(x->e2, f->ino, &f->in);
	if (!err && (f->in.i_flags & EXT4_EXTENTS_FL) && !(f->in.i_flags & EXT4_INLINE_DATA_FL))
		err = ext2fs_extent_open2(x->e2, f->ino, &f->in, &f->eh);
	else if (!err)
		err = ext2fs_file_open2(x->e2, f->ino, &f->in, 0, &f->f);
	if (err) {
		ext4_close_file(impl, f);
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: cannot open %s: %s", x->src->name, path,
				      error_message(err));
	}
	f->size = EXT2_I_SIZE(&f->in);
	*file = f;
	return 0;
}

/* Where the hole at block lblk ends: at the extent libext2fs's handle
 * was left at or the next one when they begin after it, else one block
 * on (the next leaf is looked up from there). */
static uint64_t hole_end(struct e4file *f, uint64_t lblk)
{
	struct ext2fs_extent ex;

	if (ext2fs_extent_get(f->eh, EXT2_EXTENT_CURRENT, &ex) == 0 && ex.e_lblk > lblk)
		return ex.e_lblk;
	if (ext2fs_extent_get(f->eh, EXT2_EXTENT_NEXT_LEAF, &ex) == 0 && ex.e_lblk > lblk)
		return ex.e_lblk;
	return lblk + 1;
}

/* Up to len bytes from f->pos by the extents: runs of blocks read from
 * the source, holes and unwritten extents as zeros. */
static ssize_t extent_read(struct ext4fs *x, struct e4file *f, char *buf, size_t len)
{
	uint64_t bs = x->e2->blocksize;
	size_t done = 0;

	if (f->pos >= f->size)
		return 0;
	if (len > f->size - f->pos)
		len = (size_t)(f->size - f->pos);
	while (done < len) {
		uint64_t lblk = f->pos / bs, within = f->pos % bs, end;
		size_t n;

		if (!f->len || lblk < f->lblk || lblk - f->lblk >= f->len) {
			struct ext2fs_extent ex;
			errcode_t err = ext2fs_extent_goto(f->eh, lblk);

			if (!err)
				err = ext2fs_extent_get(f->eh, EXT2_EXTENT_CURRENT, &ex);
			if (err == EXT2_ET_EXTENT_NOT_FOUND) {
				/* a hole: zeros up to the next extent */
				end = hole_end(f, lblk);
				f->len = 0;
				n = end * bs - f->pos < len - done ? (size_t)(end * bs - f->pos) : len - done;
				memset(buf + done, 0, n);
				done += n;
				f->pos += n;
				continue;
			}
			if (err)
				return rain_error_set(RAIN_EFORMAT, "ext4 %s: inode %u: %s", x->src->name, f->ino,
						      error_message(err));
			if (ex.e_len == 0 || ex.e_lblk > lblk || lblk - ex.e_lblk >= ex.e_len ||
			    ex.e_pblk > UINT64_MAX / bs - ex.e_len)
				return rain_error_set(RAIN_EFORMAT, "ext4 %s: inode %u: a corrupt extent (%llu "
						      "blocks at %llu for block %llu)", x->src->name, f->ino,
						      (unsigned long long)ex.e_len, (unsigned long long)ex.e_pblk,
						      (unsigned long long)ex.e_lblk);
			f->lblk = ex.e_lblk;
			f->len = ex.e_len;
			f->pblk = ex.e_pblk;
			f->uninit = ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT;
		}
		end = (f->lblk + f->len - lblk) * bs - within;  /* bytes left in the extent */
		n = end < len - done ? (size_t)end : len - done;
		if (f->uninit) {
			memset(buf + done, 0, n);
		} else {
			uint64_t off = (f->pblk + (lblk - f->lblk)) * bs + within;
			ssize_t k = x->src->pread(x->src, buf + done, n, off);

			if (k < 0)
				return k;
			if ((size_t)k < n)
				return rain_error_set(RAIN_EFORMAT, "ext4 %s: inode %u: blocks past the end of "
						      "the image (byte %llu)", x->src->name, f->ino,
						      (unsigned long long)(off + (uint64_t)k));
		}
		done += n;
		f->pos += n;
	}
	return (ssize_t)done;
}

static ssize_t ext4_read_file(void *impl, void *file, void *buf, size_t len)
{
	struct ext4fs *x = impl;
	struct e4file *f = file;
	unsigned int got = 0;
	errcode_t err;

	if (len > (1u << 30))
		len = 1u << 30;
	if (f->eh)
		return extent_read(x, f, buf, len);
	/* libext2fs gives all of an inode's inline data (60 bytes for a
	 * file of 10): the file's size is what counts */
	if (f->pos >= f->size)
		return 0;
	if (len > f->size - f->pos)
		len = (size_t)(f->size - f->pos);
	err = ext2fs_file_read(f->f, buf, (unsigned int)len, &got);
	if (err)
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: inode %u: %s", x->src->name, f->ino,
				      error_message(err));
	f->pos += got;
	return got;
}

struct xa {
	struct ext2_xattr_handle *h;
	rain_imgfs_xattr_fn fn;
	void *ud;
	int r;
};

static int xa_cb(char *name, char *value, size_t value_len, void *data)
{
	struct xa *a = data;
	void *acl = NULL;
	size_t acl_len = 0;

	/* iterate gives ACLs as ext4 stores them; get turns them into the
	 * xattr format that setxattr takes */
	if (!strcmp(name, "system.posix_acl_access") || !strcmp(name, "system.posix_acl_default")) {
		errcode_t err = ext2fs_xattr_get(a->h, name, &acl, &acl_len);

		if (err) {
			a->r = err == EXT2_ET_NO_MEMORY ? rain_error_oom() : 0;
			return a->r ? XATTR_ABORT : 0;
		}
		value = acl;
		value_len = acl_len;
	}
	a->r = a->fn(a->ud, name, value, value_len);
	if (acl)
		ext2fs_free_mem(&acl);
	return a->r ? XATTR_ABORT : 0;
}

/* libext2fs gives full names ("security.capability"). Values in other inodes (ea_inode) can claim up
 * to 4 GiB, which libext2fs would allocate before checking: not read. */
static int ext4_xattrs(void *impl, uint64_t node, const char *path, const struct rain_imgfs_entry *e,
		       rain_imgfs_xattr_fn fn, void *ud)
{
	struct ext4fs *x = impl;
	struct ext2_xattr_handle *h = NULL;
	struct xa a = { NULL, fn, ud, 0 };
	errcode_t err;

	if (!ext2fs_has_feature_xattr(x->e2->super) || node == 0 || node > x->e2->super->s_inodes_count)
		return 0;
	if (ext2fs_has_feature_ea_inode(x->e2->super)) {
		if (!x->ea_inode_told)
			rain_imgfs_problem(x->fs, "ext4 %s: extended attributes kept in inodes of their own "
					   "(ea_inode) are not read", x->src->name);
		x->ea_inode_told = true;
		return 0;
	}
	err = ext2fs_xattrs_open(x->e2, (ext2_ino_t)node, &h);
	if (!err)
		err = ext2fs_xattrs_read(h);
	a.h = h;
	if (!err)
		err = ext2fs_xattrs_iterate(h, xa_cb, &a);
	if (h)
		ext2fs_xattrs_close(&h);
	if (a.r)
		return a.r;
	if (err == EXT2_ET_NO_MEMORY)
		return rain_error_oom();
	if (err)
		rain_imgfs_problem(x->fs, "ext4 %s: %s: extended attributes: %s: skipped", x->src->name, path,
				   error_message(err));
	return 0;
}

const struct rain_imgfs_backend rain_imgfs_ext4 = {
	.version = RAIN_IMGFS_BACKEND_VERSION,
	.name = "ext4",
	.probe = ext4_probe,
	.open = ext4_open,
	.close = ext4_close,
	.root = ext4_root,
	.lookup = ext4_lookup,
	.readdir = ext4_readdir,
	.open_file = ext4_open_file,
	.read_file = ext4_read_file,
	.close_file = ext4_close_file,
	.xattrs = ext4_xattrs,
};
