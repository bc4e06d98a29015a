/* Build sandboxes: namespaces, id maps, mounts. See sandbox.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rain/error.h"
#include "sandbox.h"
#include "util/fsutil.h"
#include "util/strutil.h"

static uid_t host_id(const struct sandbox *s)
{
	return s->host_id ? s->host_id : SANDBOX_HOST_ID;
}

static bool idmapped_lower(const struct sandbox *s)
{
	return s->lower && s->lower_id && s->lower_id != host_id(s);
}

int sandbox_chown(const char *path, uid_t id)
{
	if (lchown(path, id, id) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot hand %s to the build sandbox", path);
	return 0;
}

static _Thread_local uid_t rechown_from, rechown_to;
static _Thread_local int rechown_err;

static id_t shifted(id_t id)
{
	return id >= rechown_from && id - rechown_from < SANDBOX_IDS ? id - rechown_from + rechown_to : id;
}

/* nftw's callback: 0 goes on, 1 stops with rechown_err set */
static int rechown_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_NS || type == FTW_DNR) {
		rechown_err = rain_error_errno(RAIN_EIO, errno, "cannot read %s", path);
		return 1;
	}
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1)
		return 0;
	if ((shifted(st->st_uid) != st->st_uid || shifted(st->st_gid) != st->st_gid) &&
	    lchown(path, shifted(st->st_uid), shifted(st->st_gid)) < 0) {
		rechown_err = rain_error_errno(RAIN_EIO, errno, "cannot hand %s to the build sandbox", path);
		return 1;
	}
	return 0;
}

int sandbox_chown_tree(const char *path, uid_t from, uid_t to)
{
	int r;

	rechown_from = from;
	rechown_to = to;
	rechown_err = 0;
	r = nftw(path, rechown_one, 16, FTW_PHYS | FTW_MOUNT);
	if (r == 1)
		return rechown_err;
	if (r < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot walk %s", path);
	return 0;
}

/* ---- inside: mounts ---- */

static int fail_mount(const char *what, const char *where)
{
	return rain_error_errno(RAIN_EIO, errno, "sandbox: cannot mount %s on %s", what, where);
}

/* Bind src on dest, read-only or writable (a bind inherits the flags of
 * the mount it comes from, which may be one of our read-only ones). */
static int bind(const char *src, const char *dest, bool readonly)
{
	struct statvfs sv;
	unsigned long keep = 0;

	if (mount(src, dest, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail_mount(src, dest);
	if (statvfs(dest, &sv) < 0)
		return fail_mount("(statvfs)", dest);
	if (!readonly && !(sv.f_flag & ST_RDONLY))
		return 0;
	/* a remount in a user namespace must keep the flags it cannot drop */
	keep = (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (sv.f_flag & ST_NODEV ? MS_NODEV : 0) |
	       (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
	if (mount(NULL, dest, NULL, MS_BIND | MS_REMOUNT | keep | (readonly ? MS_RDONLY : 0), NULL) < 0)
		return fail_mount(readonly ? "read-only" : "writable", dest);
	return 0;
}

/* where: root + dest, or dest alone */
static char *inside(const struct sandbox *s, const char *dest)
{
	char *p;

	if (!s->root)
		return strdup(dest);
	if (asprintf(&p, "%s/%s", s->root, dest[0] == '/' ? dest + 1 : dest) < 0)
		return NULL;
	return p;
}

/* A mount point of the same kind as src (an empty file or a directory). */
static int make_target(const char *src, const char *dest)
{
	struct stat st;
	int fd;

	if (stat(src, &st) < 0)
		return rain_error_errno(RAIN_ENOTFOUND, errno, "sandbox: %s", src);
	if (S_ISDIR(st.st_mode))
		return fs_mkdir_p(dest, 0755);
	if (access(dest, F_OK) == 0)
		return 0;
	fd = open(dest, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "sandbox: cannot create %s", dest);
	close(fd);
	return 0;
}

static int mount_dev(const char *root, const char *shm_opts)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" }, { "pts/ptmx", "ptmx" },
	};
	char dev[4096], p[4096 + 64], host[64];

	if ((size_t)snprintf(dev, sizeof(dev), "%s/dev", root) >= sizeof(dev))
		return rain_error_set(RAIN_EINVAL, "sandbox: the root's path is too long");
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=16m") < 0)
		return fail_mount("tmpfs", dev);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(*nodes); i++) {
		int fd;

		snprintf(p, sizeof(p), "%s/%s", dev, nodes[i]);
		snprintf(host, sizeof(host), "/dev/%s", nodes[i]);
		fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd >= 0)
			close(fd);
		if (mount(host, p, NULL, MS_BIND, NULL) < 0 && strcmp(nodes[i], "tty"))
			return fail_mount(host, p);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++) {
		snprintf(p, sizeof(p), "%s/%s", dev, links[i][1]);
		if (symlink(links[i][0], p) < 0)
			return rain_error_errno(RAIN_EIO, errno, "sandbox: cannot create %s", p);
	}
	snprintf(p, sizeof(p), "%s/pts", dev);
	if (mkdir(p, 0755) < 0 ||
	    mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0)
		return fail_mount("devpts", p);
	snprintf(p, sizeof(p), "%s/shm", dev);
	if (mkdir(p, 01777) < 0 || mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, shm_opts) < 0)
		return fail_mount("tmpfs", p);
	return 0;
}

