/* qemu-system-x86_64 helpers shared by the places that boot a guest
 * (image builds' boot check and VM scripts, vetting's runtime check). */
#ifndef RAIN_UTIL_QEMU_H
#define RAIN_UTIL_QEMU_H

#include <stdbool.h>

/* Whether KVM really runs a guest here: /dev/kvm can be there (and open)
 * and still not run one (seen in nested virtual machines), so the kernel
 * at path kernel is started under KVM and must print its first line within
 * 5 seconds. false when /dev/kvm cannot be opened for reading and writing,
 * or qemu is missing. */
bool qemu_kvm_works(const char *kernel);

#endif
