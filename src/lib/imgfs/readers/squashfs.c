/* imgfs reader "squashfs": squashfs 4.0 images through libsquashfs
 * (squashfs-tools-ng): every compressor it was built with (gzip, xz, lzo,
 * lz4, zstd), read through a sqfs_file_t over the source (so a squashfs
 * inside a partition or a qcow2 reads the same way). The superblock's
 * tables must lie inside the source and in their usual order. Nodes are
 * inode references (metadata block << 16 | offset).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_reader.h>
#include <sqfs/super.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_reader.h>

#include "rain/sys/imgfs.h"
#include "util/cleanup.h"

struct srcfile {
	sqfs_file_t base;
	struct rain_imgfs_src *src;
};

struct sqfs {
	struct rain_imgfs *fs;
	struct rain_imgfs_src *src;
	struct srcfile *file;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	sqfs_id_table_t *ids;
	sqfs_meta_reader_t *ir, *dr;
	sqfs_data_reader_t *data;
	sqfs_xattr_reader_t *xr;        /* loaded at the first xattrs call */
	bool xr_failed;
	char link[PATH_MAX + 1];
};

struct sfile {
	sqfs_inode_generic_t *inode;
	uint64_t off, size;
};

static int sf_read_at(sqfs_file_t *f, sqfs_u64 off, void *buf, size_t len)
{
	struct rain_imgfs_src *src = ((struct srcfile *)f)->src;
	ssize_t n;

	if (off > src->size || len > src->size - off)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	n = src->pread(src, buf, len, off);
	if (n < 0)
		return SQFS_ERROR_IO;
	return (size_t)n == len ? 0 : SQFS_ERROR_OUT_OF_BOUNDS;
}

static int sf_write_at(sqfs_file_t *f, sqfs_u64 off, const void *buf, size_t len)
{
	return SQFS_ERROR_IO;
}

static sqfs_u64 sf_get_size(const sqfs_file_t *f)
{
	return ((const struct srcfile *)f)->src->size;
}

static int sf_truncate(sqfs_file_t *f, sqfs_u64 size)
{
	return SQFS_ERROR_IO;
}

static void sf_destroy(sqfs_object_t *o)
{
	free(o);
}

static const char *sq_strerror(int e)
{
	switch (e) {
	case SQFS_ERROR_ALLOC: return "out of memory";
	case SQFS_ERROR_IO: return "read error";
	case SQFS_ERROR_COMPRESSOR: return "data that does not decompress";
	case SQFS_ERROR_CORRUPTED: return "corrupt data";
	case SQFS_ERROR_UNSUPPORTED: return "an unsupported feature or compressor";
	case SQFS_ERROR_OVERFLOW: return "a size that overflows";
	case SQFS_ERROR_OUT_OF_BOUNDS: return "a location outside the image or its table";
	case -9: return "no squashfs magic";      /* SFQS_ERROR_SUPER_MAGIC (sic) */
	case -10: return "not squashfs 4.0";      /* SFQS_ERROR_SUPER_VERSION */
	case SQFS_ERROR_SUPER_BLOCK_SIZE: return "an absurd block size";
	case SQFS_ERROR_NOT_DIR: return "not a directory";
	case SQFS_ERROR_NO_ENTRY: return "no such entry";
	default: return "corrupt data";
	}
}

static int sqerr(struct sqfs *q, int e, const char *what)
{
	if (e == SQFS_ERROR_ALLOC)
		return rain_error_oom();
	return rain_error_set(RAIN_EFORMAT, "squashfs %s: %s: %s (error %d)", q->src->name, what, sq_strerror(e), e);
}

static bool squashfs_probe(const unsigned char *h, size_t len)
{
	return len >= 96 && memcmp(h, "hsqs", 4) == 0;
}

static void squashfs_close(void *impl)
{
	struct sqfs *q = impl;

	if (!q)
		return;
	sqfs_destroy(q->xr);
	sqfs_destroy(q->data);
	sqfs_destroy(q->dr);
	sqfs_destroy(q->ir);
	sqfs_destroy(q->ids);
	sqfs_destroy(q->cmp);
	sqfs_destroy(q->file);
	free(q);
}

