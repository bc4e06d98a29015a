/* Shared between the build orchestration and the builder backends.
 *
 * A build runs in stages (build.c):
 *   base     once per base key, cached: the backend bootstraps a minimal
 *            system (init, and a kernel + initramfs when asked) into a new
 *            tree, inside a sandbox with network; the tree then serves
 *            read-only as the lower layer of every build that shares it.
 *   fetch    sandbox with network, pivoted into an overlay of the base:
 *            refresh package indexes when stale, download the layer's
 *            packages into b->debs (shared with the package cache).
 *   image    sandbox without network, pivoted: install the downloaded
 *            packages, customize, run the recipe's scripts, finish (one
 *            initramfs run at most), list the installed packages.
 *   outputs  sandbox without network, not pivoted: image files from the
 *            overlay with the host's tools (mke2fs -d, tar, mksquashfs).
 * Stages run as the sandbox's root (sandbox.h), never as the host's.
 */
#ifndef RAIN_BUILD_INTERNAL_H
#define RAIN_BUILD_INTERNAL_H

#include <stdbool.h>
#include <signal.h>
#include <stdio.h>

#include "rain/build.h"

struct sandbox;

/* A build's own cgroup (build-limits.c). */
struct build_cgroup {
	int version;          /* 2, 1, or 0: none here (rlimits only) */
	char *dirs[4];        /* v2: dirs[0]; v1: pids, memory, cpu, blkio */
	char *procs[5];       /* their cgroup.procs, NULL-terminated */
	size_t n;
	bool pids, memory, cpu, io;   /* which limits are in force */
};

struct build_ctx {
	const struct rain_recipe *r;
	const struct rain_build_options *o;
	const struct rain_builder_backend *be;
	char *dir;            /* the build's directory in the work directory:
			       * its lock, disk and scratch (build-scratch.c) */
	char *scratch;        /* where everything the build writes lives (host
			       * path): dir/scratch */
	bool scratch_fs;      /* the scratch is a file system of scratch_size
			       * bytes of its own (else a plain directory,
			       * measured every 2 s; scratch_why says why) */
	bool scratch_full;    /* ... and it was seen full */
	char scratch_why[512];
	int lockfd;           /* flock of dir/lock while the build lives */
	uid_t host_uid;       /* the sandbox's root on the host: the build's own
			       * range, or SANDBOX_HOST_ID's while a base is made */
	int idsfd;            /* flock of the build's id range */
	char *root;           /* the image's root as the running stage sees it */
	char *debs;           /* this build's package downloads (host path): the
			       * upper layer of the download directory, an
			       * overlay on the shared package cache */
	char *debs_work;      /* that overlay's work directory */
	char *outdir;         /* where the outputs stage writes (host path); the
			       * image stage, which runs the recipe's scripts,
			       * never sees it */
	char *report;         /* the image stage's BUILD_OUT (host path): what it
			       * reports (packages.json), read through an fd */
	FILE *log;            /* output_dir/build.log; NULL inside a sandbox */
	bool in_sandbox;      /* log lines go to stdout; the parent records them */
	int64_t deadline_us;
	bool refresh;         /* the fetch stage refreshes package indexes */
	bool nospace;         /* a program said its disk was full */
	char uuid[40];        /* of the root filesystem */
	char *keyring;        /* the recipe's signing keys, checked (host path
			       * in the scratch's tmp/: rain-keyring.gpg when
			       * binary, rain-keyring.asc when armored), or NULL */
	char keyring_sha256[65];  /* of its bytes, for the base's key */
	char **layer;         /* packages on top of the base */
	size_t nlayer;
	void *stage_ud;       /* what a stage's function needs beyond this */
	struct rain_build_limits lim;   /* o->limits with the defaults */
	struct build_cgroup cg;
	char cg_name[64];     /* the cgroup's name: the scratch's */
	bool fsize;           /* a program hit the file size limit */
	volatile sig_atomic_t stage_stop;   /* the running stage's cancel */
	int64_t scratch_checked_us;
	bool scratch_over;    /* the watch stopped a stage over the limit */
};

/* Paths inside the pivoted stages. */
#define BUILD_INPUT "/run/rain/input"     /* staged [files] and [scripts] */
#define BUILD_OUT "/run/rain/out"         /* the image stage's report for the parent */
#define BUILD_FLAGS "/run/rain"           /* scratch flags of one stage */

