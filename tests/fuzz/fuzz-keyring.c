/* libFuzzer harness for recipe signing keys (lib/build/keyring.h): a
 * crafted keyring, binary or armored, gives its v4 fingerprints or
 * RAIN_EFORMAT, never a crash, a leak or a hang; and the same bytes as a
 * recipe's key_fingerprint value parse or are refused. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/build/keyring.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **fps = NULL, fp[RAIN_FINGERPRINT_LEN + 1];
	size_t n = 0;
	int r = keyring_fingerprints(data, size, "fuzz", &fps, &n);

	if (r < 0) {
		if ((r != RAIN_EFORMAT && r != RAIN_ENOMEM) || fps || n)
			__builtin_trap();
	} else {
		if (n == 0)
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			if (strlen(fps[i]) != RAIN_FINGERPRINT_LEN ||
			    strspn(fps[i], "0123456789ABCDEF") != RAIN_FINGERPRINT_LEN)
				__builtin_trap();
		strv_free(fps, n);
	}
	if (size < 256) {
		char *s = strndup((const char *)data, size);

		if (s && rain_recipe_fingerprint_parse(s, fp) == 0 &&
		    (strlen(fp) != RAIN_FINGERPRINT_LEN || strspn(fp, "0123456789ABCDEF") != RAIN_FINGERPRINT_LEN))
			__builtin_trap();
		free(s);
	}
	return 0;
}
