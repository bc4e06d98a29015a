/* Unit tests for the image readers (src/lib/imgfs/imgfs.c, rain/imgfs.h).
 *
 * One tree is made in a temporary folder (files, a hard link, setuid,
 * sticky, uids, links relative and absolute, links that point out of the
 * tree and loops, devices and a fifo when root), then packed by the real
 * tools (tar, zstd, gzip, xz; mkfs.ext4 -d; mksquashfs; sfdisk; qemu-img)
 * and read back through every reader: each must give the same tree as
 * the directory itself (paths, types and modes, owners, sizes, link
 * targets, contents), resolve links inside the image only, and refuse
 * hostile archives and file systems with a message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <cmocka.h>
#include <ext2fs/ext2fs.h>

#include "testutil.h"

#include "rain/imgfs.h"
#include "rain/error.h"
#include "util/process.h"

static char tmp[] = "/tmp/rain-imgfs-XXXXXX";
static char tree[128];
static bool is_root;

static int run(const char *const *argv)
{
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .timeout_s = 120 };
	int status = -1;

	if (process_run(&o, &status) < 0)
		return -1;
	return status;
}

static char *at(const char *name)
{
	static char buf[64][512];
	static int k;

	k = (k + 1) % 64;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmp, name);
	return buf[k];
}

static void put(const char *rel, const char *data, size_t len, mode_t mode, uid_t uid)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	if (is_root)
		assert_int_equal(chown(path, uid, uid), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void mk(const char *rel, mode_t mode)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	assert_int_equal(mkdir(path, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void ln_s(const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	assert_int_equal(symlink(target, path), 0);
}

/* The tree every reader must give back. */
static void make_tree(void)
{
	static char big[3 << 20], mid[100000];
	char path[512], a[512];

	snprintf(tree, sizeof(tree), "%s/tree", tmp);
	assert_int_equal(mkdir(tree, 0755), 0);
	mk("etc", 0755);
	mk("usr", 0755);
	mk("usr/lib", 0755);
	mk("usr/bin", 0755);
	mk("tmp", 01777);
	mk("home", 0755);
	mk("home/alice", 0700);
	mk("home/alice/.ssh", 0700);
	mk("a", 0755);
	mk("a/b", 0755);
	mk("a/b/c", 0750);
	put("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 32, 0644, 0);
	put("etc/shadow", "root:*:19000:0:99999:7:::\n", 26, 0640, 0);
	put("usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\n", 26, 0644, 0);
	for (size_t i = 0; i < sizeof(mid); i++)
		mid[i] = (char)(i * 7 + i / 251);
	put("usr/bin/tool", mid, sizeof(mid), 0755, 0);
	put("usr/bin/su", mid, 1000, 04755, 0);
	put("usr/bin/wall", mid, 2000, 02755, 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i ^ (i >> 9));
	put("big", big, sizeof(big), 0600, 0);
	put("empty", "", 0, 0644, 0);
	put("home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAA alice\n", 23, 0600, 1000);
	put("a/b/c/deep", "deep\n", 5, 0644, 1000);
	snprintf(path, sizeof(path), "%s/usr/bin/tool", tree);
	snprintf(a, sizeof(a), "%s/usr/bin/tool-hard", tree);
	assert_int_equal(link(path, a), 0);
	/* a hard link to a file larger than what tar keeps in memory */
	snprintf(path, sizeof(path), "%s/big", tree);
	snprintf(a, sizeof(a), "%s/a/big-hard", tree);
	assert_int_equal(link(path, a), 0);
	ln_s("../usr/lib/os-release", "etc/os-release");
	ln_s("/etc/passwd", "abs");
	ln_s("usr/lib", "libdir");
	ln_s("../../../../../../../etc/hostname", "escape-up");
	ln_s("/etc/hostname", "escape-abs");
	ln_s("/proc/self/root/etc/hostname", "escape-proc");
	ln_s("loop2", "loop1");
	ln_s("loop1", "loop2");
	ln_s("self", "self");
	ln_s("..", "a/b/up");
	snprintf(path, sizeof(path), "%s/fifo", tree);
	assert_int_equal(mkfifo(path, 0644), 0);
	if (is_root) {
		snprintf(path, sizeof(path), "%s/null", tree);
		assert_int_equal(mknod(path, S_IFCHR | 0666, makedev(1, 3)), 0);
	}
	/* the same times everywhere (squashfs keeps one for all by default) */
	{
		const char *const argv[] = { "find", tree, "-exec", "touch", "-h", "-d", "2024-01-02 03:04:05",
					     "{}", "+", NULL };

		assert_int_equal(run(argv), 0);
	}
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(tmp));
	is_root = geteuid() == 0;
	make_tree();
	return 0;
}

static int teardown(void **state)
{
	test_rmtree(tmp);
	return 0;
}

/* ---- what a reader gives: one line per entry, sorted ---- */

struct snap {
	char *text;
	size_t len, cap;
	struct rain_imgfs *fs;
};

static void snap_add(struct snap *s, const char *line)
{
	size_t l = strlen(line);

	if (s->len + l + 1 > s->cap) {
		s->cap = (s->len + l + 1) * 2;
		s->text = realloc(s->text, s->cap);
		assert_non_null(s->text);
	}
	memcpy(s->text + s->len, line, l + 1);
	s->len += l;
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static int snap_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct snap *s = ud;
	char line[8192], extra[64] = "";
	uint64_t h = 14695981039346656037ull, total = 0;

	if (strcmp(e->path, "/lost+found") == 0)
		return 1;       /* mkfs.ext4's own */
	if (f) {
		unsigned char buf[65536];
		ssize_t n;

		while ((n = rain_imgfs_file_read(f, buf, sizeof(buf))) > 0) {
			h = fnv(h, buf, (size_t)n);
			total += (uint64_t)n;
		}
		assert_int_equal(n, 0);
		assert_int_equal(total, e->size);
		snprintf(extra, sizeof(extra), " h=%016llx n=%u", (unsigned long long)h, e->nlink);
	} else if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		snprintf(extra, sizeof(extra), " dev=%u,%u", e->rdev_major, e->rdev_minor);
	}
	/* the root's own mode and times depend on how the tool packs "." */
	if (strcmp(e->path, "/") == 0)
		snprintf(line, sizeof(line), "/ %o\n", e->mode & S_IFMT);
	else
		snprintf(line, sizeof(line), "%s %o %u:%u s=%llu t=%lld%s%s%s\n", e->path, e->mode, e->uid,
			 e->gid, S_ISDIR(e->mode) ? 0ull : (unsigned long long)e->size, (long long)e->mtime,
			 e->link ? " -> " : "", e->link ? e->link : "", extra);
	snap_add(s, line);
	return 0;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted listing of the image at path (format NULL: auto), with the
 * format it was read as in *info_out (may be NULL). */