/* The end of the table starting at start: where the next one begins. */
static uint64_t table_end(const sqfs_super_t *s, uint64_t start)
{
	const uint64_t t[] = { s->inode_table_start, s->directory_table_start, s->fragment_table_start,
			       s->export_table_start, s->id_table_start, s->xattr_id_table_start, s->bytes_used };
	uint64_t end = s->bytes_used;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i] > start && t[i] < end)
			end = t[i];
	return end;
}

static int squashfs_open(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_limits *lim,
			 void **impl, char *detail, size_t detail_len)
{
	struct sqfs *q = calloc(1, sizeof(*q));
	sqfs_compressor_config_t cfg;
	const char *cname;
	int e, r;

	if (!q)
		return rain_error_oom();
	q->fs = fs;
	q->src = src;
	q->file = calloc(1, sizeof(*q->file));
	if (!q->file) {
		r = rain_error_oom();
		goto fail;
	}
	q->file->base.base.destroy = sf_destroy;
	q->file->base.read_at = sf_read_at;
	q->file->base.write_at = sf_write_at;
	q->file->base.get_size = sf_get_size;
	q->file->base.truncate = sf_truncate;
	q->file->src = src;
	e = sqfs_super_read(&q->super, &q->file->base);
	if (e) {
		r = sqerr(q, e, "the superblock");
		goto fail;
	}
	if (q->super.bytes_used > src->size || q->super.inode_table_start >= q->super.directory_table_start ||
	    q->super.directory_table_start >= q->super.bytes_used ||
	    q->super.id_table_start >= q->super.bytes_used) {
		r = rain_error_set(RAIN_EFORMAT, "squashfs %s: the superblock's tables (%llu bytes used) lie outside "
				   "the %llu bytes of the image or out of order: corrupt or truncated", src->name,
				   (unsigned long long)q->super.bytes_used, (unsigned long long)src->size);
		goto fail;
	}
	/* libsquashfs sizes the fragment table from its count: each entry
	 * (16 bytes) names a fragment block of at least a byte */
	if (q->super.fragment_entry_count > q->super.bytes_used / 8) {
		r = rain_error_set(RAIN_EFORMAT, "squashfs %s: the superblock counts %u fragments in %llu bytes: "
				   "corrupt", src->name, q->super.fragment_entry_count,
				   (unsigned long long)q->super.bytes_used);
		goto fail;
	}
	e = sqfs_compressor_config_init(&cfg, q->super.compression_id, q->super.block_size,
					SQFS_COMP_FLAG_UNCOMPRESS);
	if (!e)
		e = sqfs_compressor_create(&cfg, &q->cmp);
	if (e) {
		r = sqerr(q, e, "its compressor");
		goto fail;
	}
	q->ids = sqfs_id_table_create(0);
	q->ir = sqfs_meta_reader_create(&q->file->base, q->cmp, q->super.inode_table_start,
					table_end(&q->super, q->super.inode_table_start));
	q->dr = sqfs_meta_reader_create(&q->file->base, q->cmp, q->super.directory_table_start,
					table_end(&q->super, q->super.directory_table_start));
	q->data = sqfs_data_reader_create(&q->file->base, q->super.block_size, q->cmp, 0);
	if (!q->ids || !q->ir || !q->dr || !q->data) {
		r = rain_error_oom();
		goto fail;
	}
	e = sqfs_id_table_read(q->ids, &q->file->base, &q->super, q->cmp);
	if (e) {
		r = sqerr(q, e, "the id table");
		goto fail;
	}
	e = sqfs_data_reader_load_fragment_table(q->data, &q->super);
	if (e) {
		r = sqerr(q, e, "the fragment table");
		goto fail;
	}
	cname = sqfs_compressor_name_from_id(q->super.compression_id);
	snprintf(detail, detail_len, "squashfs %s", cname ? cname : "?");
	*impl = q;
	return 0;
fail:
	squashfs_close(q);
	return r;
}

