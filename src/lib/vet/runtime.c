/* Vetting's runtime check (rain/vet-runtime.h): the image's own kernel
 * boots the image (snapshot=on) in qemu with no network; a collector that
 * systemd's run generator starts writes the facts to the second serial
 * port; runtime-parse.c reads them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/vet-runtime.h"
#include "lib/vet/runtime-internal.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/qemu.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* A kernel or initramfs larger than this is not read. */
#define MAX_BOOT_FILE (512u << 20)
/* Console lines kept for the message of a boot that does not finish. */
#define TAIL_LINES 8

/* The collector: the command of kernel-command-line.service. The run
 * generator boots into that unit instead of default.target, so it starts
 * multi-user.target itself, lets services settle, then writes each fact
 * after a "rain-vet: SECTION" line, in runtime-parse.c's order. It goes
 * into ExecStart= (no '$' or '%': systemd would expand them) inside the
 * kernel command line's double quotes (no '"'). */
const char vet_runtime_collector[] =
	"/bin/sh -c '"
	"exec >/dev/ttyS1 2>&1; "
	"export LC_ALL=C SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat TERM=dumb; "
	"timeout 40 systemctl start multi-user.target; "
	"sleep 3; "
	"echo rain-vet: kernel; uname -r; "
	"echo rain-vet: tcp; cat /proc/net/tcp; "
	"echo rain-vet: tcp6; cat /proc/net/tcp6; "
	"echo rain-vet: udp; cat /proc/net/udp; "
	"echo rain-vet: udp6; cat /proc/net/udp6; "
	"echo rain-vet: ss; command -v ss >/dev/null && ss -Hltunp; "
	"echo rain-vet: fds; ls -l --quoting-style=literal /proc/[0-9]*/fd 2>/dev/null | grep -e /fd: -e socket:; "
	"echo rain-vet: comm; head -n 1 /proc/[0-9]*/comm 2>/dev/null; "
	"echo rain-vet: enabled; systemctl list-unit-files --state=enabled --no-legend --no-pager; "
	"echo rain-vet: failed; systemctl list-units --state=failed --no-legend --no-pager --plain; "
	"echo rain-vet: end"
	"'";

/* Formats read from a tree rather than a block device. */
static const char *const tree_formats[] = { "dir", "tar", "squashfs", NULL };

struct boot {
	const struct rain_vet_runtime_options *o;
	const char *collect;            /* the second serial port's file */
	volatile sig_atomic_t stop;
	int64_t deadline_us;
	off_t seen;                     /* the port's size at the last look */
	bool collected;                 /* the end marker is there */
	bool timed_out, too_much, panic, canceled;
	char tail[TAIL_LINES][160];
	unsigned n_lines;
};

static void say(const struct rain_vet_runtime_options *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct rain_vet_runtime_options *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->log(o->log_ud, line);
}

/* --- what to boot --------------------------------------------------------- */

struct kernels {
	char best[RAIN_IMGFS_MAX_PATH];         /* newest /boot/vmlinuz-VERSION */
};

/* The walk over "/" and "/boot" only: every other directory is skipped. */
static int kernel_entry(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct kernels *k = ud;
	const char *name;

	(void)f;
	if (strcmp(e->path, "/") == 0 || strcmp(e->path, "/boot") == 0)
		return 0;
	if (!str_has_prefix(e->path, "/boot/vmlinuz-"))
		return S_ISDIR(e->mode) ? 1 : 0;
	name = e->path + strlen("/boot/");
	if (strchr(name, '/') || !name[strlen("vmlinuz-")] || (!S_ISREG(e->mode) && !S_ISLNK(e->mode)))
		return 0;
	if (!k->best[0] || strverscmp(name, k->best + strlen("/boot/")) > 0)
		snprintf(k->best, sizeof(k->best), "%s", e->path);
	return 0;
}

/* The kernel and initramfs to boot: the newest /boot/vmlinuz-VERSION with
 * its /boot/initrd.img-VERSION, else /vmlinuz and /initrd.img (links
 * resolved inside the image). */
