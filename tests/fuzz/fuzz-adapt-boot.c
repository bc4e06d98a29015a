/* libFuzzer harness for what adaptation reads of an image as text
 * (src/lib/target/adapt-boot.c): the boot loader's configuration (first
 * byte % 3: 0 grub.cfg, 1 extlinux.conf, 2 /etc/default/grub) and a
 * kernel's module lists.
 * Checked: a configuration that names a kernel still names it after the
 * serial console is added, its command line then has the console, and
 * adding it again changes nothing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/target/adapt-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum adapt_boot_kind kind;
	const char *text;
	struct adapt_boot b, b2;
	char *out = NULL, *out2 = NULL;
	bool changed, changed2, named;

	if (size < 1)
		return 0;
	kind = data[0] % 3 == 2 ? ADAPT_BOOT_GRUB_DEFAULT : data[0] % 3 == 1 ? ADAPT_BOOT_EXTLINUX : ADAPT_BOOT_GRUB;
	text = (const char *)data + 1;
	size--;
	(void)adapt_modules_has(text, size, "virtio_blk");
	named = adapt_boot_parse(kind, text, size, &b) == 0;
	if (adapt_boot_add_console(kind, text, size, "ttyS0", &out, &changed) < 0)
		return 0;
	/* a NUL in the image's text ends what is read of a line there */
	if (kind == ADAPT_BOOT_GRUB_DEFAULT && !memchr(text, '\0', size)) {
		if (adapt_boot_add_console(kind, out, strlen(out), "ttyS0", &out2, &changed2) == 0 &&
		    (changed2 || strcmp(out, out2) != 0))
			abort();
		free(out2);
		out2 = NULL;
	}
	if (named && !memchr(text, '\0', size)) {
		if (adapt_boot_parse(kind, out, strlen(out), &b2) != 0)
			abort();
		if (!adapt_cmdline_has_console(b2.cmdline, "ttyS0") || strcmp(b.kernel, b2.kernel) != 0)
			abort();
		adapt_boot_clear(&b2);
		if (adapt_boot_add_console(kind, out, strlen(out), "ttyS0", &out2, &changed2) == 0 &&
		    (changed2 || strcmp(out, out2) != 0))
			abort();
		free(out2);
	}
	if (named)
		adapt_boot_clear(&b);
	free(out);
	return 0;
}
