/* UEFI disks (build-efi.c): the disk made from a small tree with the real
 * tools (mke2fs, sgdisk, mkfs.vfat, mtools) is read back byte by byte: the
 * GPT's header and entries, the EFI system partition's FAT32 boot sector
 * and the loader in it, the root's ext4 superblock. A loader that is a
 * link, or missing, is refused before anything is made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "lib/build/build-internal.h"
#include "rain/build.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "testutil.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define UUID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
static const char loader_bytes[] = "MZ a stand-in for GRUB's PE image";

struct fixture {
	char dir[64];
	char *root, *report, *disk;
	struct rain_recipe *r;
	struct rain_build_options o;
	struct build_ctx b;
};

static char *join(const char *a, const char *b)
{
	char *p = fs_path_join(a, b);

	assert_non_null(p);
	return p;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *tmp, *etc;

	snprintf(f->dir, sizeof(f->dir), "/tmp/rain-efi-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->root = join(f->dir, "root");
	f->report = join(f->dir, "report");
	f->disk = join(f->dir, "disk.raw");
	tmp = join(f->dir, "tmp");
	etc = join(f->root, "etc");
	assert_int_equal(fs_mkdir_p(etc, 0755), 0);
	assert_int_equal(fs_mkdir_p(f->report, 0755), 0);
	assert_int_equal(fs_mkdir_p(tmp, 0755), 0);
	free(tmp);
	free(etc);
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = debian\n[output]\nsize = 64M\n"
					   "firmware = uefi\n", "t.recipe", ".", &f->r), 0);
	f->b.r = f->r;
	f->b.o = &f->o;
	f->b.scratch = f->dir;
	f->b.root = f->root;
	f->b.report = f->report;
	f->b.lockfd = f->b.idsfd = -1;
	f->b.deadline_us = time_mono_us() + 600 * 1000000LL;
	snprintf(f->b.uuid, sizeof(f->b.uuid), "%s", UUID);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_rmtree(f->dir);
	free(f->root);
	free(f->report);
	free(f->disk);
	rain_recipe_free(f->r);
	free(f);
	return 0;
}

static bool have_tools(void)
{
	const char *tools[] = { "mke2fs", "sgdisk", "mkfs.vfat", "mcopy", "mtype", NULL };

	for (const char **t = tools; *t; t++) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1 || test -x /sbin/%s", *t, *t);
		if (system(cmd) != 0)
			return false;
	}
	return true;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* A GPT type GUID as text (mixed-endian, as GPT stores it). */
static void guid_text(const unsigned char *g, char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13],
		 g[14], g[15]);
}

static void read_at(int fd, void *buf, size_t n, off_t off)
{
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
}

