/* Build orchestration: the cached base, the fetch, image and outputs
 * stages in sandboxes, collecting outputs, the boot check and the
 * manifest. See rain/build.h and build-internal.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "build-internal.h"
#include "keyring.h"
#include "rain/error.h"
#include "sandbox.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

static const struct rain_builder_backend *const backends[] = {
	&rain_builder_deb,
	&rain_builder_rpm,
};

/* Package indexes older than this are refreshed before a layer is fetched. */
#define BASE_INDEX_MAX_AGE_S (6 * 3600)

void build_log(struct build_ctx *b, const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (b->in_sandbox) {     /* the parent reads our stdout */
		printf("%s\n", line);
		fflush(stdout);
		return;
	}
	if (strstr(line, "No space left on device"))
		b->nospace = true;
	if (strstr(line, "File size limit exceeded") || strstr(line, "File too large"))
		b->fsize = true;
	if (b->log) {
		fprintf(b->log, "%s\n", line);
		fflush(b->log);
	}
	if (b->o->log)
		b->o->log(b->o->ud, line);
}

void build_on_line(void *ud, const char *line)
{
	struct build_lines *rl = ud;

	build_log(rl->b, "  %s", line);
	if (rl->lines)
		rl->lines(rl->ud, line);
}

char *build_tmp_path(struct build_ctx *b, const char *name)
{
	char *p;

	return asprintf(&p, "%s/tmp/%s", b->scratch, name) < 0 ? NULL : p;
}

static int seconds_left(struct build_ctx *b)
{
	int64_t left = (b->deadline_us - time_mono_us()) / 1000000;

	return left > 0 ? (int)left : 1;
}

int build_run(struct build_ctx *b, const char *what, const char *const *argv,
	      void (*lines)(void *ud, const char *line), void *ud)
{
	struct build_lines rl = { b, lines, ud };
	struct process_opts po = {
		.argv = argv, .stdin_fd = -1, .on_line = build_on_line, .ud = &rl,
		.cancel = b->o->cancel, .timeout_s = seconds_left(b), .end_with_program = true,
	};
	int status, r;

	build_log(b, "+ %s", what);
	r = process_run(&po, &status);
	if (r < 0)
		return r;
	if (status != 0)
		return rain_error_set(RAIN_EIO, "%s failed (exit status %d); see build.log", what, status);
	return 0;
}

static int remove_tree(const char *path)
{
	return fs_remove_tree(path);
}

/* ---- shared by the backends ---- */

int build_layer_packages(const struct rain_recipe *r, const char *locale_package, char ***pkgs, size_t *n)
{
	bool sudo = false, ssh = false;
	int ret = 0;

	*pkgs = NULL;
	*n = 0;
	for (size_t i = 0; i < r->nusers; i++) {
		sudo |= r->users[i].sudo;
		ssh |= r->users[i].nssh_keys > 0;
	}
	if (sudo)
		ret = strv_add(pkgs, n, "sudo");
	if (ret == 0 && ssh)
		ret = strv_add(pkgs, n, "openssh-server");
	if (ret == 0 && r->timezone)
		ret = strv_add(pkgs, n, "tzdata");
	if (ret == 0 && locale_package && r->locale && strcmp(r->locale, "C") &&
	    strcmp(r->locale, "C.UTF-8") && strcmp(r->locale, "POSIX"))
		ret = strv_add(pkgs, n, locale_package);
	for (size_t i = 0; ret == 0 && i < r->npackages; i++)
		ret = strv_add(pkgs, n, r->packages[i]);
	if (ret < 0) {
		strv_free(*pkgs, *n);
		*pkgs = NULL;
		*n = 0;
	}
	return ret;
}

static void package_line(void *ud, const char *line)
{
	json_t *list = ud;
	char name[256], version[256], arch[64];

	if (sscanf(line, "%255[^\t]\t%255[^\t]\t%63s", name, version, arch) == 3)
		json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", name,
						      "version", version, "architecture", arch));
}

int build_package_list(struct build_ctx *b, const char *what, const char *const *argv, json_t **out)
{
	json_t *list = json_array();
	int r = list ? build_run(b, what, argv, package_line, list) : rain_error_oom();

	if (r < 0) {
		json_decref(list);
		return r;
	}
	*out = list;
	return 0;
}

int build_useradd(struct build_ctx *b, const struct rain_recipe_user *u, const char *admin_group)
{
	char uid[32];
	const char *argv[16];
	int n = 0;

	argv[n++] = "chroot";
	argv[n++] = b->root;
	argv[n++] = "useradd";
	argv[n++] = "--create-home";
	argv[n++] = "--shell";
	argv[n++] = u->shell ? u->shell : "/bin/bash";
	if (u->uid >= 0) {
		snprintf(uid, sizeof(uid), "%lld", (long long)u->uid);
		argv[n++] = "--uid";
		argv[n++] = uid;
	}
	if (u->sudo) {
		argv[n++] = "--groups";
		argv[n++] = admin_group;
	}
	argv[n++] = "--";
	argv[n++] = u->name;
	argv[n] = NULL;
	return build_run(b, "useradd", argv, NULL, NULL);
}

/* ---- stages ---- */

static const char *const env_image[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
	"LANG=C.UTF-8", "TERM=dumb", "DEBIAN_FRONTEND=noninteractive", "TMPDIR=/tmp", NULL
};

struct stage {
	struct build_ctx *b;
	int (*fn)(struct build_ctx *b);
	const char *root;
};

/* In the sandbox: log through stdout, see the root where the stage does. */
static int stage_main(void *ud)
{
	struct stage *st = ud;

	st->b->in_sandbox = true;
	st->b->log = NULL;
	if (st->root)
		st->b->root = (char *)st->root;
	return st->fn(st->b);
}

static void stage_line(void *ud, const char *line)
{
	build_log(ud, "%s", line);
}

static void stage_tick(void *ud)
{
	build_scratch_watch(ud);
}

int build_stage(struct build_ctx *b, const char *name, const struct sandbox *s,
		int (*fn)(struct build_ctx *b))
{
	struct stage st = { b, fn, s->pivot ? "/" : s->root };
	struct process_opts po = { .name = name, .on_line = stage_line, .ud = b,
				   .cancel = &b->stage_stop, .timeout_s = seconds_left(b),
				   .on_tick = stage_tick };
	struct sandbox limited = *s;
	char why[512];
	int r;

	build_log(b, "== %s", name);
	if ((r = build_cgroup_setup(b, false)) < 0)
		return r;
	build_sandbox_limits(b, &limited);
	b->stage_stop = 0;
	b->scratch_checked_us = time_mono_us();
	r = sandbox_run(&limited, stage_main, &st, &po);
	if (r == RAIN_ECANCELED && b->o->cancel && *b->o->cancel)
		return rain_error_set(r, "the build was interrupted");
	if (r == RAIN_ECANCELED && b->scratch_over)
		return rain_error_set(RAIN_ETOOBIG, "the build's scratch grew past its limit (%lld MiB; "
				      "--limit scratch_size, [builds] scratch_size) and the build was stopped "
				      "during %s", (long long)(b->lim.scratch >> 20), name);
	if (r < 0 && build_limits_explain(b, why, sizeof(why)) < 0)
		return rain_error_set(RAIN_ETOOBIG, "%s: %s", why, rain_error_last());
	return r;
}

