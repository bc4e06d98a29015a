/* libFuzzer harness for the rpm database reader (rain_pkg_parse_rpmdb):
 * a crafted rpmdb.sqlite (SQLite pages, rpm header blobs) gives a list
 * or RAIN_EFORMAT/RAIN_ETOOBIG, never a crash, a leak or a hang. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rain/error.h"
#include "rain/pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rain_pkg_list l;
	int r = rain_pkg_parse_rpmdb(data, size, "fuzz", &l);

	if (r < 0) {
		if ((r != RAIN_EFORMAT && r != RAIN_ETOOBIG && r != RAIN_ENOMEM) || l.n || l.pkgs)
			__builtin_trap();
		return 0;
	}
	for (size_t i = 0; i < l.n; i++)
		if (!l.pkgs[i].name || !l.pkgs[i].version || !l.pkgs[i].source ||
		    !l.pkgs[i].source_version || rain_pkg_version_check(RAIN_PKG_RPM, l.pkgs[i].version) < 0)
			__builtin_trap();
	rain_pkg_list_free(&l);
	return 0;
}
