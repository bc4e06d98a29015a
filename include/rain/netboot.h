/* Netboot: what a diskless node boots over the network, made from an
 * image read as data (rain/imgfs.h: never mounted, nothing in it run, its
 * links never followed out of it). The netboot site driver
 * (src/lib/target/drivers/netboot.c) and the ironic driver use these.
 *
 * A node boots iPXE, which fetches the image's own kernel and a small
 * initramfs made here: the host's busybox-static, the image's kernel
 * modules that the node needs to reach the network and mount its root
 * (with their dependencies from modules.dep; compressed modules
 * decompressed), and rain's init. The init loads the modules (the
 * optional NIC drivers only when the others bring up no interface), brings a
 * network interface up with DHCP, fetches the root squashfs over HTTP
 * (resuming a broken transfer with a Range request), checks its sha256,
 * mounts it read-only under a tmpfs overlay in RAM and switches to it.
 * The kernel command line tells the init where the root is:
 *
 *   rain.root=URL         the squashfs (http://, as busybox wget fetches)
 *   rain.sha256=HEX       its sha256; any other content is refused
 *   rain.init=PATH        the image's init (default /sbin/init)
 *   BOOTIF=01-MAC         the interface to use (as iPXE/pxelinux pass it);
 *                         unset: the first one that gets a lease
 *   rain.shell            a shell on the console when the boot fails
 *   rain.ssh_key=B64URL   a public key line (base64url: rain_netboot_key_arg)
 *                         added to the root's /root/.ssh/authorized_keys on
 *                         the overlay (a run's key; a link on the way there
 *                         in the image stops the boot)
 *                         (otherwise the node reboots after 10 s)
 *
 * Functions return 0 or a negative RAIN_E* code with a message set
 * (rain/error.h); nothing prints.
 */
#ifndef RAIN_NETBOOT_H
#define RAIN_NETBOOT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "rain/imgfs.h"

/* A file the squashfs holds instead of (or besides) the image's own:
 * content of len bytes, owned by root, mode (permission bits); or, when
 * link is set, a symbolic link to link. */
struct rain_netboot_file {
	const char *path;               /* absolute in the image: "/etc/fstab" */
	const char *content;
	size_t len;
	uint32_t mode;
	const char *link;
};

struct rain_netboot_squashfs_opts {
	const char *compressor;         /* tar2sqfs's: NULL: "zstd" */
	const struct rain_netboot_file *files;  /* may be NULL */
	size_t n_files;
	volatile sig_atomic_t *cancel;  /* non-zero: stop, RAIN_ECANCELED */
};

/* What making a squashfs left out, for the log. */
struct rain_netboot_squashfs_stats {
	uint64_t entries;               /* entries written */
	uint64_t bytes;                 /* bytes of file data written */
	uint64_t sockets;               /* skipped: a tar cannot hold them */
	/* extended attributes skipped: squashfs keeps user.*, trusted.*
	 * and security.* only (POSIX ACLs, system.*, cannot be stored) */
	uint64_t xattrs_skipped;
};

/* Write the tree of fs as a squashfs to out (replaced; mode 0600): owners,
 * modes (setuid too), times, symbolic links as they are, hard links,
 * device nodes and fifos, extended attributes (user.*, trusted.*,
 * security.*). The tree is streamed as a pax tar into tar2sqfs
 * (squashfs-tools-ng, run from an argument vector), never unpacked on the
 * host. stats may be NULL. On failure out is removed. */
int rain_netboot_squashfs(struct rain_imgfs *fs, const char *out,
			  const struct rain_netboot_squashfs_opts *o,
			  struct rain_netboot_squashfs_stats *stats);

/* The kernel modules the initramfs loads by default: the network (virtio
 * and common NICs) and what mounts the root (squashfs, loop, overlay). */
extern const char *const rain_netboot_modules_required[];
extern const char *const rain_netboot_modules_optional[];

struct rain_netboot_initramfs_opts {
	const char *busybox;            /* the host's static busybox; NULL: /bin/busybox */
	/* modules that must be there (as a module or built into the
	 * kernel: modules.builtin), names as modprobe takes them ('-' and
	 * '_' alike); NULL: rain_netboot_modules_required */
	const char *const *modules;
	/* modules taken when the image has them; NULL: rain_netboot_modules_optional */
	const char *const *optional;
};

/* Write a gzip-compressed newc cpio initramfs to out (replaced; 0644) for
 * kernel version kver of fs: busybox, the modules (those of o->modules
 * the image has neither as a module nor built in: RAIN_EINVAL naming
 * them), their dependencies, in the order they load, and rain's /init.
 * *n_modules (may be NULL) is the number of modules put in. */
int rain_netboot_initramfs(struct rain_imgfs *fs, const char *kver,
			   const struct rain_netboot_initramfs_opts *o, const char *out,
			   size_t *n_modules);

