/* The container site driver (rain/sys/target.h): for sites that cannot
 * reboot nodes, the image's root tree, run unprivileged with
 * Charliecloud's ch-run by the container provider
 * (src/lib/provision/providers/container.c).
 *
 *   [site.NAME]
 *   uri = container:DIR        where the trees live (absolute)
 *   user = NAME                who ch-run runs as, and who owns the trees
 *                              (default: the invoking user; nobody when
 *                              that is root); never root
 *   bind = SRC:DST ...         host folders bound into every container
 *                              (ch-run -b; blank separated or repeated)
 *
 * adapt does nothing (a container needs no kernel, boot loader or
 * contextualization). publish reads the stored image as data (rain/imgfs.h:
 * never mounted, none of its links followed, nothing of it run) and makes
 * its root tree anew in a staging folder DIR/.REGID.publish: directories,
 * regular files and symbolic links (as links, never followed: every entry
 * is made beneath the staging folder through directories this walk made,
 * fs_open_beneath), with the image's permission bits but no setuid,
 * setgid or extended attributes, owned by the site's user; device nodes,
 * fifos and sockets are left out (ch-run binds the host's /dev). It then
 * makes what ch-run mounts over (/dev, /proc, /sys, /tmp, /etc/passwd,
 * /etc/group, CONTAINER_WORK and each bind's DST; an image's link or file
 * in their place is replaced) and renames the staging folder to DIR/REGID.
 * Both names are in the state before either exists, so that unpublish
 * (which removes them, never following a link) leaves nothing of a failed,
 * canceled or killed publish.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lib/target/container-internal.h"
#include "lib/target/target-internal.h"
#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/imgfs.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

#define COPY_BUF (1u << 20)
#define HOLE 65536              /* zero runs of this size become holes */

/* What ch-run mounts over: folders, then files (see the header). */
static const char *const mount_dirs[] = { "dev", "proc", "sys", "tmp", "rain", "rain/work", NULL };
static const char *const mount_files[] = { "etc/passwd", "etc/group", NULL };

static void site_free(struct rain_site *s)
{
	struct container_site *p = s->priv;

	if (!p)
		return;
	for (size_t i = 0; i < p->nbinds; i++) {
		free(p->binds[i].src);
		free(p->binds[i].dst);
	}
	free(p->binds);
	free(p->user);
	free(p);
	s->priv = NULL;
}

const struct container_site *container_site_of(const struct rain_site *site)
{
	return site && site->driver && !strcmp(site->driver->scheme, "container") ? site->priv : NULL;
}

/* An absolute path without "." or ".." components, blanks, ':' or ','
 * (ch-run -b splits on ':'). */
static bool bind_path_ok(const char *p)
{
	if (p[0] != '/' || !str_is_printable(p, 1024) || strpbrk(p, " \t:,"))
		return false;
	for (const char *c = p; (c = strchr(c, '/')); c++)
		if (!strncmp(c, "/./", 3) || !strcmp(c, "/.") || !strncmp(c, "/../", 4) || !strcmp(c, "/.."))
			return false;
	return true;
}

static int bind_add(struct rain_site *s, struct container_site *p, char *w)
{
	char *colon = strchr(w, ':');
	struct container_bind *b;

	if (colon)
		*colon = '\0';
	if (!colon || !bind_path_ok(w) || !bind_path_ok(colon + 1) || !strcmp(colon + 1, "/"))
		return rain_error_set(RAIN_EINVAL, "site %s: bind: '%s%s%s' is not SRC:DST (two absolute "
				      "paths without '.', '..', blanks, ':' or ','; DST not /)", s->name, w,
				      colon ? ":" : "", colon ? colon + 1 : "");
	if (!strcmp(colon + 1, "/rain") || str_has_prefix(colon + 1, "/rain/"))
		return rain_error_set(RAIN_EINVAL, "site %s: bind: %s: /rain is rain's own (the run's "
				      "folder is %s)", s->name, colon + 1, CONTAINER_WORK);
	if (ARRAY_GROW1(p->binds, p->nbinds) < 0)
		return rain_error_oom();
	b = &p->binds[p->nbinds];
	b->src = strdup(w);
	b->dst = strdup(colon + 1);
	p->nbinds++;
	return b->src && b->dst ? 0 : rain_error_oom();
}

