/* The netboot site driver (rain/sys/target.h): bare metal the Warewulf
 * or xCAT way, with no other service than raind and the site's own DHCP.
 *
 *   [site.NAME]
 *   uri = netboot:DIR          where the published files live (absolute);
 *                              raind serves DIR as /netboot/NAME/
 *   url = http://HOST:PORT/netboot/NAME
 *                              the same files as nodes fetch them
 *   nodes = NAME=MAC ...       the nodes (blank or comma separated), or
 *   node = NAME MAC            one per line, repeated
 *   kernel_args = ...          the kernel command line's own part
 *                              (default: console=tty0 console=ttyS0,115200n8)
 *   modules = NAME ...         more kernel modules the nodes need in the
 *                              initramfs (a NIC driver; default: virtio,
 *                              common Intel/Broadcom/Mellanox/Realtek NICs
 *                              when the kernel has them)
 *   compressor = zstd          the root squashfs's (tar2sqfs -c)
 *
 * and for runs on the nodes (the netboot provider,
 * src/lib/provision/providers/netboot.c; rain/netboot.h checks them):
 *   power_on = PROGRAM ARGS... a node's power programs (ipmitool ...),
 *   power_off = PROGRAM ARGS...  argument vectors with %n the node's name,
 *   power_status = ...         %m its MAC; status exits 0 when it is on
 *   ssh = NAME=HOST[:PORT] ... where each node's sshd is reached (default:
 *                              the node's name, port 22)
 *   console = PATH             a node's serial console log (%n, %m), shown
 *                              when a node does not come up
 *
 * adapt copies the image's kernel out and makes an initramfs and the root
 * squashfs (rain/netboot.h). publish puts them in DIR/REGID/ (vmlinuz,
 * initramfs, root.squashfs), writes each node's iPXE script
 * DIR/ipxe/MAC.ipxe (replacing the one of an earlier registration: a node
 * boots the newest), DIR/boot.ipxe (what iPXE chains to: the node's script
 * by its MAC) and DIR/dnsmasq.conf (DHCP and TFTP for the site's network),
 * each replaced atomically. unpublish removes DIR/REGID and the scripts
 * that still name this registration; the site files go with the last
 * script.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/target/target-internal.h"
#include "rain/adapt.h"
#include "rain/error.h"
#include "rain/imgfs.h"
#include "rain/netboot.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* where Debian's ipxe package keeps the BIOS PXE loader that dnsmasq
 * hands out over TFTP */
#define UNDIONLY "/usr/lib/ipxe/undionly.kpxe"

static const char *const files[] = { "vmlinuz", "initramfs", "root.squashfs", NULL };

struct site {
	struct rain_netboot_node *nodes;
	size_t n;
};

static void site_free(struct rain_site *s)
{
	struct site *p = s->priv;

	if (!p)
		return;
	free(p->nodes);
	free(p);
	s->priv = NULL;
}

static int node_add(struct rain_site *s, struct site *p, const char *name, const char *mac)
{
	struct rain_netboot_node *n;
	size_t nl = strlen(name);
	int r;

	if (!nl || nl >= sizeof(n->name) || name[0] == '-' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != nl)
		return rain_error_set(RAIN_EINVAL, "site %s: nodes: '%s' is not a host name (1-63 letters, "
				      "digits, '-')", s->name, name);
	if (ARRAY_GROW1(p->nodes, p->n) < 0)
		return rain_error_oom();
	n = &p->nodes[p->n];
	memcpy(n->name, name, nl + 1);
	if ((r = rain_netboot_mac_norm(mac, n->mac)) < 0)
		return rain_error_set(r, "site %s: node %s: %s", s->name, name, rain_error_last());
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->nodes[i].mac, n->mac) || !strcmp(p->nodes[i].name, n->name))
			return rain_error_set(RAIN_EINVAL, "site %s: nodes: %s (%s) is listed twice", s->name,
					      name, n->mac);
	p->n++;
	return 0;
}

