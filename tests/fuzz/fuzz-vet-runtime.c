/* libFuzzer harness for the runtime check's parser (what a guest wrote to
 * its serial port): arbitrary bytes (not NUL-terminated) give facts or an
 * error (RAIN_EFORMAT, RAIN_ETOOBIG), never a crash or leak; the facts
 * hold only printable ASCII and ports that fit. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "rain/error.h"
#include "rain/vet-runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const char *s)
{
	if (!s || !*s)
		__builtin_trap();
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *facts = NULL, *v;
	size_t i;
	int r;

	r = rain_vet_runtime_parse((const char *)data, size, &facts);
	if (r == 0) {
		check_string(json_string_value(json_object_get(facts, "kernel")));
		json_array_foreach(json_object_get(facts, "listening"), i, v) {
			json_int_t port = json_integer_value(json_object_get(v, "port"));

			check_string(json_string_value(json_object_get(v, "address")));
			if (port < 0 || port > 65535)
				__builtin_trap();
			if (json_object_get(v, "process"))
				check_string(json_string_value(json_object_get(v, "process")));
		}
		json_array_foreach(json_object_get(facts, "enabled"), i, v)
			check_string(json_string_value(v));
		json_array_foreach(json_object_get(facts, "failed"), i, v)
			check_string(json_string_value(v));
		json_decref(facts);
	} else if (r != RAIN_EFORMAT && r != RAIN_ETOOBIG && r != RAIN_ENOMEM) {
		__builtin_trap();
	}
	return 0;
}