static int user_set(struct rain_site *s, struct container_site *p)
{
	const char *v = rain_site_get(s, "user");
	struct passwd *pw;

	errno = 0;
	if (v)
		pw = getpwnam(v);
	else
		pw = geteuid() == 0 ? getpwnam("nobody") : getpwuid(geteuid());
	if (!pw)
		return rain_error_set(RAIN_EINVAL, "site %s: user: there is no user '%s' on this host "
				      "(user = NAME: who ch-run runs as)", s->name,
				      v ? v : geteuid() == 0 ? "nobody" : "(the invoking user)");
	if (pw->pw_uid == 0)
		return rain_error_set(RAIN_EINVAL, "site %s: user: '%s' is root: containers run "
				      "unprivileged; name another user", s->name, pw->pw_name);
	if (geteuid() != 0 && pw->pw_uid != geteuid())
		return rain_error_set(RAIN_EINVAL, "site %s: user: only root can publish and run as "
				      "another user than itself ('%s'); leave user unset", s->name, pw->pw_name);
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	p->user = strdup(pw->pw_name);
	return p->user ? 0 : rain_error_oom();
}

static int check(struct rain_site *s)
{
	static const char *const keys[] = { "uri", "policy", "kernels", "users", "user", "bind", NULL };
	struct container_site *p;
	const char *key, *v;
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;
	json_t *val;
	int r;

	json_object_foreach(s->settings, key, val)
		if (!str_in_list(keys, key))
			return rain_error_set(RAIN_EINVAL, "site %s: unknown setting '%s' for a container site "
					      "(known: user, bind)", s->name, key);
	if (s->location[0] != '/' || !bind_path_ok(s->location) || !strcmp(s->location, "/"))
		return rain_error_set(RAIN_EINVAL, "site %s: uri: container:DIR needs an absolute folder "
				      "(not /, without '.', '..', blanks, ':' or ','), got '%s'", s->name,
				      s->location);
	if (!(p = calloc(1, sizeof(*p))))
		return rain_error_oom();
	s->priv = p;
	if ((r = user_set(s, p)) < 0)
		return r;
	v = rain_site_get(s, "bind");
	if (v && !(copy = strdup(v)))
		return rain_error_oom();
	for (char *w = copy ? strtok_r(copy, " \t\n", &save) : NULL; w; w = strtok_r(NULL, " \t\n", &save))
		if ((r = bind_add(s, p, w)) < 0)
			return r;
	return 0;
}

/* The host's architecture as images name it. */
static const char *arch_norm(const char *a)
{
	if (!strcmp(a, "amd64") || !strcmp(a, "x86_64"))
		return "x86_64";
	if (!strcmp(a, "arm64") || !strcmp(a, "aarch64"))
		return "aarch64";
	return a;
}

static int accepts(const struct rain_site *s, const struct rain_target_image *img)
{
	const char *arch = json_string_value(json_object_get(img->properties, "architecture"));
	struct utsname u;

	if (!arch || uname(&u) < 0 || !strcmp(arch_norm(arch), arch_norm(u.machine)))
		return 0;
	return rain_error_set(RAIN_EINVAL, "site %s: a container runs on this host's %s processors; the "
			      "image is %s", s->name, u.machine, arch);
}

/* Nothing to adapt: publish reads the stored image itself. */
static int adapt(struct rain_target_op *op, const struct rain_target_image *img,
		 struct rain_target_artifacts *out)
{
	(void)op;
	(void)img;
	memset(out, 0, sizeof(*out));
	return 0;
}

/* DIR/REGID and DIR/.REGID.publish. */
static int reg_paths(const struct rain_site *site, const char *reg_id, char **dir, char **staging)
{
	const struct rain_target_op op = { .site = site, .reg_id = reg_id };
	_cleanup_free_ char *name = NULL;
	int r;

	*staging = NULL;
	if ((r = target_reg_dir(&op, site->location, dir)) < 0)
		return r;
	if (asprintf(&name, ".%s.publish", reg_id) < 0 || !(*staging = fs_path_join(site->location, name))) {
		free(*dir);
		*dir = NULL;
		return rain_error_oom();
	}
	return 0;
}