static int find_boot_files(struct rain_imgfs *fs, char **kernel, char **initrd)
{
	struct kernels k = { "" };
	struct rain_imgfs_entry e;
	int r;

	if ((r = rain_imgfs_walk(fs, kernel_entry, &k)) < 0)
		return r;
	if (k.best[0]) {
		*kernel = strdup(k.best);
		if (asprintf(initrd, "/boot/initrd.img-%s", k.best + strlen("/boot/vmlinuz-")) < 0)
			*initrd = NULL;
	} else if (rain_imgfs_stat(fs, "/vmlinuz", true, &e) == 0 && S_ISREG(e.mode)) {
		*kernel = strdup("/vmlinuz");
		*initrd = strdup("/initrd.img");
	} else {
		return rain_error_set(RAIN_EINVAL, "runtime check: the image has no kernel (no "
				      "/boot/vmlinuz-* or /vmlinuz): the runtime check needs an image with a "
				      "kernel: build it with [packages] kernel = yes or vet a disk image");
	}
	if (!*kernel || !*initrd)
		return rain_error_oom();
	if (rain_imgfs_stat(fs, *initrd, true, &e) < 0 || !S_ISREG(e.mode))
		return rain_error_set(RAIN_EINVAL, "runtime check: the image has the kernel %s but no "
				      "initramfs %s to boot it with: build it with [packages] kernel = yes "
				      "(which makes the initramfs)", *kernel, *initrd);
	return 0;
}

/* systemd as the image's init, with the run generator (systemd 240 on):
 * its path inside the image. */
static int find_systemd(struct rain_imgfs *fs, const char **init)
{
	static const char *const inits[] = { "/lib/systemd/systemd", "/usr/lib/systemd/systemd" };
	static const char *const gens[] = {
		"/lib/systemd/system-generators/systemd-run-generator",
		"/usr/lib/systemd/system-generators/systemd-run-generator",
	};
	struct rain_imgfs_entry e;

	*init = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(inits) && !*init; i++)
		if (rain_imgfs_stat(fs, inits[i], true, &e) == 0 && S_ISREG(e.mode))
			*init = inits[i];
	if (!*init)
		return rain_error_set(RAIN_EINVAL, "runtime check: the image has no systemd (no "
				      "/lib/systemd/systemd): the runtime check collects what runs through "
				      "systemd; install systemd in the image (Debian: the systemd-sysv "
				      "package) or vet it without --runtime");
	for (size_t i = 0; i < ARRAY_SIZE(gens); i++)
		if (rain_imgfs_stat(fs, gens[i], true, &e) == 0 && S_ISREG(e.mode))
			return 0;
	return rain_error_set(RAIN_EINVAL, "runtime check: the image's systemd has no "
			      "systemd-run-generator (systemd 240 or later needed); vet it without "
			      "--runtime");
}

/* The root device: the partition the tree was read from, else the whole
 * disk. */
static void root_device(const struct rain_imgfs_info *info, char *out, size_t size)
{
	if (info->partition)
		snprintf(out, size, "/dev/vda%u", info->partition);
	else
		snprintf(out, size, "/dev/vda");
}

static ssize_t read_at(void *ud, uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread(*(int *)ud, buf, len, (off_t)off);

	return n < 0 ? rain_error_errno(RAIN_EIO, errno, "runtime check: reading the image") : n;
}

/* Check once more, before qemu opens it, that the image refers to no
 * other file (a qcow2 backing or data file qemu would open on the host). */
static int check_image(const char *path, const char *format)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;

	if (fd < 0)
		return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, errno,
					"runtime check: %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return rain_error_set(RAIN_EINVAL, "runtime check: %s is not a regular file", path);
	return rain_diskfmt_inspect(format, st.st_size, read_at, &fd, NULL);
}

/* Copy boot file path of the image into dir/name (0600). */
static int extract(struct rain_imgfs *fs, const char *path, const char *dir, const char *name)
{
	_cleanup_free_ char *data = NULL, *dst = fs_path_join(dir, name);
	size_t len;
	int r;

	if (!dst)
		return rain_error_oom();
	if ((r = rain_imgfs_read(fs, path, MAX_BOOT_FILE, &data, &len)) < 0)
		return r;
	return fs_write_atomic(dst, data, len, 0600);
}

/* qemu's option syntax: a comma in a value is written twice. */
static char *qemu_quote(const char *s)
{
	size_t n = strlen(s), commas = 0;
	char *out, *w;

	for (const char *p = s; *p; p++)
		commas += *p == ',';
	out = w = malloc(n + commas + 1);
	if (!out)
		return NULL;
	for (const char *p = s; *p; p++) {
		*w++ = *p;
		if (*p == ',')
			*w++ = ',';
	}
	*w = '\0';
	return out;
}

/* --- the machine ---------------------------------------------------------- */

static void console_line(void *ud, const char *raw)
{
	struct boot *b = ud;
	char line[512];

	snprintf(line, sizeof(line), "%s", raw);
	vet_runtime_line_clean(line);
	if (!line[0])
		return;
	snprintf(b->tail[b->n_lines++ % TAIL_LINES], sizeof(b->tail[0]), "%.*s",
		 (int)sizeof(b->tail[0]) - 1, line);
	say(b->o, "| %s", line);
	if (strstr(line, "Kernel panic") || strstr(line, "You are in emergency mode") ||
	    strstr(line, "Give root password for maintenance")) {
		b->panic = true;
		b->stop = 1;
	}
}