static char *snapshot(const char *path, const char *format, char *detail_out)
{
	struct snap s = { 0 };
	struct rain_imgfs *fs;
	char **lines = NULL, *sorted, *p, *save = NULL;
	size_t n = 0;

	if (rain_imgfs_open(path, format, NULL, &fs) < 0)
		fail_msg("open %s: %s", path, rain_error_last());
	if (detail_out)
		snprintf(detail_out, 256, "%s: %.180s [partition %u] [offset %llu]", rain_imgfs_info(fs)->format,
			 rain_imgfs_info(fs)->detail, rain_imgfs_info(fs)->partition,
			 (unsigned long long)rain_imgfs_info(fs)->offset);
	s.fs = fs;
	if (rain_imgfs_walk(fs, snap_fn, &s) < 0)
		fail_msg("walk %s: %s", path, rain_error_last());
	rain_imgfs_close(fs);
	for (p = strtok_r(s.text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		lines = realloc(lines, (n + 1) * sizeof(*lines));
		lines[n++] = p;
	}
	qsort(lines, n, sizeof(*lines), line_cmp);
	sorted = calloc(1, s.len + n + 1);
	for (size_t i = 0; i < n; i++) {
		strcat(sorted, lines[i]);
		strcat(sorted, "\n");
	}
	free(lines);
	free(s.text);
	return sorted;
}

static void assert_same_tree(const char *image, const char *format, const char *want_detail)
{
	char *ref = snapshot(tree, "dir", NULL), *got, detail[256];

	got = snapshot(image, format, detail);
	if (strcmp(ref, got) != 0) {
		fprintf(stderr, "--- dir\n%s--- %s (%s)\n%s", ref, image, detail, got);
		fail_msg("%s does not read as the tree it was made from", image);
	}
	if (want_detail && !strstr(detail, want_detail))
		fail_msg("%s was read as \"%s\", not \"%s\"", image, detail, want_detail);
	/* the number of the partition read, as Linux numbers it */
	if (want_detail && strstr(want_detail, "partition ")) {
		char num[32];

		snprintf(num, sizeof(num), "[partition %d]", atoi(strstr(want_detail, "partition ") + 10));
		if (!strstr(detail, num))
			fail_msg("%s: \"%s\" does not say %s", image, detail, num);
	} else if (want_detail && !strstr(detail, "[partition 0]")) {
		fail_msg("%s: \"%s\" names a partition", image, detail);
	}
	/* the file system's offset in the disk, as the detail says it */
	if (want_detail && strstr(want_detail, " at byte ")) {
		char off[48];

		snprintf(off, sizeof(off), "[offset %lld]", atoll(strstr(want_detail, " at byte ") + 9));
		if (!strstr(detail, off))
			fail_msg("%s: \"%s\" does not say %s", image, detail, off);
	} else if (want_detail && !strstr(want_detail, "partition") && !strstr(detail, "[offset 0]")) {
		fail_msg("%s: \"%s\" has an offset", image, detail);
	}
	free(ref);
	free(got);
}

/* The checks of links and reads that hold for every reader. */
static void check_lookups(const char *image, const char *format)
{
	struct rain_imgfs *fs;
	struct rain_imgfs_entry e;
	char *data;
	size_t len;

	if (rain_imgfs_open(image, format, NULL, &fs) < 0)
		fail_msg("open %s: %s", image, rain_error_last());
	if (rain_imgfs_read(fs, "/etc/passwd", 0, &data, &len) < 0)
		fail_msg("%s: %s", image, rain_error_last());
	assert_string_equal(data, "root:x:0:0:root:/root:/bin/bash\n");
	free(data);
	/* relative link, absolute link, a link in the middle, ".." */
	assert_int_equal(rain_imgfs_read(fs, "/etc/os-release", 0, &data, &len), 0);
	assert_string_equal(data, "ID=debian\nVERSION_ID=\"12\"\n");
	free(data);
	assert_int_equal(rain_imgfs_read(fs, "abs", 0, &data, &len), 0);
	assert_int_equal(len, 32);
	free(data);
	assert_int_equal(rain_imgfs_stat(fs, "/libdir/os-release", false, &e), 0);
	assert_string_equal(e.path, "/usr/lib/os-release");
	assert_true(S_ISREG(e.mode));
	assert_int_equal(rain_imgfs_stat(fs, "/a/b/up/b/c/../../../etc//./passwd", true, &e), 0);
	assert_string_equal(e.path, "/etc/passwd");
	assert_int_equal(rain_imgfs_stat(fs, "/../../etc/passwd", true, &e), 0);
	assert_string_equal(e.path, "/etc/passwd");
	assert_int_equal(rain_imgfs_stat(fs, "/etc/os-release", false, &e), 0);
	assert_true(S_ISLNK(e.mode));
	assert_string_equal(e.link, "../usr/lib/os-release");
	assert_int_equal(rain_imgfs_stat(fs, "/", false, &e), 0);
	assert_string_equal(e.path, "/");
	assert_true(S_ISDIR(e.mode));
	assert_int_equal(rain_imgfs_stat(fs, "/usr/bin/su", false, &e), 0);
	assert_int_equal(e.mode, S_IFREG | 04755);
	assert_int_equal(rain_imgfs_stat(fs, "/home/alice/.ssh/authorized_keys", false, &e), 0);
	if (is_root)
		assert_int_equal(e.uid, 1000);
	/* a file larger than what tar keeps in memory */
	assert_int_equal(rain_imgfs_read(fs, "/big", 0, &data, &len), 0);
	assert_int_equal(len, 3 << 20);
	assert_int_equal((unsigned char)data[12345], (unsigned char)(12345 ^ (12345 >> 9)));
	free(data);
	assert_int_equal(rain_imgfs_read(fs, "/big", 1000, &data, &len), RAIN_ETOOBIG);
	assert_null(data);
	/* links out of the image stay inside: the host's /etc/hostname is
	 * never what is read */
	assert_int_equal(rain_imgfs_read(fs, "/escape-up", 0, &data, &len), RAIN_ENOTFOUND);
	assert_int_equal(rain_imgfs_read(fs, "/escape-abs", 0, &data, &len), RAIN_ENOTFOUND);
	assert_int_equal(rain_imgfs_read(fs, "/escape-proc", 0, &data, &len), RAIN_ENOTFOUND);
	assert_int_equal(rain_imgfs_stat(fs, "/escape-up", true, &e), RAIN_ENOTFOUND);
	/* loops */
	assert_int_equal(rain_imgfs_stat(fs, "/loop1", true, &e), RAIN_EFORMAT);
	assert_error_contains("loop");
	assert_int_equal(rain_imgfs_stat(fs, "/self/x", false, &e), RAIN_EFORMAT);
	assert_int_equal(rain_imgfs_stat(fs, "/loop1", false, &e), 0);
	assert_true(S_ISLNK(e.mode));
	/* not there, not a directory, not a file */
	assert_int_equal(rain_imgfs_stat(fs, "/nothing", false, &e), RAIN_ENOTFOUND);
	assert_int_equal(rain_imgfs_stat(fs, "/etc/passwd/x", false, &e), RAIN_ENOTFOUND);
	assert_int_equal(rain_imgfs_read(fs, "/etc", 0, &data, &len), RAIN_EINVAL);
	assert_int_equal(rain_imgfs_read(fs, "/fifo", 0, &data, &len), RAIN_EINVAL);
	rain_imgfs_close(fs);
}

static void test_dir(void **state)
{
	struct rain_imgfs *fs;

	check_lookups(tree, NULL);
	assert_int_equal(rain_imgfs_open(tree, NULL, NULL, &fs), 0);
	assert_string_equal(rain_imgfs_info(fs)->format, "dir");
	rain_imgfs_close(fs);
	assert_int_equal(rain_imgfs_open(at("nothing"), NULL, NULL, &fs), RAIN_ENOTFOUND);
	assert_null(fs);
	assert_int_equal(rain_imgfs_open(tree, "tar", NULL, &fs), RAIN_EFORMAT);
	assert_int_equal(rain_imgfs_open(tree, "zip", NULL, &fs), RAIN_EINVAL);
}

static void test_tar(void **state)
{
	static const struct {
		const char *name, *opt, *detail;
	} kinds[] = {
		{ "t.tar", NULL, "tar" },
		{ "t.tar.zst", "--zstd", "tar.zst" },
		{ "t.tar.gz", "--gzip", "tar.gz" },
		{ "t.tar.xz", "--xz", "tar.xz" },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *argv[] = { "tar", "-C", tree, "--numeric-owner", "-cf", at(kinds[i].name),
				       kinds[i].opt ? kinds[i].opt : ".", kinds[i].opt ? "." : NULL, NULL };

		assert_int_equal(run(argv), 0);
		assert_same_tree(at(kinds[i].name), NULL, kinds[i].detail);
		check_lookups(at(kinds[i].name), NULL);
	}
	/* named explicitly */
	assert_same_tree(at("t.tar.zst"), "tar", "tar.zst");
}

struct buf {
	const char *data;
	size_t len;
};

static ssize_t buf_read(void *ud, uint64_t off, void *out, size_t len)
{
	const struct buf *b = ud;

	if (off >= b->len)
		return 0;
	if (len > b->len - off)
		len = b->len - off;
	memcpy(out, b->data + off, len);
	return (ssize_t)len;
}

static void qemu_img_convert(const char *from, const char *fmt, const char *opts, bool compress,
			     const char *to);

/* An image that is no file: read through a callback (a stored blob). */
static void test_open_read(void **state)
{
	static const char *const names[] = { "t.tar.zst", "t.sqfs", "r.qcow2", NULL };

	qemu_img_convert(at("q.disk"), "raw", NULL, true, at("r.qcow2"));
	for (size_t i = 0; names[i]; i++) {
		struct rain_imgfs *fs;
		char *img, *data;
		size_t len;
		struct buf b;

		assert_int_equal(rain_imgfs_open(at(names[i]), NULL, NULL, &fs), 0);
		rain_imgfs_close(fs);
		fs = NULL;
		{
			int fd = open(at(names[i]), O_RDONLY);
			struct stat st;

			assert_int_equal(fstat(fd, &st), 0);
			img = malloc((size_t)st.st_size);
			assert_int_equal(read(fd, img, (size_t)st.st_size), st.st_size);
			close(fd);
			b = (struct buf){ img, (size_t)st.st_size };
		}
		assert_int_equal(rain_imgfs_open_read(buf_read, &b, b.len, "blob", NULL, NULL, &fs), 0);
		assert_int_equal(rain_imgfs_read(fs, "/etc/os-release", 0, &data, &len), 0);
		assert_string_equal(data, "ID=debian\nVERSION_ID=\"12\"\n");
		free(data);
		rain_imgfs_close(fs);
		assert_int_equal(rain_imgfs_open_read(buf_read, &b, 100, "blob", NULL, NULL, &fs), RAIN_EFORMAT);
		assert_error_contains("blob");
		assert_int_equal(rain_imgfs_open_read(buf_read, &b, b.len, "blob", "dir", NULL, &fs), RAIN_EINVAL);
		free(img);
	}
}

static bool has_problem(struct rain_imgfs *fs, const char *needle);
static int count_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f);

