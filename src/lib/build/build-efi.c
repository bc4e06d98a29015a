/* UEFI disks ([output] firmware = uefi) and what each architecture's
 * machine needs to boot.
 *
 * The disk is made without loop devices or mounts, as the BIOS one is:
 *
 *   sector 0        protective MBR, GPT header and entries (sgdisk)
 *   1 MiB - 64 MiB  partition 1, the EFI system partition: FAT32 made in
 *                   place by mkfs.vfat --offset, filled with mtools; it
 *                   holds GRUB at the removable-media path
 *                   (EFI/BOOT/BOOTX64.EFI, BOOTAA64.EFI), so no boot entry
 *                   in the firmware's variables is needed
 *   64 MiB - ...    partition 2, the root: ext4 of [output] size made by
 *                   mke2fs -d, with the discoverable-partitions type of the
 *                   architecture's root
 *   last 1 MiB      room for the backup GPT
 *
 * GRUB is the image's own: the image stage installs its grub-efi-ARCH-bin
 * and runs its grub-mkimage (under qemu-user for a foreign architecture),
 * with an embedded configuration that finds the root by its UUID and reads
 * the root's /boot/grub/grub.cfg, the one the BIOS disk uses. That file
 * boots /vmlinuz and /initrd.img (Ubuntu: /boot/vmlinuz, /boot/initrd.img),
 * the links the kernel's packages keep current, so kernel updates inside
 * the image boot. The image mounts the
 * EFI system partition at /boot/efi, before local-fs.target, so that the
 * boot check sees it mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static const struct build_machine machines[] = {
	{
		.arch = "amd64", .console = "ttyS0", .grub_efi = "x86_64-efi",
		.grub_package = "grub-efi-amd64-bin", .efi_loader = "BOOTX64.EFI",
		.root_type = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
		.qemu = "qemu-system-x86_64", .machine = "pc", .cpu = NULL, .disk_if = NULL,
		.uefi_code = "/usr/share/OVMF/OVMF_CODE_4M.fd", .uefi_vars = "/usr/share/OVMF/OVMF_VARS_4M.fd",
		.uefi_package = "ovmf", .flash_size = 0,
	},
	{
		.arch = "arm64", .console = "ttyAMA0", .grub_efi = "arm64-efi",
		.grub_package = "grub-efi-arm64-bin", .efi_loader = "BOOTAA64.EFI",
		.root_type = "b921b045-1df0-41c3-af44-4c6f280d3fae",
		/* pauth-impdef: pointer authentication with QEMU's own cheap
		 * algorithm, which makes emulation several times faster */
		.qemu = "qemu-system-aarch64", .machine = "virt", .cpu = "max,pauth-impdef=on",
		.disk_if = "virtio",
		.uefi_code = "/usr/share/AAVMF/AAVMF_CODE.fd", .uefi_vars = "/usr/share/AAVMF/AAVMF_VARS.fd",
		.uefi_package = "qemu-efi-aarch64", .flash_size = 64 << 20,
	},
	{
		.arch = "i386", .console = "ttyS0", .qemu = "qemu-system-x86_64", .machine = "pc",
	},
};

const struct build_machine *build_machine_find(const char *arch)
{
	for (size_t i = 0; i < sizeof(machines) / sizeof(*machines); i++)
		if (!strcmp(machines[i].arch, arch))
			return &machines[i];
	return NULL;
}

/* The embedded configuration: the root by its UUID, then normal mode reads
 * $prefix/grub.cfg. */
static const char early_cfg[] =
	"search --no-floppy --fs-uuid --set=root %s\n"
	"set prefix=($root)/boot/grub\n";

int build_efi_loader(struct build_ctx *b)
{
	const struct build_machine *m = build_machine_find(b->r->architecture);
	/* the sandbox's own /tmp: the stage is pivoted into the image */
	const char *cfg = "/tmp/rain-grub-early.cfg";
	_cleanup_free_ char *text = NULL, *out = NULL, *moddir = NULL, *host_moddir = NULL;
	struct stat st;
	int r;

	if (!m || !m->grub_efi)
		return rain_error_set(RAIN_EINVAL, "no UEFI boot loader is known for %s", b->r->architecture);
	if (asprintf(&text, early_cfg, b->uuid) < 0 ||
	    asprintf(&out, "%s/%s", BUILD_OUT, m->efi_loader) < 0 ||
	    asprintf(&moddir, "/usr/lib/grub/%s", m->grub_efi) < 0 || !(host_moddir = fs_path_join(b->root, moddir)))
		return rain_error_oom();
	if (stat(host_moddir, &st) < 0 || !S_ISDIR(st.st_mode))
		return rain_error_set(RAIN_ENOTFOUND, "the image has no %s (from %s), which its UEFI boot "
				      "loader is made of", moddir, m->grub_package);
	if ((r = fs_write_atomic(cfg, text, strlen(text), 0644)) < 0)
		return r;
	{
		const char *argv[] = { "grub-mkimage", "-O", m->grub_efi, "-d", moddir, "-p", "/boot/grub",
				       "-c", cfg, "-o", out, "part_gpt", "part_msdos", "fat", "ext2", "linux",
				       "normal", "configfile", "search", "search_fs_uuid", "echo", "test", "gzio",
				       "efi_gop", NULL };

		build_log(b, "== UEFI boot loader: GRUB for %s as %s", m->grub_efi, m->efi_loader);
		return build_run(b, "grub-mkimage", argv, NULL, NULL);
	}
}

