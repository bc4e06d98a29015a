/* A build's scratch: where everything it writes on the host's disk lives,
 * and the hard limit on it (scratch_size). See build-internal.h.
 *
 * One directory per build in the work directory:
 *
 *   WORK/build.XXXXXX/      b->dir, the host root's, 0711
 *       lock                flock held while the build lives
 *       disk                a sparse file of exactly scratch_size bytes
 *                           holding an ext4 file system (0600)
 *       scratch/            b->scratch: that file system, mounted through
 *                           a loop device of its own (nosuid, nodev), or a
 *                           plain directory where loop devices cannot be
 *                           used (no /dev/loop-control, not permitted)
 *
 * Under scratch/ are the overlay's upper and work layers, the downloads,
 * the inputs, the outputs and tmp/. On a file system of its own a write
 * past scratch_size fails at once with ENOSPC, however many files or
 * processes write; without one the build's files are measured every 2 s
 * (build-limits.c), which a build can overshoot by what it writes in 2 s.
 * The build log says which is in force.
 *
 * The file system is mounted in a mount namespace of the build's own (the
 * calling process unshares one, a slave of the host's): no other process
 * sees it, nor holds a copy of it in the namespaces of its own sandboxes,
 * and when the build dies (kill -9 included) the kernel drops the mount
 * with the last process in that namespace. The loop device is set up with
 * LO_FLAGS_AUTOCLEAR: it detaches itself when that last mount goes, or
 * when the build dies before it mounted it. So a killed build leaves only
 * its directory, which the next build on the same work directory sweeps
 * (unmounting and detaching whatever might still be there first).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "build-internal.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define SCRATCH_DISK "disk"
#define SCRATCH_MNT "scratch"

/* ---- loop devices ---- */

/* Attach file to a free loop device (autoclear); its fd, or -1 with why
 * set. Two builds may be handed the same free device: the loser's
 * LOOP_CONFIGURE fails with EBUSY and it asks again. */
static int loop_attach(const char *file, char *dev, size_t n, char *why, size_t whyn)
{
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	_cleanup_close_ int backing = -1;
	bool dio = true;

	if (ctl < 0) {
		snprintf(why, whyn, "/dev/loop-control: %s", strerror(errno));
		return -1;
	}
	backing = open(file, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (backing < 0) {
		snprintf(why, whyn, "%s: %s", file, strerror(errno));
		return -1;
	}
	for (int tries = 0; tries < 64; tries++) {
		struct loop_config cfg = { .fd = (unsigned int)backing };
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE), fd;

		if (nr < 0) {
			snprintf(why, whyn, "no free loop device: %s", strerror(errno));
			return -1;
		}
		snprintf(dev, n, "/dev/loop%d", nr);
		fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			snprintf(why, whyn, "%s: %s", dev, strerror(errno));
			return -1;
		}
		/* direct I/O: the disk's pages are not cached twice */
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (dio ? LO_FLAGS_DIRECT_IO : 0);
		snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", file);
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
			return fd;
		close(fd);
		if (errno == EINVAL && dio) {
			dio = false;
			tries--;
			continue;
		}
		if (errno != EBUSY) {
			snprintf(why, whyn, "cannot attach %s to %s: %s", file, dev, strerror(errno));
			return -1;
		}
	}
	snprintf(why, whyn, "no free loop device after 64 tries");
	return -1;
}

/* Detach every loop device still backed by a file under dir (a dead
 * build's): its autoclear normally did it. */
static void loop_detach_under(const char *dir)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	size_t len = strlen(dir);

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *text = NULL;
		char path[300];
		size_t tl;
		int fd;

		if (!str_has_prefix(de->d_name, "loop"))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		if (fs_read_small(path, 8192, &text, &tl) < 0 || strncmp(text, dir, len) || text[len] != '/')
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ioctl(fd, LOOP_CLR_FD, 0);
			close(fd);
		}
	}
	if (d)
		closedir(d);
}

