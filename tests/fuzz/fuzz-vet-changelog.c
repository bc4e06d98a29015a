/* libFuzzer harness for the debian/changelog reader of rain vet feed
 * build: arbitrary bytes add CVEs to a feed or give RAIN_EFORMAT, never a
 * crash or leak. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-vet-feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rain_vet_feed *f;
	int r;

	if (rain_vet_feed_new(&f, RAIN_VET_FEED_MIRROR, RAIN_PKG_DEB, "bookworm", "fuzz", 0) < 0)
		__builtin_trap();
	r = rain_vet_feed_add_changelog(f, "openssl", (const char *)data, size, "fuzz");
	if (r < 0 && r != RAIN_EFORMAT && r != RAIN_ENOMEM)
		__builtin_trap();
	fuzz_check_feed(f);
	rain_vet_feed_free(f);
	return 0;
}