static void test_disk_layout(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *loader = join(f->report, "BOOTX64.EFI"), *hostname = join(f->root, "etc/hostname");
	unsigned char sec[512], ent[128];
	char guid[37], cmd[512], got[128] = "";
	struct stat st;
	FILE *p;
	int fd;

	if (!have_tools())
		skip();
	assert_int_equal(fs_write_atomic(loader, loader_bytes, sizeof(loader_bytes) - 1, 0644), 0);
	assert_int_equal(fs_write_atomic(hostname, "efi-test\n", 9, 0644), 0);
	if (build_efi_disk(&f->b, f->disk, UUID) < 0)
		fail_msg("%s", rain_error_last());

	/* 1 MiB, the ESP to 64 MiB, the root's 64 MiB, 1 MiB for the backup GPT */
	assert_int_equal(stat(f->disk, &st), 0);
	assert_int_equal(st.st_size, (64 + 64 + 1) << 20);
	fd = open(f->disk, O_RDONLY);
	assert_true(fd >= 0);
	read_at(fd, sec, 512, 0);
	assert_int_equal(sec[450], 0xee);                  /* protective MBR */
	assert_int_equal(sec[510], 0x55);
	read_at(fd, sec, 512, 512);
	assert_memory_equal(sec, "EFI PART", 8);
	assert_int_equal(le64(sec + 72), 2);               /* entries at LBA 2 */
	assert_int_equal(le64(sec + 32), st.st_size / 512 - 1);   /* backup header: last sector */

	read_at(fd, ent, sizeof(ent), 1024);
	guid_text(ent, guid);
	assert_string_equal(guid, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");   /* EFI system */
	assert_int_equal(le64(ent + 32), 2048);
	assert_int_equal(le64(ent + 40), 131071);
	read_at(fd, ent, sizeof(ent), 1024 + 128);
	guid_text(ent, guid);
	assert_string_equal(guid, build_machine_find("amd64")->root_type);    /* x86-64 root */
	assert_int_equal(le64(ent + 32), 131072);
	assert_int_equal(le64(ent + 40), 131072 + 131072 - 1);
	read_at(fd, ent, sizeof(ent), 1024 + 256);
	assert_int_equal(le64(ent + 32), 0);               /* nothing else */

	/* the ESP: FAT32, its volume id the root UUID's first 8 digits */
	read_at(fd, sec, 512, 1 << 20);
	assert_memory_equal(sec + 0x52, "FAT32   ", 8);
	assert_int_equal(le32(sec + 0x43), 0x0a1b2c3d);
	assert_memory_equal(sec + 0x47, "EFI        ", 11);
	assert_int_equal(le32(sec + 0x1c), 2048);          /* hidden sectors: where it starts */
	/* the root: ext4 with the build's UUID */
	read_at(fd, sec, 512, (64 << 20) + 1024);
	assert_int_equal(sec[0x38] | sec[0x39] << 8, 0xef53);
	assert_int_equal(sec[0x68], 0x0a);
	assert_int_equal(sec[0x69], 0x1b);
	close(fd);

	/* the loader at the removable-media path, byte for byte */
	snprintf(cmd, sizeof(cmd), "mtype -i '%s@@1048576' ::/EFI/BOOT/BOOTX64.EFI", f->disk);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fread(got, 1, sizeof(got) - 1, p), sizeof(loader_bytes) - 1);
	pclose(p);
	assert_string_equal(got, loader_bytes);
	/* the tree's file is in the root */
	snprintf(cmd, sizeof(cmd), "debugfs -R 'cat /etc/hostname' '%s?offset=67108864' 2>/dev/null", f->disk);
	p = popen(cmd, "r");
	memset(got, 0, sizeof(got));
	assert_true(fread(got, 1, sizeof(got) - 1, p) > 0);
	pclose(p);
	assert_string_equal(got, "efi-test\n");
}

/* The image stage's report is the sandbox's to write: a link planted as
 * the loader is not followed, and nothing is made. */
static void test_loader_link_refused(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *loader = join(f->report, "BOOTX64.EFI");

	assert_int_equal(symlink("/etc/passwd", loader), 0);
	assert_true(build_efi_disk(&f->b, f->disk, UUID) < 0);
	assert_error_contains("BOOTX64.EFI");
	assert_int_equal(access(f->disk, F_OK), -1);
	unlink(loader);
	assert_true(build_efi_disk(&f->b, f->disk, UUID) < 0);
	assert_error_contains("the UEFI boot loader BOOTX64.EFI");
	assert_int_equal(access(f->disk, F_OK), -1);
}

static void test_machines(void **state)
{
	char id[10];

	(void)state;
	build_efi_volume_id("abcdef12-3456-4789-8abc-def012345678", id);
	assert_string_equal(id, "ABCD-EF12");
	assert_string_equal(build_machine_find("amd64")->efi_loader, "BOOTX64.EFI");
	assert_string_equal(build_machine_find("amd64")->console, "ttyS0");
	assert_string_equal(build_machine_find("arm64")->efi_loader, "BOOTAA64.EFI");
	assert_string_equal(build_machine_find("arm64")->grub_package, "grub-efi-arm64-bin");
	assert_string_equal(build_machine_find("arm64")->console, "ttyAMA0");
	assert_string_equal(build_machine_find("arm64")->qemu, "qemu-system-aarch64");
	assert_null(build_machine_find("i386")->grub_efi);        /* BIOS only */
	assert_null(build_machine_find("riscv64"));
	/* every machine with UEFI firmware has all it takes to boot it */
	for (const char *a[] = { "amd64", "arm64" }, **p = a; p < a + 2; p++) {
		const struct build_machine *m = build_machine_find(*p);

		assert_true(rain_recipe_firmware_known(*p, RAIN_FIRMWARE_UEFI));
		assert_non_null(m->grub_efi);
		assert_non_null(m->uefi_code);
		assert_non_null(m->uefi_vars);
		assert_non_null(m->uefi_package);
		assert_int_equal(strlen(m->root_type), 36);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_disk_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loader_link_refused, setup, teardown),
		cmocka_unit_test(test_machines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
