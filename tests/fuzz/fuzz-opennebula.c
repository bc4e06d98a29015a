/* libFuzzer harness for what the opennebula site driver reads from the
 * network (src/lib/target/drivers/opennebula-xmlrpc.c): arbitrary bytes as
 * an XML-RPC answer give [success, result, code] or RAIN_EFORMAT, and a
 * result (or the bytes themselves) read as an image document and as a
 * pool listing give a state, an id or nothing: never a crash, a leak or a
 * network access (libxml2 without entities or network). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/target/target-internal.h"
#include "rain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const state[] = { "IMAGE", "STATE", NULL };
	char *text = malloc(size + 1), *res = NULL, *st;
	bool ok;
	long code;
	int64_t id;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (opennebula_parse_response(text, size, &ok, &res, &code) == 0) {
		if (!res)
			__builtin_trap();
		st = opennebula_doc_text(res, state);
		free(st);
		opennebula_pool_find(res, "IMAGE", "rain-x-image", &id);
		free(res);
	}
	st = opennebula_doc_text(text, state);
	free(st);
	opennebula_pool_find(text, "VMTEMPLATE", "rain-x-template", &id);
	free(text);
	return 0;
}