/* Archives no tool would write: made with Python's tarfile. */
static void test_tar_hostile(void **state)
{
	const char *py =
		"import io, sys, tarfile\n"
		"t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)\n"
		"def f(name, data=b'x', **kw):\n"
		"    i = tarfile.TarInfo(name); i.size = len(data)\n"
		"    for k, v in kw.items(): setattr(i, k, v)\n"
		"    t.addfile(i, io.BytesIO(data))\n"
		"f('../../escape', b'evil')\n"
		"f('/abs/ok', b'ok')\n"
		"f('x/' + 'n' * 300, b'long')\n"
		"f('x/' + 'd/' * 3000 + 'f', b'deep')\n"
		"f('y/' + 'd/' * 300 + 'f', b'deep but short')\n"
		"f('dup', b'first')\n"
		"f('dup', b'second')\n"
		"f('file', b'f')\n"
		"f('file/child', b'c')\n"
		"l = tarfile.TarInfo('hl'); l.type = tarfile.LNKTYPE; l.linkname = 'nowhere'; t.addfile(l)\n"
		"s = tarfile.TarInfo('out'); s.type = tarfile.SYMTYPE; s.linkname = '../../../etc/hostname'; t.addfile(s)\n"
		"t.close()\n";
	const char *argv[] = { "python3", "-c", py, at("hostile.tar"), NULL };
	struct rain_imgfs *fs;
	struct rain_imgfs_entry e;
	const char *const *probs;
	char *data, *listing;
	size_t len, n, total;

	assert_int_equal(run(argv), 0);
	assert_int_equal(rain_imgfs_open(at("hostile.tar"), NULL, NULL, &fs), 0);
	assert_int_equal(rain_imgfs_read(fs, "/abs/ok", 0, &data, &len), 0);
	assert_string_equal(data, "ok");
	free(data);
	/* the later entry of a path wins, as extraction would */
	assert_int_equal(rain_imgfs_read(fs, "/dup", 0, &data, &len), 0);
	assert_string_equal(data, "second");
	free(data);
	assert_int_equal(rain_imgfs_stat(fs, "/escape", false, &e), RAIN_ENOTFOUND);
	assert_int_equal(rain_imgfs_stat(fs, "/hl", false, &e), RAIN_ENOTFOUND);
	assert_int_equal(rain_imgfs_read(fs, "/out", 0, &data, &len), RAIN_ENOTFOUND);
	probs = rain_imgfs_problems(fs, &n, &total);
	assert_true(n >= 4 && total == n);
	{
		bool dotdot = false, name = false, hl = false;

		for (size_t i = 0; i < n; i++) {
			dotdot |= strstr(probs[i], "\"..\"") != NULL;
			name |= strstr(probs[i], "too long") != NULL;
			hl |= strstr(probs[i], "hard link to nowhere") != NULL;
		}
		assert_true(dotdot && name && hl);
	}
	rain_imgfs_close(fs);
	/* deeper than the walk goes: read by path, skipped by the walk */
	assert_int_equal(rain_imgfs_open(at("hostile.tar"), NULL, NULL, &fs), 0);
	assert_int_equal(rain_imgfs_stat(fs, "/y/d/d/d/d", false, &e), 0);
	n = 0;
	assert_int_equal(rain_imgfs_walk(fs, count_fn, &n), 0);
	assert_true(has_problem(fs, "deeper than 256 directories"));
	rain_imgfs_close(fs);
	listing = snapshot(at("hostile.tar"), NULL, NULL);
	assert_null(strstr(listing, "escape"));
	assert_null(strstr(listing, "/d/f "));
	assert_non_null(strstr(listing, "/abs/ok "));
	assert_null(strstr(listing, "/file/child"));
	free(listing);

	/* cut short; garbage; empty */
	{
		const char *zargv[] = { "tar", "-C", tree, "--zstd", "-cf", at("cut.tar.zst"), ".", NULL };
		struct stat st;

		assert_int_equal(run(zargv), 0);
		assert_int_equal(stat(at("cut.tar.zst"), &st), 0);
		assert_int_equal(truncate(at("cut.tar.zst"), st.st_size / 2), 0);
		fs = NULL;
		assert_int_equal(rain_imgfs_open(at("cut.tar.zst"), NULL, NULL, &fs), RAIN_EFORMAT);
		assert_error_contains("cut.tar.zst");
		assert_null(fs);
	}
	{
		int fd = open(at("garbage"), O_WRONLY | O_CREAT | O_TRUNC, 0600);

		assert_int_equal(write(fd, "hello, this is not an image\n", 28), 28);
		close(fd);
		assert_int_equal(rain_imgfs_open(at("garbage"), NULL, NULL, &fs), RAIN_EFORMAT);
		assert_error_contains("no image format");
		assert_int_equal(rain_imgfs_open(at("garbage"), "tar", NULL, &fs), RAIN_EFORMAT);
	}
	/* problems: 100 kept, all counted */
	{
		const char *many[] = { "python3", "-c",
				       "import io, sys, tarfile\n"
				       "t = tarfile.open(sys.argv[1], 'w')\n"
				       "for i in range(150):\n"
				       "    x = tarfile.TarInfo('../p%d' % i); t.addfile(x, io.BytesIO(b''))\n"
				       "t.addfile(tarfile.TarInfo('ok'), io.BytesIO(b''))\n"
				       "t.close()\n", at("many.tar"), NULL };

		assert_int_equal(run(many), 0);
		assert_int_equal(rain_imgfs_open(at("many.tar"), NULL, NULL, &fs), 0);
		probs = rain_imgfs_problems(fs, &n, &total);
		assert_int_equal(n, 100);
		assert_int_equal(total, 150);
		assert_non_null(strstr(probs[99], "../p99"));
		rain_imgfs_close(fs);
	}
	/* limits: entries */
	{
		struct rain_imgfs_limits lim = { .max_entries = 5 };

		assert_int_equal(rain_imgfs_open(at("t.tar"), NULL, &lim, &fs), RAIN_ETOOBIG);
	}
}

