/* libFuzzer harness for the netboot initramfs's module order
 * (src/lib/target/netboot-modules.c): an image's modules.dep and
 * modules.builtin (the input split at its first NUL). Checked: no
 * module comes twice, and a failure is one of the documented codes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/target/netboot-internal.h"
#include "rain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const required[] = { "virtio_net", "squashfs", NULL };
	static const char *const optional[] = { "e1000", "a-b", NULL };
	struct netboot_module *mods;
	char *text = malloc(size + 2);
	const char *builtin;
	size_t n;
	int r;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = text[size + 1] = '\0';
	builtin = text + strlen(text) + 1;
	if (builtin > text + size)
		builtin = NULL;
	r = netboot_modules_order(text, builtin, required, optional, "6.1.0-fuzz", &mods, &n);
	if (r == 0) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (!strcmp(mods[i].name, mods[j].name))
					abort();
		netboot_modules_free(mods, n);
	} else if (r != RAIN_EINVAL && r != RAIN_EFORMAT && r != RAIN_ETOOBIG && r != RAIN_ENOMEM) {
		abort();
	}
	free(text);
	return 0;
}