/* Whether the collector's end marker is at the end of its port's file. */
static bool ends_with_marker(const char *path, off_t size)
{
	static const char marker[] = "rain-vet: end";
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char tail[32];
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, tail, sizeof(tail) - 1, size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0);
	if (n <= 0)
		return false;
	tail[n] = '\0';
	return memmem(tail, (size_t)n, marker, sizeof(marker) - 1) != NULL;
}

static void tick(void *ud)
{
	struct boot *b = ud;
	struct stat st;

	if (b->o->cancel && *b->o->cancel) {
		b->canceled = true;
		b->stop = 1;
	}
	if (time_mono_us() > b->deadline_us) {
		b->timed_out = true;
		b->stop = 1;
	}
	if (stat(b->collect, &st) < 0 || st.st_size == b->seen)
		return;
	b->seen = st.st_size;
	if ((uint64_t)st.st_size > RAIN_VET_RUNTIME_MAX_OUTPUT) {
		b->too_much = true;
		b->stop = 1;
	} else if (ends_with_marker(b->collect, st.st_size)) {
		/* all is there: the guest's shutdown need not be waited for
		 * (its disk is a snapshot that qemu drops) */
		b->collected = true;
		b->stop = 1;
	}
}

/* The last console lines, oldest first, one per line after a newline. */
static char *console_tail(const struct boot *b)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	unsigned first = b->n_lines > TAIL_LINES ? b->n_lines - TAIL_LINES : 0;

	if (!f)
		return NULL;
	if (b->n_lines == 0)
		fputs("\n  (nothing on the console)", f);
	for (unsigned i = first; i < b->n_lines; i++)
		fprintf(f, "\n  %s", b->tail[i % TAIL_LINES]);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int boot_failed(const struct boot *b, int status, int timeout_s)
{
	_cleanup_free_ char *tail = console_tail(b);

	if (!tail)
		return rain_error_oom();
	if (b->canceled)
		return rain_error_set(RAIN_ECANCELED, "runtime check: interrupted");
	if (b->too_much)
		return rain_error_set(RAIN_ETOOBIG, "runtime check: the machine wrote more than %u bytes to "
				      "the collector's port; stopped", RAIN_VET_RUNTIME_MAX_OUTPUT);
	if (b->panic)
		return rain_error_set(RAIN_EIO, "runtime check: the image's system did not come up (kernel "
				      "panic or emergency mode); the last console lines:%s", tail);
	if (b->timed_out)
		return rain_error_set(RAIN_EIO, "runtime check: the machine did not report within %d s "
				      "(raise the time limit if the host is slow); the last console lines:%s",
				      timeout_s, tail);
	return rain_error_set(RAIN_EIO, "runtime check: qemu stopped (status %d) before the collector "
			      "reported; the last console lines:%s", status, tail);
}

