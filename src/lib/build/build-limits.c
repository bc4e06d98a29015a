/* What one build may use: its limits (rain_build_limits_set), its own
 * cgroup, the rlimit fallback and the check of what its tree takes. See
 * rain/build.h and build-internal.h.
 *
 * Every build gets a cgroup of its own, named after its scratch directory
 * (rain/build.XXXXXX), which each stage's sandbox joins before it runs
 * anything: cgroup v2 when /sys/fs/cgroup is the unified hierarchy with the
 * pids and memory controllers, else the v1 hierarchies mounted at
 * /sys/fs/cgroup/{pids,memory,cpu,blkio} (as on many HPC systems). Only
 * what neither offers falls back to rlimits (address space for memory,
 * processes per uid for pids), which are weaker: the build log says which
 * is in force. The cgroup goes when the build ends; the next build on the
 * same cache removes those of builds that were killed, with their scratch.
 */
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "build-internal.h"
#include "rain/error.h"
#include "sandbox.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* ---- the limits ---- */

const char *const rain_build_limit_keys[] = {
	"pids", "memory", "cpus", "io_bps", "tmpfs_size", "scratch_size", "cache_size",
	"allow_private_mirrors", NULL
};

int rain_build_limits_set(struct rain_build_limits *l, const char *key, const char *value)
{
	int64_t v = 0;

	rain_error_clear();
	if (!strcmp(key, "allow_private_mirrors")) {
		bool yes;

		if (str_to_bool(value, &yes) < 0)
			return rain_error_set(RAIN_EINVAL, "limit allow_private_mirrors: say yes or no, not '%s'",
					      value);
		l->allow_private_mirrors = yes;
		return 0;
	}
	if (!strcmp(key, "pids")) {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(value, &end, 10);
		if (errno || end == value || *end || n < 16 || n > (1 << 22))
			return rain_error_set(RAIN_EINVAL, "limit pids: '%s' is not a number of processes "
					      "from 16 to 4194304", value);
		l->pids = n;
		return 0;
	}
	if (!strcmp(key, "cpus")) {
		char *end;
		double n;

		errno = 0;
		n = strtod(value, &end);
		if (errno || end == value || *end || !(n >= 0.01 && n <= 4096))
			return rain_error_set(RAIN_EINVAL, "limit cpus: '%s' is not a number of CPUs from "
					      "0.01 to 4096 (such as 2 or 0.5)", value);
		l->cpus_milli = (int64_t)(n * 1000 + 0.5);
		return 0;
	}
	if (strcmp(key, "memory") && strcmp(key, "io_bps") && strcmp(key, "tmpfs_size") &&
	    strcmp(key, "scratch_size") && strcmp(key, "cache_size"))
		return rain_error_set(RAIN_EINVAL, "unknown limit '%s' (pids, memory, cpus, io_bps, "
				      "tmpfs_size, scratch_size, cache_size, allow_private_mirrors)", key);
	if (rain_recipe_parse_size(value, &v) < 0 || v < (1LL << 20))
		return rain_error_set(RAIN_EINVAL, "limit %s: '%s' is not a size of at least 1M (such "
				      "as 512M or 4G)", key, value);
	if (!strcmp(key, "memory"))
		l->memory = v;
	else if (!strcmp(key, "io_bps"))
		l->io_bps = v;
	else if (!strcmp(key, "tmpfs_size"))
		l->tmpfs = v;
	else if (!strcmp(key, "cache_size"))
		l->cache = v;
	else
		l->scratch = v;
	return 0;
}

void build_limits_resolve(struct build_ctx *b)
{
	if (b->o->limits)
		b->lim = *b->o->limits;
	if (b->lim.pids <= 0)
		b->lim.pids = RAIN_BUILD_PIDS_DEFAULT;
	if (b->lim.memory <= 0)
		b->lim.memory = RAIN_BUILD_MEMORY_DEFAULT;
	if (b->lim.tmpfs <= 0)
		b->lim.tmpfs = RAIN_BUILD_TMPFS_DEFAULT;
	if (b->lim.scratch <= 0)
		b->lim.scratch = RAIN_BUILD_SCRATCH_DEFAULT;
	if (b->lim.cache <= 0)
		b->lim.cache = RAIN_BUILD_CACHE_DEFAULT;
}

/* "4.0 GiB" */
static void human(int64_t v, char *buf, size_t n)
{
	if (v >= 1LL << 30)
		snprintf(buf, n, "%.1f GiB", (double)v / (1 << 30));
	else
		snprintf(buf, n, "%lld MiB", (long long)(v >> 20));
}

