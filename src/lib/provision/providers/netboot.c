/* The netboot provider (rain/sys/provider.h): runs on the bare-metal
 * nodes of a netboot site (src/lib/target/drivers/netboot.c), booted
 * diskless from a registration's kernel, initramfs and root squashfs.
 *
 * up takes op->n free nodes of the site, in the order the site lists
 * them. A node is claimed by creating DIR/claims/NAME (O_EXCL, the run's
 * id in it); one another run holds is not free. Each claim is named in
 * the state ("claims") before it is made. A claimed node becomes an
 * instance, named in the state before anything is done to it; then its
 * iPXE script DIR/ipxe/MAC.ipxe is replaced by one that boots the
 * registration with the run's public key on the kernel command line
 * (rain_netboot_key_arg; rain's initramfs adds it to root's
 * authorized_keys) and a "# rain run RUNID" line, the script it replaces
 * kept in the instance ("ipxe_before"), and the node is powered on
 * (the site's power_on). Nodes are reached by ssh as root at the site's
 * `ssh` address of each; the site's `console` log of each is shown when
 * one does not come up.
 *
 * down powers each instance's node off (power_off), puts its script back
 * (the one it replaced, or none) when the script there is still the
 * run's, and releases the claims that hold the run's id. Paths are never
 * taken from the state: they are made from the site's folder and the
 * node names the site lists. A node whose power_off fails keeps its claim
 * and its place in the state (down can be run again).
 *
 * alive asks power_status when the site has one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/provision/provision-internal.h"
#include "rain/error.h"
#include "rain/netboot.h"
#include "rain/sys/provider.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"

/* how long a power program may take (ipmitool against a BMC that does
 * not answer waits for long) */
#define POWER_TIMEOUT_S 120

static const struct rain_netboot_node *node_find(const struct rain_netboot_node *nodes, size_t n,
						 const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (!strcmp(nodes[i].name, name))
			return &nodes[i];
	return NULL;
}

static int path_of(const struct rain_run_op *op, const char *sub, const char *name, const char *ext,
		   char **out)
{
	if (asprintf(out, "%s/%s%s%s%s", op->site->location, sub, name ? "/" : "", name ? name : "",
		     ext ? ext : "") < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}

/* ---- the power programs ---- */

struct power_out {
	char last[512];
};

static void power_line(void *ud, const char *line)
{
	struct power_out *o = ud;

	if (*line)
		snprintf(o->last, sizeof(o->last), "%s", line);
}

/* Run the site's program key for node: 0 with its exit status in
 * *status; an error when it cannot run. */
static int power_run(struct rain_run_op *op, const char *key, const struct rain_netboot_node *node,
		     volatile sig_atomic_t *cancel, int *status, char last[512])
{
	struct power_out o = { "" };
	char **argv = NULL;
	size_t argc = 0;
	int r;

	last[0] = '\0';
	r = rain_netboot_command(key, rain_site_get(op->site, key), node, &argv, &argc);
	if (r < 0)
		return rain_error_set(r, "site %s: %s", op->site->name, rain_error_last());
	{
		struct process_opts po = { .argv = (const char *const *)argv, .stdin_fd = -1,
					   .timeout_s = POWER_TIMEOUT_S, .cancel = cancel,
					   .on_line = power_line, .ud = &o, .end_with_program = true };

		r = process_run(&po, status);
	}
	strv_free(argv, argc);
	snprintf(last, 512, "%s", o.last);
	if (r < 0)
		return rain_error_set(r, "site %s: %s of node %s: %s", op->site->name, key, node->name,
				      rain_error_last());
	return 0;
}

/* power_on or power_off, which must exit 0. */
static int power(struct rain_run_op *op, const char *key, const struct rain_netboot_node *node,
		 volatile sig_atomic_t *cancel)
{
	char last[512];
	int status, r;

	if ((r = power_run(op, key, node, cancel, &status, last)) < 0)
		return r;
	if (status != 0)
		return rain_error_set(RAIN_EIO, "site %s: %s of node %s exited with %d%s%s", op->site->name,
				      key, node->name, status, last[0] ? ": " : "", last);
	return 0;
}

/* ---- claims ---- */

static int claims_set(struct rain_run_op *op, const char *name, bool add)
{
	json_t *old = json_object_get(op->state, "claims");
	_cleanup_json_ json_t *a = old ? json_deep_copy(old) : json_array();
	size_t i;
	json_t *v;

	if (!a)
		return rain_error_oom();
	json_array_foreach(a, i, v)
		if (!strcmp(json_string_value(v) ?: "", name)) {
			if (add)
				return 0;
			json_array_remove(a, i);
			return rain_run_state_set(op, "claims", TAKE_PTR(a));
		}
	if (!add)
		return 0;
	if (json_array_append_new(a, json_string(name)) < 0)
		return rain_error_oom();
	return rain_run_state_set(op, "claims", TAKE_PTR(a));
}

/* The run holding the claim at path (a new string), or NULL. */
static char *claim_holder(const char *path)
{
	char *data = NULL;
	size_t len;

	if (fs_read_small(path, 4096, &data, &len) < 0)
		return NULL;
	data[strcspn(data, "\n")] = '\0';
	return data;
}

/* 1 when node was claimed for the run, 0 when another run holds it. */
static int claim(struct rain_run_op *op, const struct rain_netboot_node *node)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *line = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if ((r = path_of(op, "claims", NULL, NULL, &dir)) < 0 ||
	    (r = path_of(op, "claims", node->name, NULL, &path)) < 0)
		return r;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return rain_error_errno(RAIN_EIO, errno, "netboot: cannot make %s", dir);
	if ((r = claims_set(op, node->name, true)) < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST) {
		_cleanup_free_ char *holder = claim_holder(path);

		rain_run_log(op, RAIN_TARGET_INFO, "node %s is taken (by run %s)", node->name,
			     holder ? holder : "?");
		return (r = claims_set(op, node->name, false)) < 0 ? r : 0;
	}
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "netboot: cannot claim node %s (%s)", node->name, path);
	if (asprintf(&line, "%s\n", op->run_id) < 0)
		return rain_error_oom();
	if ((r = fs_write_all(fd, line, strlen(line), path)) < 0)
		return r;
	return 1;
}