/* fn on each word of setting key, split on seps. */
static int each_word(struct rain_site *s, const char *key, const char *seps,
		     int (*fn)(struct rain_site *s, char *w))
{
	const char *v = rain_site_get(s, key);
	_cleanup_free_ char *copy = v ? strdup(v) : NULL;
	char *save = NULL;
	int r;

	if (v && !copy)
		return rain_error_oom();
	for (char *w = copy ? strtok_r(copy, seps, &save) : NULL; w; w = strtok_r(NULL, seps, &save))
		if ((r = fn(s, w)) < 0)
			return r;
	return 0;
}

static int node_word(struct rain_site *s, char *w)
{
	char *eq = strchr(w, '=');

	if (!eq)
		return rain_error_set(RAIN_EINVAL, "site %s: nodes: '%s' is not NAME=MAC", s->name, w);
	*eq = '\0';
	return node_add(s, s->priv, w, eq + 1);
}

static int node_line(struct rain_site *s, char *line)
{
	char name[64], mac[32], extra[2];

	if (sscanf(line, "%63s %31s %1s", name, mac, extra) != 2)
		return rain_error_set(RAIN_EINVAL, "site %s: node: '%s' is not 'NAME MAC'", s->name, line);
	return node_add(s, s->priv, name, mac);
}

static int module_word(struct rain_site *s, char *w)
{
	if (!fs_name_is_safe(w) || strlen(w) > 64)
		return rain_error_set(RAIN_EINVAL, "site %s: modules: '%s' is not a module name", s->name, w);
	return 0;
}

static int check(struct rain_site *s)
{
	static const char *const keys[] = { "uri", "policy", "kernels", "users", "url", "nodes", "node",
					    "kernel_args", "modules", "compressor", "power_on", "power_off",
					    "power_status", "ssh", "console", NULL };
	static const char *const programs[] = { "power_on", "power_off", "power_status", NULL };
	static const char *const compressors[] = { "gzip", "lzma", "lzo", "xz", "lz4", "zstd", NULL };
	struct site *p;
	const char *key, *v;
	json_t *val;
	int r;

	json_object_foreach(s->settings, key, val)
		if (!str_in_list(keys, key))
			return rain_error_set(RAIN_EINVAL, "site %s: unknown setting '%s' for a netboot site "
					      "(known: url, nodes, node, kernel_args, modules, compressor, "
					      "power_on, power_off, power_status, ssh, console)",
					      s->name, key);
	if (s->location[0] != '/' || strstr(s->location, "/../") || str_has_suffix(s->location, "/..") ||
	    !str_is_printable(s->location, 4000))
		return rain_error_set(RAIN_EINVAL, "site %s: uri: netboot:DIR needs an absolute folder, got "
				      "'%s'", s->name, s->location);
	v = rain_site_get(s, "url");
	if (!v || !(str_has_prefix(v, "http://") || str_has_prefix(v, "https://")) ||
	    !str_is_printable(v, 2000) || strchr(v, ' '))
		return rain_error_set(RAIN_EINVAL, "site %s: url: the base URL nodes fetch from is needed "
				      "(http://HOST:PORT/netboot/%s, as raind serves the folder)", s->name, s->name);
	v = rain_site_get(s, "kernel_args");
	if (v && !str_is_printable(v, 2000))
		return rain_error_set(RAIN_EINVAL, "site %s: kernel_args: one line of printable text", s->name);
	v = rain_site_get(s, "compressor");
	if (v && !str_in_list(compressors, v))
		return rain_error_set(RAIN_EINVAL, "site %s: compressor: '%s' is none of gzip, lzma, lzo, xz, "
				      "lz4, zstd", s->name, v);

	if (!(p = calloc(1, sizeof(*p))))
		return rain_error_oom();
	s->priv = p;
	if ((r = each_word(s, "nodes", " \t\n,", node_word)) < 0 ||
	    (r = each_word(s, "node", "\n", node_line)) < 0 ||
	    (r = each_word(s, "modules", " \t\n,", module_word)) < 0)
		return r;
	if (!p->n)
		return rain_error_set(RAIN_EINVAL, "site %s: no nodes: list them (nodes = NAME=MAC ... or "
				      "node = NAME MAC, repeated)", s->name);
	for (size_t i = 0; programs[i]; i++)
		if ((v = rain_site_get(s, programs[i])) &&
		    (r = rain_netboot_command(programs[i], v, NULL, NULL, NULL)) < 0)
			return rain_error_set(r, "site %s: %s", s->name, rain_error_last());
	if (!rain_site_get(s, "power_on") != !rain_site_get(s, "power_off"))
		return rain_error_set(RAIN_EINVAL, "site %s: power_on and power_off go together (runs power "
				      "nodes on and off again)", s->name);
	if ((r = rain_netboot_ssh_addr(rain_site_get(s, "ssh"), p->nodes, p->n, NULL, NULL, NULL)) < 0)
		return rain_error_set(r, "site %s: %s", s->name, rain_error_last());
	if ((v = rain_site_get(s, "console"))) {
		_cleanup_free_ char *path = NULL;

		if ((r = rain_netboot_console_path(v, &p->nodes[0], &path)) < 0)
			return rain_error_set(r, "site %s: %s", s->name, rain_error_last());
	}
	return 0;
}