int rain_vet_runtime(struct rain_imgfs *fs, const char *image_path,
		     const struct rain_vet_runtime_options *o, json_t **facts)
{
	static const struct rain_vet_runtime_options none = { 0 };
	const struct rain_imgfs_info *info = rain_imgfs_info(fs);
	const char *tmp = getenv("TMPDIR"), *init, *path_env = getenv("PATH");
	_cleanup_free_ char *kernel = NULL, *initrd = NULL, *dir = NULL, *kpath = NULL, *ipath = NULL,
		*collect = NULL, *append = NULL, *drive = NULL, *serial = NULL, *quoted = NULL,
		*env_tmp = NULL, *env_path = NULL, *out = NULL, *image = NULL;
	_cleanup_json_ json_t *f = NULL;
	bool qcow2 = strcmp(info->format, "qcow2") == 0, kvm;
	int timeout_s, status = -1, r;
	char root[32];
	struct boot b = { 0 };
	double secs = 0;
	int64_t t0;
	size_t len;

	rain_error_clear();
	*facts = NULL;
	if (!o)
		o = &none;
	timeout_s = o->timeout_s > 0 ? o->timeout_s : 120;
	if (str_in_list(tree_formats, info->format))
		return rain_error_set(RAIN_EINVAL, "runtime check: %s is a %s tree, not a disk image: the "
				      "runtime check boots a disk (raw, qcow2 or ext4 image); vet the image's "
				      "disk or qcow2 output (rain generate: [output] formats = disk)",
				      image_path, info->format);
	root_device(info, root, sizeof(root));
	if ((r = find_boot_files(fs, &kernel, &initrd)) < 0 || (r = find_systemd(fs, &init)) < 0)
		return r;
	if ((r = check_image(image_path, qcow2 ? "qcow2" : "raw")) < 0)
		return r;
	if (!(image = realpath(image_path, NULL)))
		return rain_error_errno(RAIN_EIO, errno, "runtime check: %s", image_path);

	if (asprintf(&dir, "%s/rain-vet-runtime.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return rain_error_oom();
	if (!mkdtemp(dir)) {
		r = rain_error_errno(RAIN_EIO, errno, "runtime check: cannot make a private folder %s", dir);
		free(TAKE_PTR(dir));
		return r;
	}
	kpath = fs_path_join(dir, "vmlinuz");
	ipath = fs_path_join(dir, "initrd.img");
	collect = fs_path_join(dir, "collect");
	quoted = qemu_quote(image);
	if (!kpath || !ipath || !collect || !quoted ||
	    asprintf(&drive, "file=%s,format=%s,if=virtio,snapshot=on", quoted, qcow2 ? "qcow2" : "raw") < 0 ||
	    asprintf(&serial, "file:%s", collect) < 0 ||
	    asprintf(&env_tmp, "TMPDIR=%s", dir) < 0 ||
	    asprintf(&env_path, "PATH=%s", path_env ? path_env : "/usr/local/bin:/usr/bin:/bin") < 0 ||
	    /* mitigations=off: the guest's CPU-flaw mitigations (page table
	     * isolation's address-space switch on every system call is dear
	     * under TCG) guard nothing in a throwaway machine and change
	     * nothing of what runs; ~20% faster boots here */
	    asprintf(&append, "root=%s ro console=ttyS0 panic=-1 quiet mitigations=off systemd.show_status=1 "
		     "systemd.log_color=0 systemd.firstboot=0 init=%s systemd.run=\"%s\" "
		     "systemd.run_success_action=poweroff systemd.run_failure_action=poweroff",
		     root, init, vet_runtime_collector) < 0) {
		r = rain_error_oom();
		goto done;
	}
	say(o, "runtime check: booting %s (%s) from %s", kernel, root, info->detail);
	if ((r = extract(fs, kernel, dir, "vmlinuz")) < 0 || (r = extract(fs, initrd, dir, "initrd.img")) < 0)
		goto done;
	{
		const char *argv[] = {
			"qemu-system-x86_64", "-accel", NULL, "-m", "1024", "-smp", "2", "-nodefaults",
			"-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
			"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
			"-kernel", kpath, "-initrd", ipath, "-append", append, "-drive", drive,
			"-serial", "stdio", "-serial", serial, NULL
		};
		const char *envp[] = { env_path, env_tmp, "LC_ALL=C", NULL };
		struct process_opts po = {
			.argv = argv, .envp = envp, .stdin_fd = -1, .on_line = console_line,
			.on_tick = tick, .ud = &b, .cancel = &b.stop, .timeout_s = timeout_s + 60,
			.end_with_program = true,
		};

		kvm = qemu_kvm_works(kpath);
		argv[2] = kvm ? "kvm" : "tcg";
		say(o, "runtime check: qemu (%s), at most %d s", kvm ? "kvm" : "software emulation",
		    timeout_s);
		b.o = o;
		b.collect = collect;
		t0 = time_mono_us();
		b.deadline_us = t0 + (int64_t)timeout_s * 1000000;
		r = process_run(&po, &status);
		secs = (double)(time_mono_us() - t0) / 1e6;
		if (r == RAIN_ENOTFOUND) {
			r = rain_error_set(RAIN_ENOTFOUND, "runtime check: qemu-system-x86_64 is not installed: "
					   "install it (Debian: the qemu-system-x86 package) or vet without "
					   "--runtime");
			goto done;
		}
		if (r < 0 && !b.stop)
			goto done;
		if (b.collected)
			say(o, "runtime check: the collector reported; the machine is stopped");
	}
	r = fs_read_small(collect, RAIN_VET_RUNTIME_MAX_OUTPUT, &out, &len);
	b.too_much |= r == RAIN_ETOOBIG;
	if (r == 0 && !b.canceled && !b.too_much)
		r = rain_vet_runtime_parse(out, len, &f);
	if (r < 0 || b.canceled || b.too_much) {
		r = boot_failed(&b, status, timeout_s);
		goto done;
	}
	if (json_object_set_new(f, "seconds", json_real(secs)) < 0 ||
	    json_object_set_new(f, "accelerator", json_string(kvm ? "kvm" : "tcg")) < 0 ||
	    json_object_set_new(f, "booted", json_string(kernel)) < 0) {
		r = rain_error_oom();
		goto done;
	}
	say(o, "runtime check: done in %.1f s", secs);
	*facts = TAKE_PTR(f);
	r = 0;
done:
	fs_remove_tree(dir);
	return r;
}