int container_reg_root(const struct rain_site *site, json_t *state, char **out)
{
	const char *named = json_string_value(json_object_get(state, "dir"));
	const char *reg = json_string_value(json_object_get(state, "registration"));
	_cleanup_free_ char *dir = NULL, *staging = NULL;
	int r;

	*out = NULL;
	if (!named || !reg)
		return rain_error_set(RAIN_EINVAL, "the registration's state names no tree (no \"dir\" or "
				      "\"registration\"): was it published at a container site?");
	if ((r = reg_paths(site, reg, &dir, &staging)) < 0)
		return r;
	if (strcmp(dir, named))
		return rain_error_set(RAIN_EINVAL, "the registration's state names '%s', not %s of site %s",
				      named, dir, site->name);
	*out = TAKE_PTR(dir);
	return 0;
}

int container_user_reaches(const struct container_site *p, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	char *slash = copy;
	struct stat st;

	if (!copy)
		return rain_error_oom();
	while (slash) {
		mode_t need;

		slash = strchr(slash + 1, '/');
		if (slash)
			*slash = '\0';
		if (stat(copy, &st) < 0)
			return rain_error_errno(RAIN_EIO, errno, "container: %s", copy);
		need = st.st_uid == p->uid ? S_IXUSR : st.st_gid == p->gid ? S_IXGRP : S_IXOTH;
		if (S_ISDIR(st.st_mode) && !(st.st_mode & need))
			return rain_error_set(RAIN_EFORBIDDEN, "container: the site's user %s cannot reach "
					      "%s: %s (mode %04o) is not searchable by it; chmod o+x it or "
					      "put the site's folder elsewhere", p->user, path, copy,
					      (unsigned)(st.st_mode & 07777));
		if (slash)
			*slash = '/';
	}
	return 0;
}

/* ---- making the tree ---- */

struct tree {
	struct rain_target_op *op;
	const struct container_site *p;
	bool chown;             /* running as root: files go to p->uid */
	int rootfd;             /* the staging folder */
	int pfd;                /* the folder of the last entry made */
	char parent[RAIN_IMGFS_MAX_PATH + 1];
	char *buf;
	uint64_t dirs, files, links, bytes, skipped_special, skipped_names, setid;
	char first_skipped[256];
};

static void skip(struct tree *t, uint64_t *count, const char *path)
{
	if (!t->skipped_special && !t->skipped_names)
		snprintf(t->first_skipped, sizeof(t->first_skipped), "%s", path);
	(*count)++;
}

/* The folder that holds path (absolute in the image), beneath the staging
 * folder; *name is path's last component. */
static int parent_of(struct tree *t, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	size_t len = (size_t)(slash - path);
	char rel[RAIN_IMGFS_MAX_PATH + 1];
	int fd;

	*name = slash + 1;
	if (t->pfd >= 0 && len == strlen(t->parent) && !strncmp(t->parent, path, len))
		return t->pfd;
	if (t->pfd >= 0 && t->pfd != t->rootfd)
		close(t->pfd);
	t->pfd = -1;
	if (len == 0) {
		fd = t->rootfd;
	} else {
		snprintf(rel, sizeof(rel), "%.*s", (int)len - 1, path + 1);
		fd = fs_open_beneath(t->rootfd, rel, O_PATH | O_DIRECTORY, 0);
		if (fd < 0)
			return fd;
	}
	t->pfd = fd;
	snprintf(t->parent, sizeof(t->parent), "%.*s", (int)len, path);
	return fd;
}