/* Unmount the scratch file system at mnt (if it is one), waiting a little
 * for what still uses it, then lazily. */
static void scratch_unmount(const char *mnt, bool wait)
{
	for (int tries = 0; wait && tries < 50; tries++) {
		if (umount2(mnt, UMOUNT_NOFOLLOW) == 0 || errno != EBUSY)
			return;
		usleep(40000);
	}
	umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW);
}

/* Remove the directory of a build that is gone (or ending): unmount its
 * scratch, detach its loop device, remove the rest. */
static void dir_remove(const char *dir, bool wait)
{
	_cleanup_free_ char *mnt = fs_path_join(dir, SCRATCH_MNT);

	if (mnt)
		scratch_unmount(mnt, wait);
	loop_detach_under(dir);
	fs_remove_tree(dir);
}

/* ---- the file system ---- */

/* Make b->scratch a file system of exactly scratch_size bytes; false with
 * why set when it cannot be (b->scratch stays a plain directory). */
static bool fs_make(struct build_ctx *b, char *why, size_t whyn)
{
	_cleanup_free_ char *disk = fs_path_join(b->dir, SCRATCH_DISK);
	_cleanup_close_ int fd = -1, loopfd = -1;
	char dev[64];
	int r;

	if (!disk) {
		snprintf(why, whyn, "out of memory");
		return false;
	}
	if (access("/dev/loop-control", F_OK) < 0) {
		snprintf(why, whyn, "no /dev/loop-control here");
		return false;
	}
	fd = open(disk, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, b->lim.scratch) < 0) {
		snprintf(why, whyn, "cannot create %s: %s", disk, strerror(errno));
		return false;
	}
	{
		/* no journal (the scratch never outlives a crash), no blocks
		 * kept for root, inode tables left to read as the sparse
		 * file's zeros */
		const char *argv[] = { "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E",
				       "nodiscard,lazy_itable_init=1", "-L", "rain-scratch", "--", disk, NULL };
		char what[64];

		snprintf(what, sizeof(what), "mkfs.ext4 (the build's scratch, %lld MiB)",
			 (long long)(b->lim.scratch >> 20));
		r = build_run(b, what, argv, NULL, NULL);
		if (r < 0) {
			snprintf(why, whyn, "%s", rain_error_last());
			return false;
		}
	}
	loopfd = loop_attach(disk, dev, sizeof(dev), why, whyn);
	if (loopfd < 0)
		return false;
	/* (again when a process builds twice: harmless) */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		snprintf(why, whyn, "no mount namespace of its own: %s", strerror(errno));
		return false;
	}
	if (mount(dev, b->scratch, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "noinit_itable") < 0) {
		snprintf(why, whyn, "cannot mount %s on %s: %s", dev, b->scratch, strerror(errno));
		/* closing loopfd detaches it (autoclear) */
		return false;
	}
	/* the mount holds the device now; closing loopfd leaves it attached */
	b->scratch_fs = true;
	build_log(b, "scratch: %s, a file system of %lld MiB of its own on %s (writes past it fail at once)",
		  b->scratch, (long long)(b->lim.scratch >> 20), dev);
	return true;
}

