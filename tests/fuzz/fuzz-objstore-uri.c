/* libFuzzer harness for the object store blob backends' URI parser
 * (objstore_uri_parse in src/lib/repo/backends/objstore.c): the input is
 * what follows "s3:" or "swift:" (its first byte picks which). Checked: a
 * parse succeeds with a host, a bucket of the allowed characters, a part
 * size in range and no '@' (credentials) anywhere, or fails with a message;
 * a URI refused for a secret_key= in it does not repeat it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "repo/backends/objstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct objstore_uri u;
	const char *scheme;
	char *loc, *secret, want[128];
	int r;

	if (size < 1 || size > 4096)
		return 0;
	scheme = data[0] & 1 ? "swift" : "s3";
	loc = strndup((const char *)data + 1, size - 1);
	if (!loc || strlen(loc) != size - 1) {
		free(loc);
		return 0;
	}
	rain_error_clear();
	r = objstore_uri_parse(scheme, loc, &u);
	if (r == 0) {
		if (!u.host || !*u.host || !u.bucket || !*u.bucket || strchr(u.host, '@') ||
		    strchr(u.bucket, '/') || u.part_size < OBJSTORE_MIN_PART ||
		    u.part_size > OBJSTORE_MAX_PART)
			abort();
		objstore_uri_free(&u);
	} else {
		if (!rain_error_last() || !*rain_error_last())
			abort();
		/* refused for a secret: the message names the key, never
		 * "key=value" */
		secret = strchr(loc, '?') ? strstr(strchr(loc, '?'), "secret_key=") : NULL;
		snprintf(want, sizeof(want), "blob store '%s:': credentials do not go in the URI "
			 "('secret_key=')", scheme);
		if (secret && secret[11] && secret[11] != '\'' && secret[11] != '&' &&
		    !strncmp(rain_error_last(), want, strlen(want))) {
			size_t n = strcspn(secret, "&");
			char *kv = strndup(secret, n);

			if (kv && strstr(rain_error_last(), kv))
				abort();
			free(kv);
		}
	}
	free(loc);
	return 0;
}