/* The environment of the stages that run host tools (base, outputs). */
struct host_env {
	char *home, *tmp, *debs;
	const char *env[7];
};

static int host_env_init(struct host_env *e, struct build_ctx *b)
{
	_cleanup_free_ char *tmpdir = fs_path_join(b->scratch, "tmp");

	memset(e, 0, sizeof(*e));
	if (!tmpdir || asprintf(&e->home, "HOME=%s", tmpdir) < 0 ||
	    asprintf(&e->tmp, "TMPDIR=%s", tmpdir) < 0 || asprintf(&e->debs, "RAIN_DEBS=%s", b->debs) < 0)
		return rain_error_oom();
	e->env[0] = env_image[0];
	e->env[1] = e->home;
	e->env[2] = e->tmp;
	e->env[3] = e->debs;
	e->env[4] = "LANG=C.UTF-8";
	e->env[5] = "DEBIAN_FRONTEND=noninteractive";
	return 0;
}

static void host_env_free(struct host_env *e)
{
	free(e->home);
	free(e->tmp);
	free(e->debs);
}

/* ---- foreign architectures ---- */

#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#else
#define HOST_ARCH ""
#endif

/* Programs of the image's architecture run through qemu-user, which the
 * kernel's binfmt_misc starts for them; register it (with the F flag of
 * Debian's qemu-user-static: the interpreter is opened now, so it works in
 * the sandbox's namespaces) unless it is already. */
static int foreign_arch_setup(struct build_ctx *b)
{
	static const char *const qemu[][2] = {
		{ "arm64", "aarch64" }, { "armhf", "arm" }, { "armel", "arm" }, { "ppc64el", "ppc64le" },
		{ "s390x", "s390x" }, { "riscv64", "riscv64" }, { "mips64el", "mips64el" },
	};
	const char *arch = b->r->architecture, *cpu = NULL;
	_cleanup_free_ char *entry = NULL, *conf = NULL, *text = NULL;
	size_t len;
	int fd, r;

	if (!strcmp(arch, HOST_ARCH) || (!strcmp(arch, "i386") && !strcmp(HOST_ARCH, "amd64")))
		return 0;
	for (size_t i = 0; i < sizeof(qemu) / sizeof(*qemu); i++)
		if (!strcmp(qemu[i][0], arch))
			cpu = qemu[i][1];
	if (!cpu)
		return rain_error_set(RAIN_EINVAL, "%s: [image] architecture: %s images cannot be built on "
				      "this %s machine (no qemu-user emulation known for it)",
				      b->r->file, arch, HOST_ARCH);
	if (asprintf(&entry, "/proc/sys/fs/binfmt_misc/qemu-%s", cpu) < 0 ||
	    asprintf(&conf, "/usr/lib/binfmt.d/qemu-%s.conf", cpu) < 0)
		return rain_error_oom();
	if (fs_read_small(entry, 4096, &text, &len) == 0 && str_has_prefix(text, "enabled"))
		return 0;
	free(text);
	text = NULL;
	if (access("/proc/sys/fs/binfmt_misc/register", F_OK) < 0 &&
	    mount("binfmt_misc", "/proc/sys/fs/binfmt_misc", "binfmt_misc", 0, NULL) < 0)
		return rain_error_errno(RAIN_EIO, errno, "building %s images needs binfmt_misc for qemu-user "
					"emulation, which cannot be mounted", arch);
	if (fs_read_small(conf, 4096, &text, &len) < 0)
		return rain_error_set(RAIN_ENOTFOUND, "building %s images on this %s machine needs qemu-user "
				      "emulation: install qemu-user-static (%s is missing)", arch, HOST_ARCH, conf);
	text[strcspn(text, "\n")] = '\0';
	fd = open("/proc/sys/fs/binfmt_misc/register", O_WRONLY | O_CLOEXEC);
	r = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	if (r < 0 && errno != EEXIST) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot register qemu-%s with binfmt_misc", cpu);
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (fd >= 0)
		close(fd);
	build_log(b, "registered qemu-%s with binfmt_misc: %s programs run emulated", cpu, arch);
	return 0;
}

/* ---- the package cache ---- */

static char *cache_path(struct build_ctx *b, const char *name)
{
	return fs_path_join(b->o->cache_dir, name);
}

/* The download directory every stage sees: an overlay of the shared
 * package cache (read-only) under the build's own downloads (b->debs, in
 * its scratch), so that cached packages cost nothing and new ones count
 * against the build's scratch. */
static struct sandbox_bind debs_bind(struct build_ctx *b, const char *dest, const char *packages)
{
	return (struct sandbox_bind){ .src = b->debs, .dest = dest, .lower = packages, .work = b->debs_work };
}

/* Publish one new download (fd, opened beneath the download directory,
 * a regular file of one link the sandbox owns) to the cache as name,
 * the host root's: linked when the scratch shares the cache's file
 * system, else copied. */