/* Owner and mode of the entry name just made in pfd (a link: owner only). */
static int own(struct tree *t, int pfd, const char *name, const char *path, mode_t mode, bool link)
{
	if (t->chown && fchownat(pfd, name, t->p->uid, t->p->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot give %s to %s", path, t->p->user);
	if (!link && fchmodat(pfd, name, mode, 0) < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot set the mode of %s", path);
	return 0;
}

static bool all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

static int copy_content(struct tree *t, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f, int fd)
{
	uint64_t total = 0;
	ssize_t n;
	int r;

	if (!f)
		return rain_error_set(RAIN_EFORMAT, "container: the image's %s cannot be read", e->path);
	while ((n = rain_imgfs_file_read(f, t->buf, COPY_BUF)) > 0) {
		for (size_t off = 0; off < (size_t)n; off += HOLE) {
			size_t len = (size_t)n - off < HOLE ? (size_t)n - off : HOLE;

			if (all_zero(t->buf + off, len))
				r = lseek(fd, (off_t)len, SEEK_CUR) < 0 ? rain_error_errno(RAIN_EIO, errno,
									     "container: %s", e->path) : 0;
			else
				r = fs_write_all(fd, t->buf + off, len, e->path);
			if (r < 0)
				return r;
		}
		total += (uint64_t)n;
	}
	if (n < 0)
		return rain_error_set((int)n, "container: the image's %s: %s", e->path, rain_error_last());
	if (ftruncate(fd, (off_t)total) < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: %s", e->path);
	t->bytes += total;
	return 0;
}

static int make_entry(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct tree *t = ud;
	_cleanup_close_ int fd = -1;
	mode_t mode = e->mode & 0777;
	const char *name;
	int pfd, r;

	if ((t->dirs + t->files + t->links) % 1024 == 0 && (r = rain_target_check_cancel(t->op)) < 0)
		return r;
	if (e->mode & (S_ISUID | S_ISGID))
		t->setid++;
	if (!strcmp(e->path, "/"))
		return 0;       /* the staging folder: its mode is set last */
	if (!S_ISDIR(e->mode) && !S_ISREG(e->mode) && !S_ISLNK(e->mode)) {
		skip(t, &t->skipped_special, e->path);
		return 0;
	}
	pfd = parent_of(t, e->path, &name);
	if (pfd < 0 || !fs_name_is_safe(name)) {
		/* under a link or a name that is not one (a tar's "..") */
		skip(t, &t->skipped_names, e->path);
		return S_ISDIR(e->mode) ? 1 : 0;
	}
	if (S_ISDIR(e->mode)) {
		struct stat st;

		/* a tar may name a folder twice; it stays a folder this walk made */
		if (mkdirat(pfd, name, 0700) < 0 &&
		    (errno != EEXIST || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)))
			return rain_error_errno(RAIN_EIO, errno, "container: cannot create %s", e->path);
		t->dirs++;
		/* its owner may always enter and change it (and remove it) */
		return own(t, pfd, name, e->path, (e->mode & 01777) | 0700, false);
	}
	/* a name a tar gave before: the later entry wins */
	if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot replace %s", e->path);
	if (S_ISLNK(e->mode)) {
		if (symlinkat(e->link, pfd, name) < 0)
			return rain_error_errno(RAIN_EIO, errno, "container: cannot create the link %s", e->path);
		t->links++;
		return own(t, pfd, name, e->path, 0, true);
	}
	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot create %s", e->path);
	if ((r = copy_content(t, e, f, fd)) < 0)
		return r;
	if (t->chown && fchown(fd, t->p->uid, t->p->gid) < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot give %s to %s", e->path, t->p->user);
	if (fchmod(fd, mode) < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot set the mode of %s", e->path);
	t->files++;
	return 0;
}

/* The folder rel (relative, its parents made the same way) as a real
 * folder: whatever else the image has there is replaced. Its fd (O_PATH). */
static int mount_dir(struct tree *t, const char *rel)
{
	_cleanup_free_ char *copy = strdup(rel);
	char *save = NULL;
	int fd = dup(t->rootfd);

	if (!copy || fd < 0) {
		if (fd >= 0)
			close(fd);
		return copy ? rain_error_errno(RAIN_EIO, errno, "dup") : rain_error_oom();
	}
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct stat st;
		int next, r = 0;

		if (fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
			rain_target_log(t->op, RAIN_TARGET_WARN, "the image's /%.*s is no folder: replaced "
					"by an empty one for ch-run", (int)(c - copy + strlen(c)), rel);
			if (unlinkat(fd, c, 0) < 0)
				r = rain_error_errno(RAIN_EIO, errno, "container: cannot remove the image's %s", c);
		}
		if (r == 0 && mkdirat(fd, c, 0755) == 0)
			r = own(t, fd, c, rel, 0755, false);
		else if (r == 0 && errno != EEXIST)
			r = rain_error_errno(RAIN_EIO, errno, "container: cannot create /%s", rel);
		next = r < 0 ? r : openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return r < 0 ? r : rain_error_errno(RAIN_EIO, errno, "container: cannot open /%s", rel);
		fd = next;
	}
	return fd;
}

static int mount_file(struct tree *t, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	_cleanup_free_ char *dir = strndup(rel, (size_t)(slash - rel));
	_cleanup_close_ int dfd = -1, fd = -1;
	struct stat st;

	if (!dir)
		return rain_error_oom();
	if ((dfd = mount_dir(t, dir)) < 0)
		return dfd;
	if (fstatat(dfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISREG(st.st_mode))
			return 0;
		if (S_ISDIR(st.st_mode))
			return rain_error_set(RAIN_EFORMAT, "container: the image's /%s is a folder: ch-run "
					      "needs a file there", rel);
		rain_target_log(t->op, RAIN_TARGET_WARN, "the image's /%s is no file: replaced by an "
				"empty one for ch-run", rel);
		if (unlinkat(dfd, slash + 1, 0) < 0)
			return rain_error_errno(RAIN_EIO, errno, "container: cannot remove the image's /%s", rel);
	}
	fd = openat(dfd, slash + 1, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot create /%s", rel);
	return own(t, dfd, slash + 1, rel, 0644, false);
}

static int mount_points(struct tree *t)
{
	int r;

	for (size_t i = 0; mount_dirs[i]; i++)
		if ((r = mount_dir(t, mount_dirs[i])) < 0)
			return r;
		else
			close(r);
	for (size_t i = 0; i < t->p->nbinds; i++)
		if ((r = mount_dir(t, t->p->binds[i].dst + 1)) < 0)
			return r;
		else
			close(r);
	for (size_t i = 0; mount_files[i]; i++)
		if ((r = mount_file(t, mount_files[i])) < 0)
			return r;
	return 0;
}

/* The stored image's tree into staging (an empty folder of ours). */
static int extract(struct rain_target_op *op, const struct rain_target_image *img, const char *staging)
{
	struct tree t = { .op = op, .p = op->site->priv, .chown = geteuid() == 0, .rootfd = -1, .pfd = -1 };
	const struct rain_imgfs_limits lim = { 0 };
	struct rain_imgfs *fs = NULL;
	_cleanup_close_ int in = -1;
	const char *const *problems;
	size_t nproblems, total;
	struct stat st;
	int r;

	in = open(img->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot read the image %s", img->path);
	if (!S_ISREG(st.st_mode))
		return rain_error_set(RAIN_EINVAL, "container: the image's data %s is no regular file", img->path);
	r = rain_diskfmt_inspect(img->disk_format, st.st_size, target_read_fd, &in, NULL);
	if (r >= 0)
		r = rain_imgfs_open_read(target_read_fd, &in, (uint64_t)st.st_size, img->name ? img->name :
					 img->path, img->disk_format && !strcmp(img->disk_format, "qcow2") ?
					 "qcow2" : NULL, &lim, &fs);
	if (r < 0)
		return rain_error_set(r, "container: the image %s: %s", img->name ? img->name : img->path,
				      rain_error_last());
	rain_target_log(op, RAIN_TARGET_INFO, "root tree: %s", rain_imgfs_info(fs)->detail);
	t.buf = malloc(COPY_BUF);
	t.rootfd = open(staging, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (!t.buf)
		r = rain_error_oom();
	else if (t.rootfd < 0)
		r = rain_error_errno(RAIN_EIO, errno, "container: cannot open %s", staging);
	if (r >= 0)
		r = rain_imgfs_walk(fs, make_entry, &t);
	if (r >= 0)
		r = mount_points(&t);
	if (r >= 0) {
		rain_target_log(op, RAIN_TARGET_INFO, "%llu folders, %llu files (%llu MiB), %llu links, owned "
				"by %s", (unsigned long long)t.dirs, (unsigned long long)t.files,
				(unsigned long long)(t.bytes >> 20), (unsigned long long)t.links, t.p->user);
		if (t.setid)
			rain_target_log(op, RAIN_TARGET_INFO, "%llu setuid or setgid bits not kept",
					(unsigned long long)t.setid);
		if (t.skipped_special || t.skipped_names)
			rain_target_log(op, RAIN_TARGET_WARN, "left out: %llu device nodes, fifos and sockets, "
					"%llu entries with unsafe names or under a link (the first: %s)",
					(unsigned long long)t.skipped_special,
					(unsigned long long)t.skipped_names, t.first_skipped);
		problems = rain_imgfs_problems(fs, &nproblems, &total);
		for (size_t i = 0; i < nproblems && i < 10; i++)
			rain_target_log(op, RAIN_TARGET_WARN, "%s", problems[i]);
	}
	if (t.pfd >= 0 && t.pfd != t.rootfd)
		close(t.pfd);
	if (t.rootfd >= 0)
		close(t.rootfd);
	free(t.buf);
	rain_imgfs_close(fs);
	return r;
}

static int publish(struct rain_target_op *op, const struct rain_target_image *img,
		   const struct rain_target_artifacts *a)
{
	const struct container_site *p = op->site->priv;
	_cleanup_free_ char *dir = NULL, *staging = NULL;
	struct stat st;
	int r;

	(void)a;
	if ((r = reg_paths(op->site, op->reg_id, &dir, &staging)) < 0)
		return r;
	if ((r = rain_target_state_set(op, "dir", json_string(dir))) < 0 ||
	    (r = rain_target_state_set(op, "staging", json_string(staging))) < 0)
		return r;
	if ((r = fs_mkdir_p(op->site->location, 0755)) < 0)
		return r;
	if (lstat(dir, &st) == 0)
		return rain_error_set(RAIN_EEXISTS, "container: %s exists already (registration %s): "
				      "unpublish it first", dir, op->reg_id);
	/* a killed publish of the same registration may have left it */
	if ((r = fs_remove_tree(staging)) < 0)
		return r;
	if (mkdir(staging, 0700) < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot create %s", staging);
	r = extract(op, img, staging);
	/* the user gets the tree only once it is whole */
	if (r >= 0 && geteuid() == 0 && chown(staging, p->uid, p->gid) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "container: cannot give %s to %s", staging, p->user);
	if (r >= 0 && chmod(staging, 0755) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "container: cannot set the mode of %s", staging);
	if (r >= 0 && (r = rain_target_check_cancel(op)) >= 0 && rename(staging, dir) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "container: cannot rename %s to %s", staging, dir);
	if (r < 0) {
		int k = fs_remove_tree(staging);

		(void)k;
		return r;
	}
	if ((r = rain_target_state_set(op, "staging", NULL)) < 0)
		return r;
	rain_target_log(op, RAIN_TARGET_INFO, "published %s", dir);
	if (container_user_reaches(p, dir) < 0)
		rain_target_log(op, RAIN_TARGET_WARN, "%s (runs there will fail until it can)", rain_error_last());
	return rain_target_state_set(op, "show", json_pack("{s:s, s:s}", "root", dir, "user", p->user));
}

/* Remove what key names when it is expected (the path this site gives the
 * registration), then take it out of the state. */
static int remove_named(struct rain_target_op *op, const char *key, const char *expected)
{
	const char *named = json_string_value(json_object_get(op->state, key));
	int r;

	if (!json_object_get(op->state, key))
		return 0;
	if (!named || strcmp(named, expected))
		return rain_error_set(RAIN_EINVAL, "container: the state names '%s' as %s, not %s: left alone",
				      named ? named : "?", key, expected);
	if ((r = fs_remove_tree(named)) < 0)
		return r;
	rain_target_log(op, RAIN_TARGET_INFO, "removed %s", named);
	return rain_target_state_set(op, key, NULL);
}

static int unpublish(struct rain_target_op *op)
{
	_cleanup_free_ char *dir = NULL, *staging = NULL;
	int r;

	if (!json_object_get(op->state, "dir") && !json_object_get(op->state, "staging"))
		return rain_target_state_set(op, "show", NULL);
	if ((r = reg_paths(op->site, op->reg_id, &dir, &staging)) < 0 ||
	    (r = remove_named(op, "staging", staging)) < 0 || (r = remove_named(op, "dir", dir)) < 0)
		return r;
	return rain_target_state_set(op, "show", NULL);
}

static int status(struct rain_target_op *op, json_t **out)
{
	_cleanup_free_ char *dir = NULL, *staging = NULL;
	struct stat st;
	int r;

	*out = NULL;
	if ((r = reg_paths(op->site, op->reg_id, &dir, &staging)) < 0)
		return r;
	*out = json_pack("{s:b, s:s}", "present", lstat(dir, &st) == 0 && S_ISDIR(st.st_mode), "dir", dir);
	return *out ? 0 : rain_error_oom();
}

static const struct rain_target_driver container = {
	.version = RAIN_TARGET_DRIVER_VERSION,
	.scheme = "container",
	.usage = "container:DIR (root trees run with Charliecloud's ch-run)",
	.check = check,
	.free = site_free,
	.accepts = accepts,
	.adapt = adapt,
	.publish = publish,
	.unpublish = unpublish,
	.status = status,
};

const struct rain_driver rain_target_driver_container = { "target", "container", "container:DIR", &container };