static int read_inode(struct sqfs *q, uint64_t ref, sqfs_inode_generic_t **out)
{
	int e = sqfs_meta_reader_read_inode(q->ir, &q->super, ref >> 16, ref & 0xffff, out);

	if (e) {
		*out = NULL;
		return sqerr(q, e, "an inode");
	}
	return 0;
}

static int entry_of(struct sqfs *q, const sqfs_inode_generic_t *in, struct rain_imgfs_entry *e)
{
	static const uint32_t types[] = { 0, S_IFDIR, S_IFREG, S_IFLNK, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK };
	unsigned t = in->base.type > 7 ? in->base.type - 7 : in->base.type;
	sqfs_u32 uid = 0, gid = 0, devno = 0;
	uint64_t size = 0;

	if (t == 0 || t > 7)
		return rain_error_set(RAIN_EFORMAT, "squashfs %s: inode %u of unknown type %u", q->src->name,
				      in->base.inode_number, in->base.type);
	if (sqfs_id_table_index_to_id(q->ids, in->base.uid_idx, &uid) ||
	    sqfs_id_table_index_to_id(q->ids, in->base.gid_idx, &gid))
		return rain_error_set(RAIN_EFORMAT, "squashfs %s: inode %u: owner index %u/%u past the id table",
				      q->src->name, in->base.inode_number, in->base.uid_idx, in->base.gid_idx);
	*e = (struct rain_imgfs_entry){
		.mode = types[t] | (in->base.mode & 07777), .uid = uid, .gid = gid, .mtime = in->base.mod_time,
		.nlink = 1,
	};
	switch (in->base.type) {
	case SQFS_INODE_DIR: e->nlink = in->data.dir.nlink; break;
	case SQFS_INODE_EXT_DIR: e->nlink = in->data.dir_ext.nlink; break;
	case SQFS_INODE_FILE: size = in->data.file.file_size; break;
	case SQFS_INODE_EXT_FILE:
		size = in->data.file_ext.file_size;
		e->nlink = in->data.file_ext.nlink;
		break;
	case SQFS_INODE_SLINK: case SQFS_INODE_EXT_SLINK:
		e->nlink = in->data.slink.nlink;
		size = in->data.slink.target_size;
		break;
	case SQFS_INODE_BDEV: case SQFS_INODE_CDEV:
		e->nlink = in->data.dev.nlink;
		devno = in->data.dev.devno;
		break;
	case SQFS_INODE_EXT_BDEV: case SQFS_INODE_EXT_CDEV:
		e->nlink = in->data.dev_ext.nlink;
		devno = in->data.dev_ext.devno;
		break;
	case SQFS_INODE_FIFO: case SQFS_INODE_SOCKET: e->nlink = in->data.ipc.nlink; break;
	default: e->nlink = in->data.ipc_ext.nlink; break;
	}
	e->rdev_major = (devno >> 8) & 0xfff;
	e->rdev_minor = (devno & 0xff) | ((devno >> 12) & 0xfff00);
	e->size = size;
	if (S_ISLNK(e->mode)) {
		if (size > PATH_MAX || size > in->payload_bytes_used)
			return rain_error_set(RAIN_EFORMAT, "squashfs %s: inode %u: a symbolic link of %llu bytes",
					      q->src->name, in->base.inode_number, (unsigned long long)size);
		memcpy(q->link, in->extra, size);
		q->link[size] = '\0';
		e->link = q->link;
	}
	return 0;
}

static int squashfs_root(void *impl, uint64_t *node, struct rain_imgfs_entry *e)
{
	struct sqfs *q = impl;
	sqfs_inode_generic_t *in;
	int r = read_inode(q, q->super.root_inode_ref, &in);

	if (r < 0)
		return r;
	r = entry_of(q, in, e);
	sqfs_free(in);
	if (r < 0)
		return r;
	if (!S_ISDIR(e->mode))
		return rain_error_set(RAIN_EFORMAT, "squashfs %s: the root inode is not a directory", q->src->name);
	*node = q->super.root_inode_ref;
	return 0;
}

