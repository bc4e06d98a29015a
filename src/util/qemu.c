/* qemu-system-x86_64 helpers (qemu.h). */
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "qemu.h"
#include "process.h"

struct kvm_watch {
	volatile sig_atomic_t stop;
	bool reached;
};

static void kvm_line(void *ud, const char *line)
{
	struct kvm_watch *w = ud;

	if (strstr(line, "Linux version")) {
		w->reached = true;
		w->stop = 1;
	}
}

bool qemu_kvm_works(const char *kernel)
{
	struct kvm_watch w = { 0, false };
	const char *argv[] = {
		"qemu-system-x86_64", "-accel", "kvm", "-m", "256", "-display", "none", "-serial", "stdio",
		"-monitor", "none", "-no-reboot", "-nic", "none", "-kernel", kernel,
		"-append", "console=ttyS0 panic=-1", NULL
	};
	struct process_opts po = { .argv = argv, .stdin_fd = -1, .on_line = kvm_line, .ud = &w,
				   .cancel = &w.stop, .timeout_s = 5 };
	int status;

	if (access("/dev/kvm", R_OK | W_OK) < 0)
		return false;
	process_run(&po, &status);
	return w.reached;
}