static void mkfs_ext4(const char *img)
{
	const char *argv[] = { "mkfs.ext4", "-q", "-F", "-b", "4096", "-d", tree, img, "64M", NULL };

	unlink(img);
	assert_int_equal(run(argv), 0);
}

static void debugfs(const char *img, const char *cmd)
{
	const char *argv[] = { "debugfs", "-w", "-R", cmd, img, NULL };

	assert_int_equal(run(argv), 0);
}

static void test_ext4(void **state)
{
	mkfs_ext4(at("t.ext4"));
	assert_same_tree(at("t.ext4"), NULL, "ext4");
	assert_same_tree(at("t.ext4"), "ext4", "ext4");
	check_lookups(at("t.ext4"), NULL);
}

static int read_all_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f);

/* The content of name in the image fs (through a walk, in reads of
 * chunk bytes) is the file's in dir. */
struct content_check {
	const char *path;       /* in the image */
	const unsigned char *want;
	size_t len, chunk;
	bool seen;
};

static int content_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct content_check *c = ud;
	unsigned char *got;
	size_t n = 0;
	ssize_t k;

	if (strcmp(e->path, c->path) != 0)
		return 0;
	assert_non_null(f);
	got = malloc(c->len + c->chunk);
	assert_non_null(got);
	while ((k = rain_imgfs_file_read(f, got + n, c->chunk)) > 0) {
		n += (size_t)k;
		assert_true(n <= c->len);
	}
	if (k < 0)
		fail_msg("%s: %s", c->path, rain_error_last());
	assert_int_equal(n, c->len);
	for (size_t i = 0; i < n; i++)
		if (got[i] != c->want[i])
			fail_msg("%s: byte %zu (chunks of %zu) is %u, not %u", c->path, i, c->chunk, got[i],
				 c->want[i]);
	free(got);
	c->seen = true;
	return 0;
}

static void check_content(const char *img, const char *path, const unsigned char *want, size_t len)
{
	static const size_t chunks[] = { 1000, 4096, 65536, 3 << 20 };
	struct rain_imgfs *fs;

	for (size_t i = 0; i < sizeof(chunks) / sizeof(*chunks); i++) {
		struct content_check c = { path, want, len, chunks[i], false };

		if (rain_imgfs_open(img, NULL, NULL, &fs) < 0)
			fail_msg("open %s: %s", img, rain_error_last());
		assert_int_equal(rain_imgfs_walk(fs, content_fn, &c), 0);
		assert_true(c.seen);
		rain_imgfs_close(fs);
	}
}

/* Files of many extents (more than the inode holds: a tree of them),
 * holes at the start, between runs and at the end, an all-zero file
 * (no blocks), unwritten (fallocated) extents and a file that ends in
 * the middle of a block, read in chunks that do and do not match the
 * block size: the same bytes as the files, for ext4 (read by extents),
 * ext4 with inline data and ext2 (read through libext2fs). */
static void test_ext4_content(void **state)
{
	static unsigned char holes[203 * 4096 + 17], dense[(1 << 20) + 123], zero[50000], tail[30000];
	char *dir = at("ctree"), *img = at("c.img");
	const char *types[][2] = { { "ext4", "^inline_data" }, { "ext4", "inline_data" }, { "ext2", "^has_journal" } };
	char path[512];
	int fd;

	(void)state;
	assert_int_equal(mkdir(dir, 0755), 0);
	/* blocks 5k+2 and 5k+3 hold data, the others are holes; then 17
	 * bytes of data after a hole of 4 blocks */
	for (size_t b = 0; b < 200; b++)
		if (b % 5 == 2 || b % 5 == 3)
			for (size_t i = 0; i < 4096; i++)
				holes[b * 4096 + i] = (unsigned char)(1 + (b * 31 + i * 7) % 250);
	memset(holes + 203 * 4096, 'x', 17);
	for (size_t i = 0; i < sizeof(dense); i++)
		dense[i] = (unsigned char)(i * 13 + i / 4093);
	snprintf(path, sizeof(path), "%s/holes", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	for (size_t b = 0; b < 200; b++)
		if (b % 5 == 2 || b % 5 == 3)
			assert_int_equal(pwrite(fd, holes + b * 4096, 4096, (off_t)(b * 4096)), 4096);
	assert_int_equal(pwrite(fd, holes + 203 * 4096, 17, 203 * 4096), 17);
	close(fd);
	/* a hole at the end */
	snprintf(path, sizeof(path), "%s/tailhole", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, dense, 8192), 8192);
	assert_int_equal(ftruncate(fd, 30000), 0);
	close(fd);
	memcpy(tail, dense, 8192);
	snprintf(path, sizeof(path), "%s/dense", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, dense, sizeof(dense)), (ssize_t)sizeof(dense));
	close(fd);
	snprintf(path, sizeof(path), "%s/zero", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
	close(fd);
	snprintf(path, sizeof(path), "%s/tiny", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	close(fd);
	for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++) {
		const char *argv[] = { "mke2fs", "-q", "-F", "-t", types[t][0], "-b", "4096", "-O", types[t][1],
				       "-d", dir, img, "16M", NULL };

		unlink(img);
		assert_int_equal(run(argv), 0);
		if (strcmp(types[t][0], "ext4") == 0) {
			/* unwritten extents over some holes: still zeros */
			debugfs(img, "fallocate /holes 0 1");
			debugfs(img, "fallocate /holes 100 101");
		}
		check_content(img, "/holes", holes, sizeof(holes));
		check_content(img, "/dense", dense, sizeof(dense));
		/* mke2fs -d with inline_data keeps neither a hole at the end
		 * nor an all-zero file larger than an inode: not there */
		if (strcmp(types[t][1], "inline_data") != 0) {
			check_content(img, "/zero", zero, sizeof(zero));
			check_content(img, "/tailhole", tail, sizeof(tail));
		}
		check_content(img, "/tiny", (const unsigned char *)"0123456789", 10);
	}
}

/* Lookups in directories through rain_imgfs_stat find what libext2fs's
 * ext2fs_lookup finds (the reader keeps the names of the directories it
 * looks up in): every name of a directory of 1500 files (several
 * blocks), one name twice in it (debugfs ln: the first is the one found),
 * a name removed, names that are not there, and 80 directories looked
 * up in turn, twice, past the directories the reader keeps. */
