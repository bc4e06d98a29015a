/* Vetting's runtime check (rain vet --runtime): boot the image in a qemu
 * virtual machine with no network, collect what runs (listening sockets,
 * enabled and failed units, the kernel really running), power it off.
 *
 * The image's own kernel and initramfs are read from its tree through
 * rain/imgfs.h (never mounted) and booted with the image as a virtio disk
 * opened with snapshot=on: qemu's writes go to a temporary overlay in a
 * private directory, the image file is never written. The machine has no
 * network device and no display; its console (first serial port) is read
 * for progress and for errors, and a collector started by systemd's run
 * generator (systemd.run= on the kernel command line) writes its facts to
 * the second serial port, a file in the private directory that nothing else
 * reads or writes, with "rain-vet: SECTION" lines between the sections.
 *
 * What the collector reports comes from the guest and is data: it is
 * parsed with limits and never trusted further than "what this image said
 * about itself" (an image that wants to hide a socket can).
 *
 * Functions return 0 or a negative RAIN_E* code with a message set.
 */
#ifndef RAIN_VET_RUNTIME_H
#define RAIN_VET_RUNTIME_H

#include <stddef.h>

#include <jansson.h>

#include "rain/imgfs.h"
#include "rain/vet.h"

/* The collector's output is cut (and the machine stopped) past this. */
#define RAIN_VET_RUNTIME_MAX_OUTPUT (8u << 20)

struct rain_vet_runtime_options {
	int timeout_s;                  /* boot to power off; 0: 120 */
	volatile int *cancel;           /* non-zero: stop the machine; may be NULL */
	/* progress: the machine's console lines, each after "| " (control
	 * characters removed), and the check's own steps ("runtime check:
	 * ..."); may be NULL */
	void (*log)(void *ud, const char *line);
	void *log_ud;
};

/* Boot the image at image_path, whose tree fs was opened from (a disk,
 * qcow2 or ext4 image: the file the virtual machine boots), collect and
 * parse its facts into *facts (a new object, the format of
 * rain_vet_runtime_parse() plus "seconds", the time from starting qemu to
 * its end, "accelerator", "kvm" or "tcg", and "booted", the kernel's path
 * in the image). KVM is used only where it really runs a guest
 * (util/qemu.h), else software emulation. The machine is stopped as soon
 * as the collector has written its end marker, or when the time limit
 * passes (then what it did collect is not used: an incomplete report is
 * an error). The kernel is the newest /boot/vmlinuz-VERSION with
 * /boot/initrd.img-VERSION, else /vmlinuz and /initrd.img; root= is the
 * partition the tree was read from (rain_imgfs_info()'s detail), else the
 * whole disk.
 *
 * RAIN_EINVAL when the image cannot be booted (a tar, squashfs or
 * directory tree; no kernel or initramfs; no systemd), RAIN_ENOTFOUND
 * when qemu-system-x86_64 is missing, RAIN_ECANCELED when *cancel was
 * set, RAIN_EIO when the machine did not report in time (the message has
 * the last console lines); each message says what to do. */
int rain_vet_runtime(struct rain_imgfs *fs, const char *image_path,
		     const struct rain_vet_runtime_options *o, json_t **facts);

/* Parse the collector's output (len bytes, need not be NUL-terminated;
 * carriage returns and control characters are dropped) into *facts, a
 * new object:
 *   "kernel": the release uname -r gave,
 *   "listening": [{"proto": "tcp"|"udp", "address": "0.0.0.0"|"::1"|...,
 *                  "port": N, "process": "sshd" (when known)}...]: TCP
 *                sockets in LISTEN state and UDP sockets bound and not
 *                connected, from /proc/net/{tcp,tcp6,udp,udp6}; the process
 *                from the sockets' inodes in /proc/PID/fd, else from ss,
 *   "enabled": [unit names], "failed": [unit names].
 * RAIN_EFORMAT when the output is not complete (no end marker, or no
 * kernel): the message says which section was last seen. */
int rain_vet_runtime_parse(const char *out, size_t len, json_t **facts);

/* The runtime rules, added to report (a report of rain_vet_run(), whose
 * counts and verdict are made again) from facts under policy p (NULL:
 * "default"):
 *   runtime-listening    medium: a socket listening on an address other
 *                        than loopback (one finding each, the process named)
 *   runtime-failed-unit  low: a unit that failed while booting
 *   runtime-kernel       high: the running kernel is not on the policy's
 *                        allowed_kernels (when that list is set)
 * The report also gets "runtime": facts (a copy). */
int rain_vet_runtime_findings(json_t *report, const json_t *facts,
			      const struct rain_vet_policy *p);

#endif
