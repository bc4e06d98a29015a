/* The body of the image readers' libFuzzer harnesses (rain/imgfs.h), one
 * per format: tests/fuzz/fuzz-imgfs-FORMAT.c defines FUZZ_FORMAT and
 * includes this; run.sh seeds each with small real images of its format
 * (tar from tar, ext4 from mkfs.ext4 -d, squashfs from mksquashfs, disks
 * from sfdisk, qcow2 from qemu-img), so each corpus stays in its format.
 *
 * Each input is opened as FUZZ_FORMAT and as "auto", plain and sparse
 * (fuzz-sparse.h); what opens is walked with every file read and every
 * entry's extended attributes listed, and links and paths are looked up. Every call must answer 0 or a negative code
 * with a message, within the limits given, and never crash or read out
 * of bounds (ASan).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rain/error.h"
#include "rain/imgfs.h"

#include "fuzz-sparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_code(int r)
{
	if (r > 0 || (r < 0 && rain_error_last()[0] == '\0'))
		__builtin_trap();
	if (r < 0 && r != RAIN_EFORMAT && r != RAIN_ETOOBIG && r != RAIN_ENOTFOUND && r != RAIN_EINVAL)
		__builtin_trap();
}

struct walked {
	struct rain_imgfs *fs;
	size_t n;
};

static int xattr_fn(void *ud, const char *name, const void *value, size_t size)
{
	size_t len = strlen(name);

	if (len == 0 || len > RAIN_IMGFS_MAX_XATTR_NAME || size > RAIN_IMGFS_MAX_XATTR_VALUE ||
	    (size && !value))
		__builtin_trap();
	(*(size_t *)ud)++;
	return 0;
}

static int walk_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct walked *w = ud;
	char buf[4096];
	ssize_t n = 0;
	size_t nx = 0;
	int r;

	if (!e->path || e->path[0] != '/' || strlen(e->path) > RAIN_IMGFS_MAX_PATH ||
	    (S_ISLNK(e->mode) && !e->link) || (f && !S_ISREG(e->mode)))
		__builtin_trap();
	if (f)
		while ((n = rain_imgfs_file_read(f, buf, sizeof(buf))) > 0)
			;
	if (n < 0)
		check_code((int)n);
	r = rain_imgfs_xattrs(w->fs, e, xattr_fn, &nx);
	check_code(r);
	if (nx > RAIN_IMGFS_MAX_XATTRS)
		__builtin_trap();
	w->n++;
	return 0;
}

static void try_one(const char *format, rain_imgfs_read_fn rd, void *ud, uint64_t size)
{
	static const char *const paths[] = { "/etc/os-release", "/etc/passwd", "/a/../../b/./c", "/usr/bin/", NULL };
	const struct rain_imgfs_limits lim = { .max_entries = 20000, .max_read = 1 << 20, .max_walk_read = 8 << 20 };
	struct rain_imgfs *fs = NULL;
	struct rain_imgfs_entry e;
	size_t n = 0, np;
	char *content;
	int r;

	r = rain_imgfs_open_read(rd, ud, size, "fuzz", format, &lim, &fs);
	check_code(r);
	if (r < 0) {
		if (fs)
			__builtin_trap();
		return;
	}
	if (!rain_imgfs_info(fs)->format)
		__builtin_trap();
	{
		struct walked w = { fs, 0 };

		r = rain_imgfs_walk(fs, walk_fn, &w);
		n = w.n;
	}
	check_code(r);
	if (n > lim.max_entries)
		__builtin_trap();
	for (size_t i = 0; paths[i]; i++) {
		r = rain_imgfs_stat(fs, paths[i], true, &e);
		check_code(r);
		if (r == 0 && (!e.path || e.path[0] != '/'))
			__builtin_trap();
		r = rain_imgfs_stat(fs, paths[i], false, &e);
		check_code(r);
		r = rain_imgfs_read(fs, paths[i], 0, &content, &np);
		check_code(r);
		if (r == 0) {
			if (np > lim.max_read || content[np] != '\0')
				__builtin_trap();
			free(content);
		}
	}
	{
		size_t total;
		const char *const *p = rain_imgfs_problems(fs, &np, &total);

		if (np > 100 || np > total)
			__builtin_trap();
		for (size_t i = 0; i < np; i++)
			if (!p[i] || !*p[i])
				__builtin_trap();
	}
	rain_imgfs_close(fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sparse s = { data, size, 0 };

	try_one(FUZZ_FORMAT, plain_read, &s, size);
	try_one(NULL, plain_read, &s, size);
	if (size >= 8) {
		/* at most 64 MiB: reading more takes longer, not deeper */
		s.vsize = fz_le(data, 8) & ((1ull << 26) - 1);
		try_one(FUZZ_FORMAT, sparse_read, &s, s.vsize);
		try_one(NULL, sparse_read, &s, s.vsize);
	}
	return 0;
}