static void test_ext4_lookups(void **state)
{
	char *dir = at("ltree"), *img = at("l.ext4"), path[512];
	const char *argv[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-d", dir, img, "32M", NULL };
	struct rain_imgfs *fs;
	ext2_filsys e2;
	ext2_ino_t big, ino;
	size_t checked = 0;

	(void)state;
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/big", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	for (int i = 0; i < 1500; i++) {
		snprintf(path, sizeof(path), "%s/big/f%04d", dir, i);
		assert_int_equal(close(open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)), 0);
	}
	for (int d = 0; d < 80; d++) {
		snprintf(path, sizeof(path), "%s/d%02d", dir, d);
		assert_int_equal(mkdir(path, 0755), 0);
		for (int k = 0; k < 3; k++) {
			snprintf(path, sizeof(path), "%s/d%02d/%c", dir, d, 'a' + k);
			assert_int_equal(close(open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)), 0);
		}
	}
	snprintf(path, sizeof(path), "%s/d07/f0005", dir);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)), 0);
	assert_int_equal(run(argv), 0);
	debugfs(img, "ln /d07/f0005 /big");       /* a second f0005 in /big */
	debugfs(img, "unlink /big/f0100");
	assert_int_equal(ext2fs_open(img, 0, 0, 0, unix_io_manager, &e2), 0);
	assert_int_equal(ext2fs_lookup(e2, EXT2_ROOT_INO, "big", 3, NULL, &big), 0);
	assert_int_equal(rain_imgfs_open(img, NULL, NULL, &fs), 0);
	for (int i = 0; i < 1502; i++) {
		struct rain_imgfs_entry e;
		char name[16];
		int r;

		snprintf(name, sizeof(name), i < 1500 ? "f%04d" : i == 1500 ? "nothing" : "f", i);
		snprintf(path, sizeof(path), "/big/%s", name);
		r = rain_imgfs_stat(fs, path, false, &e);
		if (ext2fs_lookup(e2, big, name, (int)strlen(name), NULL, &ino) == 0) {
			if (r < 0)
				fail_msg("%s: %s", path, rain_error_last());
			assert_int_equal(e.node, ino);
			checked++;
		} else {
			assert_int_equal(r, RAIN_ENOTFOUND);
		}
	}
	assert_int_equal(checked, 1499);
	/* the first f0005 is the original, not the link debugfs added */
	{
		struct rain_imgfs_entry e;
		ext2_ino_t d07, other;
		size_t n = 0;

		assert_int_equal(ext2fs_lookup(e2, EXT2_ROOT_INO, "d07", 3, NULL, &d07), 0);
		assert_int_equal(ext2fs_lookup(e2, d07, "f0005", 5, NULL, &other), 0);
		assert_int_equal(rain_imgfs_stat(fs, "/big/f0005", false, &e), 0);
		assert_true(e.node != other);
		/* the walk sees both */
		assert_int_equal(rain_imgfs_walk(fs, count_fn, &n), 0);
		assert_true(has_problem(fs, "/big/f0005: a second entry of this name"));
	}
	for (int round = 0; round < 2; round++)
		for (int d = 0; d < 80; d++)
			for (int k = 0; k < 4; k++) {
				struct rain_imgfs_entry e;
				ext2_ino_t dn;
				char name[8];
				int r;

				snprintf(name, sizeof(name), "d%02d", d);
				assert_int_equal(ext2fs_lookup(e2, EXT2_ROOT_INO, name, 3, NULL, &dn), 0);
				snprintf(path, sizeof(path), "/d%02d/%c", d, k < 3 ? 'a' + k : 'z');
				r = rain_imgfs_stat(fs, path, false, &e);
				if (k < 3) {
					assert_int_equal(r, 0);
					assert_int_equal(ext2fs_lookup(e2, dn, path + 5, 1, NULL, &ino), 0);
					assert_int_equal(e.node, ino);
				} else {
					assert_int_equal(r, RAIN_ENOTFOUND);
				}
			}
	rain_imgfs_close(fs);
	ext2fs_close_free(&e2);
}

static void test_squashfs(void **state)
{
	static const char *const comps[] = { "zstd", "gzip", "xz" };

	for (size_t i = 0; i < 3; i++) {
		const char *argv[] = { "mksquashfs", tree, at("t.sqfs"), "-noappend", "-no-progress", "-quiet",
				       "-comp", comps[i], NULL };
		char want[64];

		unlink(at("t.sqfs"));
		assert_int_equal(run(argv), 0);
		snprintf(want, sizeof(want), "squashfs %s", comps[i]);
		assert_same_tree(at("t.sqfs"), NULL, want);
		check_lookups(at("t.sqfs"), NULL);
	}
	assert_same_tree(at("t.sqfs"), "squashfs", "squashfs");
}

static void test_squashfs_hostile(void **state)
{
	const char *argv[] = { "mksquashfs", tree, at("h.sqfs"), "-noappend", "-no-progress", "-quiet", NULL };
	struct rain_imgfs *fs = NULL;
	struct stat st;
	size_t n = 0;
	int fd;

	/* cut short: the tables lie past the end */
	unlink(at("h.sqfs"));
	assert_int_equal(run(argv), 0);
	assert_int_equal(stat(at("h.sqfs"), &st), 0);
	assert_int_equal(truncate(at("h.sqfs"), st.st_size / 2), 0);
	assert_int_equal(rain_imgfs_open(at("h.sqfs"), NULL, NULL, &fs), RAIN_EFORMAT);
	assert_error_contains("h.sqfs");
	assert_null(fs);
	/* garbage over the metadata (inode and directory tables, at the end
	 * of the image): an error or skipped entries, never a crash */
	unlink(at("h.sqfs"));
	assert_int_equal(run(argv), 0);
	assert_int_equal(stat(at("h.sqfs"), &st), 0);
	fd = open(at("h.sqfs"), O_RDWR);
	for (off_t off = st.st_size / 2; off < st.st_size - 4096; off += 97)
		assert_int_equal(pwrite(fd, "\xff\x7f\x00\x13", 4, off), 4);
	close(fd);
	if (rain_imgfs_open(at("h.sqfs"), NULL, NULL, &fs) == 0) {
		int r = rain_imgfs_walk(fs, read_all_fn, NULL);

		assert_true(r == 0 || r == RAIN_EFORMAT);
		rain_imgfs_close(fs);
	}
	(void)n;
}

/* Write text to a new file (for a program's stdin). */
static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* sfdisk with script on a new sparse disk of mib MiB, then each image
 * copied (dd) at its sector. */
static void make_disk(const char *disk, int mib, const char *script, const char *const *imgs,
		      const long *sectors)
{
	struct process_opts o = { .stdin_fd = -1, .timeout_s = 120 };
	const char *sf[] = { "sfdisk", "-q", "--no-reread", "--no-tell-kernel", disk, NULL };
	int status = -1;

	unlink(disk);
	assert_int_equal(truncate(disk, 0) == 0 || errno == ENOENT, 1);
	{
		int fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)mib << 20), 0);
		close(fd);
	}
	write_file(at("sfdisk.in"), script);
	o.stdin_fd = open(at("sfdisk.in"), O_RDONLY);
	o.argv = sf;
	assert_int_equal(process_run(&o, &status), 0);
	close(o.stdin_fd);
	assert_int_equal(status, 0);
	for (size_t i = 0; imgs[i]; i++) {
		char of[600], seek[64], in[600];
		const char *dd[] = { "dd", in, of, "bs=512", seek, "conv=notrunc,sparse", "status=none", NULL };

		snprintf(in, sizeof(in), "if=%s", imgs[i]);
		snprintf(of, sizeof(of), "of=%s", disk);
		snprintf(seek, sizeof(seek), "seek=%ld", sectors[i]);
		assert_int_equal(run(dd), 0);
	}
}

/* A small tree without os-release, as an ext4 of mib MiB at path. */
static void make_other_fs(const char *path, int mib)
{
	char dir[600], f[700], size[16];
	const char *argv[] = { "mkfs.ext4", "-q", "-F", "-d", dir, path, size, NULL };

	snprintf(dir, sizeof(dir), "%s", at("other"));
	mkdir(dir, 0755);
	snprintf(f, sizeof(f), "%s/boot.txt", dir);
	write_file(f, "not the root\n");
	snprintf(size, sizeof(size), "%dM", mib);
	unlink(path);
	assert_int_equal(run(argv), 0);
}