/* ---- cgroups ---- */

static int write_file(const char *dir, const char *file, const char *text)
{
	_cleanup_free_ char *path = fs_path_join(dir, file);
	int fd = path ? open(path, O_WRONLY | O_CLOEXEC) : -1;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static bool has_file(const char *dir, const char *file)
{
	_cleanup_free_ char *path = fs_path_join(dir, file);

	return path && access(path, F_OK) == 0;
}

/* The v1 hierarchies, in the order of build_cgroup.dirs. */
static const char *const v1_controllers[] = { "pids", "memory", "cpu", "blkio" };
enum { CG_PIDS, CG_MEMORY, CG_CPU, CG_IO, CG_N };

/* "MAJ:MIN" of the whole disk holding path, for I/O limits. */
static bool disk_of(const char *path, char *out, size_t n)
{
	struct stat st;
	char link[64], target[256];
	_cleanup_free_ char *text = NULL;
	ssize_t len;
	size_t tl;

	if (stat(path, &st) < 0)
		return false;
	snprintf(out, n, "%u:%u", major(st.st_dev), minor(st.st_dev));
	/* a partition's parent directory in sysfs is its disk */
	snprintf(link, sizeof(link), "/sys/dev/block/%s/partition", out);
	if (access(link, F_OK) < 0)
		return true;
	snprintf(link, sizeof(link), "/sys/dev/block/%s/../dev", out);
	if (!realpath(link, target) || fs_read_small(target, 64, &text, &tl) < 0)
		return false;
	len = (ssize_t)strcspn(text, "\n");
	snprintf(out, n, "%.*s", (int)len, text);
	return true;
}

/* The devices I/O limits apply to: 0, the disk of the work directory
 * (the base the build reads, its scratch's disk file); 1, the scratch's
 * own loop device, which the build writes through (none without one). */
static bool io_device(struct build_ctx *b, int i, char *out, size_t n)
{
	if (i == 0)
		return disk_of(b->dir ? b->dir : b->scratch, out, n);
	return b->scratch_fs && disk_of(b->scratch, out, n);
}

static int cgroup_setup_v2(struct build_ctx *b, struct build_cgroup *cg)
{
	_cleanup_free_ char *ctrls = NULL, *parent = fs_path_join(CGROUP_ROOT, "rain");
	size_t len;
	char v[64], dev[32];

	if (fs_read_small(CGROUP_ROOT "/cgroup.controllers", 4096, &ctrls, &len) < 0 ||
	    !strstr(ctrls, "pids") || !strstr(ctrls, "memory") || !parent)
		return -1;
	write_file(CGROUP_ROOT, "cgroup.subtree_control", "+pids +memory +cpu +io");
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		return -1;
	write_file(parent, "cgroup.subtree_control", "+pids +memory +cpu +io");
	cg->dirs[0] = fs_path_join(parent, b->cg_name);
	if (!cg->dirs[0] || (mkdir(cg->dirs[0], 0755) < 0 && errno != EEXIST))
		return -1;
	cg->n = 1;
	snprintf(v, sizeof(v), "%lld", (long long)b->lim.pids);
	cg->pids = write_file(cg->dirs[0], "pids.max", v) == 0;
	snprintf(v, sizeof(v), "%lld", (long long)b->lim.memory);
	cg->memory = write_file(cg->dirs[0], "memory.max", v) == 0;
	write_file(cg->dirs[0], "memory.swap.max", "0");
	if (b->lim.cpus_milli > 0) {
		snprintf(v, sizeof(v), "%lld 100000", (long long)b->lim.cpus_milli * 100);
		cg->cpu = write_file(cg->dirs[0], "cpu.max", v) == 0;
	}
	for (int i = 0, set = 0; b->lim.io_bps > 0 && i < 2; i++) {
		char line[128];

		if (!io_device(b, i, dev, sizeof(dev)))
			continue;
		snprintf(line, sizeof(line), "%s rbps=%lld wbps=%lld", dev, (long long)b->lim.io_bps,
			 (long long)b->lim.io_bps);
		cg->io = write_file(cg->dirs[0], "io.max", line) == 0 && (!set++ || cg->io);
	}
	cg->version = 2;
	return 0;
}

static int cgroup_setup_v1(struct build_ctx *b, struct build_cgroup *cg)
{
	char v[64], dev[32];

	for (int i = 0; i < CG_N; i++) {
		_cleanup_free_ char *hier = fs_path_join(CGROUP_ROOT, v1_controllers[i]);
		_cleanup_free_ char *parent = hier ? fs_path_join(hier, "rain") : NULL;
		struct stat st;

		if (!parent || stat(hier, &st) < 0 || !S_ISDIR(st.st_mode) || !has_file(hier, "cgroup.procs"))
			continue;
		if (mkdir(parent, 0755) < 0 && errno != EEXIST)
			continue;
		cg->dirs[i] = fs_path_join(parent, b->cg_name);
		if (!cg->dirs[i] || (mkdir(cg->dirs[i], 0755) < 0 && errno != EEXIST)) {
			free(cg->dirs[i]);
			cg->dirs[i] = NULL;
			continue;
		}
		cg->n++;
	}
	if (!cg->n)
		return -1;
	if (cg->dirs[CG_PIDS]) {
		snprintf(v, sizeof(v), "%lld", (long long)b->lim.pids);
		cg->pids = write_file(cg->dirs[CG_PIDS], "pids.max", v) == 0;
	}
	if (cg->dirs[CG_MEMORY]) {
		snprintf(v, sizeof(v), "%lld", (long long)b->lim.memory);
		cg->memory = write_file(cg->dirs[CG_MEMORY], "memory.limit_in_bytes", v) == 0;
		/* no swap beyond it (where swap is accounted) */
		write_file(cg->dirs[CG_MEMORY], "memory.memsw.limit_in_bytes", v);
	}
	if (cg->dirs[CG_CPU] && b->lim.cpus_milli > 0) {
		snprintf(v, sizeof(v), "%lld", (long long)b->lim.cpus_milli * 100);
		cg->cpu = write_file(cg->dirs[CG_CPU], "cpu.cfs_period_us", "100000") == 0 &&
			  write_file(cg->dirs[CG_CPU], "cpu.cfs_quota_us", v) == 0;
	}
	for (int i = 0, set = 0; cg->dirs[CG_IO] && b->lim.io_bps > 0 && i < 2; i++) {
		char line[96];

		if (!io_device(b, i, dev, sizeof(dev)))
			continue;
		snprintf(line, sizeof(line), "%s %lld", dev, (long long)b->lim.io_bps);
		cg->io = write_file(cg->dirs[CG_IO], "blkio.throttle.read_bps_device", line) == 0 &&
			 write_file(cg->dirs[CG_IO], "blkio.throttle.write_bps_device", line) == 0 &&
			 (!set++ || cg->io);
	}
	cg->version = 1;
	return 0;
}

static void cgroup_clear(struct build_cgroup *cg)
{
	for (int i = 0; i < CG_N; i++) {
		free(cg->dirs[i]);
		free(cg->procs[i]);
	}
	memset(cg, 0, sizeof(*cg));
}

int build_cgroup_setup(struct build_ctx *b, bool say)
{
	struct build_cgroup *cg = &b->cg;
	char size[32], mem[32], tmpfs[32], cpu[96] = "no cap", io[96] = "no cap";
	char scratch[96 + sizeof(b->scratch_why)];
	size_t k = 0;

	cgroup_clear(cg);
	/* without a name the limits would land on rain/, every build's parent */
	if (b->cg_name[0] && cgroup_setup_v2(b, cg) < 0) {
		cgroup_clear(cg);
		if (cgroup_setup_v1(b, cg) < 0)
			cgroup_clear(cg);
	}
	for (int i = 0; i < CG_N; i++)
		if (cg->dirs[i] && !(cg->procs[k] = fs_path_join(cg->dirs[i], "cgroup.procs")))
			return rain_error_oom();
		else if (cg->dirs[i])
			k++;
	if (!say)
		return 0;
	human(b->lim.memory, mem, sizeof(mem));
	human(b->lim.tmpfs, tmpfs, sizeof(tmpfs));
	human(b->lim.scratch, size, sizeof(size));
	if (b->scratch_fs)
		snprintf(scratch, sizeof(scratch), "%s, a file system of its own (writes past it fail at once)",
			 size);
	else
		snprintf(scratch, sizeof(scratch), "%s, measured every 2 s (no file system of its own: %s)", size,
			 b->scratch_why);
	if (b->lim.cpus_milli > 0)
		snprintf(cpu, sizeof(cpu), "%.2f CPUs%s", (double)b->lim.cpus_milli / 1000,
			 cg->cpu ? "" : " (not in force: no cpu controller)");
	if (b->lim.io_bps > 0)
		snprintf(io, sizeof(io), "%lld MiB/s%s", (long long)(b->lim.io_bps >> 20),
			 cg->io ? "" : " (not in force)");
	build_log(b, "limits: %s%s; processes %lld%s, memory %s%s, CPU %s, I/O %s; tmpfs %s each; "
		  "scratch %s", cg->version == 2 ? "cgroup v2 " CGROUP_ROOT "/rain/" :
		  cg->version == 1 ? "cgroup v1 " CGROUP_ROOT "/{pids,memory,cpu,blkio}/rain/" : "rlimits only",
		  cg->version ? b->cg_name : "(no cgroup controller here)", (long long)b->lim.pids,
		  cg->pids ? "" : " (rlimit per uid)", mem, cg->memory ? "" : " (rlimit: address space)",
		  cpu, io, tmpfs, scratch);
	return 0;
}

void build_sandbox_limits(struct build_ctx *b, struct sandbox *s)
{
	s->host_id = b->host_uid;
	s->cgroups = b->cg.n ? (const char *const *)b->cg.procs : NULL;
	s->tmpfs_size = b->lim.tmpfs;
	s->rlimit_fsize = b->lim.scratch;
	s->rlimit_as = b->cg.memory ? 0 : b->lim.memory;
	s->rlimit_nproc = b->cg.pids ? 0 : b->lim.pids;
}

/* The first number after key in dir/file ("max 3", "oom_kill 1"). */
static long long counter(const char *dir, const char *file, const char *key)
{
	_cleanup_free_ char *path = dir ? fs_path_join(dir, file) : NULL, *text = NULL;
	size_t len;
	const char *p;

	if (!path || fs_read_small(path, 65536, &text, &len) < 0)
		return 0;
	for (p = text; (p = strstr(p, key)); p += strlen(key))
		if ((p == text || p[-1] == '\n') && p[strlen(key)] == ' ')
			return atoll(p + strlen(key) + 1);
	return 0;
}

int build_limits_explain(struct build_ctx *b, char *msg, size_t n)
{
	const struct build_cgroup *cg = &b->cg;
	const char *pd = cg->version == 2 ? cg->dirs[0] : cg->dirs[CG_PIDS];
	const char *md = cg->version == 2 ? cg->dirs[0] : cg->dirs[CG_MEMORY];
	char size[32];

	if (cg->pids && counter(pd, "pids.events", "max") > 0) {
		snprintf(msg, n, "the build reached its limit of %lld processes and threads (--limit pids, "
			 "[builds] pids)", (long long)b->lim.pids);
		return RAIN_ETOOBIG;
	}
	if (cg->memory && (cg->version == 2 ? counter(md, "memory.events", "oom_kill") :
			   counter(md, "memory.oom_control", "oom_kill")) > 0) {
		human(b->lim.memory, size, sizeof(size));
		snprintf(msg, n, "the build ran out of its memory limit (%s, tmpfs included; --limit memory, "
			 "[builds] memory) and a program of it was killed", size);
		return RAIN_ETOOBIG;
	}
	if (build_scratch_full(b))
		return build_scratch_explain(b, msg, n);
	if (b->fsize) {
		human(b->lim.scratch, size, sizeof(size));
		snprintf(msg, n, "a file the build wrote grew past its scratch limit (%s; --limit "
			 "scratch_size, [builds] scratch_size)", size);
		return RAIN_ETOOBIG;
	}
	return 0;
}

/* Kill what is left in dir (v1: each process; v2: cgroup.kill), remove it. */
static void cgroup_remove_dir(const char *dir, int version)
{
	for (int tries = 0; tries < 50 && rmdir(dir) < 0 && errno == EBUSY; tries++) {
		_cleanup_free_ char *text = NULL, *procs = fs_path_join(dir, "cgroup.procs");
		size_t len;

		if (version == 2 && write_file(dir, "cgroup.kill", "1") == 0) {
			usleep(20000);
			continue;
		}
		if (procs && fs_read_small(procs, 1 << 20, &text, &len) == 0)
			for (char *p = text; *p; p += strcspn(p, "\n"), p += *p == '\n')
				if (atoi(p) > 0)
					kill(atoi(p), SIGKILL);
		usleep(20000);
	}
}

void build_cgroup_remove(struct build_ctx *b)
{
	for (int i = 0; i < CG_N; i++)
		if (b->cg.dirs[i])
			cgroup_remove_dir(b->cg.dirs[i], b->cg.version);
	cgroup_clear(&b->cg);
}

void build_cgroup_reap(const char *name)
{
	_cleanup_free_ char *v2 = NULL;

	if (!fs_name_is_safe(name) || asprintf(&v2, CGROUP_ROOT "/rain/%s", name) < 0)
		return;
	if (access(v2, F_OK) == 0)
		cgroup_remove_dir(v2, 2);
	for (int i = 0; i < CG_N; i++) {
		_cleanup_free_ char *dir = NULL;

		if (asprintf(&dir, CGROUP_ROOT "/%s/rain/%s", v1_controllers[i], name) >= 0 &&
		    access(dir, F_OK) == 0)
			cgroup_remove_dir(dir, 1);
	}
}

/* ---- the build's own ids ----
 *
 * Design: builds must not read or write each other's trees, nor the
 * cached bases (which hold cloned images of other users), yet every build
 * reads a base as its lower layer. So the cached bases belong to one base
 * range (SANDBOX_HOST_ID..), which only base bootstraps and clone
 * unpacking use (they run the distribution's package scripts, never a
 * recipe's); each build takes a range of its own from a pool and sees its
 * base through an idmapped mount that shows the base range as its own
 * (sandbox.h: lower_id), read-only by nature of the lower layer. Its
 * upper layer, downloads, outputs and scratch belong to its range only.
 * The alternative, a copy (or chown) of the base per build, costs
 * seconds and gigabytes per build; the idmapped mount costs nothing. The
 * pool's ranges are taken with flock on CACHE/ids/N.lock, held while the
 * build lives, so two builds never share one (a killed build's lock goes
 * with it). */

int build_ids_acquire(struct build_ctx *b)
{
	_cleanup_free_ char *dir = fs_path_join(b->o->cache_dir, "ids");
	int r;

	if (!dir)
		return rain_error_oom();
	if ((r = fs_mkdir_p(dir, 0700)) < 0)
		return r;
	for (unsigned int n = 1; n <= BUILD_ID_RANGES; n++) {
		_cleanup_free_ char *name = NULL;
		int fd;

		if (asprintf(&name, "%s/%u.lock", dir, n) < 0)
			return rain_error_oom();
		fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot open %s", name);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			b->idsfd = fd;
			b->host_uid = SANDBOX_HOST_ID + n * SANDBOX_IDS;
			build_log(b, "ids: the sandbox's root is host uid %u (range %u of %u); the cached base's "
				  "ids are shown as these through an idmapped mount", (unsigned)b->host_uid, n,
				  BUILD_ID_RANGES);
			return 0;
		}
		close(fd);
	}
	return rain_error_set(RAIN_ECONFLICT, "%u builds run on this cache already, each with its own ids; "
			      "wait for one to end", BUILD_ID_RANGES);
}

