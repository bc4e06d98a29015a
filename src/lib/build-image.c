/* The repository image of a finished build; see include/rain/build-image.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/build-image.h"
#include "rain/error.h"
#include "util/strutil.h"

bool rain_build_image_storable(const struct rain_recipe *r)
{
	return (r->formats & (RAIN_OUT_DISK | RAIN_OUT_QCOW2)) != 0;
}

/* Glance's architecture names for Debian's. */
static const char *glance_arch(const char *arch)
{
	if (!strcmp(arch, "amd64"))
		return "x86_64";
	if (!strcmp(arch, "arm64"))
		return "aarch64";
	return arch;
}

static int set_str(json_t *obj, const char *key, const char *value)
{
	if (!value)
		return 0;
	return json_object_set_new(obj, key, json_string(value)) == 0 ? 0 : RAIN_ENOMEM;
}

int rain_build_image_make(const struct rain_recipe *r, json_t *manifest,
			  struct rain_build_image *out)
{
	json_t *outputs = json_object_get(manifest, "outputs"), *o, *best = NULL, *boot, *f;
	_cleanup_free_ char *recipe_text = NULL;
	char buf[64];
	size_t i;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!json_is_array(outputs))
		return rain_error_set(RAIN_EFORMAT, "the build's manifest lists no outputs");
	json_array_foreach(outputs, i, o) {
		const char *fmt = json_string_value(json_object_get(o, "format"));

		if (fmt && (!strcmp(fmt, "qcow2") || (!best && !strcmp(fmt, "disk"))))
			best = o;
	}
	if (!best)
		return rain_error_set(RAIN_EINVAL, "storing needs a disk or qcow2 output; add one to "
				      "[output] formats");
	if (!json_is_string(json_object_get(best, "file")))
		return rain_error_set(RAIN_EFORMAT, "the build's manifest names no file for its %s output",
				      json_string_value(json_object_get(best, "format")));
	if (rain_recipe_format(r, &recipe_text) < 0)
		return RAIN_ENOMEM;
	out->format = strdup(json_string_value(json_object_get(best, "format")));
	out->file = strdup(json_string_value(json_object_get(best, "file")));
	out->fields = f = json_object();
	if (!out->format || !out->file || !f) {
		rain_build_image_clear(out);
		return RAIN_ENOMEM;
	}
	ret |= set_str(f, "name", r->name ? r->name : "image");
	ret |= set_str(f, "disk_format", strcmp(out->format, "qcow2") ? "raw" : "qcow2");
	ret |= set_str(f, "container_format", "bare");
	ret |= set_str(f, "os_distro", r->distribution);
	ret |= set_str(f, "os_version", r->release);
	if (r->architecture)
		ret |= set_str(f, "architecture", glance_arch(r->architecture));
	ret |= set_str(f, "description", r->description);
	for (i = 0; i < r->nmetadata; i++)
		ret |= set_str(f, r->metadata[i].name, r->metadata[i].value);
	ret |= set_str(f, "rain_recipe", recipe_text);
	snprintf(buf, sizeof(buf), "%zu", json_array_size(json_object_get(manifest, "packages")));
	ret |= set_str(f, "rain_packages", buf);
	boot = json_object_get(manifest, "boot_check");
	ret |= set_str(f, "rain_boot_check",
		       json_is_object(boot) && json_is_string(json_object_get(boot, "result")) ?
		       json_string_value(json_object_get(boot, "result")) : "not run");
	snprintf(buf, sizeof(buf), "%.1f",
		 json_number_value(json_object_get(json_object_get(manifest, "timings"), "total_s")));
	ret |= set_str(f, "rain_build_seconds", buf);
	if (ret) {
		rain_build_image_clear(out);
		return RAIN_ENOMEM;
	}
	return 0;
}

void rain_build_image_clear(struct rain_build_image *bi)
{
	json_decref(bi->fields);
	free(bi->format);
	free(bi->file);
	memset(bi, 0, sizeof(*bi));
}
