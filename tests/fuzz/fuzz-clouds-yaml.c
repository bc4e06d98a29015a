/* libFuzzer harness for clouds.yaml (src/lib/client/clouds.c): arbitrary
 * bytes (not NUL-terminated) give a cloud entry or an error (RAIN_EFORMAT,
 * RAIN_EINVAL, RAIN_ENOTFOUND, RAIN_ETOOBIG), never a crash, a leak or
 * more work than the bounds allow (aliases, nesting); an entry that parses
 * gives a login body for its password or refuses one. The cloud looked up
 * is "a", which the seeds name. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "rain/clouds.h"
#include "rain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rain_cloud *c = NULL;
	json_t *body = NULL;
	int r;

	r = rain_cloud_parse((const char *)data, size, "fuzz.yaml", "a", &c);
	if (r == 0) {
		if (!c || !c->name || !c->file || !c->interface)
			__builtin_trap();
		if (c->auth_type == RAIN_CLOUD_AUTH_PASSWORD && (!c->auth_url || !c->password))
			__builtin_trap();
		r = rain_cloud_auth_body(c, &body);
		if ((r == 0) != (c->auth_type == RAIN_CLOUD_AUTH_PASSWORD) && r != RAIN_ENOMEM)
			__builtin_trap();
		json_decref(body);
		rain_cloud_free(c);
	} else if (c || (r != RAIN_EFORMAT && r != RAIN_EINVAL && r != RAIN_ENOTFOUND &&
			 r != RAIN_ETOOBIG && r != RAIN_ENOMEM)) {
		__builtin_trap();
	}
	return 0;
}