static int mount_system(const struct sandbox *s)
{
	static const char *const tmpfs[] = { "run", "tmp" };
	char p[4096], size[48] = "", opts[2][80];
	int r;

	if (s->tmpfs_size > 0)
		snprintf(size, sizeof(size), ",size=%lldk", (long long)((s->tmpfs_size + 1023) / 1024));
	snprintf(opts[0], sizeof(opts[0]), "mode=0755%s", size);
	snprintf(opts[1], sizeof(opts[1]), "mode=1777%s", size);

	snprintf(p, sizeof(p), "%s/proc", s->root);
	if (fs_mkdir_p(p, 0555) < 0 || mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail_mount("proc", p);
	r = mount_dev(s->root, opts[1]);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(tmpfs) / sizeof(*tmpfs); i++) {
		snprintf(p, sizeof(p), "%s/%s", s->root, tmpfs[i]);
		if (fs_mkdir_p(p, 0755) < 0 ||
		    mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opts[i]) < 0)
			return fail_mount("tmpfs", p);
	}
	/* sysfs needs a network namespace of our own; programs cope without */
	if (!s->network) {
		snprintf(p, sizeof(p), "%s/sys", s->root);
		if (access(p, F_OK) == 0)
			mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	}
	return 0;
}

static int pivot(const char *root)
{
	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return rain_error_errno(RAIN_EIO, errno, "sandbox: cannot make %s the root", root);
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return rain_error_errno(RAIN_EIO, errno, "sandbox: cannot leave the host's root");
	return 0;
}

static bool overlay_safe(const char *path)
{
	return path && !strpbrk(path, ",:\\");
}

static int setup(const struct sandbox *s)
{
	int r;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail_mount("private propagation", "/");
	for (size_t i = 0; s->readonly && s->readonly[i]; i++)
		if ((r = bind(s->readonly[i], s->readonly[i], true)) < 0)
			return r;
	if (s->lower) {
		char opts[12288];

		if (!overlay_safe(s->lower) || !overlay_safe(s->upper) || !overlay_safe(s->work) ||
		    !overlay_safe(s->root))
			return rain_error_set(RAIN_EINVAL, "the build directory's path may not contain ',', ':' "
					      "or '\\' (overlayfs options); choose another --output");
		if (idmapped_lower(s) && !overlay_safe(s->lower_mnt))
			return rain_error_set(RAIN_EINVAL, "the build directory's path may not contain ',', ':' "
					      "or '\\' (overlayfs options); choose another --output");
		snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s,userxattr",
			 idmapped_lower(s) ? s->lower_mnt : s->lower, s->upper, s->work);
		if (mount("overlay", s->root, "overlay", 0, opts) < 0)
			return fail_mount("overlay", s->root);
	}
	if (s->pivot && (r = mount_system(s)) < 0)
		return r;
	for (size_t i = 0; i < s->nbinds; i++) {
		const struct sandbox_bind *b = &s->binds[i];
		_cleanup_free_ char *dest = inside(s, b->dest);

		if (!dest)
			return rain_error_oom();
		if ((r = make_target(b->src, dest)) < 0)
			return r;
		if (b->lower) {
			char opts[12288];

			if (!overlay_safe(b->lower) || !overlay_safe(b->src) || !overlay_safe(b->work))
				return rain_error_set(RAIN_EINVAL, "the build directory's or cache's path may not "
						      "contain ',', ':' or '\\' (overlayfs options)");
			snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", b->lower,
				 b->src, b->work);
			if (mount("overlay", dest, "overlay", 0, opts) < 0)
				return fail_mount("overlay", dest);
		} else if ((r = bind(b->src, dest, b->readonly)) < 0) {
			return r;
		}
	}
	if (s->pivot && (r = pivot(s->root)) < 0)
		return r;
	if (s->env) {
		clearenv();
		for (size_t i = 0; s->env[i]; i++)
			putenv((char *)s->env[i]);
	}
	return 0;
}

