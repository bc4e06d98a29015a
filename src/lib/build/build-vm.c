/* [scripts] isolation = vm: the recipe's scripts run in a qemu virtual
 * machine instead of the namespace sandbox.
 *
 * The finished tree (after packages, settings and the initramfs) becomes an
 * ext4 disk with a small init program added; the staged scripts become a
 * second, read-only disk. qemu boots the image's own kernel and initramfs
 * with init= that program, which runs the scripts in order from "/" and
 * powers the machine off, printing "rain-vm-status=N" on the serial
 * console. The machine has no network device. qemu itself runs in the
 * user sandbox (the build's own host ids, no network), so KVM is used only where
 * /dev/kvm is open to everyone; otherwise software emulation. The machine's
 * disk is then unpacked as a tree (as a cloned image is), and the outputs
 * are made from it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "rain/error.h"
#include "sandbox.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define VM_INIT "/usr/libexec/rain-vm-init"

static const char vm_init[] =
	"#!/bin/sh\n"
	"# rain generate: runs the recipe's scripts in this virtual machine, then powers off\n"
	"export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "
	"DEBIAN_FRONTEND=noninteractive TERM=dumb\n"
	"mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null\n"
	"mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp\n"
	"mkdir -p " BUILD_INPUT " && mount -o ro /dev/vdb " BUILD_INPUT "\n"
	"status=0\ni=0\n"
	"while [ -e " BUILD_INPUT "/scripts/$i ]; do\n"
	"  echo \"rain-vm: script $i\"\n"
	"  (cd / && exec " BUILD_INPUT "/scripts/$i) || { status=$?; break; }\n"
	"  i=$((i + 1))\n"
	"done\n"
	"umount " BUILD_INPUT " /tmp /run 2>/dev/null\n"
	"sync; mount -o remount,ro /; sync\n"
	"echo \"rain-vm-status=$status\"\n"
	"echo o > /proc/sysrq-trigger\nsleep 30\n";

struct vm {
	struct build_ctx *b;
	char *disk, *input_disk, *kernel, *initrd, *input;
	int status;             /* of the scripts; -1 before the line */
};

/* In the overlay sandbox: the machine's disks and boot files. */
static int vm_prepare(struct build_ctx *b, struct vm *vm)
{
	_cleanup_free_ char *init = fs_path_join(b->root, VM_INIT + 1);
	char uuid[] = "5ca1ab1e-0000-4000-8000-000000000001";
	int r;

	if (!init)
		return rain_error_oom();
	if ((r = fs_mkdir_p(b->root, 0755)) < 0)
		return r;
	{
		_cleanup_free_ char *dir = fs_path_join(b->root, "usr/libexec");

		if (!dir || (r = fs_mkdir_p(dir, 0755)) < 0)
			return r < 0 ? r : rain_error_oom();
	}
	if ((r = fs_write_atomic(init, vm_init, strlen(vm_init), 0755)) < 0)
		return r;
	r = build_make_ext4(b, b->root, vm->disk, b->uuid, b->r->size, 0);
	unlink(init);
	if (r == 0)
		r = build_make_ext4(b, vm->input, vm->input_disk, uuid, (int64_t)(BUILD_FILE_MAX) * 2, 0);
	if (r == 0)
		r = build_copy_boot_file(b, "vmlinuz-", vm->kernel);
	if (r == 0)
		r = build_copy_boot_file(b, "initrd.img-", vm->initrd);
	return r;
}

static int prepare_stage(struct build_ctx *b)
{
	return vm_prepare(b, b->stage_ud);
}

static void vm_line(void *ud, const char *line)
{
	struct vm *vm = ud;
	const char *p = strstr(line, "rain-vm-status=");

	build_log(vm->b, "  %s", line);
	if (p)
		vm->status = atoi(p + strlen("rain-vm-status="));
}

