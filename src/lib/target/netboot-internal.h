/* What the netboot initramfs loads (netboot-modules.c), apart from the
 * image reading so that its fuzzer (tests/fuzz/fuzz-netboot-modules.c)
 * can feed it text. */
#ifndef RAIN_NETBOOT_INTERNAL_H
#define RAIN_NETBOOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Modules that modules.dep may name, and dependencies of one module,
 * at most (a real kernel has about 6,000 and 30). */
#define NETBOOT_MODULES_MAX 100000
#define NETBOOT_DEPS_MAX 1000

struct netboot_module {
	char *name;                     /* "virtio_net" ('-' as '_') */
	char *path;                     /* as modules.dep names it */
	bool optional;                  /* of optional only: the init loads it
					 * when the others bring up no interface */
};

/* The modules to load, each after its dependencies: those of required
 * (each must be in dep or builtin: RAIN_EINVAL naming those that are
 * not), those of optional that dep has, and their dependencies (those
 * not needed by required marked optional, after all the others). dep and
 * builtin (may be NULL) are the texts of the image's modules.dep and
 * modules.builtin, read as data: a dependency cycle, a module that needs
 * one dep does not list, more than the limits above: RAIN_EFORMAT or
 * RAIN_ETOOBIG naming kver's file. *out: n entries (netboot_modules_free). */
int netboot_modules_order(const char *dep, const char *builtin, const char *const *required,
			  const char *const *optional, const char *kver, struct netboot_module **out,
			  size_t *n);
void netboot_modules_free(struct netboot_module *v, size_t n);

#endif