void build_efi_volume_id(const char *uuid, char id[10])
{
	/* the root file system's UUID's first 8 hex digits, as FAT shows them */
	snprintf(id, 10, "%.4s-%.4s", uuid, uuid + 4);
	for (char *p = id; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
}

#define ESP_START (1LL << 20)
#define ROOT_START (64LL << 20)
#define GPT_TAIL (1LL << 20)

int build_efi_disk(struct build_ctx *b, const char *path, const char *uuid)
{
	const struct build_machine *m = build_machine_find(b->r->architecture);
	_cleanup_free_ char *loader = NULL, *esp = NULL, *dest = NULL;
	_cleanup_close_ int reportfd = -1, in = -1, out = -1;
	long long root_end = (ROOT_START + b->r->size) / 512 - 1;
	char esp_part[64], root_part[64], root_type[80], volid[10], blocks[32];
	struct stat st;
	int fd, r;

	if (!m || !m->grub_efi)
		return rain_error_set(RAIN_EINVAL, "no UEFI boot loader is known for %s", b->r->architecture);
	/* GRUB from the image stage's report, never through a link */
	reportfd = open(b->report, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (reportfd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", b->report);
	in = fs_open_regular_beneath(reportfd, m->efi_loader, O_RDONLY, false, &st);
	if (in < 0)
		return rain_error_set(in, "the UEFI boot loader %s: %s", m->efi_loader, rain_error_last());
	loader = build_tmp_path(b, m->efi_loader);
	if (!loader || asprintf(&esp, "%s@@%lld", path, ESP_START) < 0 ||
	    asprintf(&dest, "::/EFI/BOOT/%s", m->efi_loader) < 0)
		return rain_error_oom();
	out = open(loader, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", loader);
	if ((r = fs_copy_sparse(in, out, st.st_size, loader)) < 0)
		return r;

	r = build_make_ext4(b, b->root, path, uuid, b->r->size, ROOT_START);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", path);
	if (ftruncate(fd, ROOT_START + b->r->size + GPT_TAIL) < 0) {
		r = rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno, "cannot size %s", path);
		close(fd);
		return r;
	}
	close(fd);
	snprintf(esp_part, sizeof(esp_part), "1:%lld:%lld", ESP_START / 512, ROOT_START / 512 - 1);
	snprintf(root_part, sizeof(root_part), "2:%lld:%lld", ROOT_START / 512, root_end);
	snprintf(root_type, sizeof(root_type), "2:%s", m->root_type);
	{
		const char *argv[] = { "sgdisk", "--clear", "-n", esp_part, "-t", "1:ef00",
				       "-c", "1:EFI system partition", "-n", root_part, "-t", root_type,
				       "-c", "2:rain-root", path, NULL };

		if ((r = build_run(b, "sgdisk", argv, NULL, NULL)) < 0)
			return r;
	}
	build_efi_volume_id(uuid, volid);
	memmove(volid + 4, volid + 5, 5);      /* mkfs.vfat -i wants 8 hex digits */
	snprintf(blocks, sizeof(blocks), "%lld", (ROOT_START - ESP_START) / 1024);
	{
		char offset[32];
		/* one sector per cluster: FAT32 needs 65525 clusters, which
		 * mkfs.vfat's choice for a file this size would not give; the
		 * hidden sectors say where the partition starts */
		const char *argv[] = { "mkfs.vfat", "-F", "32", "-s", "1", "-n", "EFI", "-i", volid,
				       "-h", offset, "--offset", offset, path, blocks, NULL };

		snprintf(offset, sizeof(offset), "%lld", ESP_START / 512);
		if ((r = build_run(b, "mkfs.vfat", argv, NULL, NULL)) < 0)
			return r;
	}
	{
		const char *mmd[] = { "mmd", "-i", esp, "::/EFI", "::/EFI/BOOT", NULL };
		const char *mcopy[] = { "mcopy", "-i", esp, loader, dest, NULL };

		if ((r = build_run(b, "mmd", mmd, NULL, NULL)) < 0 ||
		    (r = build_run(b, "mcopy", mcopy, NULL, NULL)) < 0)
			return r;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", path);
	r = fsync(fd) < 0 ? rain_error_errno(RAIN_EIO, errno, "cannot sync %s", path) : 0;
	close(fd);
	return r;
}