int rain_netboot_site_nodes(const struct rain_site *s, const struct rain_netboot_node **nodes, size_t *n)
{
	const struct site *p = s->priv;

	*nodes = NULL;
	*n = 0;
	if (!s->driver || strcmp(s->driver->scheme, "netboot") || !p)
		return rain_error_set(RAIN_EINVAL, "site %s is no netboot site", s->name);
	*nodes = p->nodes;
	*n = p->n;
	return 0;
}

static int accepts(const struct rain_site *s, const struct rain_target_image *img)
{
	const char *arch = json_string_value(json_object_get(img->properties, "architecture"));

	/* the initramfs runs this host's busybox */
	if (arch && strcmp(arch, "x86_64") && strcmp(arch, "amd64"))
		return rain_error_set(RAIN_EINVAL, "site %s: netboot serves x86_64 nodes (its initramfs runs "
				      "this host's busybox); the image is %s", s->name, arch);
	return 0;
}

/* A diskless node has no root device: the image's fstab (the root by
 * label, swap, /boot) would have it wait for devices that never come, and
 * the root in RAM needs no remount. */
static const char netboot_fstab[] =
	"# The root is a read-only squashfs under a RAM overlay, fetched over the\n"
	"# network at boot (rain netboot): no local file systems.\n";

/* The modules nodes need: rain_netboot_modules_required and the site's
 * `modules` (checked by the netboot site; other sites have none). A new
 * NULL-terminated vector in *out (strv_free(*out, *n)). */
static int site_modules(const struct rain_site *site, char ***out, size_t *n)
{
	const char *v = rain_site_get(site, "modules");
	_cleanup_free_ char *copy = v ? strdup(v) : NULL;
	char *save = NULL;

	*out = NULL;
	*n = 0;
	if (v && !copy)
		return rain_error_oom();
	for (size_t i = 0; rain_netboot_modules_required[i]; i++)
		if (strv_add(out, n, rain_netboot_modules_required[i]) < 0)
			return rain_error_oom();
	for (char *w = copy ? strtok_r(copy, " \t\n,", &save) : NULL; w; w = strtok_r(NULL, " \t\n,", &save))
		if (strv_add(out, n, w) < 0)
			return rain_error_oom();
	if (ARRAY_GROW1(*out, *n) < 0)
		return rain_error_oom();
	(*out)[*n] = NULL;
	return 0;
}