int build_scratch_make(struct build_ctx *b, const char *work_dir)
{
	_cleanup_free_ char *tmpl = NULL, *lock = NULL, *fdpath = NULL;
	char why[512];

	if (asprintf(&tmpl, "%s/build.XXXXXX", work_dir) < 0)
		return rain_error_oom();
	if (!mkdtemp(tmpl))
		return rain_error_errno(RAIN_EIO, errno, "cannot create a build directory in %s", work_dir);
	b->dir = realpath(tmpl, NULL);
	if (!b->dir)
		return rain_error_errno(RAIN_EIO, errno, "%s", tmpl);
	snprintf(b->cg_name, sizeof(b->cg_name), "%s", strrchr(b->dir, '/') + 1);
	/* held while the build (and its sandboxes, which inherit it) lives;
	 * locked before it gets its name, so another build's sweep never
	 * finds it unlocked (an open then a flock would leave a moment in
	 * which the sweep takes the new directory for a dead build's) */
	lock = fs_path_join(b->dir, "lock");
	b->lockfd = lock ? open(b->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
	if (b->lockfd < 0 || flock(b->lockfd, LOCK_EX) < 0 ||
	    asprintf(&fdpath, "/proc/self/fd/%d", b->lockfd) < 0 ||
	    linkat(AT_FDCWD, fdpath, AT_FDCWD, lock, AT_SYMLINK_FOLLOW) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot lock %s", b->dir);
	build_scratch_sweep(b, work_dir);
	b->scratch = fs_path_join(b->dir, SCRATCH_MNT);
	if (!b->scratch)
		return rain_error_oom();
	if (mkdir(b->scratch, 0700) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", b->scratch);
	if (!fs_make(b, why, sizeof(why))) {
		_cleanup_free_ char *disk = fs_path_join(b->dir, SCRATCH_DISK);

		if (disk)
			unlink(disk);
		snprintf(b->scratch_why, sizeof(b->scratch_why), "%s", why);
		build_log(b, "scratch: %s, measured every 2 s against its limit of %lld MiB (no file system of "
			  "its own: %s)", b->scratch, (long long)(b->lim.scratch >> 20), why);
	}
	/* the sandbox's root reaches its directories through both */
	if (chmod(b->dir, 0711) < 0 || chmod(b->scratch, 0711) < 0)
		return rain_error_errno(RAIN_EIO, errno, "%s", b->scratch);
	return 0;
}

void build_scratch_remove(struct build_ctx *b)
{
	if (!b->dir)
		return;
	if (b->scratch_fs)
		dir_remove(b->dir, true);
	else
		fs_remove_tree(b->dir);
	b->scratch_fs = false;
}

void build_scratch_sweep(struct build_ctx *b, const char *work_dir)
{
	DIR *d = opendir(work_dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *dir = NULL, *lock = NULL;
		struct stat st;
		int fd;

		if (!str_has_prefix(de->d_name, "build.") || !(dir = fs_path_join(work_dir, de->d_name)) ||
		    !strcmp(dir, b->dir) || !(lock = fs_path_join(dir, "lock")))
			continue;
		fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			/* one being made right now has no lock yet for a moment */
			if (errno == ENOENT && stat(dir, &st) == 0 && time(NULL) - st.st_mtime > 600)
				dir_remove(dir, false);
			continue;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			build_log(b, "removing the scratch and cgroup of a build that died: %s", dir);
			build_cgroup_reap(de->d_name);
			dir_remove(dir, false);
		}
		close(fd);
	}
	if (d)
		closedir(d);
}

bool build_scratch_full(struct build_ctx *b)
{
	struct statvfs sv;
	int64_t room = b->lim.scratch / 100;

	if (!b->scratch_fs)
		return false;
	if (b->scratch_full)
		return true;
	if (statvfs(b->scratch, &sv) < 0)
		return false;
	/* full: less than 1% left (from 1 to 64 MiB), or no inode */
	room = room < (1 << 20) ? (1 << 20) : room > (64 << 20) ? (64 << 20) : room;
	b->scratch_full = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize < room || sv.f_favail == 0;
	return b->scratch_full;
}

int build_scratch_explain(struct build_ctx *b, char *msg, size_t n)
{
	char size[32];

	if (!build_scratch_full(b))
		return 0;
	snprintf(size, sizeof(size), "%lld MiB", (long long)(b->lim.scratch >> 20));
	snprintf(msg, n, "the build reached its scratch_size limit: its scratch (the image's tree, downloads, "
		 "inputs and outputs) is a file system of %s and it is full (no space left on device); "
		 "raise the limit with --limit scratch_size=SIZE (rain generate) or scratch_size in "
		 "raind's [builds] section", size);
	return RAIN_ETOOBIG;
}