/* Each entry of dir: fn with its name, inode reference and inode. */
static int each(struct sqfs *q, uint64_t dir, const char *dirpath,
		int (*fn)(void *ud, const char *name, size_t len, uint64_t ref, sqfs_inode_generic_t *in),
		void *ud)
{
	sqfs_inode_generic_t *din;
	sqfs_readdir_state_t st;
	int r, e;

	r = read_inode(q, dir, &din);
	if (r < 0)
		return r;
	e = sqfs_readdir_state_init(&st, &q->super, din);
	sqfs_free(din);
	if (e)
		return sqerr(q, e, dirpath);
	for (;;) {
		sqfs_dir_entry_t *ent = NULL;
		sqfs_inode_generic_t *in;
		sqfs_u32 inum;
		sqfs_u64 ref;

		e = sqfs_meta_reader_readdir(q->dr, &st, &ent, &inum, &ref);
		if (e > 0)
			return 0;
		if (e < 0)
			return sqerr(q, e, dirpath);
		r = read_inode(q, ref, &in);
		if (r == RAIN_ENOMEM) {
			sqfs_free(ent);
			return r;
		}
		if (r < 0) {
			rain_imgfs_problem(q->fs, "%s/%.*s: %s: skipped", dirpath, (int)ent->size + 1,
					   (const char *)ent->name, rain_error_last());
			sqfs_free(ent);
			continue;
		}
		r = fn(ud, (const char *)ent->name, (size_t)ent->size + 1, ref, in);
		sqfs_free(ent);
		sqfs_free(in);
		if (r)
			return r;
	}
}

struct find {
	struct sqfs *q;
	const char *name;
	uint64_t *node;
	struct rain_imgfs_entry *e;
};

static int find_cb(void *ud, const char *name, size_t len, uint64_t ref, sqfs_inode_generic_t *in)
{
	struct find *f = ud;
	int r;

	if (strlen(f->name) != len || memcmp(f->name, name, len) != 0)
		return 0;
	r = entry_of(f->q, in, f->e);
	if (r < 0)
		return r;
	*f->node = ref;
	return 1;
}

static int squashfs_lookup(void *impl, uint64_t dir, const char *dirpath, const char *name, uint64_t *node,
			   struct rain_imgfs_entry *e)
{
	struct find f = { impl, name, node, e };
	int r = each(impl, dir, dirpath, find_cb, &f);

	if (r < 0)
		return r;
	return r == 1 ? 0 : RAIN_ENOTFOUND;
}

struct list {
	struct sqfs *q;
	const char *dirpath;
	rain_imgfs_dirent_fn fn;
	void *ud;
};

static int list_cb(void *ud, const char *name, size_t len, uint64_t ref, sqfs_inode_generic_t *in)
{
	struct list *l = ud;
	struct rain_imgfs_entry e;
	int r = entry_of(l->q, in, &e);

	if (r == RAIN_ENOMEM)
		return r;
	if (r < 0) {
		rain_imgfs_problem(l->q->fs, "%s/%.*s: %s: skipped", l->dirpath, (int)len, name, rain_error_last());
		return 0;
	}
	return l->fn(l->ud, name, len, ref, &e);
}

static int squashfs_readdir(void *impl, uint64_t dir, const char *dirpath, rain_imgfs_dirent_fn fn, void *ud)
{
	struct list l = { impl, dirpath, fn, ud };

	return each(impl, dir, dirpath, list_cb, &l);
}

static int squashfs_open_file(void *impl, uint64_t node, const char *path, void **file)
{
	struct sqfs *q = impl;
	struct sfile *f = calloc(1, sizeof(*f));
	sqfs_u64 size = 0;
	int r;

	if (!f)
		return rain_error_oom();
	r = read_inode(q, node, &f->inode);
	if (r < 0) {
		free(f);
		return r;
	}
	if (sqfs_inode_get_file_size(f->inode, &size)) {
		sqfs_free(f->inode);
		free(f);
		return rain_error_set(RAIN_EFORMAT, "squashfs %s: %s is not a regular file", q->src->name, path);
	}
	f->size = size;
	*file = f;
	return 0;
}