static bool publish_package(int fd, const struct stat *st, int cachefd, const char *name)
{
	char fdpath[64];
	int tmp;
	bool ok;

	if (linkat(fd, "", cachefd, name, AT_EMPTY_PATH) == 0)
		return fchown(fd, 0, 0) == 0 && fchmod(fd, 0644) == 0;
	if (errno != EXDEV)
		return false;
	tmp = openat(cachefd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (tmp < 0)
		return false;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", tmp);
	ok = fs_copy_sparse(fd, tmp, st->st_size, name) == 0 && fchmod(tmp, 0644) == 0 && fsync(tmp) == 0 &&
	     linkat(AT_FDCWD, fdpath, cachefd, name, AT_SYMLINK_FOLLOW) == 0;
	close(tmp);
	return ok;
}

/* Publish new downloads to the cache. Cached files belong to the host's
 * root, so no sandbox can change them for the next build. The download
 * directory is the sandbox's: each file is opened beneath it without
 * following symlinks, and only a regular file the sandbox owns, with one
 * link, is handed over. */
static int debs_to_cache(struct build_ctx *b)
{
	_cleanup_free_ char *cache = cache_path(b, "packages");
	int cachefd = -1, debsfd;
	DIR *d;
	struct dirent *de;
	size_t added = 0;
	int r;

	if (!cache)
		return rain_error_oom();
	if ((r = fs_mkdir_p(cache, 0755)) < 0)
		return r;
	cachefd = open(cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	debsfd = open(b->debs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = debsfd >= 0 ? fdopendir(debsfd) : NULL;
	if (cachefd < 0 || !d) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot read %s", cachefd < 0 ? cache : b->debs);
		if (debsfd >= 0 && !d)
			close(debsfd);
		if (cachefd >= 0)
			close(cachefd);
		return r;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int fd;

		if ((!str_has_suffix(de->d_name, ".deb") && !str_has_suffix(de->d_name, ".rpm")) ||
		    !fs_name_is_safe(de->d_name) || faccessat(cachefd, de->d_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		fd = fs_open_regular_beneath(dirfd(d), de->d_name, O_RDONLY, true, &st);
		if (fd < 0)
			continue;
		if (st.st_uid == b->host_uid && publish_package(fd, &st, cachefd, de->d_name))
			added++;
		close(fd);
	}
	closedir(d);
	close(cachefd);
	if (added)
		build_log(b, "package cache: %zu new packages kept", added);
	return 0;
}

/* ---- the cached base ---- */

struct base {
	char key[33];         /* hex, from the backend's base key */
	char *dir;            /* cache_dir/bases/KEY */
	char *root;           /* dir/root: the overlay's lower layer */
	bool built;           /* by this build */
	bool stale;           /* its package indexes need a refresh */
	int lock_fd;          /* KEY.lock, held shared while the build uses it */
};

static int base_stage(struct build_ctx *b)
{
	return b->be->base(b, b->root);
}

/* Take the base's lock (how: LOCK_SH to use it, which waits only for a
 * build making it; LOCK_EX to make it, which waits for every user),
 * opening it when *fdp < 0. */
static int base_lock(struct build_ctx *b, const char *path, int how, int *fdp)
{
	int fd = *fdp >= 0 ? *fdp : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	bool said = false;

	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", path);
	while (flock(fd, how | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			close(fd);
			return rain_error_errno(RAIN_EIO, errno, "cannot lock %s", path);
		}
		if (!said)
			build_log(b, "waiting for another build of the same base");
		said = true;
		if ((b->o->cancel && *b->o->cancel) || time_mono_us() > b->deadline_us) {
			close(fd);
			return rain_error_set(RAIN_ECANCELED, "the build was interrupted while waiting for its base");
		}
		usleep(200000);
	}
	*fdp = fd;
	return 0;
}

static int base_build(struct build_ctx *b, struct base *base, const char *key_text)
{
	_cleanup_free_ char *tmp = NULL, *root = NULL, *meta = NULL, *tmpmeta = NULL;
	_cleanup_free_ char *scratch_tmp = fs_path_join(b->scratch, "tmp"), *packages = cache_path(b, "packages");
	struct host_env env;
	/* package scripts run here: the rest of the cache stays read-only */
	const char *readonly[] = { b->o->cache_dir, NULL };
	struct sandbox_bind binds[3];
	struct sandbox s = { .network = true, .readonly = readonly };
	json_t *info;
	int r;

	if (!scratch_tmp || !packages || asprintf(&tmp, "%s.new", base->dir) < 0 || !(root = fs_path_join(tmp, "root")) ||
	    !(meta = fs_path_join(base->dir, "base.json")) || !(tmpmeta = fs_path_join(tmp, "base.json")))
		return rain_error_oom();
	/* a killed build's leftovers: we hold the lock, nobody uses them */
	remove_tree(tmp);
	if (mkdir(tmp, 0700) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", tmp);
	if ((r = sandbox_chown(tmp, b->host_uid)) < 0 || (r = host_env_init(&env, b)) < 0)
		goto fail;
	binds[0] = (struct sandbox_bind){ .src = tmp, .dest = tmp };
	binds[1] = debs_bind(b, b->debs, packages);
	binds[2] = (struct sandbox_bind){ .src = scratch_tmp, .dest = scratch_tmp };
	s.binds = binds;
	s.nbinds = 3;
	s.env = env.env;
	free(b->root);
	b->root = strdup(root);
	if (!b->root) {
		r = rain_error_oom();
	} else if (b->o->base_image) {
		/* a repository image: its data, then its tree */
		const struct rain_build_base_image *bi = b->o->base_image;
		_cleanup_free_ char *data = build_tmp_path(b, "base-image");

		build_log(b, "== downloading base image %s", bi->id);
		r = data ? bi->download(bi->ud, data) : rain_error_oom();
		if (r == 0)
			r = build_clone_base(b, data, bi->disk_format, root, env.env);
		if (data)
			unlink(data);
	} else {
		r = build_stage(b, "building the base system (cached for later builds)", &s, base_stage);
	}
	host_env_free(&env);
	if (r == 0)
		r = debs_to_cache(b);
	if (r < 0)
		goto fail;
	info = json_pack("{s:s, s:s, s:I}", "key", key_text, "family", b->be->family,
			 "created", (json_int_t)time(NULL));
	if (!info || json_dump_file(info, tmpmeta, JSON_INDENT(2)) < 0) {
		json_decref(info);
		r = rain_error_set(RAIN_EIO, "cannot write %s", tmpmeta);
		goto fail;
	}
	json_decref(info);
	if (rename(tmp, base->dir) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot keep the base in %s", base->dir);
		goto fail;
	}
	base->built = true;
	return 0;
fail:
	{
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		remove_tree(tmp);
		return rain_error_set(r, "%s", msg);
	}
}

/* Whether the base's package indexes are missing or old. */
static bool base_is_stale(struct build_ctx *b, const struct base *base)
{
	_cleanup_free_ char *meta = fs_path_join(base->dir, "base.json");
	struct stat st;

	if (!b->be->has_indexes || !b->be->has_indexes(base->root) || !meta || stat(meta, &st) < 0)
		return true;
	return time(NULL) - st.st_mtime > BASE_INDEX_MAX_AGE_S;
}

static int base_ensure(struct build_ctx *b, struct base *base)
{
	_cleanup_free_ char *key_text = NULL, *bases = cache_path(b, "bases"), *lock = NULL;
	_cleanup_free_ char *meta = NULL;
	unsigned char md[32];
	char hex[65];
	int fd = -1, r;

	if (!bases)
		return rain_error_oom();
	if (b->o->base_image) {
		if (asprintf(&key_text, "clone 1\n%s\n", b->o->base_image->sha256) < 0)
			return rain_error_oom();
	} else {
		const struct rain_recipe *rc = b->r;
		_cleanup_free_ char *list = NULL;
		char **pkgs;
		size_t n;

		if ((r = b->be->base_packages(rc, &pkgs, &n)) < 0)
			return r;
		list = strv_join(pkgs, n, ",");
		strv_free(pkgs, n);
		/* a base made with other keys is another base; without a
		 * keyring the key is what it always was */
		if (!list || asprintf(&key_text, "%s 1\n%s\n%s\n%s\n%s\n%s\n%s%s", b->be->family,
				      rc->distribution, rc->release, rc->architecture, rc->mirror, list,
				      b->keyring ? b->keyring_sha256 : "", b->keyring ? "\n" : "") < 0)
			return rain_error_oom();
	}
	EVP_Digest(key_text, strlen(key_text), md, NULL, EVP_sha256(), NULL);
	hex_encode(md, sizeof(md), hex);
	memcpy(base->key, hex, 32);
	base->key[32] = '\0';
	if ((r = fs_mkdir_p(bases, 0755)) < 0)
		return r;
	base->dir = fs_path_join(bases, base->key);
	base->root = base->dir ? fs_path_join(base->dir, "root") : NULL;
	meta = base->dir ? fs_path_join(base->dir, "base.json") : NULL;
	if (!base->root || !meta || asprintf(&lock, "%s.lock", base->dir) < 0)
		return rain_error_oom();
	/* shared while it is used; exclusive only to make it, when missing */
	if ((r = base_lock(b, lock, LOCK_SH, &fd)) < 0)
		return r;
	if (access(meta, F_OK) < 0) {
		if (flock(fd, LOCK_UN) < 0) {
			r = rain_error_errno(RAIN_EIO, errno, "cannot unlock %s", lock);
			close(fd);
			return r;
		}
		/* base_lock closes fd when it fails */
		if ((r = base_lock(b, lock, LOCK_EX, &fd)) < 0)
			return r;
	}
	if (access(meta, F_OK) == 0) {
		build_log(b, "base %s: cached", base->key);
	} else {
		/* bases belong to the base range; the build's own range is
		 * the build's only */
		uid_t own = b->host_uid;
		_cleanup_free_ char *tmp = fs_path_join(b->scratch, "tmp");

		if (!tmp)
			r = rain_error_oom();
		/* the base's sandbox downloads and writes its hooks' files here */
		if (r == 0 && (r = sandbox_chown(b->debs, SANDBOX_HOST_ID)) == 0 &&
		    (r = sandbox_chown(b->debs_work, SANDBOX_HOST_ID)) == 0 &&
		    (r = sandbox_chown(tmp, SANDBOX_HOST_ID)) == 0) {
			b->host_uid = SANDBOX_HOST_ID;
			r = base_build(b, base, key_text);
			b->host_uid = own;
		}
		/* and back, with what apt and the hooks made there (apt's
		 * lock and partial/ would shut the build's own apt out) */
		if (tmp && (sandbox_chown_tree(b->debs, SANDBOX_HOST_ID, own) < 0 ||
			    sandbox_chown_tree(b->debs_work, SANDBOX_HOST_ID, own) < 0 ||
			    sandbox_chown_tree(tmp, SANDBOX_HOST_ID, own) < 0) && r == 0)
			r = RAIN_EIO;
	}
	/* in use from now on: the cache's bound leaves it alone; and used now */
	if (r == 0 && (flock(fd, LOCK_SH) < 0 || futimens(fd, NULL) < 0))
		r = rain_error_errno(RAIN_EIO, errno, "cannot lock %s", lock);
	if (r < 0) {
		close(fd);
		return r;
	}
	base->lock_fd = fd;
	base->stale = base_is_stale(b, base);
	return 0;
}

/* Keep the cached bases under the build's cache_size, while this one is
 * still held; what could not go is only logged. */
static void cache_bound(struct build_ctx *b, const struct base *base)
{
	int64_t freed = 0;
	int removed = 0;

	if (rain_build_cache_prune(b->o->cache_dir, b->lim.cache, base->key, &removed, &freed) < 0)
		build_log(b, "cache: cannot keep the bases under %lld MiB: %s",
			  (long long)(b->lim.cache >> 20), rain_error_last());
	else if (removed)
		build_log(b, "cache: removed %d unused base(s), %lld MiB, to stay under %lld MiB "
			  "(--limit cache_size, [builds] cache_size)", removed, (long long)(freed >> 20),
			  (long long)(b->lim.cache >> 20));
}

/* ---- the layer on the base ---- */

static int fetch_stage(struct build_ctx *b)
{
	return b->be->fetch(b, b->refresh);
}

static int image_stage(struct build_ctx *b)
{
	json_t *packages = NULL;
	int r = b->be->install(b);

	if (r == 0)
		r = build_customize(b);
	if (r == 0 && !b->r->scripts_in_vm)
		r = build_scripts(b);
	if (r == 0)
		r = b->be->finish(b);
	if (r == 0 && b->r->kernel && b->r->firmware == RAIN_FIRMWARE_UEFI)
		r = build_efi_loader(b);
	if (r == 0)
		r = b->be->packages(b, &packages);
	if (r == 0 && json_dump_file(packages, BUILD_OUT "/packages.json", JSON_COMPACT) < 0)
		r = rain_error_set(RAIN_EIO, "cannot write the package list");
	json_decref(packages);
	return r;
}

static int outputs_stage(struct build_ctx *b)
{
	return build_outputs_make(b);
}

/* Copy the recipe's [files] and [scripts] where the image stage finds
 * them (BUILD_INPUT), so that nothing of the host is visible there. */
static int stage_inputs(struct build_ctx *b, const char *input)
{
	static const char *const kinds[] = { "files", "scripts" };
	const struct rain_recipe *r = b->r;
	int ret;

	for (size_t k = 0; k < 2; k++) {
		_cleanup_free_ char *dir = fs_path_join(input, kinds[k]);
		size_t n = k ? r->nscripts : r->nfiles;

		if (!dir)
			return rain_error_oom();
		if ((ret = fs_mkdir_p(dir, 0755)) < 0)
			return ret;
		for (size_t i = 0; i < n; i++) {
			const char *src = k ? r->scripts[i] : r->files[i].src;
			_cleanup_free_ char *path = src[0] == '/' ? strdup(src) : fs_path_join(r->dir, src);
			_cleanup_free_ char *data = NULL, *dst = NULL;
			struct stat st;
			size_t len;

			if (!path || asprintf(&dst, "%s/%zu", dir, i) < 0)
				return rain_error_oom();
			if (stat(path, &st) < 0)
				return rain_error_errno(RAIN_ENOTFOUND, errno, "%s: [%s] %s: cannot read %s",
							r->file, kinds[k], k ? "run" : "copy", path);
			if (!S_ISREG(st.st_mode))
				return rain_error_set(RAIN_EINVAL, "%s: [%s] %s: %s is not a regular file",
						      r->file, kinds[k], k ? "run" : "copy", path);
			if ((ret = fs_read_small(path, BUILD_FILE_MAX, &data, &len)) < 0)
				return rain_error_set(ret, "%s: [%s]: %s", r->file, kinds[k], rain_error_last());
			if ((ret = fs_write_atomic(dst, data, len, k ? 0755 : st.st_mode & 0777)) < 0)
				return ret;
		}
	}
	return 0;
}

/* The recipe's [image] keyring (for ubuntu without one, the host's
 * Ubuntu archive keyring when it has one), checked against the key the
 * recipe or rain pins and copied into the scratch, where every stage
 * reads it (b->keyring). A distribution that needs one and has none is
 * an error naming the key. */
static int keyring_stage(struct build_ctx *b)
{
	static const char host_ubuntu[] = "/usr/share/keyrings/ubuntu-archive-keyring.gpg";
	const struct rain_recipe *r = b->r;
	_cleanup_free_ char *path = NULL, *data = NULL;
	unsigned char md[32];
	char **fps = NULL;
	size_t len, n = 0;
	int ret;

	if (r->keyring)
		path = r->keyring[0] == '/' ? strdup(r->keyring) : fs_path_join(r->dir, r->keyring);
	else if (!strcmp(r->distribution, "ubuntu") && access(host_ubuntu, R_OK) == 0)
		path = strdup(host_ubuntu);
	else if (!strcmp(r->distribution, "ubuntu"))
		return keyring_missing(r);
	else
		return 0;
	if (!path)
		return rain_error_oom();
	if ((ret = fs_read_small(path, KEYRING_MAX, &data, &len)) < 0)
		return rain_error_set(ret, "%s: [image] keyring: %s", r->file, rain_error_last());
	ret = keyring_fingerprints(data, len, path, &fps, &n);
	if (ret == 0)
		ret = keyring_check(r, path, fps, n);
	if (ret == 0)
		build_log(b, "keyring %s: keys %s%s", path, fps[0], n > 1 ? " and more" : "");
	strv_free(fps, n);
	if (ret < 0)
		return ret;
	if (!(b->keyring = build_tmp_path(b, data[0] & 0x80 ? "rain-keyring.gpg" : "rain-keyring.asc")))
		return rain_error_oom();
	EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
	hex_encode(md, sizeof(md), b->keyring_sha256);
	return fs_write_atomic(b->keyring, data, len, 0644);
}

/* ---- results ---- */

static int add_output(struct rain_build_result *res, const char *format, const char *path, int hashfd)
{
	struct rain_build_output *o;
	int r = ARRAY_GROW1(res->outputs, res->noutputs);

	if (r < 0)
		return r;
	o = &res->outputs[res->noutputs];
	memset(o, 0, sizeof(*o));
	o->format = strdup(format);
	o->path = strdup(path);
	if (!o->format || !o->path) {
		free(o->format);
		free(o->path);
		return rain_error_oom();
	}
	res->noutputs++;
	return hashfd >= 0 ? fs_sha256_fd(hashfd, path, o->sha256, &o->size) : 0;
}

/* Unpack the dir format's tar (opened by the caller) as the host's root,
 * with the image's owners and modes, into dst, which is made 0700: the
 * tree keeps its setuid programs (a faithful root for nfsroot, chroot or
 * a container), so only the host's root may enter it. */
static int unpack_tree(struct build_ctx *b, int tarfd, int dstdir, const char *name, const char *dst)
{
	const char *argv[] = { "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
			       "--no-overwrite-dir", "-xpf", "-", "-C", dst, NULL };
	struct build_lines rl = { b, NULL, NULL };
	struct process_opts po = { .argv = argv, .stdin_fd = tarfd, .on_line = build_on_line, .ud = &rl,
				   .cancel = b->o->cancel, .timeout_s = seconds_left(b) };
	int fd, status, r;

	if (mkdirat(dstdir, name, 0700) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", dst);
	fd = openat(dstdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", dst);
	build_log(b, "+ unpacking the root tree (private: %s is 0700, it holds setuid programs)", name);
	r = process_run(&po, &status);
	if (r == 0 && status != 0)
		r = rain_error_set(RAIN_EIO, "unpacking the root tree failed (exit status %d); see build.log",
				   status);
	/* the tar's "." entry set the top's mode: private again */
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0700) < 0)
		r = r < 0 ? r : rain_error_errno(RAIN_EIO, errno, "cannot make %s private", dst);
	close(fd);
	return r;
}

/* Move the output file name from outfd to dstdir: opened without
 * following symlinks, a regular file with one link, handed to the host's
 * root (fchown, fchmod) and hashed through the fd. */
static int take_output(struct build_ctx *b, struct rain_build_result *res, const struct build_output_kind *k,
		       int outfd, int dstdir, const char *name, const char *dst)
{
	struct stat st, moved;
	int fd, r, dfd;

	fd = fs_open_regular_beneath(outfd, name, O_RDONLY, true, &st);
	if (fd < 0)
		return rain_error_set(fd, "the outputs stage's %s: %s", k->format, rain_error_last());
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0644) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot hand over %s", dst);
		goto done;
	}
	if (renameat(outfd, name, dstdir, name) == 0) {
		/* the name now in dstdir (the host's) must be the file checked */
		dfd = openat(dstdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || fstat(dfd, &moved) < 0 || moved.st_dev != st.st_dev || moved.st_ino != st.st_ino) {
			if (dfd >= 0)
				close(dfd);
			unlinkat(dstdir, name, 0);
			r = rain_error_set(RAIN_EFORBIDDEN, "the outputs stage's %s changed while it was "
					   "collected: refused", k->format);
			goto done;
		}
		close(dfd);
	} else if (errno == EXDEV) {
		dfd = openat(dstdir, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (dfd < 0) {
			r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", dst);
			goto done;
		}
		r = fs_copy_sparse(fd, dfd, st.st_size, dst);
		close(fd);
		fd = dfd;
		if (r < 0) {
			unlinkat(dstdir, name, 0);
			goto done;
		}
		unlinkat(outfd, name, 0);
	} else {
		r = rain_error_errno(RAIN_EIO, errno, "cannot move the %s output to %s", k->format, dst);
		goto done;
	}
	r = add_output(res, k->format, dst, fd);
done:
	close(fd);
	return r;
}

/* Move what the outputs stage wrote into the output directory, owned by
 * the host's root. The stage's directory is the sandbox's: it is taken
 * from it first (root's, 0700), then every file is opened beneath it,
 * never by path. */
static int collect_outputs(struct build_ctx *b, struct rain_build_result *res)
{
	unsigned int want = b->r->formats | (b->r->kernel ? BUILD_OUT_KERNEL | BUILD_OUT_INITRAMFS : 0);
	int outfd, dstdir, r = 0;

	outfd = open(b->outdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (outfd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", b->outdir);
	if (fchown(outfd, 0, 0) < 0 || fchmod(outfd, 0700) < 0) {
		close(outfd);
		return rain_error_errno(RAIN_EIO, errno, "cannot take %s from the sandbox", b->outdir);
	}
	dstdir = open(b->o->output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dstdir < 0) {
		close(outfd);
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", b->o->output_dir);
	}
	for (const struct build_output_kind *k = build_outputs; r == 0 && k->bit; k++) {
		_cleanup_free_ char *dst = build_output_path(b, b->o->output_dir, k);
		const char *name;

		if (!(want & k->bit))
			continue;
		if (!dst) {
			r = rain_error_oom();
			break;
		}
		name = strrchr(dst, '/') + 1;
		if (k->bit == RAIN_OUT_DIR) {
			int tarfd = fs_open_regular_beneath(outfd, BUILD_TREE_TAR, O_RDONLY, true, NULL);

			if (tarfd < 0) {
				r = rain_error_set(tarfd, "the outputs stage's tree: %s", rain_error_last());
				continue;
			}
			r = unpack_tree(b, tarfd, dstdir, name, dst);
			close(tarfd);
			unlinkat(outfd, BUILD_TREE_TAR, 0);
			if (r == 0)
				r = add_output(res, k->format, dst, -1);
			continue;
		}
		r = take_output(b, res, k, outfd, dstdir, name, dst);
	}
	close(outfd);
	close(dstdir);
	return r;
}

/* The image stage's package list, read beneath its report directory. */
static int read_packages(struct build_ctx *b, json_t **out)
{
	_cleanup_free_ char *text = NULL;
	int dirfd = open(b->report, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), fd, r;
	size_t len;

	if (dirfd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", b->report);
	fd = fs_open_regular_beneath(dirfd, "packages.json", O_RDONLY, true, NULL);
	close(dirfd);
	if (fd < 0)
		return rain_error_set(fd, "the image stage's package list: %s", rain_error_last());
	r = fs_read_small_fd(fd, 64 << 20, "the image stage's package list", &text, &len);
	close(fd);
	if (r < 0)
		return r;
	*out = json_loadb(text, len, 0, NULL);
	if (!json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		return rain_error_set(RAIN_EIO, "the image stage left no package list");
	}
	return 0;
}

void rain_build_result_free(struct rain_build_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->noutputs; i++) {
		free(res->outputs[i].format);
		free(res->outputs[i].path);
	}
	free(res->outputs);
	free(res->manifest_path);
	json_decref(res->manifest);
	free(res);
}

static int check_recipe(const struct rain_recipe *r, const struct rain_build_options *o,
			const struct rain_builder_backend **be)
{
	*be = NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++)
		if (!strcmp(backends[i]->family, rain_recipe_family(r->distribution)))
			*be = backends[i];
	if (!*be)
		return rain_error_set(RAIN_EINVAL, "%s: building %s images is not supported (debian, ubuntu, rocky, alma and fedora are)",
				      r->file, r->distribution);
	if (r->base && (!o->base_image || !o->base_image->sha256 || !o->base_image->download))
		return rain_error_set(RAIN_EINVAL, "%s: [image] base: image:%s must be resolved in the "
				      "repository first (rain generate does it when RAIN_URL is set)",
				      r->file, r->base);
	if (!r->base && o->base_image)
		return rain_error_set(RAIN_EINVAL, "%s: a base image was given but the recipe says "
				      "base = scratch", r->file);
	if ((r->formats & (RAIN_OUT_DISK | RAIN_OUT_QCOW2) || r->boot_check || o->boot_check) &&
	    !rain_recipe_firmware_known(r->architecture, r->firmware))
		return rain_error_set(RAIN_EINVAL, "%s: bootable disks and boot checks with [output] firmware = "
				      "%s are made for %s; %sfor %s use the tar, tar.zst, ext4, squashfs or dir "
				      "formats", r->file, rain_firmware_name(r->firmware),
				      r->firmware == RAIN_FIRMWARE_UEFI ? "amd64 and arm64" : "amd64 and i386",
				      rain_recipe_firmware_known(r->architecture, RAIN_FIRMWARE_UEFI) ?
				      "set firmware = uefi, or " : "", r->architecture);
	if (r->firmware == RAIN_FIRMWARE_UEFI && strcmp((*be)->family, "deb"))
		return rain_error_set(RAIN_EINVAL, "%s: [output] firmware = uefi is made for Debian and Ubuntu "
				      "images so far; build %s with firmware = bios", r->file, r->distribution);
	if (r->scripts_in_vm && r->nscripts && (!r->kernel || (strcmp(r->architecture, "amd64") &&
							      strcmp(r->architecture, "i386"))))
		return rain_error_set(RAIN_EINVAL, "%s: [scripts] isolation = vm boots the image's own "
				      "kernel under qemu-system-x86_64: it needs [packages] kernel = yes "
				      "and amd64 or i386", r->file);
	if ((r->boot_check || o->boot_check) && !(r->formats & RAIN_OUT_DISK))
		return rain_error_set(RAIN_EINVAL, "%s: [output] boot_check needs the disk format", r->file);
	if ((r->boot_check || o->boot_check) && r->firmware == RAIN_FIRMWARE_UEFI) {
		/* before the build, not after it */
		const struct build_machine *m = build_machine_find(r->architecture);
		const char *need[] = { m ? m->uefi_code : NULL, m ? m->uefi_vars : NULL };

		for (size_t i = 0; i < 2; i++)
			if (need[i] && access(need[i], R_OK) < 0)
				return rain_error_set(RAIN_ENOTFOUND, "%s: the boot check of a UEFI %s disk "
						      "boots the firmware %s, which is not here: install %s "
						      "(or build without boot_check)", r->file,
						      r->architecture, need[i], m->uefi_package);
	}
	if (geteuid() != 0)
		return rain_error_set(RAIN_EFORBIDDEN, "building images needs root (to map the build "
				      "sandbox's users); run rain generate as root");
	return 0;
}

/* The sandbox's root is no one on the host: every directory above dir
 * must let others pass. */
static int check_reachable(const char *dir)
{
	_cleanup_free_ char *path = realpath(dir, NULL);
	char *slash;
	struct stat st;

	if (!path)
		return rain_error_errno(RAIN_EIO, errno, "%s", dir);
	while ((slash = strrchr(path, '/'))) {
		slash[slash == path] = '\0';
		if (stat(path, &st) == 0 && !(st.st_mode & S_IXOTH))
			return rain_error_set(RAIN_EFORBIDDEN, "the build sandbox (host uid %u) cannot reach %s: "
					      "%s is not searchable by others; chmod o+x it or choose "
					      "another --cache", SANDBOX_HOST_ID, dir, path);
		if (slash == path)
			break;
	}
	return 0;
}

/* An empty directory of the scratch, the host root's (the idmapped base
 * is mounted there in each stage's own mount namespace). */
static int make_mount_point(struct build_ctx *b, const char *name, char **path)
{
	*path = fs_path_join(b->scratch, name);
	if (!*path)
		return rain_error_oom();
	if (mkdir(*path, 0755) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", *path);
	return 0;
}

/* Whether the cache and the output directory still have room (256 MiB):
 * then "no space left" came from a file system of the build's own. */
static bool host_has_room(struct build_ctx *b)
{
	const char *dirs[] = { b->o->cache_dir, b->o->output_dir };
	struct statvfs sv;

	for (size_t i = 0; i < 2; i++)
		if (statvfs(dirs[i], &sv) < 0 || (uint64_t)sv.f_bavail * sv.f_frsize < (256ULL << 20))
			return false;
	return true;
}

/* The private directories of one build, handed to the sandbox's root. */
static int make_scratch(struct build_ctx *b, char **upper, char **work, char **merged, char **input)
{
	_cleanup_free_ char *tmp = NULL, *packages = cache_path(b, "packages");
	const char *work_dir = b->o->work_dir;
	_cleanup_free_ char *def = work_dir ? NULL : cache_path(b, "work");
	int r;

	if (!work_dir)
		work_dir = def;
	if (!work_dir || !packages)
		return rain_error_oom();
	/* others may pass (the sandbox's root must), but not list */
	if ((r = fs_mkdir_p(work_dir, 0711)) < 0)
		return r;
	if (def && chmod(work_dir, 0711) < 0)
		return rain_error_errno(RAIN_EIO, errno, "%s", work_dir);
	if ((r = check_reachable(work_dir)) < 0 || (r = check_reachable(b->o->cache_dir)) < 0)
		return r;
	/* the download directory's lower layer */
	if ((r = fs_mkdir_p(packages, 0755)) < 0)
		return r;
	if ((r = build_scratch_make(b, work_dir)) < 0)
		return r;
	*upper = fs_path_join(b->scratch, "upper");
	*work = fs_path_join(b->scratch, "work");
	*merged = fs_path_join(b->scratch, "root");
	*input = fs_path_join(b->scratch, "input");
	b->debs = fs_path_join(b->scratch, "debs");
	b->debs_work = fs_path_join(b->scratch, "debs.work");
	b->outdir = fs_path_join(b->scratch, "out");
	b->report = fs_path_join(b->scratch, "report");
	tmp = fs_path_join(b->scratch, "tmp");
	if (!*upper || !*work || !*merged || !*input || !b->debs || !b->debs_work || !b->outdir || !b->report ||
	    !tmp)
		return rain_error_oom();
	for (const char *d[] = { *upper, *work, *merged, b->debs, b->debs_work, b->outdir, b->report, tmp },
	     **p = d; p < d + 8; p++)
		if (mkdir(*p, 0755) < 0 || (r = sandbox_chown(*p, b->host_uid)) < 0)
			return r < 0 ? r : rain_error_errno(RAIN_EIO, errno, "cannot create %s", *p);
	return 0;
}

int rain_build_run(const struct rain_recipe *r, const struct rain_build_options *o,
		   struct rain_build_result **out)
{
	struct build_ctx b = { .r = r, .o = o, .lockfd = -1, .idsfd = -1, .host_uid = SANDBOX_HOST_ID };
	struct rain_build_result *res = calloc(1, sizeof(*res));
	struct base base = { .dir = NULL, .lock_fd = -1 };
	_cleanup_free_ char *logpath = NULL, *recipe_text = NULL, *upper = NULL, *work = NULL;
	_cleanup_free_ char *merged = NULL, *input = NULL, *vmtree = NULL, *lower_mnt = NULL;
	_cleanup_free_ char *pkgcache = cache_path(&b, "packages");
	json_t *packages = NULL, *boot = NULL, *timings = json_object(), *outputs;
	int64_t t0 = time_mono_us(), t;
	int ret;

	rain_error_clear();
	if (!res || !timings || !pkgcache) {
		free(res);
		json_decref(timings);
		return rain_error_oom();
	}
	if ((ret = check_recipe(r, o, &b.be)) < 0)
		goto fail_early;
	b.deadline_us = t0 + (int64_t)(o->timeout_s > 0 ? o->timeout_s : 3600) * 1000000;
	if ((ret = fs_mkdir_p(o->output_dir, 0755)) < 0 || (ret = fs_mkdir_p(o->cache_dir, 0755)) < 0)
		goto fail_early;
	logpath = fs_path_join(o->output_dir, "build.log");
	if (!logpath) {
		ret = rain_error_oom();
		goto fail_early;
	}
	b.log = fopen(logpath, "we");
	if (!b.log) {
		ret = rain_error_errno(RAIN_EIO, errno, "cannot start the build in %s", o->output_dir);
		goto fail_early;
	}
	build_limits_resolve(&b);
	if ((ret = build_ids_acquire(&b)) < 0 ||
	    (ret = make_scratch(&b, &upper, &work, &merged, &input)) < 0 ||
	    (ret = make_mount_point(&b, "lower", &lower_mnt)) < 0 ||
	    (ret = build_cgroup_setup(&b, true)) < 0 ||
	    (ret = uuid_generate(b.uuid)) < 0 || (ret = rain_recipe_format(r, &recipe_text)) < 0 ||
	    (ret = b.be->layer(r, &b.layer, &b.nlayer)) < 0 || (ret = stage_inputs(&b, input)) < 0 ||
	    (ret = keyring_stage(&b)) < 0)
		goto fail;
	build_log(&b, "== building %s %s %s (%s)", r->distribution, r->release, r->architecture,
		  r->name ? r->name : "unnamed");

	if ((ret = build_mirror_allowed(r->mirror, b.lim.allow_private_mirrors)) < 0 ||
	    (ret = foreign_arch_setup(&b)) < 0 ||
	    (ret = base_ensure(&b, &base)) < 0)
		goto fail;
	t = time_mono_us();
	json_object_set_new(timings, "base_s", json_real((double)(t - t0) / 1e6));
	{
		const struct sandbox_bind fetch_binds[] = {
			debs_bind(&b, b.be->download_dir, pkgcache),
			{ .src = "/etc/resolv.conf", .dest = "/etc/resolv.conf", .readonly = true },
		};
		const struct sandbox_bind image_binds[] = {
			debs_bind(&b, b.be->download_dir, pkgcache),
			{ .src = input, .dest = BUILD_INPUT, .readonly = true },
			{ .src = b.report, .dest = BUILD_OUT },
		};
		struct sandbox s = { .network = true, .root = merged, .lower = base.root,
				     .lower_id = SANDBOX_HOST_ID, .lower_mnt = lower_mnt,
				     .upper = upper, .work = work, .pivot = true, .binds = fetch_binds,
				     .nbinds = 2, .env = env_image };
		struct host_env env;

		if (b.nlayer) {
			b.refresh = base.stale;
			ret = build_stage(&b, b.refresh ? "refreshing package indexes and fetching packages" :
					"fetching packages", &s, fetch_stage);
			if (ret == 0)
				ret = debs_to_cache(&b);
			if (ret < 0)
				goto fail;
		}
		t = time_mono_us();
		s.network = false;
		s.binds = image_binds;
		s.nbinds = 3;
		ret = build_stage(&b, "installing and customizing", &s, image_stage);
		json_object_set_new(timings, "image_s", json_real((double)(time_mono_us() - t) / 1e6));
		if (ret == 0)
			ret = build_scratch_check(&b, b.scratch, "the build's scratch (the image's tree, "
						  "downloads and reports)");
		if (ret < 0)
			goto fail;
		t = time_mono_us();
		if ((ret = host_env_init(&env, &b)) < 0)
			goto fail;
		s.pivot = false;
		s.binds = NULL;
		s.nbinds = 0;
		s.env = env.env;
		if (r->scripts_in_vm && r->nscripts) {
			/* the outputs come from the machine's disk */
			vmtree = build_tmp_path(&b, "vmtree");
			ret = vmtree ? build_scripts_in_vm(&b, &s, vmtree, env.env) : rain_error_oom();
			json_object_set_new(timings, "scripts_vm_s", json_real((double)(time_mono_us() - t) / 1e6));
			s.root = vmtree;
			s.lower = s.upper = s.work = NULL;
		}
		if (ret == 0)
			ret = build_stage(&b, "writing outputs", &s, outputs_stage);
		host_env_free(&env);
		if (ret == 0)
			ret = collect_outputs(&b, res);
		json_object_set_new(timings, "outputs_s", json_real((double)(time_mono_us() - t) / 1e6));
		if (ret < 0)
			goto fail;
	}
	if ((ret = read_packages(&b, &packages)) < 0)
		goto fail;
	if (r->boot_check || o->boot_check) {
		_cleanup_free_ char *disk = NULL, *kernel = NULL;

		for (const struct build_output_kind *k = build_outputs; k->bit; k++)
			if (k->bit == RAIN_OUT_DISK)
				disk = build_output_path(&b, o->output_dir, k);
			else if (k->bit == BUILD_OUT_KERNEL)
				kernel = build_output_path(&b, o->output_dir, k);
		t = time_mono_us();
		ret = disk && kernel ? build_boot_check(&b, disk, kernel, &boot) : rain_error_oom();
		json_object_set_new(timings, "boot_check_s", json_real((double)(time_mono_us() - t) / 1e6));
		if (ret < 0)
			goto fail;
	}
	json_object_set_new(timings, "total_s", json_real((double)(time_mono_us() - t0) / 1e6));
	outputs = json_array();
	for (size_t i = 0; i < res->noutputs; i++) {
		const struct rain_build_output *bo = &res->outputs[i];
		const char *name = strrchr(bo->path, '/');

		json_array_append_new(outputs, json_pack("{s:s, s:s, s:I, s:s?}", "format", bo->format,
							 "file", name ? name + 1 : bo->path, "size",
							 (json_int_t)bo->size,
							 "sha256", bo->sha256[0] ? bo->sha256 : NULL));
	}
	res->manifest = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:b, s:s*}, s:o, s:o, s:o, s:o*, s:s}",
				  "name", r->name ? r->name : "image",
				  "distribution", r->distribution, "release", r->release,
				  "architecture", r->architecture, "mirror", r->mirror,
				  "filesystem_uuid", b.uuid, "recipe", recipe_text,
				  "base", "key", base.key, "cached", !base.built,
				  "image", o->base_image ? o->base_image->id : NULL,
				  "packages", packages, "outputs", outputs, "timings", timings,
				  "boot_check", boot, "log", "build.log");
	packages = boot = timings = NULL;
	res->manifest_path = fs_path_join(o->output_dir, "manifest.json");
	if (!res->manifest || !res->manifest_path ||
	    json_dump_file(res->manifest, res->manifest_path, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		ret = rain_error_set(RAIN_EIO, "cannot write the manifest");
		goto fail;
	}
	build_log(&b, "== done in %.1f s", (double)(time_mono_us() - t0) / 1e6);
	build_cgroup_remove(&b);
	build_scratch_remove(&b);
	ret = 0;
	*out = res;
	res = NULL;
	goto done;
fail:
	{
		/* keep the message: logging and cleaning up may overwrite it */
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		if (ret == RAIN_ECANCELED && time_mono_us() >= b.deadline_us - 2000000)
			snprintf(msg, sizeof(msg), "the build took longer than its time limit (%d s) and was "
				 "stopped; allow more with --timeout", o->timeout_s > 0 ? o->timeout_s : 3600);
		if (build_scratch_full(&b)) {
			char full[sizeof(msg) + 1024];

			/* the scratch's own file system is full: its limit */
			if (!strstr(msg, "scratch_size")) {
				build_scratch_explain(&b, full, sizeof(full) - sizeof(msg) - 2);
				snprintf(full + strlen(full), sizeof(full) - strlen(full), ": %s", msg);
				snprintf(msg, sizeof(msg), "%.1000s", full);
			}
			ret = RAIN_ETOOBIG;
		} else if ((b.nospace || ret == RAIN_ENOSPC) && host_has_room(&b)) {
			char full[sizeof(msg) + 1024], size[32];

			/* the host has room: one of the build's own file systems is full */
			snprintf(size, sizeof(size), "%lld MiB", (long long)(b.lim.tmpfs >> 20));
			snprintf(full, sizeof(full), "a file system of the build ran full (no space left on "
				 "device): /tmp, /run and /dev/shm hold %s each in the sandbox (--limit "
				 "tmpfs_size, [builds] tmpfs_size) and an image file [output] size; %s", size, msg);
			snprintf(msg, sizeof(msg), "%.1000s", full);
			ret = RAIN_ETOOBIG;
		} else if (b.nospace || ret == RAIN_ENOSPC) {
			char full[sizeof(msg) + 1024];

			snprintf(full, sizeof(full), "the disk is full (no space left on device) under %s "
				 "or %s: free some space and build again; %s", o->cache_dir, o->output_dir, msg);
			snprintf(msg, sizeof(msg), "%.1000s", full);
			ret = RAIN_ENOSPC;
		}
		build_log(&b, "== failed: %s", msg);
		for (size_t i = 0; i < res->noutputs; i++) {
			if (strcmp(res->outputs[i].format, "dir"))
				unlink(res->outputs[i].path);
			else
				remove_tree(res->outputs[i].path);
		}
		if (res->manifest_path)
			unlink(res->manifest_path);
		/* what is left of its processes first, then their files */
		build_cgroup_remove(&b);
		build_scratch_remove(&b);
		rain_error_set(ret, "%s", msg);
	}
fail_early:
done:
	if (base.lock_fd >= 0) {
		/* after the build, not in its way; its own base still held */
		cache_bound(&b, &base);
		close(base.lock_fd);
	}
	build_cgroup_remove(&b);
	if (b.log)
		fclose(b.log);
	if (b.lockfd >= 0)
		close(b.lockfd);
	if (b.idsfd >= 0)
		close(b.idsfd);
	free(b.dir);
	free(b.scratch);
	free(b.root);
	free(b.debs);
	free(b.keyring);
	free(b.debs_work);
	free(b.outdir);
	free(b.report);
	strv_free(b.layer, b.nlayer);
	free(base.dir);
	free(base.root);
	json_decref(packages);
	json_decref(boot);
	json_decref(timings);
	rain_build_result_free(res);
	return ret;
}