static void test_disk(void **state)
{
	const char *disk = at("t.disk");
	long sectors[3];
	const char *imgs[3];

	mkfs_ext4(at("root.ext4"));
	make_other_fs(at("other.ext4"), 70);
	/* GPT: a BIOS boot partition, a larger Linux one without
	 * os-release, the root */
	sectors[0] = 4096;
	sectors[1] = 4096 + 143360;
	imgs[0] = at("other.ext4");
	imgs[1] = at("root.ext4");
	imgs[2] = NULL;
	make_disk(disk, 140, "label: gpt\n"
		  "start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649\n"
		  "start=4096, size=143360, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n"
		  "start=147456, size=131072, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n", imgs, sectors);
	assert_same_tree(disk, NULL, "gpt partition 3 at byte 75497472 (ext4)");
	assert_same_tree(disk, "disk", "gpt partition 3");
	check_lookups(disk, NULL);

	/* MBR: the root as a logical partition of an extended one */
	sectors[0] = 2048;
	sectors[1] = 2048 + 143360 + 2048;
	make_disk(disk, 140, "label: dos\n"
		  "start=2048, size=143360, type=83\n"
		  "start=145408, size=133120, type=5\n"
		  "start=147456, size=131072, type=83\n", imgs, sectors);
	assert_same_tree(disk, NULL, "mbr partition 5 at byte 75497472 (ext4)");

	/* MBR with a squashfs root */
	{
		const char *argv[] = { "mksquashfs", tree, at("root.sqfs"), "-noappend", "-no-progress", "-quiet",
				       NULL };

		unlink(at("root.sqfs"));
		assert_int_equal(run(argv), 0);
		imgs[0] = at("root.sqfs");
		imgs[1] = NULL;
		sectors[0] = 2048;
		make_disk(disk, 40, "label: dos\nstart=2048, type=83\n", imgs, sectors);
		assert_same_tree(disk, NULL, "mbr partition 1 at byte 1048576 (squashfs");
	}
}

static void test_disk_hostile(void **state)
{
	const char *disk = at("h.disk");
	const char *imgs[] = { at("root.ext4"), NULL };
	long sectors[] = { 2048 };
	struct rain_imgfs *fs = NULL;
	int fd;

	/* a GPT whose header CRC does not match: the backup is read; both
	 * corrupt: refused; the primary header wiped: the backup */
	make_disk(disk, 80, "label: gpt\nstart=2048, type=L\n", imgs, sectors);
	assert_same_tree(disk, NULL, "gpt partition 1");
	fd = open(disk, O_RDWR);
	assert_int_equal(pwrite(fd, "\x01", 1, 512 + 80), 1);
	assert_int_equal(rain_imgfs_open(disk, NULL, NULL, &fs), 0);
	assert_true(has_problem(fs, "CRC does not match"));
	assert_true(has_problem(fs, "the backup table"));
	rain_imgfs_close(fs);
	assert_same_tree(disk, NULL, "gpt partition 1");
	assert_int_equal(pwrite(fd, "\x01", 1, (80ll << 20) - 512 + 80), 1);
	assert_int_equal(rain_imgfs_open(disk, NULL, NULL, &fs), RAIN_EFORMAT);
	assert_error_contains("CRC");
	assert_error_contains("backup table cannot be read");
	close(fd);
	make_disk(disk, 80, "label: gpt\nstart=2048, type=L\n", imgs, sectors);
	fd = open(disk, O_RDWR);
	assert_int_equal(pwrite(fd, "\0\0\0\0\0\0\0\0", 8, 512), 8);
	close(fd);
	assert_same_tree(disk, NULL, "gpt partition 1");
	/* an MBR partition at sector 0 (the table inside itself) */
	make_disk(disk, 80, "label: dos\nstart=2048, type=83\n", imgs, sectors);
	fd = open(disk, O_RDWR);
	assert_int_equal(pwrite(fd, "\x00\x00\x00\x00", 4, 446 + 8), 4);
	close(fd);
	assert_int_equal(rain_imgfs_open(disk, NULL, NULL, &fs), RAIN_EFORMAT);
	/* extended boot records in a loop (the second names itself as
	 * next), partitions past the disk's end: bounded, the root found */
	sectors[0] = 4096;
	make_disk(disk, 140, "label: dos\nstart=2048, size=260000, type=5\n", imgs, sectors);
	{
		unsigned char ebr[512] = { 0 };

		fd = open(disk, O_RDWR);
		ebr[510] = 0x55;
		ebr[511] = 0xaa;
		/* logical: type 83, 2048 sectors after the record, 131072 long */
		memcpy(ebr + 446 + 4, "\x83\0\0\0\x00\x08\0\0\x00\x00\x02\x00", 12);
		/* next record at 200000 sectors into the extended partition */
		memcpy(ebr + 462 + 4, "\x05\0\0\0\x40\x0d\x03\x00\x00\x10\0\0", 12);
		assert_int_equal(pwrite(fd, ebr, 512, 2048 * 512ll), 512);
		/* the next one: a partition far past the end, and itself as next */
		memcpy(ebr + 446 + 4, "\x83\0\0\0\x00\x08\0\0\xff\xff\xff\x7f", 12);
		assert_int_equal(pwrite(fd, ebr, 512, (2048 + 200000) * 512ll), 512);
		close(fd);
	}
	assert_same_tree(disk, NULL, "mbr partition 5 at byte 2097152 (ext4)");
	/* a partition table with nothing readable in it */
	imgs[0] = NULL;
	make_disk(disk, 8, "label: gpt\nstart=2048, type=L\n", imgs, sectors);
	assert_int_equal(rain_imgfs_open(disk, NULL, NULL, &fs), RAIN_EFORMAT);
	assert_error_contains("holds no file system");
	assert_null(fs);
}

static void qemu_img_convert(const char *from, const char *fmt, const char *opts, bool compress,
			     const char *to)
{
	const char *argv[12];
	int i = 0;

	argv[i++] = "qemu-img";
	argv[i++] = "convert";
	argv[i++] = "-f";
	argv[i++] = fmt;
	argv[i++] = "-O";
	argv[i++] = "qcow2";
	if (compress)
		argv[i++] = "-c";
	if (opts) {
		argv[i++] = "-o";
		argv[i++] = opts;
	}
	argv[i++] = from;
	argv[i++] = to;
	argv[i] = NULL;
	unlink(to);
	assert_int_equal(run(argv), 0);
}

static void test_qcow2(void **state)
{
	const char *imgs[] = { at("root.ext4"), NULL };
	long sectors[] = { 2048 };

	mkfs_ext4(at("root.ext4"));
	make_disk(at("q.disk"), 80, "label: gpt\nstart=2048, type=L\n", imgs, sectors);
	/* a partitioned disk, plain, compressed (deflate and zstd), with
	 * subclusters and big clusters, and a bare ext4 */
	qemu_img_convert(at("q.disk"), "raw", NULL, false, at("t.qcow2"));
	assert_same_tree(at("t.qcow2"), NULL, "qcow2 -> gpt partition 1 at byte 1048576 (ext4)");
	check_lookups(at("t.qcow2"), NULL);
	qemu_img_convert(at("q.disk"), "raw", NULL, true, at("t.qcow2"));
	assert_same_tree(at("t.qcow2"), NULL, "qcow2 -> gpt partition 1");
	qemu_img_convert(at("q.disk"), "raw", "compression_type=zstd", true, at("t.qcow2"));
	assert_same_tree(at("t.qcow2"), "qcow2", "qcow2 -> gpt partition 1");
	qemu_img_convert(at("q.disk"), "raw", "extended_l2=on,cluster_size=128k", false, at("t.qcow2"));
	assert_same_tree(at("t.qcow2"), NULL, "qcow2 -> gpt partition 1");
	qemu_img_convert(at("q.disk"), "raw", "compat=0.10,cluster_size=2M", false, at("t.qcow2"));
	assert_same_tree(at("t.qcow2"), NULL, "qcow2 -> gpt partition 1");
	qemu_img_convert(at("root.ext4"), "raw", "cluster_size=4k", true, at("t.qcow2"));
	assert_same_tree(at("t.qcow2"), NULL, "qcow2 (ext4)");
}