/* ---- the scratch ---- */

/* Bytes the files of ids from.. under dir take (not following symlinks,
 * not leaving its file system): what the build wrote, not the package
 * cache's files linked into it, which are root's. */
static int64_t tree_size(const char *dir, uid_t from)
{
	char *const paths[] = { (char *)dir, NULL };
	FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_XDEV | FTS_NOCHDIR, NULL);
	FTSENT *e;
	int64_t used = 0;

	if (!fts)
		return -1;
	while ((e = fts_read(fts)))
		if (e->fts_info != FTS_DP && e->fts_statp && e->fts_statp->st_uid >= from &&
		    e->fts_statp->st_uid - from < SANDBOX_IDS)
			used += (int64_t)e->fts_statp->st_blocks * 512;
	fts_close(fts);
	return used;
}

int build_scratch_check(struct build_ctx *b, const char *dir, const char *what)
{
	int64_t used;
	char size[32];

	if (b->scratch_fs)       /* it cannot hold more */
		return 0;
	used = tree_size(dir, b->host_uid);
	if (used < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot measure %s", dir);
	if (used <= b->lim.scratch)
		return 0;
	human(b->lim.scratch, size, sizeof(size));
	return rain_error_set(RAIN_ETOOBIG, "%s takes %lld MiB, more than the build's scratch limit (%s; "
			      "--limit scratch_size, [builds] scratch_size)", what, (long long)(used >> 20), size);
}

void build_scratch_watch(struct build_ctx *b)
{
	int64_t now = time_mono_us();

	if (b->o->cancel && *b->o->cancel)
		b->stage_stop = 1;
	if (b->scratch_fs) {
		/* writes past it fail by themselves: note it for the message */
		build_scratch_full(b);
		return;
	}
	/* every 2 s while a stage runs: a build that writes past its scratch
	 * limit is stopped then, not only after its stage */
	if (now < b->scratch_checked_us + 2000000)
		return;
	b->scratch_checked_us = now;
	if (tree_size(b->scratch, b->host_uid) > b->lim.scratch) {
		b->scratch_over = true;
		b->stage_stop = 1;
	}
}
