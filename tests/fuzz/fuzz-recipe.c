/* libFuzzer harness for the recipe parser: arbitrary bytes must give a
 * recipe or a clean error, and a parsed recipe must format and re-parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rain/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct rain_recipe *r = NULL, *again = NULL;
	char *fmt = NULL;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (rain_recipe_parse(text, "fuzz.recipe", ".", &r) == 0) {
		if (rain_recipe_format(r, &fmt) != 0)
			__builtin_trap();
		if (rain_recipe_parse(fmt, "formatted", ".", &again) != 0)
			__builtin_trap();   /* what we print we must read back */
	}
	rain_recipe_free(again);
	rain_recipe_free(r);
	free(fmt);
	free(text);
	return 0;
}
