/* The slurm site driver (rain/sys/target.h): an HPC cluster whose nodes
 * are reimaged per job the way Slurm sites do it, with the
 * node_features/helpers plugin and RebootProgram. A registration makes
 * the image a node feature; a job asking for it (sbatch -C FEATURE, the
 * slurm provider) has Slurm reboot the allocated nodes into it.
 *
 *   [site.NAME]
 *   uri = slurm:CLUSTER         the cluster (its ClusterName, for messages)
 *   publish_dir = /srv/boot     where the nodes' boot files go, a folder
 *                               per registration named after its feature
 *                               (FEATURE/: vmlinuz, initramfs,
 *                               root.squashfs, cmdline)
 *   publish_url = http://...    the same folder as the nodes fetch it
 *   helpers_conf = PATH         the plugin's helpers.conf, where each
 *                               registration adds its line "Feature=FEATURE
 *                               Helper=HELPER" (Slurm 22.05: one line per
 *                               feature); default /etc/slurm/helpers.conf
 *   helper = PATH               the site's Helper program named on the line
 *                               (absolute): with no argument it prints the
 *                               node's active image feature, with one it
 *                               sets the image the node boots next
 *   feature_prefix = img_       the feature is the prefix and the
 *                               registration's id ('-' as '_')
 *   reload = PROGRAM ARGS...    run (argument vector, split on blanks)
 *                               after helpers.conf changed, so that
 *                               slurmctld and the slurmds read it
 *                               (slurmd 22.05 reads it when it starts
 *                               only); default: scontrol reconfigure
 *   feature_wait = 60           seconds publish waits for the nodes to
 *                               offer the feature after the reload (0:
 *                               do not wait)
 *   slurm_conf = PATH           SLURM_CONF for Slurm's commands; default
 *                               Slurm's own
 *   kernel_args, modules, compressor
 *                               as for a netboot site (the nodes boot the
 *                               same kernel, initramfs and root squashfs)
 *   partition, ...              the slurm provider's (runs; see
 *                               src/lib/provision/providers/slurm.c)
 *
 * adapt is the netboot site's (target_netboot_adapt). publish names the
 * feature, the folder and the helpers.conf line in the state before
 * making each, copies the boot files, writes cmdline (the kernel
 * arguments a node boots them with: kernel_args, rain.root=URL and
 * rain.sha256=HEX of the root), adds the line to helpers.conf (locked,
 * replaced atomically), runs reload and waits until the nodes offer the
 * feature. unpublish removes the line (and reloads), then the folder.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/target/target-internal.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

#define DEFAULT_HELPERS_CONF "/etc/slurm/helpers.conf"
#define DEFAULT_PREFIX "img_"
#define DEFAULT_ARGS "console=tty0 console=ttyS0,115200n8"
#define FEATURE_MAX 128
#define FEATURE_WAIT_DEFAULT 60
#define RELOAD_TIMEOUT_S 300
#define SLURM_TIMEOUT_S 60
#define HELPERS_MAX (1024 * 1024)

static const char *const files[] = { "vmlinuz", "initramfs", "root.squashfs", "cmdline", NULL };

/* A Slurm feature name as node_features/helpers takes it. */
static bool feature_valid(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > FEATURE_MAX || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool path_valid(const char *p)
{
	return p && p[0] == '/' && str_is_printable(p, 4000) && !strchr(p, ' ') && !strstr(p, "/../") &&
	       !str_has_suffix(p, "/..");
}

int target_slurm_seconds(const struct rain_site *s, const char *key, int64_t def, int64_t *out)
{
	const char *v = rain_site_get(s, key);

	*out = def;
	if (v && (str_to_i64(v, out) < 0 || *out < 0 || *out > 86400 * 366))
		return rain_error_set(RAIN_EINVAL, "site %s: %s = '%s' is not a number of seconds", s->name,
				      key, v);
	return 0;
}

static int check(struct rain_site *s)
{
	static const char *const keys[] = { "uri", "policy", "kernels", "users", "publish_dir", "publish_url",
					    "helpers_conf", "helper", "feature_prefix", "reload",
					    "feature_wait", "slurm_conf", "kernel_args", "modules",
					    "compressor", "partition", "account", "qos", "pending_timeout",
					    "node_exec", NULL };
	static const char *const compressors[] = { "gzip", "lzma", "lzo", "xz", "lz4", "zstd", NULL };
	const char *key, *v, *dir, *url;
	char probe[FEATURE_MAX + 8];
	int64_t n;
	json_t *val;
	int r;

	json_object_foreach(s->settings, key, val)
		if (!str_in_list(keys, key))
			return rain_error_set(RAIN_EINVAL, "site %s: unknown setting '%s' for a slurm site "
					      "(known: publish_dir, publish_url, helpers_conf, helper, "
					      "feature_prefix, reload, feature_wait, slurm_conf, kernel_args, "
					      "modules, compressor, partition, account, qos, pending_timeout, "
					      "node_exec)",
					      s->name, key);
	if (!*s->location || strlen(s->location) > 64 || !feature_valid(s->location))
		return rain_error_set(RAIN_EINVAL, "site %s: uri: slurm:CLUSTER names the cluster (its "
				      "ClusterName: letters, digits, '_'), got '%s'", s->name, s->location);
	if ((r = target_publish_settings(s, &dir, &url)) < 0)
		return rain_error_set(r, "site %s: %s", s->name, rain_error_last());
	if (!path_valid(rain_site_get(s, "helper")))
		return rain_error_set(RAIN_EINVAL, "site %s: helper: the Helper program of the nodes' "
				      "helpers.conf lines is needed (helper = /ABSOLUTE/PATH, no blanks)",
				      s->name);
	if ((v = rain_site_get(s, "helpers_conf")) && !path_valid(v))
		return rain_error_set(RAIN_EINVAL, "site %s: helpers_conf: an absolute path without blanks, "
				      "got '%s'", s->name, v);
	if ((v = rain_site_get(s, "slurm_conf")) && !path_valid(v))
		return rain_error_set(RAIN_EINVAL, "site %s: slurm_conf: an absolute path without blanks, "
				      "got '%s'", s->name, v);
	v = rain_site_get(s, "feature_prefix");
	snprintf(probe, sizeof(probe), "%sx", v ? v : DEFAULT_PREFIX);
	if (v && (strlen(v) > 32 || !feature_valid(probe)))
		return rain_error_set(RAIN_EINVAL, "site %s: feature_prefix: a Slurm feature's start (a "
				      "letter or '_', then letters, digits, '_', '.'; up to 32), got '%s'",
				      s->name, v);
	if ((v = rain_site_get(s, "reload")) && (!*v || !str_is_printable(v, 4000)))
		return rain_error_set(RAIN_EINVAL, "site %s: reload: a program and its arguments on one "
				      "line", s->name);
	if ((r = target_slurm_seconds(s, "feature_wait", FEATURE_WAIT_DEFAULT, &n)) < 0 ||
	    (r = target_slurm_seconds(s, "pending_timeout", 0, &n)) < 0)
		return r;
	if ((v = rain_site_get(s, "node_exec")) && (v[0] != '/' || !str_is_printable(v, 4000)))
		return rain_error_set(RAIN_EINVAL, "site %s: node_exec: a program (absolute path) and its "
				      "arguments on one line, got '%s'", s->name, v);
	v = rain_site_get(s, "kernel_args");
	if (v && !str_is_printable(v, 2000))
		return rain_error_set(RAIN_EINVAL, "site %s: kernel_args: one line of printable text", s->name);
	v = rain_site_get(s, "compressor");
	if (v && !str_in_list(compressors, v))
		return rain_error_set(RAIN_EINVAL, "site %s: compressor: '%s' is none of gzip, lzma, lzo, xz, "
				      "lz4, zstd", s->name, v);
	for (const char *const *k = (const char *const[]){ "partition", "account", "qos", NULL }; *k; k++)
		if ((v = rain_site_get(s, *k)) && (!*v || strlen(v) > 64 || strspn(v,
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(v) ||
						  v[0] == '-'))
			return rain_error_set(RAIN_EINVAL, "site %s: %s: a Slurm name (letters, digits, "
					      "'_', '.', '-'), got '%s'", s->name, *k, v);
	return 0;
}

static int accepts(const struct rain_site *s, const struct rain_target_image *img)
{
	const char *arch = json_string_value(json_object_get(img->properties, "architecture"));

	/* the nodes boot rain's netboot initramfs: this host's busybox */
	if (arch && strcmp(arch, "x86_64") && strcmp(arch, "amd64"))
		return rain_error_set(RAIN_EINVAL, "site %s: the nodes boot x86_64 images (their initramfs "
				      "runs this host's busybox); the image is %s", s->name, arch);
	return 0;
}

int target_slurm_feature(const struct rain_site *site, const char *reg_id, char **out)
{
	const char *prefix = rain_site_get(site, "feature_prefix") ?: DEFAULT_PREFIX;
	char *f;

	*out = NULL;
	if (!reg_id || asprintf(&f, "%s%s", prefix, reg_id) < 0)
		return reg_id ? rain_error_oom() : rain_error_set(RAIN_EINVAL, "no registration id");
	for (char *p = f + strlen(prefix); *p; p++)
		if (*p == '-')
			*p = '_';
	if (!feature_valid(f)) {
		free(f);
		return rain_error_set(RAIN_EINVAL, "site %s: registration id '%s' makes no Slurm feature name "
				      "(letters, digits, '_', '-', '.')", site->name, reg_id);
	}
	*out = f;
	return 0;
}

/* ---- helpers.conf ---- */

static const char *helpers_conf(const struct rain_site *site)
{
	return rain_site_get(site, "helpers_conf") ?: DEFAULT_HELPERS_CONF;
}

/* Whether text (helpers.conf) has line, a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* Add line to helpers.conf (add) or remove every copy of it, under a lock
 * of its folder, replacing the file atomically with its mode kept. */
static int helpers_edit(struct rain_target_op *op, const char *line, bool add, bool *changed)
{
	const char *path = helpers_conf(op->site);
	_cleanup_free_ char *dir = strdup(path), *text = NULL, *next = NULL;
	_cleanup_close_ int dfd = -1;
	size_t len = 0, m = 0, n = strlen(line);
	struct stat st;
	int r;

	*changed = false;
	if (!dir)
		return rain_error_oom();
	*strrchr(dir, '/') = '\0';
	dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0)
		return rain_error_errno(RAIN_EIO, errno, "site %s: cannot lock the folder of %s",
					op->site->name, path);
	r = fs_read_small(path, HELPERS_MAX, &text, &len);
	if (r == RAIN_ENOTFOUND && !add)
		return 0;
	if (r == RAIN_ENOTFOUND)
		return rain_error_set(r, "site %s: helpers_conf: there is no %s: the site makes it, with "
				      "the nodes' own image feature (node_features/helpers needs one Feature "
				      "line)", op->site->name, path);
	if (r < 0)
		return rain_error_set(r, "site %s: helpers_conf: %s", op->site->name, rain_error_last());
	if (stat(path, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "site %s: %s", op->site->name, path);
	if (add == has_line(text, line))
		return 0;
	if (!(next = malloc(len + n + 2)))
		return rain_error_oom();
	if (add) {
		memcpy(next, text, len);
		m = len;
		if (m && next[m - 1] != '\n')
			next[m++] = '\n';
		memcpy(next + m, line, n);
		m += n;
		next[m++] = '\n';
	} else {
		for (const char *p = text; *p;) {
			const char *e = strchr(p, '\n');
			size_t l = e ? (size_t)(e - p) : strlen(p);

			if (l != n || memcmp(p, line, n)) {
				memcpy(next + m, p, l);
				m += l;
				next[m++] = '\n';
			}
			p += l + (e ? 1 : 0);
		}
	}
	if ((r = fs_write_atomic(path, next, m, st.st_mode & 07777)) < 0)
		return r;
	*changed = true;
	return 0;
}

/* Run the site's reload (or scontrol reconfigure). */
static int reload(struct rain_target_op *op)
{
	const char *v = rain_site_get(op->site, "reload");
	_cleanup_free_ char *copy = strdup(v ? v : "scontrol reconfigure"), *out = NULL;
	char **argv = NULL, *save = NULL;
	size_t n = 0;
	int status, r;

	if (!copy)
		return rain_error_oom();
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (strv_add(&argv, &n, w) < 0) {
			strv_free(argv, n);
			return rain_error_oom();
		}
	r = target_slurm_run(op->site, (const char *const *)argv, RELOAD_TIMEOUT_S, op->cancel, &out, &status);
	if (r >= 0 && status != 0)
		r = rain_error_set(RAIN_EIO, "site %s: reload (%s) failed with exit status %d: %s", op->site->name,
				   v ? v : "scontrol reconfigure", status, target_slurm_last_line(out));
	strv_free(argv, n);
	return r;
}

/* The nodes (sinfo) that offer feature (avail) or have it active, as a
 * new array each. */
static int nodes_with(struct rain_target_op *op, const char *feature, json_t **avail, json_t **active)
{
	const char *argv[] = { "sinfo", "-h", "-N", "-o", "%N %f %b", NULL };
	_cleanup_free_ char *out = NULL;
	_cleanup_json_ json_t *av = json_array(), *ac = json_array();
	char *save = NULL;
	int status, r;

	*avail = *active = NULL;
	if (!av || !ac)
		return rain_error_oom();
	r = target_slurm_run(op->site, argv, SLURM_TIMEOUT_S, op->cancel, &out, &status);
	if (r < 0)
		return r;
	if (status != 0)
		return rain_error_set(RAIN_EIO, "site %s: sinfo failed with exit status %d: %s", op->site->name,
				      status, target_slurm_last_line(out));
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char node[256], f[4096], b[4096];

		if (sscanf(l, "%255s %4095s %4095s", node, f, b) != 3)
			continue;
		for (int k = 0; k < 2; k++) {
			char *list = k ? b : f, *s2 = NULL;
			json_t *to = k ? ac : av;

			for (char *w = strtok_r(list, ",", &s2); w; w = strtok_r(NULL, ",", &s2))
				if (!strcmp(w, feature)) {
					bool seen = false;
					size_t i;
					json_t *x;

					json_array_foreach(to, i, x)
						seen |= !strcmp(json_string_value(x), node);
					if (!seen && json_array_append_new(to, json_string(node)) < 0)
						return rain_error_oom();
				}
		}
	}
	*avail = TAKE_PTR(av);
	*active = TAKE_PTR(ac);
	return 0;
}

/* ---- publish, unpublish, status ---- */

static int feature_dir(struct rain_target_op *op, const char *feature, char **out)
{
	const char *dir, *url;
	int r;

	*out = NULL;
	if ((r = target_publish_settings(op->site, &dir, &url)) < 0)
		return r;
	return (*out = fs_path_join(dir, feature)) ? 0 : rain_error_oom();
}

static int write_cmdline(struct rain_target_op *op, const char *feature, const char *dir, const char *sha)
{
	const char *base, *url;
	const char *args = rain_site_get(op->site, "kernel_args") ?: DEFAULT_ARGS;
	_cleanup_free_ char *text = NULL, *path = fs_path_join(dir, "cmdline");
	size_t n;
	int r;

	if (!path)
		return rain_error_oom();
	if ((r = target_publish_settings(op->site, &base, &url)) < 0)
		return r;
	n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	if (asprintf(&text, "%s rain.root=%.*s/%s/root.squashfs rain.sha256=%s\n", args, (int)n, url, feature,
		     sha) < 0)
		return rain_error_oom();
	return fs_write_atomic(path, text, strlen(text), 0644);
}

static int wait_feature(struct rain_target_op *op, const char *feature, json_t **avail)
{
	int64_t wait;
	time_t end;
	int r;

	*avail = NULL;
	if ((r = target_slurm_seconds(op->site, "feature_wait", FEATURE_WAIT_DEFAULT, &wait)) < 0)
		return r;
	if (!wait)
		return 0;
	end = time(NULL) + wait;
	for (;;) {
		_cleanup_json_ json_t *av = NULL, *ac = NULL;

		if ((r = nodes_with(op, feature, &av, &ac)) < 0)
			return r;
		if (json_array_size(av)) {
			*avail = TAKE_PTR(av);
			return 0;
		}
		if (time(NULL) >= end)
			return rain_error_set(RAIN_ETIMEDOUT, "site %s: no node offers feature %s %lld s after the "
					      "reload: check that the nodes' slurmd read %s (Slurm 22.05's "
					      "slurmd reads it when it starts: the site's reload must restart "
					      "them)", op->site->name, feature, (long long)wait,
					      helpers_conf(op->site));
		if ((r = rain_target_check_cancel(op)) < 0)
			return r;
		usleep(500 * 1000);
	}
}

static int publish(struct rain_target_op *op, const struct rain_target_image *img,
		   const struct rain_target_artifacts *a)
{
	_cleanup_free_ char *feature = NULL, *dir = NULL, *line = NULL;
	_cleanup_json_ json_t *avail = NULL, *show = NULL;
	bool changed;
	int r;

	(void)img;
	if ((r = target_slurm_feature(op->site, op->reg_id, &feature)) < 0 ||
	    (r = feature_dir(op, feature, &dir)) < 0)
		return r;
	if (asprintf(&line, "Feature=%s Helper=%s", feature, rain_site_get(op->site, "helper")) < 0)
		return rain_error_oom();
	if ((r = rain_target_state_set(op, "feature", json_string(feature))) < 0 ||
	    (r = rain_target_state_set(op, "dir", json_string(dir))) < 0)
		return r;
	if ((r = target_place_boot_files(op, a, dir, "slurm")) < 0 || (r = write_cmdline(op, feature, dir, a->rootfs_sha256)) < 0)
		return r;
	rain_target_log(op, RAIN_TARGET_INFO, "published %s (root sha256 %s)", dir, a->rootfs_sha256);

	if ((r = rain_target_state_set(op, "helpers_conf", json_pack("{s:s,s:s}", "path",
			helpers_conf(op->site), "line", line))) < 0)
		return r;
	if ((r = helpers_edit(op, line, true, &changed)) < 0)
		return r;
	rain_target_log(op, RAIN_TARGET_INFO, "%s: %s", helpers_conf(op->site), line);
	if ((r = reload(op)) < 0 || (r = wait_feature(op, feature, &avail)) < 0)
		return r;
	if (avail) {
		_cleanup_free_ char *list = json_dumps(avail, JSON_COMPACT);

		rain_target_log(op, RAIN_TARGET_INFO, "nodes offering %s: %s", feature, list ? list : "?");
	}
	show = json_pack("{s:s,s:s,s:s,s:O?}", "feature", feature, "dir", dir, "root_sha256",
			 a->rootfs_sha256, "nodes", avail);
	if (!show)
		return rain_error_oom();
	return rain_target_state_set(op, "show", TAKE_PTR(show));
}

static int unpublish(struct rain_target_op *op)
{
	json_t *hc = json_object_get(op->state, "helpers_conf");
	const char *dirv = json_string_value(json_object_get(op->state, "dir"));
	_cleanup_free_ char *feature = NULL, *dir = NULL, *line = NULL;
	bool changed = false;
	int r;

	if ((r = target_slurm_feature(op->site, op->reg_id, &feature)) < 0 ||
	    (r = feature_dir(op, feature, &dir)) < 0)
		return r;
	if (hc) {
		const char *path = json_string_value(json_object_get(hc, "path"));

		if (asprintf(&line, "Feature=%s Helper=%s", feature, rain_site_get(op->site, "helper")) < 0)
			return rain_error_oom();
		if (!path || strcmp(path, helpers_conf(op->site)))
			return rain_error_set(RAIN_EINVAL, "slurm: the state names helpers.conf '%s', not %s: "
					      "left alone", path ? path : "?", helpers_conf(op->site));
		if ((r = helpers_edit(op, line, false, &changed)) < 0)
			return r;
		if (changed) {
			rain_target_log(op, RAIN_TARGET_INFO, "removed %s from %s", feature, path);
			if ((r = reload(op)) < 0)
				return r;
		}
		if ((r = rain_target_state_set(op, "helpers_conf", NULL)) < 0)
			return r;
	}
	if (dirv) {
		if (strcmp(dirv, dir))
			return rain_error_set(RAIN_EINVAL, "slurm: the state names '%s', not %s: left alone",
					      dirv, dir);
		if ((r = target_files_remove(dir, files)) < 0)
			return r;
		rain_target_log(op, RAIN_TARGET_INFO, "removed %s", dir);
		if ((r = rain_target_state_set(op, "dir", NULL)) < 0)
			return r;
	}
	if ((r = rain_target_state_set(op, "feature", NULL)) < 0)
		return r;
	return rain_target_state_set(op, "show", NULL);
}

static int status(struct rain_target_op *op, json_t **out)
{
	_cleanup_free_ char *feature = NULL, *dir = NULL, *line = NULL, *text = NULL;
	_cleanup_json_ json_t *av = NULL, *ac = NULL;
	size_t have = 0, len;
	bool listed;
	int r;

	*out = NULL;
	if ((r = target_slurm_feature(op->site, op->reg_id, &feature)) < 0 ||
	    (r = feature_dir(op, feature, &dir)) < 0)
		return r;
	if ((r = target_files_present(dir, files, &have)) < 0)
		return r;
	if (asprintf(&line, "Feature=%s Helper=%s", feature, rain_site_get(op->site, "helper")) < 0)
		return rain_error_oom();
	listed = fs_read_small(helpers_conf(op->site), HELPERS_MAX, &text, &len) >= 0 && has_line(text, line);
	/* what Slurm says is worth showing, but the files are the answer */
	if (nodes_with(op, feature, &av, &ac) < 0) {
		av = json_null();
		ac = json_null();
	}
	*out = json_pack("{s:b,s:s,s:s,s:i,s:b,s:O,s:O}", "present", have == 4 && listed, "feature", feature,
			 "dir", dir, "files", (int)have, "in_helpers_conf", listed, "nodes_offering", av,
			 "nodes_active", ac);
	return *out ? 0 : rain_error_oom();
}

static const struct rain_target_driver slurm = {
	.version = RAIN_TARGET_DRIVER_VERSION,
	.scheme = "slurm",
	.usage = "slurm:CLUSTER (nodes reimaged per job: node_features/helpers)",
	.check = check,
	.accepts = accepts,
	.adapt = target_netboot_adapt,
	.publish = publish,
	.unpublish = unpublish,
	.status = status,
};

const struct rain_driver rain_target_driver_slurm = { "target", "slurm", "slurm:CLUSTER", &slurm };