int target_netboot_adapt(struct rain_target_op *op, const struct rain_target_image *img,
			 struct rain_target_artifacts *out)
{
	const struct rain_netboot_file extra[] = {
		{ "/etc/fstab", netboot_fstab, sizeof(netboot_fstab) - 1, 0644, NULL },
		{ "/etc/systemd/system/systemd-remount-fs.service", NULL, 0, 0, "/dev/null" },
	};
	struct rain_netboot_squashfs_opts so = { .compressor = rain_site_get(op->site, "compressor"),
						 .files = extra, .n_files = 2, .cancel = op->cancel };
	struct rain_netboot_squashfs_stats st;
	struct rain_imgfs *fs = NULL;
	char **modules = NULL;
	size_t nmod = 0, nin;
	int64_t size;
	char sha[65];
	int r;

	memset(out, 0, sizeof(*out));
	r = site_modules(op->site, &modules, &nmod);
	if (r >= 0) {
		/* no digest of the disk: it goes once the squashfs is made */
		const struct rain_adapt_opts ao = { .context = RAIN_ADAPT_FIRSTBOOT, .disk_format = "raw",
						    .boot_files = true, .no_disk_sha256 = true,
						    .modules = (const char *const *)modules };

		r = rain_adapt(op, img, &ao, out);
	}
	if (r < 0) {
		strv_free(modules, nmod);
		return r;
	}
	r = rain_imgfs_open(out->disk, "disk", NULL, &fs);
	if (r < 0)
		goto done;
	if (out->initramfs)
		unlink(out->initramfs);
	free(out->initramfs);
	free(out->cmdline);
	out->cmdline = NULL;
	if (!(out->initramfs = fs_path_join(op->workdir, "initramfs-netboot")) ||
	    !(out->rootfs = fs_path_join(op->workdir, "root.squashfs"))) {
		r = rain_error_oom();
		goto done;
	}
	{
		const struct rain_netboot_initramfs_opts io = { .modules = (const char *const *)modules };

		r = rain_netboot_initramfs(fs, out->kernel_version, &io, out->initramfs, &nin);
	}
	if (r < 0)
		goto done;
	rain_target_log(op, RAIN_TARGET_INFO, "initramfs for kernel %s with %zu modules", out->kernel_version,
			nin);
	r = rain_netboot_squashfs(fs, out->rootfs, &so, &st);
	if (r < 0)
		goto done;
	rain_target_log(op, RAIN_TARGET_INFO, "root squashfs: %llu entries, %llu MiB of files",
			(unsigned long long)st.entries, (unsigned long long)(st.bytes >> 20));
	if (st.sockets || st.xattrs_skipped)
		rain_target_log(op, RAIN_TARGET_WARN, "left out of the squashfs: %llu sockets, %llu extended "
				"attributes squashfs cannot hold (POSIX ACLs, system.*)",
				(unsigned long long)st.sockets, (unsigned long long)st.xattrs_skipped);
	r = fs_sha256_file(out->rootfs, sha, &size);
	if (r >= 0 && !(out->rootfs_sha256 = strdup(sha)))
		r = rain_error_oom();
done:
	rain_imgfs_close(fs);
	strv_free(modules, nmod);
	/* nodes boot the squashfs: the adapted disk is no use here */
	if (out->disk)
		unlink(out->disk);
	free(out->disk);
	free(out->disk_sha256);
	free(out->disk_format);
	out->disk = out->disk_sha256 = out->disk_format = NULL;
	out->disk_size = out->virtual_size = 0;
	if (r < 0) {
		const char *made[] = { out->kernel, out->initramfs, out->rootfs };

		for (size_t i = 0; i < 3; i++)
			if (made[i])
				unlink(made[i]);
		rain_target_artifacts_clear(out);
	}
	return r;
}

/* ---- publish ---- */

static int url_of(const struct rain_target_op *op, const char *rel, char **out)
{
	const char *base = rain_site_get(op->site, "url");
	size_t n = strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	return asprintf(out, "%.*s/%s", (int)n, base, rel) < 0 ? (*out = NULL, rain_error_oom()) : 0;
}

/* The URL of the registration's file name. */
static int reg_url(const struct rain_target_op *op, const char *name, char **out)
{
	_cleanup_free_ char *rel = NULL;

	if (asprintf(&rel, "%s/%s", op->reg_id, name) < 0)
		return rain_error_oom();
	return url_of(op, rel, out);
}

