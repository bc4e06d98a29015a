/* libFuzzer harness for the JSON patch parser, in both dialects (RFC 6902
 * and Glance's v2.0 draft 4): arbitrary bytes (not NUL-terminated) must give
 * a patch or an error (RAIN_EINVAL, RAIN_ETOOBIG for too many operations),
 * never a crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rain/error.h"
#include "rain/jsonpatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *data, size_t size, enum rain_jsonpatch_dialect dialect)
{
	struct rain_jsonpatch *patch = NULL;
	size_t i;
	int r;

	r = rain_jsonpatch_parse_dialect((const char *)data, size, dialect, &patch);
	if (r == 0) {
		if (!patch || patch->n > RAIN_JSONPATCH_MAX_OPS)
			__builtin_trap();
		for (i = 0; i < patch->n; i++) {
			const struct rain_patch_item *it = &patch->items[i];

			if (!it->attr)
				__builtin_trap();
			(void)strlen(it->attr);
			if ((it->op == RAIN_PATCH_REMOVE) != (it->value == NULL))
				__builtin_trap();
		}
		rain_jsonpatch_free(patch);
	} else if (r != RAIN_EINVAL && r != RAIN_ETOOBIG && r != RAIN_ENOMEM) {
		__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, RAIN_JSONPATCH_RFC6902);
	one(data, size, RAIN_JSONPATCH_DRAFT4);
	return 0;
}
