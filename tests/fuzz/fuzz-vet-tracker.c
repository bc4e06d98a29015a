/* libFuzzer harness for the Security Tracker JSON importer: arbitrary
 * bytes give a feed or a clear error (RAIN_EFORMAT, RAIN_ETOOBIG), never
 * a crash or leak; a feed keeps its invariants and can be matched. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-vet-feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rain_vet_feed *f;
	int r = rain_vet_feed_import_tracker_mem(&f, (const char *)data, size, "fuzz", "bookworm");

	if (r < 0) {
		if (f || (r != RAIN_EFORMAT && r != RAIN_ETOOBIG && r != RAIN_ENOMEM))
			__builtin_trap();
		return 0;
	}
	fuzz_check_feed(f);
	rain_vet_feed_free(f);
	return 0;
}
