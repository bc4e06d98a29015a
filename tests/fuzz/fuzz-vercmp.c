/* libFuzzer harness for dpkg's version order (rain_pkg_vercmp_deb): the
 * input is three versions separated by newlines. A slow reference cannot
 * run here (dpkg is a process), so the order's laws are checked instead:
 * reflexive, antisymmetric, transitive on the triple, and the same for
 * versions dpkg refuses (they get a consistent place). The rpm order is
 * librpm's own and only exercised. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rain/pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *v[3] = { "", "", "" }, *p;
	int ab, bc, ac;

	if (size > 4096)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	for (int i = 0; i < 3 && p; i++) {
		char *nl = strchr(p, '\n');

		v[i] = p;
		if (nl)
			*nl++ = '\0';
		p = nl;
	}
	for (int i = 0; i < 3; i++) {
		if (rain_pkg_vercmp_deb(v[i], v[i]) != 0)
			__builtin_trap();
		for (int j = 0; j < 3; j++)
			if (sign(rain_pkg_vercmp_deb(v[i], v[j])) != -sign(rain_pkg_vercmp_deb(v[j], v[i])))
				__builtin_trap();
		(void)rain_pkg_version_check(RAIN_PKG_DEB, v[i]);
		(void)rain_pkg_version_check(RAIN_PKG_RPM, v[i]);
		(void)rain_pkg_vercmp_rpm(v[i], v[(i + 1) % 3]);
	}
	/* every order of the three: a <= b <= c gives a <= c, and == when
	 * both are == */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 3; k++) {
				ab = sign(rain_pkg_vercmp_deb(v[i], v[j]));
				bc = sign(rain_pkg_vercmp_deb(v[j], v[k]));
				ac = sign(rain_pkg_vercmp_deb(v[i], v[k]));
				if (ab <= 0 && bc <= 0 && ac > 0)
					__builtin_trap();
				if (ab == 0 && bc == 0 && ac != 0)
					__builtin_trap();
			}
	free(buf);
	return 0;
}