/* Remove node's claim when it holds the run's id. */
static int unclaim(struct rain_run_op *op, const char *name)
{
	_cleanup_free_ char *path = NULL, *holder = NULL;
	int r;

	if ((r = path_of(op, "claims", name, NULL, &path)) < 0)
		return r;
	holder = claim_holder(path);
	if (!holder || strcmp(holder, op->run_id))
		return 0;
	if (unlink(path) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "netboot: cannot release node %s (%s)", name, path);
	return 0;
}

/* ---- the node's iPXE script ---- */

static int url_of(const struct rain_run_op *op, const char *reg, const char *name, char **out)
{
	const char *base = rain_site_get(op->site, "url");
	size_t n = strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	if (asprintf(out, "%.*s/%s/%s", (int)n, base, reg, name) < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}

/* The registration's id and root sha256 (borrowed from op->registration),
 * after checking that its files are in the site's folder. */
static int registration(struct rain_run_op *op, const char **reg, const char **sha)
{
	const char *dir = json_string_value(json_object_get(op->registration, "dir"));
	json_t *show = json_object_get(op->registration, "show");
	const char *base = dir ? strrchr(dir, '/') : NULL;
	size_t loc = strlen(op->site->location);

	*reg = NULL;
	*sha = json_string_value(json_object_get(show, "root_sha256"));
	if (!base || !*sha || strncmp(dir, op->site->location, loc) || dir + loc != base ||
	    !fs_name_is_safe(base + 1))
		return rain_error_set(RAIN_EINVAL, "the registration's state names no published netboot "
				      "image in %s (register the image at site %s first)", op->site->location,
				      op->site->name);
	*reg = base + 1;
	for (const char *const *f = (const char *const[]){ "vmlinuz", "initramfs", "root.squashfs", NULL }; *f; f++) {
		_cleanup_free_ char *path = NULL;
		int r;

		if ((r = path_of(op, *reg, *f, NULL, &path)) < 0)
			return r;
		if (access(path, R_OK) < 0)
			return rain_error_set(RAIN_ENOTFOUND, "registration %s is no longer at site %s (no %s): "
					      "register the image again", *reg, op->site->name, path);
	}
	return 0;
}

/* The run's script for node: the registration's with the key argument,
 * marked with the run's id. */
static int run_script(struct rain_run_op *op, const char *reg, const char *sha, const char *keyarg,
		      const struct rain_netboot_node *node, char **out)
{
	const char *site_args = rain_site_get(op->site, "kernel_args") ?: RAIN_NETBOOT_DEFAULT_ARGS;
	_cleanup_free_ char *k = NULL, *i = NULL, *root = NULL, *args = NULL, *script = NULL;
	const char *second;
	int r;

	*out = NULL;
	if ((r = url_of(op, reg, "vmlinuz", &k)) < 0 || (r = url_of(op, reg, "initramfs", &i)) < 0 ||
	    (r = url_of(op, reg, "root.squashfs", &root)) < 0)
		return r;
	if (asprintf(&args, "%s%s%s", site_args, *site_args ? " " : "", keyarg) < 0)
		return rain_error_oom();
	if ((r = rain_netboot_ipxe_script(reg, node->mac, k, i, root, sha, args, &script)) < 0)
		return r;
	/* after "#!ipxe" and the registration's line */
	second = strchr(strchr(script, '\n') + 1, '\n') + 1;
	if (asprintf(out, "%.*s# rain run %s\n%s", (int)(second - script), script, op->run_id, second) < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}

static bool script_is_runs(const char *script, const char *run_id)
{
	_cleanup_free_ char *mark = NULL;

	if (asprintf(&mark, "\n# rain run %s\n", run_id) < 0)
		return false;
	return strstr(script, mark) != NULL;
}

/* Put node's script back as it was before the run, when the one there is
 * still the run's. */
static int script_restore(struct rain_run_op *op, const struct rain_netboot_node *node, json_t *inst)
{
	_cleanup_free_ char *path = NULL, *now = NULL;
	const char *before = json_string_value(json_object_get(inst, "ipxe_before"));
	size_t len;
	int r;

	if ((r = path_of(op, "ipxe", node->mac, ".ipxe", &path)) < 0)
		return r;
	if (fs_read_small(path, 65536, &now, &len) < 0 || !script_is_runs(now, op->run_id))
		return 0;
	if (before)
		return fs_write_atomic(path, before, strlen(before), 0644);
	if (unlink(path) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "netboot: cannot remove %s", path);
	return 0;
}

/* ---- the provider ---- */

static int site_nodes(struct rain_run_op *op, const struct rain_netboot_node **nodes, size_t *n)
{
	return rain_netboot_site_nodes(op->site, nodes, n);
}

/* Make instance k (1-based) of node: named in the state, its script
 * written, powered on. */
static int start(struct rain_run_op *op, const struct rain_netboot_node *node, int k, const char *reg,
		 const char *sha, const char *keyarg)
{
	_cleanup_free_ char *name = NULL, *dir = NULL, *path = NULL, *before = NULL, *script = NULL,
			    *console = NULL;
	char host[RAIN_NETBOOT_HOST_MAX + 1];
	const struct rain_netboot_node *nodes;
	json_t *inst;
	size_t n, len;
	int port, r;

	if ((r = site_nodes(op, &nodes, &n)) < 0)
		return r;
	if ((r = rain_netboot_ssh_addr(rain_site_get(op->site, "ssh"), nodes, n, node->name, host, &port)) < 0)
		return r;
	if (asprintf(&name, "rain-%s-%d", op->run_id, k) < 0)
		return rain_error_oom();
	if ((r = path_of(op, "ipxe", node->mac, ".ipxe", &path)) < 0)
		return r;
	if ((r = fs_read_small(path, 65536, &before, &len)) < 0 && r != RAIN_ENOTFOUND)
		return r;
	if ((r = run_script(op, reg, sha, keyarg, node, &script)) < 0)
		return r;
	if (rain_site_get(op->site, "console") &&
	    (r = rain_netboot_console_path(rain_site_get(op->site, "console"), node, &console)) < 0)
		return r;
	inst = json_pack("{s:s,s:s,s:s,s:{s:s,s:i,s:s}}", "name", name, "node", node->name, "mac", node->mac,
			 "ssh", "host", host, "port", port, "user", "root");
	if (!inst || (before && json_object_set_new(inst, "ipxe_before", json_string(before)) < 0) ||
	    (console && json_object_set_new(inst, "console", json_string(console)) < 0)) {
		json_decref(inst);
		return rain_error_oom();
	}
	if ((r = rain_run_instance_add(op, inst)) < 0)
		return r;
	if ((r = path_of(op, "ipxe", NULL, NULL, &dir)) < 0 || (r = fs_mkdir_p(dir, 0755)) < 0 ||
	    (r = fs_write_atomic(path, script, strlen(script), 0644)) < 0)
		return r;
	if ((r = power(op, "power_on", node, op->cancel)) < 0)
		return r;
	rain_run_log(op, RAIN_TARGET_INFO, "%s: node %s (%s) powered on, booting registration %s", name,
		     node->name, node->mac, reg);
	return 0;
}

static int up(struct rain_run_op *op)
{
	const struct rain_netboot_node *nodes;
	_cleanup_free_ char *keyarg = NULL;
	_cleanup_free_ bool *mine = NULL;
	const char *reg = NULL, *sha = NULL;
	size_t n;
	int got = 0, r;

	if ((r = site_nodes(op, &nodes, &n)) < 0)
		return r;
	if (!rain_site_get(op->site, "power_on") || !rain_site_get(op->site, "power_off"))
		return rain_error_set(RAIN_EINVAL, "site %s: runs need power_on and power_off (how rain powers "
				      "a node on and off: rain-site(5))", op->site->name);
	/* it goes into file names and a line of each node's iPXE script */
	if (!op->run_id || !fs_name_is_safe(op->run_id) || strpbrk(op->run_id, " \t"))
		return rain_error_set(RAIN_EINVAL, "netboot: the run's id '%s' is not a name (no blanks, no "
				      "'/')", op->run_id ? op->run_id : "");
	if ((size_t)op->n > n)
		return rain_error_set(RAIN_EINVAL, "site %s has %zu node%s, not the %d the run asks for",
				      op->site->name, n, n == 1 ? "" : "s", op->n);
	if ((r = registration(op, &reg, &sha)) < 0 || (r = rain_netboot_key_arg(op->key_public, &keyarg)) < 0)
		return r;
	if (!(mine = calloc(n, sizeof(*mine))))
		return rain_error_oom();
	/* claims first: no node is touched unless the run has all it asked for */
	for (size_t i = 0; i < n && got < op->n; i++) {
		if ((r = rain_run_check_cancel(op)) < 0 || (r = claim(op, &nodes[i])) < 0)
			return r;
		mine[i] = r;
		got += r;
	}
	if (got < op->n)
		return rain_error_set(RAIN_ECONFLICT, "site %s: %d of its %zu nodes are free, the run asks for %d "
				      "(the others are claimed by runs in %s/claims)", op->site->name, got, n, op->n,
				      op->site->location);
	for (size_t i = 0, k = 0; i < n; i++)
		if (mine[i] && ((r = rain_run_check_cancel(op)) < 0 ||
				(r = start(op, &nodes[i], (int)++k, reg, sha, keyarg)) < 0))
			return r;
	return 0;
}

static int down(struct rain_run_op *op)
{
	const struct rain_netboot_node *nodes;
	json_t *list = json_object_get(op->state, "instances"), *inst, *claims, *v;
	_cleanup_free_ char *dir = NULL, *failed = NULL;
	size_t n, i;
	int r, first = 0;

	if ((r = site_nodes(op, &nodes, &n)) < 0)
		return r;
	json_array_foreach(list, i, inst) {
		const char *name = json_string_value(json_object_get(inst, "node"));
		const struct rain_netboot_node *node = node_find(nodes, n, name);

		if (!node) {
			rain_run_log(op, RAIN_TARGET_WARN, "node '%s' is not one of site %s's nodes: left alone",
				     name ? name : "?", op->site->name);
			continue;
		}
		/* not canceled by the interrupt that ended the run */
		r = power(op, "power_off", node, NULL);
		/* a node that may still run the image keeps its claim */
		if (r >= 0)
			r = script_restore(op, node, inst);
		if (r >= 0)
			r = unclaim(op, node->name);
		if (r < 0) {
			rain_run_log(op, RAIN_TARGET_WARN, "%s", rain_error_last());
			if (!first) {
				first = r;
				failed = strdup(rain_error_last());
			}
			continue;
		}
		rain_run_log(op, RAIN_TARGET_INFO, "node %s powered off and released", node->name);
	}
	if (first < 0)
		return rain_error_set(first, "%s", failed ? failed : "a node was not released");
	/* claims made before their instance was named */
	claims = json_object_get(op->state, "claims");
	json_array_foreach(claims, i, v)
		if (node_find(nodes, n, json_string_value(v)) && (r = unclaim(op, json_string_value(v))) < 0)
			return r;
	if ((r = rain_run_state_set(op, "claims", NULL)) < 0)
		return r;
	if ((r = path_of(op, "claims", NULL, NULL, &dir)) < 0)
		return r;
	if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
		return rain_error_errno(RAIN_EIO, errno, "netboot: cannot remove %s", dir);
	return 0;
}

static int alive(struct rain_run_op *op, size_t i)
{
	const struct rain_netboot_node *nodes, *node;
	const char *name = json_string_value(json_object_get(rain_run_instance(op, i), "node"));
	char last[512];
	size_t n;
	int status, r;

	if (!rain_site_get(op->site, "power_status"))
		return 0;
	if ((r = site_nodes(op, &nodes, &n)) < 0)
		return r;
	if (!(node = node_find(nodes, n, name)))
		return rain_error_set(RAIN_EIO, "instance %zu names no node of site %s", i, op->site->name);
	if ((r = power_run(op, "power_status", node, op->cancel, &status, last)) < 0)
		return r;
	if (status != 0)
		return rain_error_set(RAIN_EIO, "node %s is off (power_status exited with %d%s%s)", node->name,
				      status, last[0] ? ": " : "", last);
	return 0;
}

static const struct rain_provider_driver netboot = {
	.version = RAIN_PROVIDER_DRIVER_VERSION,
	.scheme = "netboot",
	.up = up,
	.alive = alive,
	.down = down,
};

const struct rain_driver rain_provider_driver_netboot = { "provider", "netboot", "netboot:DIR", &netboot };