static void test_qcow2_hostile(void **state)
{
	struct rain_imgfs *fs = NULL;
	const char *mk[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", at("t.qcow2"), "-F", "qcow2",
			     at("ov.qcow2"), NULL };
	int fd;

	/* a backing file: refused before anything is read through it */
	qemu_img_convert(at("root.ext4"), "raw", NULL, false, at("t.qcow2"));
	unlink(at("ov.qcow2"));
	assert_int_equal(run(mk), 0);
	assert_int_equal(rain_imgfs_open(at("ov.qcow2"), NULL, NULL, &fs), RAIN_EFORMAT);
	assert_error_contains("backing file");
	assert_null(fs);
	/* an L1 entry pointing past the end of the file: the ext4 inside
	 * cannot be read, which says where */
	fd = open(at("t.qcow2"), O_RDWR);
	{
		unsigned char h[48];
		uint64_t l1 = 0;

		assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
		for (int i = 40; i < 48; i++)
			l1 = l1 << 8 | h[i];
		assert_int_equal(pwrite(fd, "\x00\x00\x7f\xff\xff\xff\x00\x00", 8, (off_t)l1), 8);
	}
	close(fd);
	assert_int_equal(rain_imgfs_open(at("t.qcow2"), NULL, NULL, &fs), RAIN_EFORMAT);
	assert_error_contains("t.qcow2");
	/* compressed clusters scribbled over */
	qemu_img_convert(at("root.ext4"), "raw", NULL, true, at("t.qcow2"));
	fd = open(at("t.qcow2"), O_RDWR);
	{
		struct stat st;

		assert_int_equal(fstat(fd, &st), 0);
		for (off_t off = 0x50000; off < st.st_size; off += 4099)
			assert_int_equal(pwrite(fd, "\xde\xad\xbe\xef", 4, off), 4);
	}
	close(fd);
	if (rain_imgfs_open(at("t.qcow2"), NULL, NULL, &fs) == 0) {
		int r = rain_imgfs_walk(fs, read_all_fn, NULL);

		assert_true(r == 0 || r == RAIN_EFORMAT);
		rain_imgfs_close(fs);
	}
}

static bool has_problem(struct rain_imgfs *fs, const char *needle)
{
	size_t n;
	const char *const *p = rain_imgfs_problems(fs, &n, NULL);

	for (size_t i = 0; i < n; i++)
		if (strstr(p[i], needle))
			return true;
	return false;
}

static int count_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	(*(size_t *)ud)++;
	return 0;
}

static int read_all_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	char buf[65536];
	ssize_t n;

	while (f && (n = rain_imgfs_file_read(f, buf, sizeof(buf))) != 0)
		if (n < 0)
			return (int)n;
	return 0;
}

static void test_ext4_hostile(void **state)
{
	const char *img = at("h.ext4");
	struct rain_imgfs *fs;
	struct rain_imgfs_entry e;
	size_t n = 0;
	int fd;

	/* a directory entry pointing at an ancestor: the walk ends, once
	 * per entry, and says where */
	mkfs_ext4(img);
	debugfs(img, "link /a /a/b/c/cycle");
	debugfs(img, "link / /a/b/root");
	assert_int_equal(rain_imgfs_open(img, NULL, NULL, &fs), 0);
	assert_int_equal(rain_imgfs_walk(fs, count_fn, &n), 0);
	assert_true(n > 20 && n < 100);
	assert_true(has_problem(fs, "/a/b/c/cycle: a directory met before"));
	assert_true(has_problem(fs, "/a/b/root: a directory met before"));
	/* a lookup through the cycle is bounded by the path's length */
	assert_int_equal(rain_imgfs_stat(fs, "/a/b/c/cycle/b/c/cycle/b/root/etc/passwd", false, &e), 0);
	assert_string_equal(e.path, "/a/b/c/cycle/b/c/cycle/b/root/etc/passwd");
	rain_imgfs_close(fs);

	/* a link of absurd size, a file of absurd size (sparse: the walk's
	 * read budget stops it), a bad inode number in a directory */
	mkfs_ext4(img);
	debugfs(img, "sif /abs size 100000");
	debugfs(img, "sif /empty size 0x7fffffffffff");
	debugfs(img, "set_inode_field /etc/passwd links_count 0");
	assert_int_equal(rain_imgfs_open(img, NULL, NULL, &fs), 0);
	assert_int_equal(rain_imgfs_stat(fs, "/abs", false, &e), RAIN_EFORMAT);
	assert_error_contains("symbolic link of 100000 bytes");
	assert_int_equal(rain_imgfs_stat(fs, "/empty", false, &e), 0);
	assert_int_equal(e.size, 0x7fffffffffffull);
	rain_imgfs_close(fs);
	{
		struct rain_imgfs_limits lim = { .max_walk_read = 16 << 20 };

		assert_int_equal(rain_imgfs_open(img, NULL, &lim, &fs), 0);
		assert_int_equal(rain_imgfs_walk(fs, read_all_fn, NULL), RAIN_ETOOBIG);
		assert_error_contains("more than 16777216 bytes");
		assert_true(has_problem(fs, "/abs"));
		rain_imgfs_close(fs);
	}

	/* a journal that was not replayed: read, and said */
	mkfs_ext4(img);
	debugfs(img, "feature needs_recovery");
	assert_int_equal(rain_imgfs_open(img, NULL, NULL, &fs), 0);
	assert_true(has_problem(fs, "not unmounted cleanly"));
	rain_imgfs_close(fs);

	/* superblocks: a block count past the end, an absurd block size,
	 * an image cut short */
	mkfs_ext4(img);
	fd = open(img, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff\xff\xff\x7f", 4, 1024 + 4), 4);
	close(fd);
	assert_int_equal(rain_imgfs_open(img, NULL, NULL, &fs), RAIN_EFORMAT);
	assert_error_contains("more than the");
	fd = open(img, O_RDWR);
	assert_int_equal(pwrite(fd, "\x00\x40\x00\x00\x05\x00\x00\x00", 8, 1024 + 4), 8);
	assert_int_equal(pwrite(fd, "\x05\x00\x00\x00", 4, 1024 + 24), 4);
	close(fd);
	assert_int_equal(rain_imgfs_open(img, "ext4", NULL, &fs), RAIN_EFORMAT);
	mkfs_ext4(img);
	assert_int_equal(truncate(img, 40 << 20), 0);
	assert_int_equal(rain_imgfs_open(img, NULL, NULL, &fs), RAIN_EFORMAT);
	assert_error_contains("truncated or corrupt");
	/* the group descriptors overwritten */
	mkfs_ext4(img);
	fd = open(img, O_RDWR);
	{
		char junk[4096];

		memset(junk, 0xa5, sizeof(junk));
		assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), 4096);
	}
	close(fd);
	fs = NULL;
	if (rain_imgfs_open(img, NULL, NULL, &fs) == 0) {
		n = 0;
		rain_imgfs_walk(fs, count_fn, &n);
		rain_imgfs_close(fs);
	} else {
		assert_error_contains("h.ext4");
	}
}

