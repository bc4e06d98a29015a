/* libFuzzer harness for our feed file's loader (rain_vet_feed_load_mem):
 * a damaged or crafted file gives RAIN_EFORMAT, never a crash or leak. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-vet-feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rain_vet_feed *f;
	int r = rain_vet_feed_load_mem(&f, (const char *)data, size, "fuzz");

	if (r < 0) {
		if (f || (r != RAIN_EFORMAT && r != RAIN_ENOMEM))
			__builtin_trap();
		return 0;
	}
	fuzz_check_feed(f);
	rain_vet_feed_free(f);
	return 0;
}