static ssize_t squashfs_read_file(void *impl, void *file, void *buf, size_t len)
{
	struct sqfs *q = impl;
	struct sfile *f = file;
	sqfs_s32 n;

	if (f->off >= f->size)
		return 0;
	if (len > f->size - f->off)
		len = (size_t)(f->size - f->off);
	if (len > (1u << 30))
		len = 1u << 30;
	n = sqfs_data_reader_read(q->data, f->inode, f->off, buf, (sqfs_u32)len);
	if (n < 0)
		return sqerr(q, n, "a file's data");
	if (n == 0)
		return rain_error_set(RAIN_EFORMAT, "squashfs %s: inode %u: data ends at byte %llu of %llu",
				      q->src->name, f->inode->base.inode_number, (unsigned long long)f->off,
				      (unsigned long long)f->size);
	f->off += (uint64_t)n;
	return n;
}

static void squashfs_close_file(void *impl, void *file)
{
	struct sfile *f = file;

	sqfs_free(f->inode);
	free(f);
}

/* The attribute table is read once, at the first call. A key's name
 * comes with its prefix ("user."); libsquashfs sizes a value from the
 * image before reading it (a corrupt one fails the read); at most one
 * more key than the front end keeps is read. */
static int squashfs_xattrs(void *impl, uint64_t node, const char *path, const struct rain_imgfs_entry *e,
			   rain_imgfs_xattr_fn fn, void *ud)
{
	struct sqfs *q = impl;
	sqfs_inode_generic_t *in = NULL;
	sqfs_xattr_id_t desc;
	sqfs_u32 idx;
	int err, r = 0;

	if ((q->super.flags & SQFS_FLAG_NO_XATTRS) || q->super.xattr_id_table_start >= q->super.bytes_used ||
	    q->xr_failed)
		return 0;
	if (!q->xr) {
		q->xr = sqfs_xattr_reader_create(0);
		if (!q->xr)
			return rain_error_oom();
		err = sqfs_xattr_reader_load(q->xr, &q->super, &q->file->base, q->cmp);
		if (err) {
			rain_imgfs_problem(q->fs, "squashfs %s: the extended attribute table: %s: not read",
					   q->src->name, sq_strerror(err));
			q->xr_failed = true;
			return 0;
		}
	}
	if (read_inode(q, node, &in) < 0) {
		rain_imgfs_problem(q->fs, "%s: %s", path, rain_error_last());
		return 0;
	}
	if (sqfs_inode_get_xattr_index(in, &idx) || idx == 0xFFFFFFFF)
		goto done;
	err = sqfs_xattr_reader_get_desc(q->xr, idx, &desc);
	if (!err)
		err = sqfs_xattr_reader_seek_kv(q->xr, &desc);
	for (sqfs_u32 i = 0; !err && i < desc.count && i <= RAIN_IMGFS_MAX_XATTRS; i++) {
		sqfs_xattr_entry_t *key = NULL;
		sqfs_xattr_value_t *val = NULL;

		err = sqfs_xattr_reader_read_key(q->xr, &key);
		if (!err)
			err = sqfs_xattr_reader_read_value(q->xr, key, &val);
		if (!err) {
			char name[RAIN_IMGFS_MAX_XATTR_NAME + 2];

			snprintf(name, sizeof(name), "%s", (const char *)key->key);
			r = fn(ud, name, val->value, val->size);
		}
		sqfs_free(val);
		sqfs_free(key);
		if (r)
			goto done;
	}
	if (err)
		rain_imgfs_problem(q->fs, "squashfs %s: %s: extended attributes: %s: skipped", q->src->name, path,
				   sq_strerror(err));
done:
	sqfs_free(in);
	return r;
}

const struct rain_imgfs_backend rain_imgfs_squashfs = {
	.version = RAIN_IMGFS_BACKEND_VERSION,
	.name = "squashfs",
	.probe = squashfs_probe,
	.open = squashfs_open,
	.close = squashfs_close,
	.root = squashfs_root,
	.lookup = squashfs_lookup,
	.readdir = squashfs_readdir,
	.open_file = squashfs_open_file,
	.read_file = squashfs_read_file,
	.close_file = squashfs_close_file,
	.xattrs = squashfs_xattrs,
};