/* ---- the sandbox's processes ---- */

static int set_limit(int resource, int64_t value, const char *what)
{
	struct rlimit rl = { (rlim_t)value, (rlim_t)value };

	if (value > 0 && setrlimit(resource, &rl) < 0)
		return rain_error_errno(RAIN_EIO, errno, "sandbox: cannot limit %s", what);
	return 0;
}

static int set_limits(const struct sandbox *s)
{
	int r = set_limit(RLIMIT_FSIZE, s->rlimit_fsize, "file sizes");

	if (r == 0)
		r = set_limit(RLIMIT_AS, s->rlimit_as, "memory");
	if (r == 0)
		r = set_limit(RLIMIT_NPROC, s->rlimit_nproc, "processes");
	return r;
}

/* Put pid in the sandbox's cgroups (before it runs anything). */
static int join_cgroups(const struct sandbox *s, pid_t pid)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%d\n", (int)pid);

	for (size_t i = 0; s->cgroups && s->cgroups[i]; i++) {
		int fd = open(s->cgroups[i], O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, text, (size_t)n) != n) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			return rain_error_errno(RAIN_EIO, e, "cannot put the build sandbox in %s", s->cgroups[i]);
		}
		close(fd);
	}
	return 0;
}

static void report(int fd, int code)
{
	dprintf(fd, "%d\n%s", code, rain_error_last());
}

