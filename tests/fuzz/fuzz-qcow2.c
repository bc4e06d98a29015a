/* libFuzzer harness for the disk-format inspector: arbitrary bytes as the
 * head of an upload, checked against every declared format. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rain/diskfmt.h"
#include "rain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const declared[] = {
		NULL, "qcow2", "raw", "iso", "vmdk", "vhdx", "vdi", "ami",
	};
	struct rain_qcow2_info info;
	const char *fmt;
	int64_t vs;
	size_t i;
	int r;

	if (size > RAIN_DISKFMT_HEAD)
		size = RAIN_DISKFMT_HEAD;

	r = rain_qcow2_parse(data, size, &info);
	if (r == 0) {
		if (info.version != 2 && info.version != 3)
			__builtin_trap();
		if (info.cluster_bits < 9 || info.cluster_bits > 21)
			__builtin_trap();
		if (info.virtual_size > (uint64_t)INT64_MAX)
			__builtin_trap();
	} else if (r != RAIN_EFORMAT || rain_error_last()[0] == '\0') {
		__builtin_trap();
	}

	fmt = rain_diskfmt_detect(data, size);
	if (!fmt)
		__builtin_trap();

	for (i = 0; i < sizeof(declared) / sizeof(declared[0]); i++) {
		vs = -2;
		rain_error_clear();
		r = rain_diskfmt_check(declared[i], data, size, (int64_t)size, &vs);
		if (r != 0 && (r != RAIN_EFORMAT || rain_error_last()[0] == '\0'))
			__builtin_trap();
		if (r == 0 && vs < -1)
			__builtin_trap();
		/* whatever was declared, a qcow2 naming another file never passes */
		if (r == 0 && rain_qcow2_parse(data, size, &info) == 0 &&
		    (info.has_backing_file || info.has_data_file))
			__builtin_trap();
	}
	return 0;
}