/* The kernel the image boots: the newest version (strverscmp) that has
 * both /boot/vmlinuz-VERSION and /lib/modules/VERSION, copied to out
 * (0644). *kver: a new string (free()). RAIN_ENOTFOUND when the image has
 * no kernel. */
int rain_netboot_kernel(struct rain_imgfs *fs, const char *out, char **kver);

/* A MAC address "52:54:00:12:34:56" (also with '-', any case) in the
 * form "52-54-00-12-34-56" (lower case) into out. RAIN_EINVAL when mac
 * is not one. */
#define RAIN_NETBOOT_MAC_LEN 17
int rain_netboot_mac_norm(const char *mac, char out[RAIN_NETBOOT_MAC_LEN + 1]);

/* The iPXE script of a node: fetch kernel_url with args and
 * "rain.root=ROOT_URL rain.sha256=HEX BOOTIF=01-MAC", then initrd_url,
 * and boot; the first comment line names reg_id (see
 * rain_netboot_ipxe_names). A new string (free()). The URLs and args must
 * be printable without spaces in URLs (RAIN_EINVAL otherwise). */
int rain_netboot_ipxe_script(const char *reg_id, const char *mac, const char *kernel_url,
			     const char *initrd_url, const char *root_url, const char *root_sha256,
			     const char *args, char **out);
/* 1 when script was written by rain_netboot_ipxe_script for reg_id, else 0. */
int rain_netboot_ipxe_names(const char *script, const char *reg_id);

/* A node of a site: its name and MAC ("52-54-00-...", normalized). */
struct rain_netboot_node {
	char name[64];
	char mac[RAIN_NETBOOT_MAC_LEN + 1];
};

/* dnsmasq's settings for a site's nodes: a dhcp-host line per node,
 * iPXE clients (DHCP option 175) told boot_url, BIOS PXE clients chained
 * to undionly.kpxe from TFTP under tftp_root. A new string (free()). */
int rain_netboot_dnsmasq_conf(const char *site, const struct rain_netboot_node *nodes, size_t n,
			      const char *boot_url, const char *tftp_root, char **out);

/* The kernel command line's own part when a site sets no kernel_args. */
#define RAIN_NETBOOT_DEFAULT_ARGS "console=tty0 console=ttyS0,115200n8"

/* ---- runs on a site's nodes (the netboot provider, rain/provision.h) ---- */

struct rain_site;

/* The nodes of a netboot site (borrowed from s; valid while s lives).
 * RAIN_EINVAL when s is no netboot site. */
int rain_netboot_site_nodes(const struct rain_site *s, const struct rain_netboot_node **nodes,
			    size_t *n);

/* A program setting of a site (power_on, power_off, power_status):
 * words split on blanks, a word quoted with '...' or "..." keeps its
 * blanks (no other expansion: it is never given to a shell); in each
 * word %n is the node's name, %m its MAC (52:54:00:12:34:56), %% a '%'.
 * Checks value (RAIN_EINVAL naming key and saying what is wrong: an
 * unknown %, an unterminated quote, no words, a control character) and,
 * when node is not NULL, gives node's argument vector in *argv
 * (NULL-terminated, *argc words; strv_free). */
int rain_netboot_command(const char *key, const char *value, const struct rain_netboot_node *node,
			 char ***argv, size_t *argc);

/* Where a node's serial console is logged (conserver, ipmitool sol): a
 * site's `console` setting, one absolute path with %n and %m as in
 * rain_netboot_command, for node in *out (new string). RAIN_EINVAL
 * naming the setting otherwise. */
int rain_netboot_console_path(const char *value, const struct rain_netboot_node *node, char **out);

/* Where a node's sshd is reached: a site's `ssh` setting, words
 * NAME=HOST[:PORT] (blank or comma separated; HOST a name, an IPv4
 * address or [IPv6]), each NAME one of nodes. A node it does not name is
 * reached at its own name, port 22. Checks every word (RAIN_EINVAL naming
 * it) and, when node is not NULL, fills host and *port for that node.
 * value may be NULL. */
#define RAIN_NETBOOT_HOST_MAX 253
int rain_netboot_ssh_addr(const char *value, const struct rain_netboot_node *nodes, size_t n,
			  const char *node, char host[RAIN_NETBOOT_HOST_MAX + 1], int *port);

/* The kernel argument that hands a run's public key to rain's initramfs:
 * "rain.ssh_key=" and pub (one OpenSSH public key line: RAIN_EINVAL
 * otherwise) in base64url without padding. The init adds the key to the
 * root's /root/.ssh/authorized_keys (on the RAM overlay; the image is not
 * changed). A new string (free()). */
int rain_netboot_key_arg(const char *pub, char **out);

#endif