static ssize_t read_all(int fd, char *buf, size_t max)
{
	size_t got = 0;
	ssize_t n;

	while (got < max && (n = read(fd, buf + got, max - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int write_map(pid_t pid, const char *file, uid_t inside, uid_t outside)
{
	char path[64], map[64];
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	n = snprintf(map, sizeof(map), "%u %u %u\n", inside, outside, SANDBOX_IDS);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, (size_t)n) != n) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return rain_error_errno(RAIN_EIO, e, "cannot map ids into the build sandbox (%s)", file);
	}
	close(fd);
	return 0;
}

/* A user namespace that maps lower_id.. to host_id.. (for an idmapped
 * mount: files the host sees owned by lower_id + n appear as host_id + n
 * through it); its fd, or a negative rain error. */
static int idmap_userns(const struct sandbox *s)
{
	int pipefd[2], fd = -1, r = 0;
	char path[64], c;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return rain_error_errno(RAIN_EIO, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return rain_error_errno(RAIN_EIO, errno, "fork");
	}
	if (pid == 0) {
		/* wait in the new namespace until the parent has its fd */
		close(pipefd[1]);
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(1);
		if (read(pipefd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pipefd[0]);
	/* the child unshares first: retry until its namespace is new */
	for (int i = 0; i < 500 && r == 0; i++) {
		struct stat mine, its;

		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		if (stat("/proc/self/ns/user", &mine) == 0 && stat(path, &its) == 0 && mine.st_ino != its.st_ino)
			break;
		usleep(1000);
	}
	if (write_map(pid, "uid_map", s->lower_id, host_id(s)) < 0 ||
	    write_map(pid, "gid_map", s->lower_id, host_id(s)) < 0)
		r = RAIN_EIO;
	if (r == 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot open %s", path);
	}
	close(pipefd[1]);
	waitpid(pid, NULL, 0);
	return r < 0 ? r : fd;
}

/* In the child, as the host's root in a mount namespace of its own:
 * lower at lower_mnt, read-only, its ids shifted through userns_fd. */
static int mount_idmapped_lower(const struct sandbox *s, int userns_fd)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY,
				   .userns_fd = (uint64_t)userns_fd };
	int tree;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail_mount("private propagation", "/");
	tree = open_tree(AT_FDCWD, s->lower, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return rain_error_errno(RAIN_EIO, errno, "sandbox: cannot open the base %s", s->lower);
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0 ||
	    move_mount(tree, "", AT_FDCWD, s->lower_mnt, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		int e = errno;

		close(tree);
		return rain_error_errno(RAIN_EIO, e, "sandbox: cannot mount the base %s with the build's "
					"ids (idmapped mount) on %s", s->lower, s->lower_mnt);
	}
	close(tree);
	return 0;
}

/* In the forked child: never returns. */
static void child(const struct sandbox *s, int (*fn)(void *ud), void *ud, pid_t parent,
		  int out, int errfd, int ready, int go, int userns_fd)
{
	int flags = CLONE_NEWNS, r, null;
	char c;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	flags |= CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	if (!s->network)
		flags |= CLONE_NEWNET;
	if (userns_fd >= 0) {
		/* the idmapped base first, as the host's root; the sandbox's own
		 * mount namespace below inherits it, locked */
		r = unshare(CLONE_NEWNS) < 0 ? rain_error_errno(RAIN_EIO, errno, "sandbox: unshare") :
		    mount_idmapped_lower(s, userns_fd);
		close(userns_fd);
		if (r < 0) {
			report(errfd, r);
			_exit(1);
		}
	}
	if (unshare(flags) < 0) {
		rain_error_errno(RAIN_EIO, errno, "cannot create the build sandbox's namespaces");
		report(errfd, RAIN_EIO);
		_exit(1);
	}
	/* the parent writes our id maps */
	if (write(ready, "u", 1) != 1 || read(go, &c, 1) != 1 || c != 'g')
		_exit(1);
	{
		pid_t init;
		int st;

		if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			rain_error_errno(RAIN_EIO, errno, "cannot become root in the build sandbox");
			report(errfd, RAIN_EIO);
			_exit(1);
		}
		/* a change of credentials clears the parent-death signal */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		/* the first child is PID 1 of the new namespace */
		init = fork();
		if (init < 0)
			_exit(1);
		if (init > 0) {
			while (waitpid(init, &st, 0) < 0 && errno == EINTR)
				;
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	}
	sethostname("rain-build", strlen("rain-build"));
	r = set_limits(s);
	if (r == 0)
		r = setup(s);
	if (r == 0)
		r = fn(ud);
	fflush(stdout);
	fflush(stderr);
	if (r < 0) {
		report(errfd, r);
		_exit(1);
	}
	_exit(0);
}

int sandbox_run(const struct sandbox *s, int (*fn)(void *ud), void *ud,
		const struct process_opts *po)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, ready[2] = { -1, -1 }, go[2] = { -1, -1 };
	pid_t parent = getpid(), pid;
	char msg[4096], c;
	ssize_t n;
	int status = 0, r, userns_fd = -1;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0 ||
	    pipe2(go, O_CLOEXEC) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "pipe");
		goto done;
	}
	if (idmapped_lower(s) && (userns_fd = r = idmap_userns(s)) < 0)
		goto done;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "fork");
		goto done;
	}
	if (pid == 0)
		child(s, fn, ud, parent, out[1], err[1], ready[1], go[0], userns_fd);
	if (userns_fd >= 0)
		close(userns_fd);
	userns_fd = -1;
	setpgid(pid, pid);
	close(out[1]);
	close(err[1]);
	close(ready[1]);
	close(go[0]);
	out[1] = err[1] = ready[1] = go[0] = -1;
	r = 0;
	if (read(ready[0], &c, 1) != 1) {
		r = rain_error_set(RAIN_EIO, "the build sandbox did not start");
	} else {
		r = join_cgroups(s, pid);
		if (r == 0 && (write_map(pid, "uid_map", 0, host_id(s)) < 0 ||
					   write_map(pid, "gid_map", 0, host_id(s)) < 0))
			r = RAIN_EIO;
	}
	if (r < 0 || write(go[1], "g", 1) != 1) {
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(out[0]);
		out[0] = -1;
		r = r < 0 ? r : rain_error_set(RAIN_EIO, "the build sandbox did not start");
		goto done;
	}
	r = process_supervise(po, pid, out[0], &status);
	out[0] = -1;
	if (r < 0)
		goto done;
	n = read_all(err[0], msg, sizeof(msg) - 1);
	if (n > 0) {
		char *nl;
		int code = 0;

		msg[n] = '\0';
		nl = strchr(msg, '\n');
		if (nl && sscanf(msg, "%d", &code) == 1 && code < 0) {
			r = rain_error_set(code, "%s", nl + 1);
			goto done;
		}
	}
	if (status != 0)
		r = rain_error_set(RAIN_EIO, "%s stopped with status %d", po->name ? po->name : "the sandbox",
				   status);
done:
	{
		int fds[] = { out[0], out[1], err[0], err[1], ready[0], ready[1], go[0], go[1], userns_fd };

		for (size_t i = 0; i < sizeof(fds) / sizeof(*fds); i++)
			if (fds[i] >= 0)
				close(fds[i]);
	}
	return r;
}