/* DIR/REGID: never anything but a folder named after the registration
 * right under the site's folder, and not one of the site's own. */
static int reg_dir(const struct rain_target_op *op, char **out)
{
	*out = NULL;
	if (op->reg_id && (!strcmp(op->reg_id, "ipxe") || !strcmp(op->reg_id, "tftp")))
		return rain_error_set(RAIN_EINVAL, "netboot: registration id '%s' cannot name a folder",
				      op->reg_id);
	return target_reg_dir(op, op->site->location, out);
}

static int state_add_string(struct rain_target_op *op, const char *key, const char *s)
{
	json_t *old = json_object_get(op->state, key);
	json_t *a = old ? json_deep_copy(old) : json_array();
	size_t i;
	json_t *v;

	if (!a)
		return rain_error_oom();
	json_array_foreach(a, i, v)
		if (!strcmp(json_string_value(v) ?: "", s)) {
			json_decref(a);
			return 0;
		}
	if (json_array_append_new(a, json_string(s)) < 0) {
		json_decref(a);
		return rain_error_oom();
	}
	return rain_target_state_set(op, key, a);
}

static int write_site_files(struct rain_target_op *op, const struct site *p)
{
	const char *dir = op->site->location;
	_cleanup_free_ char *boot_url = NULL, *ipxe_url = NULL, *boot = NULL, *conf = NULL,
			    *tftp = NULL, *path = NULL, *kpxe = NULL;
	int r;

	if ((r = url_of(op, "boot.ipxe", &boot_url)) < 0 || (r = url_of(op, "ipxe/", &ipxe_url)) < 0)
		return r;
	if (asprintf(&boot, "#!ipxe\n# rain netboot site %s: each node's own script, by its MAC\n"
		     "chain %s${netX/mac:hexhyp}\n", op->site->name, ipxe_url) < 0)
		return rain_error_oom();
	if (!(tftp = fs_path_join(dir, "tftp")))
		return rain_error_oom();
	if ((r = rain_netboot_dnsmasq_conf(op->site->name, p->nodes, p->n, boot_url, tftp, &conf)) < 0)
		return r;
	if ((r = state_add_string(op, "site_files", "boot.ipxe")) < 0 ||
	    (r = state_add_string(op, "site_files", "dnsmasq.conf")) < 0 ||
	    (r = state_add_string(op, "site_files", "tftp/undionly.kpxe")) < 0)
		return r;
	if (!(path = fs_path_join(dir, "boot.ipxe")))
		return rain_error_oom();
	if ((r = fs_write_atomic(path, boot, strlen(boot), 0644)) < 0)
		return r;
	free(path);
	if (!(path = fs_path_join(dir, "dnsmasq.conf")))
		return rain_error_oom();
	if ((r = fs_write_atomic(path, conf, strlen(conf), 0644)) < 0)
		return r;
	if ((r = fs_mkdir_p(tftp, 0755)) < 0)
		return r;
	if (access(UNDIONLY, R_OK) < 0) {
		rain_target_log(op, RAIN_TARGET_WARN, "no %s on this host (Debian's ipxe package): put "
				"undionly.kpxe in %s for BIOS PXE nodes; iPXE nodes need none", UNDIONLY, tftp);
		return 0;
	}
	if (!(kpxe = fs_path_join(tftp, "undionly.kpxe")))
		return rain_error_oom();
	return target_place_file(UNDIONLY, kpxe);
}

