/* libFuzzer harness for the dpkg status parser (rain/pkg.h): arbitrary
 * bytes give a package list or RAIN_EFORMAT, never a crash or leak; a
 * list is sorted, every string set, and every name found again. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rain/error.h"
#include "rain/pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rain_pkg_list l;
	int r = rain_pkg_parse_dpkg_status((const char *)data, size, "fuzz", &l);

	if (r < 0) {
		if ((r != RAIN_EFORMAT && r != RAIN_ENOMEM) || l.n || l.pkgs)
			__builtin_trap();
		return 0;
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct rain_pkg *p = &l.pkgs[i];

		if (!p->name || !p->version || !p->arch || !p->source || !p->source_version ||
		    !p->status || rain_pkg_version_check(RAIN_PKG_DEB, p->version) < 0)
			__builtin_trap();
		if (i && strcmp(l.pkgs[i - 1].name, p->name) > 0)
			__builtin_trap();
		if (!rain_pkg_find(&l, p->name) || strcmp(rain_pkg_find(&l, p->name)->name, p->name))
			__builtin_trap();
	}
	rain_pkg_list_free(&l);
	return 0;
}