/* In the plain user sandbox: boot the machine, wait for it to power off. */
static int vm_stage(struct build_ctx *b)
{
	struct vm *vm = b->stage_ud;
	_cleanup_free_ char *d1 = NULL, *d2 = NULL;
	bool kvm = build_kvm_works(b, vm->kernel);
	const char *argv[] = {
		"qemu-system-x86_64", "-accel", kvm ? "kvm" : "tcg", "-m", "1024", "-smp", "2",
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nic", "none",
		"-kernel", vm->kernel, "-initrd", vm->initrd,
		"-append", "root=/dev/vda rw console=ttyS0,115200 init=" VM_INIT " panic=-1",
		"-drive", NULL, "-drive", NULL, NULL
	};
	int64_t left = (b->deadline_us - time_mono_us()) / 1000000;
	struct process_opts po = { .argv = argv, .stdin_fd = -1, .on_line = vm_line, .ud = vm,
				   .cancel = b->o->cancel, .timeout_s = left > 0 ? (int)left : 1 };
	int status, r;

	if (asprintf(&d1, "file=%s,format=raw,if=virtio", vm->disk) < 0 ||
	    asprintf(&d2, "file=%s,format=raw,if=virtio,readonly=on", vm->input_disk) < 0)
		return rain_error_oom();
	argv[sizeof(argv) / sizeof(*argv) - 4] = d1;
	argv[sizeof(argv) / sizeof(*argv) - 2] = d2;
	build_log(b, "+ qemu (%s): the recipe's scripts in a virtual machine", kvm ? "kvm" : "software emulation");
	vm->status = -1;
	r = process_run(&po, &status);
	if (r < 0)
		return r;
	if (vm->status < 0)
		return rain_error_set(RAIN_EIO, "%s: [scripts] isolation = vm: the virtual machine stopped "
				      "(status %d) before its scripts finished; see build.log", b->r->file, status);
	if (vm->status > 0)
		return rain_error_set(RAIN_EIO, "%s: [scripts]: a script failed in the virtual machine (exit "
				      "status %d); see build.log", b->r->file, vm->status);
	return 0;
}

int build_scripts_in_vm(struct build_ctx *b, const struct sandbox *image, const char *tree,
			const char *const *env)
{
	struct vm vm = { .b = b, .status = -1 };
	struct sandbox prep = *image, plain = { .network = false, .env = env };
	int r;

	vm.disk = build_tmp_path(b, "vm-root.ext4");
	vm.input_disk = build_tmp_path(b, "vm-input.ext4");
	vm.kernel = build_tmp_path(b, "vm-vmlinuz");
	vm.initrd = build_tmp_path(b, "vm-initrd.img");
	vm.input = fs_path_join(b->scratch, "input");
	if (!vm.disk || !vm.input_disk || !vm.kernel || !vm.initrd || !vm.input) {
		r = rain_error_oom();
		goto done;
	}
	b->stage_ud = &vm;
	prep.pivot = false;
	prep.binds = NULL;
	prep.nbinds = 0;
	prep.env = env;
	r = build_stage(b, "preparing the scripts' virtual machine", &prep, prepare_stage);
	if (r == 0)
		r = build_stage(b, "running the scripts in a virtual machine", &plain, vm_stage);
	unlink(vm.input_disk);
	unlink(vm.kernel);
	unlink(vm.initrd);
	if (r == 0)
		r = build_clone_base(b, vm.disk, "raw", tree, env);
	unlink(vm.disk);
	if (r == 0) {
		_cleanup_free_ char *init = fs_path_join(tree, VM_INIT + 1);

		if (!init || unlink(init) < 0)
			r = init ? rain_error_errno(RAIN_EIO, errno, "cannot remove %s", init) : rain_error_oom();
	}
done:
	b->stage_ud = NULL;
	free(vm.disk);
	free(vm.input_disk);
	free(vm.kernel);
	free(vm.initrd);
	free(vm.input);
	return r;
}