static int publish(struct rain_target_op *op, const struct rain_target_image *img,
		   const struct rain_target_artifacts *a)
{
	const struct site *p = op->site->priv;
	const char *args = rain_site_get(op->site, "kernel_args") ?: RAIN_NETBOOT_DEFAULT_ARGS;
	_cleanup_free_ char *dir = NULL, *ipxe = NULL;
	_cleanup_json_ json_t *show = NULL, *shown = NULL;
	int r;

	(void)img;
	if ((r = reg_dir(op, &dir)) < 0)
		return r;
	if ((r = rain_target_state_set(op, "dir", json_string(dir))) < 0)
		return r;
	if ((r = target_place_boot_files(op, a, dir, "netboot")) < 0)
		return r;
	rain_target_log(op, RAIN_TARGET_INFO, "published %s (root sha256 %s)", dir, a->rootfs_sha256);

	if (!(ipxe = fs_path_join(op->site->location, "ipxe")))
		return rain_error_oom();
	if ((r = fs_mkdir_p(ipxe, 0755)) < 0)
		return r;
	if (!(shown = json_array()))
		return rain_error_oom();
	for (size_t i = 0; i < p->n; i++) {
		_cleanup_free_ char *k = NULL, *in = NULL, *root = NULL, *rel = NULL, *script = NULL,
				    *path = NULL, *name = NULL, *url = NULL;

		if ((r = reg_url(op, "vmlinuz", &k)) < 0 || (r = reg_url(op, "initramfs", &in)) < 0 ||
		    (r = reg_url(op, "root.squashfs", &root)) < 0)
			return r;
		if ((r = rain_netboot_ipxe_script(op->reg_id, p->nodes[i].mac, k, in, root, a->rootfs_sha256,
						  args, &script)) < 0)
			return r;
		if (asprintf(&name, "%s.ipxe", p->nodes[i].mac) < 0 || !(path = fs_path_join(ipxe, name)))
			return rain_error_oom();
		if ((r = state_add_string(op, "nodes", p->nodes[i].mac)) < 0)
			return r;
		if ((r = fs_write_atomic(path, script, strlen(script), 0644)) < 0)
			return r;
		if (asprintf(&rel, "ipxe/%s", p->nodes[i].mac) < 0)
			return rain_error_oom();
		if ((r = url_of(op, rel, &url)) < 0)
			return r;
		if (json_array_append_new(shown, json_pack("{s:s,s:s,s:s}", "name", p->nodes[i].name,
							   "mac", p->nodes[i].mac, "ipxe", url)) < 0)
			return rain_error_oom();
	}
	if ((r = write_site_files(op, p)) < 0)
		return r;
	{
		_cleanup_free_ char *boot = NULL, *conf = fs_path_join(op->site->location, "dnsmasq.conf");

		if (!conf || (r = url_of(op, "boot.ipxe", &boot)) < 0)
			return r < 0 ? r : rain_error_oom();
		show = json_pack("{s:s,s:s,s:s,s:O}", "boot", boot, "dnsmasq", conf, "root_sha256",
				 a->rootfs_sha256, "nodes", shown);
		if (!show)
			return rain_error_oom();
	}
	rain_target_log(op, RAIN_TARGET_INFO, "%zu node%s boot it: iPXE from %s/boot.ipxe", p->n,
			p->n == 1 ? "" : "s", rain_site_get(op->site, "url"));
	return rain_target_state_set(op, "show", TAKE_PTR(show));
}

/* ---- unpublish, status ---- */

static int unlink_quiet(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "netboot: cannot remove %s", path);
	return 0;
}

/* The node scripts that name reg_id: removed when remove, else counted. */
static int node_scripts(struct rain_target_op *op, bool remove, size_t *named, size_t *others)
{
	_cleanup_free_ char *ipxe = fs_path_join(op->site->location, "ipxe");
	DIR *d;
	struct dirent *de;
	int r = 0;

	*named = *others = 0;
	if (!ipxe)
		return rain_error_oom();
	if (!(d = opendir(ipxe)))
		return errno == ENOENT ? 0 : rain_error_errno(RAIN_EIO, errno, "netboot: %s", ipxe);
	while (r >= 0 && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL, *script = NULL;
		size_t len;

		if (!str_has_suffix(de->d_name, ".ipxe"))
			continue;
		if (!(path = fs_path_join(ipxe, de->d_name))) {
			r = rain_error_oom();
			break;
		}
		if (fs_read_small(path, 65536, &script, &len) < 0) {
			(*others)++;
			continue;
		}
		if (!rain_netboot_ipxe_names(script, op->reg_id)) {
			(*others)++;
			continue;
		}
		(*named)++;
		if (remove)
			r = unlink_quiet(path);
	}
	closedir(d);
	return r;
}