/* Staged [files] and [scripts] are at most this big each. */
#define BUILD_FILE_MAX (256 << 20)

/* A file in the scratch's tmp/, which every stage may write (a new
 * string; NULL on ENOMEM). */
char *build_tmp_path(struct build_ctx *b, const char *name);

/* Run fn(b) in sandbox s (logging its lines, honouring cancel and the
 * deadline); inside, b->root is "/" when s pivots, else s->root. */
int build_stage(struct build_ctx *b, const char *name, const struct sandbox *s,
		int (*fn)(struct build_ctx *b));

/* Log one line (to the file and the caller). */
void build_log(struct build_ctx *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Run argv, logging its output; a non-zero exit is an error naming what.
 * When lines is non-NULL each output line is also passed to it. */
int build_run(struct build_ctx *b, const char *what, const char *const *argv,
	      void (*lines)(void *ud, const char *line), void *ud);

/* process_opts.on_line for build_run(): log, then pass to lines(ud). */
struct build_lines {
	struct build_ctx *b;
	void (*lines)(void *ud, const char *line);
	void *ud;
};
void build_on_line(void *ud, const char *line);

/* ---- build-limits.c ---- */

/* Builds on one cache at once, each with its own id range. */
#define BUILD_ID_RANGES 64u
/* Take a free id range for the build (b->host_uid, b->idsfd). */
int build_ids_acquire(struct build_ctx *b);
/* b->lim from b->o->limits and the defaults. */
void build_limits_resolve(struct build_ctx *b);
/* Create (again: a sweep may have removed it between stages) the build's
 * cgroup b->cg_name with its limits; say: log which limits are in force
 * and how. Without cgroups, b->cg is empty and rlimits stand in. */
int build_cgroup_setup(struct build_ctx *b, bool say);
/* Put s (a copy the caller owns) under the build's limits. */
void build_sandbox_limits(struct build_ctx *b, struct sandbox *s);
/* After a failed stage: when a limit was hit, a message saying which and
 * where to raise it in msg and RAIN_ETOOBIG; else 0. */
int build_limits_explain(struct build_ctx *b, char *msg, size_t n);
/* Kill what is left in the build's cgroup and remove it. */
void build_cgroup_remove(struct build_ctx *b);
/* Remove the cgroup of a dead build whose scratch was name. */
void build_cgroup_reap(const char *name);
/* RAIN_ETOOBIG naming what when the files under dir take more than the
 * scratch limit. */
int build_scratch_check(struct build_ctx *b, const char *dir, const char *what);
/* process_opts.on_tick of a stage: b->stage_stop when the build is
 * cancelled, or (checked every 2 s) when its scratch takes more than the
 * limit (then b->scratch_over); with a file system of its own, which
 * stops writes itself, it only notes when that is full. */
void build_scratch_watch(struct build_ctx *b);

/* ---- build-scratch.c ---- */

/* Create the build's directory in work_dir (b->dir, b->lockfd, b->cg_name)
 * and its scratch (b->scratch): a file system of exactly b->lim.scratch
 * bytes on a loop device when the host allows it (b->scratch_fs), mounted
 * in a mount namespace the calling process unshares for it; else a plain
 * directory (b->scratch_why says why). Sweeps the directories of dead
 * builds first (build_scratch_sweep). */
int build_scratch_make(struct build_ctx *b, const char *work_dir);
/* Unmount the scratch, detach its loop device, remove b->dir; after the
 * build's processes are gone (build_cgroup_remove). */
void build_scratch_remove(struct build_ctx *b);
/* Remove the directories in work_dir of builds that died (no one holds
 * their lock): their cgroups, scratch mounts, loop devices and files. */
void build_scratch_sweep(struct build_ctx *b, const char *work_dir);
/* Whether the scratch's file system is (or was seen) full: less than 1%
 * of it (1 to 64 MiB) or no inode left. Always false without one. */
bool build_scratch_full(struct build_ctx *b);
/* When it is: a message saying the scratch_size limit was reached and how
 * to raise it in msg, and RAIN_ETOOBIG; else 0. */
int build_scratch_explain(struct build_ctx *b, char *msg, size_t n);

/* ---- build-customize.c: inside the image stage ---- */
int build_customize(struct build_ctx *b);
int build_scripts(struct build_ctx *b);

/* ---- build-vm.c ---- */

/* [scripts] isolation = vm: run the recipe's scripts in a qemu virtual
 * machine booted from the image (root at merged, an overlay of lower,
 * upper and work), then unpack the machine's disk into tree, from which
 * the outputs are made. env: the host tools' environment. */
int build_scripts_in_vm(struct build_ctx *b, const struct sandbox *image, const char *tree,
			const char *const *env);

/* ---- build-efi.c ---- */

/* What booting an architecture's images takes. */
struct build_machine {
	const char *arch;          /* Debian's name */
	const char *console;       /* the kernel's serial console under qemu */
	const char *grub_efi;      /* GRUB's EFI platform (grub-mkimage -O); NULL: no UEFI */
	const char *grub_package;  /* the Debian package with its modules */
	const char *efi_loader;    /* the removable-media path's file (BOOTX64.EFI) */
	const char *root_type;     /* GPT type GUID of its root partition */
	const char *qemu;          /* qemu-system-X */
	const char *machine;       /* -M */
	const char *cpu;           /* -cpu under emulation (NULL: qemu's default) */
	const char *disk_if;       /* -drive if= (NULL: the machine's default) */
	const char *uefi_code;     /* the firmware (pflash unit 0, read-only) */
	const char *uefi_vars;     /* its variables' template (copied to unit 1) */
	const char *uefi_package;  /* the Debian package with both */
	long long flash_size;      /* pflash size the machine wants (0: the file's) */
};
/* The machine of Debian architecture arch, or NULL when none is known. */
const struct build_machine *build_machine_find(const char *arch);
/* Inside the image stage: the image's grub-mkimage makes its GRUB for UEFI
 * as BUILD_OUT/efi_loader, finding the root by b->uuid. */
int build_efi_loader(struct build_ctx *b);
/* The outputs stage: the UEFI disk at path (a new file) from b->root and
 * the image stage's GRUB; the layout is in build-efi.c. */
int build_efi_disk(struct build_ctx *b, const char *path, const char *uuid);
/* The EFI system partition's volume id, as /etc/fstab names it
 * ("ABCD-1234"), from the root file system's uuid. */
void build_efi_volume_id(const char *uuid, char id[10]);

/* ---- build-clone.c ---- */

/* Make root (a new directory, the sandbox's) the tree of the image whose
 * data (raw or qcow2) is at data; env is the host tools' environment. */
int build_clone_base(struct build_ctx *b, const char *data, const char *disk_format, const char *root,
		     const char *const *env);
/* What build_clone_base() does first, before any tool reads data: inspect
 * it as disk_format (rain_diskfmt_inspect); RAIN_EFORMAT naming the image
 * and what to do when it is refused (a backing or data file, a format that
 * is not the declared one). */
int build_clone_inspect(struct build_ctx *b, const char *data, const char *disk_format);

/* ---- build-output.c ---- */

/* Output files besides the recipe's formats. */
#define BUILD_OUT_KERNEL (1u << 16)
#define BUILD_OUT_INITRAMFS (1u << 17)
/* the dir format leaves the outputs stage as this tar */
#define BUILD_TREE_TAR "root.tar"

struct build_output_kind {
	unsigned int bit;       /* enum rain_output_format or BUILD_OUT_* */
	const char *format;     /* its name in the manifest */
	const char *suffix;     /* ".raw" after the image name, or a file name */
};
/* Every kind, in the order they are made; ends with bit 0. */
extern const struct build_output_kind build_outputs[];
/* Where kind k goes in dir (a new string). */
char *build_output_path(struct build_ctx *b, const char *dir, const struct build_output_kind *k);
/* mke2fs -d src into path (size bytes at offset) with uuid. */
int build_make_ext4(struct build_ctx *b, const char *src, const char *path, const char *uuid,
		    int64_t size, int64_t offset);
/* Copy the tree's /boot/PREFIX* (vmlinuz-, initrd.img-) to dst (a new
 * file). The tree is the image's: /boot and the file are opened beneath
 * b->root without following any symlink, and must be a directory and a
 * regular file. */
int build_copy_boot_file(struct build_ctx *b, const char *prefix, const char *dst);
/* Whether KVM runs guests here (probed with kernel). */
bool build_kvm_works(struct build_ctx *b, const char *kernel);
/* The outputs stage: every asked-for format into b->outdir. */
int build_outputs_make(struct build_ctx *b);
/* Boot disk under qemu (on the host; KVM when it works, kernel being the
 * image's, for the probe) until multi-user; *result for the manifest. */
int build_boot_check(struct build_ctx *b, const char *disk, const char *kernel, json_t **result);

/* For the backends: the packages a recipe implies (sudo, openssh-server,
 * tzdata, locale_package when it names a locale other than C/POSIX; NULL:
 * none) and then its own, as a new vector; the installed packages from a
 * program printing "NAME\tVERSION\tARCH" lines; useradd in the image, sudo
 * users joining admin_group. */
int build_layer_packages(const struct rain_recipe *r, const char *locale_package, char ***pkgs, size_t *n);
int build_package_list(struct build_ctx *b, const char *what, const char *const *argv, json_t **out);
int build_useradd(struct build_ctx *b, const struct rain_recipe_user *u, const char *admin_group);

/* A builder backend: one per package family. Functions marked "inside"
 * run in a pivoted sandbox, with b->root "/". */
struct rain_builder_backend {
	const char *family;
	/* Where the image's package manager finds b->debs inside the image
	 * (bound there for the fetch and image stages). */
	const char *download_dir;
	/* The base's packages, as a new vector; with the family,
	 * distribution, release, architecture and mirror they make the base
	 * cache's key. */
	int (*base_packages)(const struct rain_recipe *r, char ***pkgs, size_t *n);
	/* Bootstrap the base system into root (a host path), with network,
	 * downloading into b->debs. */
	int (*base)(struct build_ctx *b, const char *root);
	/* Whether the tree at root (a host path) holds package indexes, so
	 * that fresh ones need no refresh (NULL: always refresh). */
	bool (*has_indexes)(const char *root);
	/* The packages the recipe adds to its base (implied ones first), as
	 * a new string vector. */
	int (*layer)(const struct rain_recipe *r, char ***pkgs, size_t *n);
	/* Inside, with network: refresh the indexes when asked, download the
	 * layer into download_dir (b->debs) without installing. An
	 * unknown package is RAIN_EINVAL naming it; an unreachable mirror
	 * RAIN_ENET naming the mirror. */
	int (*fetch)(struct build_ctx *b, bool refresh);
	/* Inside, without network: defer initramfs generation, then install
	 * the layer from the downloads. */
	int (*install)(struct build_ctx *b);
	/* Inside: undo install's deferral, regenerate the initramfs once if a
	 * package asked for it, drop caches and indexes. */
	int (*finish)(struct build_ctx *b);
	/* Inside: the installed packages as [{name, version, architecture}]. */
	int (*packages)(struct build_ctx *b, json_t **list);
	/* Inside: add a user. */
	int (*add_user)(struct build_ctx *b, const struct rain_recipe_user *u);
	/* Inside: enable a service unit. */
	int (*enable_service)(struct build_ctx *b, const char *unit);
};

extern const struct rain_builder_backend rain_builder_deb;
extern const struct rain_builder_backend rain_builder_rpm;

/* ---- build-probe.c ---- */

#define BUILD_PROBE_TIMEOUT_S 10

/* Fetch url, a small file of the mirror's (a repository index), waiting at
 * most timeout_s (<= 0: BUILD_PROBE_TIMEOUT_S) to connect and twice that in
 * all. 0 when it came; RAIN_ENET "the mirror MIRROR cannot be reached (URL:
 * why)" when the mirror could not be reached; RAIN_EINVAL when it answered
 * with an HTTP error (no such repository there). Needs the network. */
int build_mirror_probe(const char *mirror, const char *url, long timeout_s);

/* Whether builds may use mirror: unless allow_private, only http(s)
 * mirrors whose host name resolves to public addresses only (every
 * address is checked: no loopback, link-local, private, shared, multicast
 * or reserved one). RAIN_EFORBIDDEN saying why and how to allow it. A
 * name that does not resolve passes (the backend reports the mirror as
 * unreachable). The fetch resolves the name again: a name whose owner
 * changes its addresses in between is not caught (no DNS pinning). */
int build_mirror_allowed(const char *mirror, bool allow_private);

#endif