/* ---- extended attributes ---- */

struct xa_seen {
	const char *path;       /* the entry whose attributes are collected */
	char names[4096];       /* "name=size;" each */
	size_t n;
	unsigned char cap[32], acl[64];
	size_t cap_len, acl_len;
	char user[32];
};

static int xa_fn(void *ud, const char *name, const void *value, size_t size)
{
	struct xa_seen *x = ud;
	size_t len = strlen(x->names);

	snprintf(x->names + len, sizeof(x->names) - len, "%s=%zu;", name, size);
	x->n++;
	if (!strcmp(name, "security.capability") && size <= sizeof(x->cap))
		memcpy(x->cap, value, x->cap_len = size);
	if (!strcmp(name, "system.posix_acl_access") && size <= sizeof(x->acl))
		memcpy(x->acl, value, x->acl_len = size);
	if (!strcmp(name, "user.a") && size < sizeof(x->user))
		memcpy(x->user, value, size);
	return 0;
}

static int xa_walk_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	void **a = ud;
	struct xa_seen *x = a[1];

	if (strcmp(e->path, x->path))
		return 0;
	return rain_imgfs_xattrs(a[0], e, xa_fn, x);
}

/* The attributes of path through a walk of img. */
static void xattrs_of(const char *img, const char *format, const char *path, struct xa_seen *x,
		      struct rain_imgfs **keep)
{
	struct rain_imgfs *fs;
	void *a[2];

	memset(x, 0, sizeof(*x));
	x->path = path;
	assert_int_equal(rain_imgfs_open(img, format, NULL, &fs), 0);
	a[0] = fs;
	a[1] = x;
	assert_int_equal(rain_imgfs_walk(fs, xa_walk_fn, a), 0);
	if (keep)
		*keep = fs;
	else
		rain_imgfs_close(fs);
}

/* A capability (cap_net_raw, as setcap writes it), an ACL (user 1000
 * may read) and user.a, read back through dir, ext4, tar and squashfs
 * (what each format keeps); a tar with
 * more attributes than the limits allow gives the first ones and says
 * so. */
static void test_xattrs(void **state)
{
	const uint32_t cap[5] = { 0x02000001, 1u << 13, 0, 0, 0 };
	const unsigned char acl[] = { 2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 4, 0, 0xe8, 3, 0, 0,
				      4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
				      0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	char *xt = at("xtree"), *f = at("xtree/f"), *l = at("xtree/l");
	const char *mkfs[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-d", xt, at("x.ext4"), "8M", NULL };
	const char *tar[] = { "tar", "--xattrs", "--xattrs-include=*", "-C", xt, "-cf", at("x.tar"), ".", NULL };
	const char *py =
		"import sys, tarfile\n"
		"t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)\n"
		"i = tarfile.TarInfo('many')\n"
		"i.pax_headers = {'SCHILY.xattr.user.k%03d' % k: 'v' for k in range(200)}\n"
		"t.addfile(i)\n"
		"i = tarfile.TarInfo('big')\n"
		"i.pax_headers = {'SCHILY.xattr.user.big': 'x' * 70000, 'SCHILY.xattr.user.small': 'y'}\n"
		"t.addfile(i)\n"
		"t.close()\n";
	const char *mktar[] = { "python3", "-c", py, at("xa.tar"), NULL };
	const char *sqfs[] = { "mksquashfs", xt, at("x.sqfs"), "-noappend", "-no-progress", "-quiet", NULL };
	const char *images[][3] = { { xt, "dir", "dir" }, { at("x.ext4"), "ext4", "ext4" }, { at("x.tar"), "tar", "tar" },
				    { at("x.sqfs"), "squashfs", "squashfs" } };
	struct rain_imgfs *fs;
	struct xa_seen x;

	(void)state;
	if (!is_root)
		skip();
	assert_int_equal(mkdir(xt, 0755), 0);
	assert_int_equal(close(open(f, O_WRONLY | O_CREAT | O_EXCL, 0644)), 0);
	assert_int_equal(setxattr(f, "security.capability", cap, sizeof(cap), 0), 0);
	assert_int_equal(setxattr(f, "system.posix_acl_access", acl, sizeof(acl), 0), 0);
	assert_int_equal(setxattr(f, "user.a", "one", 3, 0), 0);
	assert_int_equal(symlink("f", l), 0);
	assert_int_equal(run(mkfs), 0);
	assert_int_equal(run(tar), 0);
	assert_int_equal(run(sqfs), 0);
	for (size_t i = 0; i < sizeof(images) / sizeof(*images); i++) {
		xattrs_of(images[i][0], images[i][1], "/f", &x, NULL);
		assert_non_null(strstr(x.names, "security.capability=20;"));
		assert_memory_equal(x.cap, cap, sizeof(cap));
		assert_string_equal(x.user, "one");
		/* GNU tar keeps ACLs as text (SCHILY.acl.access), not as an
		 * attribute; squashfs keeps no system.* attribute */
		if (strcmp(images[i][1], "tar") && strcmp(images[i][1], "squashfs")) {
			/* tags, permissions and user 1000 (libext2fs gives 0
			 * for the ids that entries of other tags do not use) */
			assert_int_equal(x.acl_len, sizeof(acl));
			assert_memory_equal(x.acl, acl, 4);
			for (size_t k = 4; k + 8 <= sizeof(acl); k += 8) {
				assert_memory_equal(x.acl + k, acl + k, 4);
				if (acl[k] == 2)        /* ACL_USER */
					assert_memory_equal(x.acl + k + 4, acl + k + 4, 4);
			}
		}
		/* a link's own (it has none), never its target's */
		xattrs_of(images[i][0], images[i][1], "/l", &x, NULL);
		assert_int_equal(x.n, 0);
	}
	/* stat's entry works as well as the walk's (not tar: walk only) */
	assert_int_equal(rain_imgfs_open(at("x.ext4"), NULL, NULL, &fs), 0);
	{
		struct rain_imgfs_entry e;

		memset(&x, 0, sizeof(x));
		assert_int_equal(rain_imgfs_stat(fs, "/f", false, &e), 0);
		assert_true(e.node > 0);
		assert_int_equal(rain_imgfs_xattrs(fs, &e, xa_fn, &x), 0);
		assert_string_equal(x.user, "one");
	}
	rain_imgfs_close(fs);

	/* limits */
	assert_int_equal(run(mktar), 0);
	xattrs_of(at("xa.tar"), "tar", "/many", &x, &fs);
	assert_int_equal(x.n, RAIN_IMGFS_MAX_XATTRS);
	assert_true(has_problem(fs, "/many: more than 128 extended attributes"));
	rain_imgfs_close(fs);
	xattrs_of(at("xa.tar"), "tar", "/big", &x, &fs);
	assert_string_equal(x.names, "user.small=1;");
	assert_true(has_problem(fs, "/big: extended attribute user.big holds 70000 bytes"));
	rain_imgfs_close(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir),
		cmocka_unit_test(test_tar),
		cmocka_unit_test(test_tar_hostile),
		cmocka_unit_test(test_ext4),
		cmocka_unit_test(test_ext4_hostile),
		cmocka_unit_test(test_ext4_content),
		cmocka_unit_test(test_ext4_lookups),
		cmocka_unit_test(test_squashfs),
		cmocka_unit_test(test_squashfs_hostile),
		cmocka_unit_test(test_disk),
		cmocka_unit_test(test_disk_hostile),
		cmocka_unit_test(test_qcow2),
		cmocka_unit_test(test_qcow2_hostile),
		cmocka_unit_test(test_open_read),
		cmocka_unit_test(test_xattrs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