static int unpublish(struct rain_target_op *op)
{
	json_t *dirv = json_object_get(op->state, "dir");
	_cleanup_free_ char *dir = NULL;
	size_t named, others;
	int r;

	if ((r = reg_dir(op, &dir)) < 0)
		return r;
	/* only the scripts that still name this registration: a newer one
	 * may have taken the nodes over */
	if (json_object_get(op->state, "nodes")) {
		if ((r = node_scripts(op, true, &named, &others)) < 0)
			return r;
		if ((r = rain_target_state_set(op, "nodes", NULL)) < 0)
			return r;
		if (named)
			rain_target_log(op, RAIN_TARGET_INFO, "removed %zu node script%s", named,
					named == 1 ? "" : "s");
	}
	if (json_object_get(op->state, "site_files")) {
		if ((r = node_scripts(op, false, &named, &others)) < 0)
			return r;
		if (!others) {
			/* the last registration of the site: its files go too */
			json_t *list = json_object_get(op->state, "site_files"), *v;
			size_t i;

			json_array_foreach(list, i, v) {
				const char *rel = json_string_value(v);
				_cleanup_free_ char *path = NULL;

				if (!rel || (strcmp(rel, "boot.ipxe") && strcmp(rel, "dnsmasq.conf") &&
					     strcmp(rel, "tftp/undionly.kpxe")))
					continue;
				if (!(path = fs_path_join(op->site->location, rel)))
					return rain_error_oom();
				if ((r = unlink_quiet(path)) < 0)
					return r;
			}
			for (const char *const *sub = (const char *const[]){ "tftp", "ipxe", NULL }; *sub; sub++) {
				_cleanup_free_ char *path = fs_path_join(op->site->location, *sub);

				if (!path)
					return rain_error_oom();
				if (rmdir(path) < 0 && errno != ENOENT && errno != ENOTEMPTY)
					return rain_error_errno(RAIN_EIO, errno, "netboot: cannot remove %s", path);
			}
		}
		if ((r = rain_target_state_set(op, "site_files", NULL)) < 0)
			return r;
	}
	if (dirv) {
		if (strcmp(json_string_value(dirv) ?: "", dir))
			return rain_error_set(RAIN_EINVAL, "netboot: the state names '%s', not %s: left alone",
					      json_string_value(dirv) ?: "?", dir);
		if ((r = target_files_remove(dir, files)) < 0)
			return r;
		rain_target_log(op, RAIN_TARGET_INFO, "removed %s", dir);
		if ((r = rain_target_state_set(op, "dir", NULL)) < 0)
			return r;
	}
	return rain_target_state_set(op, "show", NULL);
}

static int status(struct rain_target_op *op, json_t **out)
{
	_cleanup_free_ char *dir = NULL;
	size_t named, others, have = 0;
	int r;

	*out = NULL;
	if ((r = reg_dir(op, &dir)) < 0)
		return r;
	if ((r = target_files_present(dir, files, &have)) < 0)
		return r;
	if ((r = node_scripts(op, false, &named, &others)) < 0)
		return r;
	*out = json_pack("{s:b,s:s,s:i,s:i}", "present", have == 3, "dir", dir, "files", (int)have,
			 "nodes_booting_it", (int)named);
	return *out ? 0 : rain_error_oom();
}

static const struct rain_target_driver netboot = {
	.version = RAIN_TARGET_DRIVER_VERSION,
	.scheme = "netboot",
	.usage = "netboot:DIR (where raind serves the nodes' files from)",
	.check = check,
	.free = site_free,
	.accepts = accepts,
	.adapt = target_netboot_adapt,
	.publish = publish,
	.unpublish = unpublish,
	.status = status,
};

const struct rain_driver rain_target_driver_netboot = { "target", "netboot", "netboot:DIR", &netboot };
