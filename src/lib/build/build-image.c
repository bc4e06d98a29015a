/* The repository image of a finished build; see include/rain/build-image.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <sys/stat.h>

#include "rain/build-image.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "util/base64.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* ---- the files a recipe names ---- */

static int pack_one(const struct rain_recipe *r, const char *what, const char *src, json_t *files,
		    int64_t max, int64_t *total)
{
	_cleanup_free_ char *name = NULL, *path = NULL, *data = NULL, *b64 = NULL;
	struct stat st;
	size_t len;
	int ret;

	if (src[0] == '/')
		return rain_error_set(RAIN_EINVAL, "%s: %s '%s' is an absolute path; only files named "
				      "relative to the recipe travel with it", r->file, what, src);
	if (rain_build_file_name(src, &name) < 0)
		return rain_error_set(RAIN_EINVAL, "%s: %s: %s", r->file, what, rain_error_last());
	if (json_object_get(files, name))
		return 0;
	if (!(path = fs_path_join(r->dir, src)))
		return rain_error_oom();
	if (stat(path, &st) < 0)
		return rain_error_errno(RAIN_ENOTFOUND, errno, "%s: %s: cannot read %s", r->file, what, path);
	if (!S_ISREG(st.st_mode))
		return rain_error_set(RAIN_EINVAL, "%s: %s: %s is not a regular file", r->file, what, path);
	if (*total + st.st_size > max)
		return rain_error_set(RAIN_ETOOBIG, "the recipe's files exceed %lld KiB",
				      (long long)(max >> 10));
	if ((ret = fs_read_small(path, (size_t)max, &data, &len)) < 0)
		return rain_error_set(ret, "%s: %s: %s", r->file, what, rain_error_last());
	*total += (int64_t)len;
	b64 = base64_encode(data, len);
	if (!b64 || json_object_set_new(files, name, json_pack("{s:s, s:i}", "data", b64,
							       "mode", (int)(st.st_mode & 0777))) < 0)
		return rain_error_oom();
	return 0;
}

int rain_build_inputs_pack(const struct rain_recipe *r, int64_t max, json_t **out)
{
	json_t *files;
	int64_t total = 0;
	int ret;

	rain_error_clear();
	files = json_object();
	ret = files ? 0 : rain_error_oom();
	for (size_t i = 0; ret == 0 && i < r->nfiles; i++)
		ret = pack_one(r, "[files] copy", r->files[i].src, files, max, &total);
	for (size_t i = 0; ret == 0 && i < r->nscripts; i++)
		ret = pack_one(r, "[scripts] run", r->scripts[i], files, max, &total);
	if (ret < 0) {
		json_decref(files);
		return ret;
	}
	*out = files;
	return 0;
}

int rain_build_inputs_unpack(json_t *files, const char *dir)
{
	const char *key;
	json_t *v;

	rain_error_clear();
	if (!json_is_object(files))
		return rain_error_set(RAIN_EFORMAT, "the recipe's files are not a JSON object");
	json_object_foreach(files, key, v) {
		_cleanup_free_ char *name = NULL, *path = NULL;
		_cleanup_free_ unsigned char *data = NULL;
		const char *b64 = json_string_value(json_object_get(v, "data"));
		json_int_t mode = json_integer_value(json_object_get(v, "mode"));
		size_t len;
		char *slash;
		int ret;

		if ((ret = rain_build_file_name(key, &name)) < 0)
			return ret;
		if (!b64 || base64_decode(b64, strlen(b64), &data, &len) < 0)
			return rain_error_set(RAIN_EFORMAT, "the recipe's file %s is not base64", name);
		if (!(path = fs_path_join(dir, name)))
			return rain_error_oom();
		slash = strrchr(path, '/');
		*slash = '\0';
		ret = fs_mkdir_p(path, 0700);
		*slash = '/';
		if (ret == 0)
			ret = fs_write_atomic(path, data, len, (mode_t)(mode > 0 && mode <= 0777 ? mode : 0644));
		if (ret < 0)
			return ret;
	}
	return 0;
}

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
	return json_object_set_new(obj, key, json_string(value)) == 0 ? 0 : rain_error_oom();
}

/* The manifest's packages ([{name, version, architecture}]) as
 * rain_package_list, rain_package_list_2, ... (rain/build-image.h). */
static int set_package_list(json_t *obj, json_t *packages)
{
	_cleanup_free_ char *part = malloc(RAIN_BUILD_PACKAGE_LIST_PART + 1);
	size_t len = 0, i;
	int n = 1, ret = 0;
	json_t *p;

	if (!part)
		return rain_error_oom();
	json_array_foreach(packages, i, p) {
		char line[512];
		int l = snprintf(line, sizeof(line), "%s %s %s\n",
				 json_string_value(json_object_get(p, "name")) ?: "?",
				 json_string_value(json_object_get(p, "version")) ?: "?",
				 json_string_value(json_object_get(p, "architecture")) ?: "?");

		if (l < 0 || (size_t)l >= sizeof(line))
			continue;       /* no package has such a name */
		if (len + (size_t)l > RAIN_BUILD_PACKAGE_LIST_PART) {
			char key[32];

			if (n == RAIN_BUILD_PACKAGE_LIST_PARTS)
				break;
			part[len] = '\0';
			snprintf(key, sizeof(key), n == 1 ? "rain_package_list" : "rain_package_list_%d", n);
			ret |= set_str(obj, key, part);
			len = 0;
			n++;
		}
		memcpy(part + len, line, (size_t)l);
		len += (size_t)l;
	}
	if (len) {
		char key[32];

		part[len] = '\0';
		snprintf(key, sizeof(key), n == 1 ? "rain_package_list" : "rain_package_list_%d", n);
		ret |= set_str(obj, key, part);
	}
	return ret;
}

int rain_build_image_make(const struct rain_recipe *r, json_t *manifest,
			  struct rain_build_image *out)
{
	json_t *outputs = json_object_get(manifest, "outputs"), *o, *best = NULL, *boot, *f;
	_cleanup_free_ char *recipe_text = NULL;
	char buf[64];
	size_t i;
	int ret = 0;

	rain_error_clear();
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
		return rain_error_oom();
	out->format = strdup(json_string_value(json_object_get(best, "format")));
	out->file = strdup(json_string_value(json_object_get(best, "file")));
	out->fields = f = json_object();
	if (!out->format || !out->file || !f) {
		rain_build_image_clear(out);
		return rain_error_oom();
	}
	ret |= set_str(f, "name", r->name ? r->name : "image");
	ret |= set_str(f, "disk_format", strcmp(out->format, "qcow2") ? "raw" : "qcow2");
	ret |= set_str(f, "container_format", "bare");
	ret |= set_str(f, "os_distro", r->distribution);
	ret |= set_str(f, "os_version", r->release);
	if (r->architecture)
		ret |= set_str(f, "architecture", glance_arch(r->architecture));
	/* Nova boots an image with this property through UEFI firmware */
	if (r->firmware == RAIN_FIRMWARE_UEFI)
		ret |= set_str(f, "hw_firmware_type", "uefi");
	ret |= set_str(f, "description", r->description);
	for (i = 0; i < r->nmetadata; i++)
		ret |= set_str(f, r->metadata[i].name, r->metadata[i].value);
	ret |= set_str(f, "rain_recipe", recipe_text);
	snprintf(buf, sizeof(buf), "%zu", json_array_size(json_object_get(manifest, "packages")));
	ret |= set_str(f, "rain_packages", buf);
	ret |= set_package_list(f, json_object_get(manifest, "packages"));
	boot = json_object_get(manifest, "boot_check");
	ret |= set_str(f, "rain_boot_check",
		       json_is_object(boot) && json_is_string(json_object_get(boot, "result")) ?
		       json_string_value(json_object_get(boot, "result")) : "not run");
	snprintf(buf, sizeof(buf), "%.1f",
		 json_number_value(json_object_get(json_object_get(manifest, "timings"), "total_s")));
	ret |= set_str(f, "rain_build_seconds", buf);
	ret |= set_str(f, "rain_parent_image",
		       json_string_value(json_object_get(json_object_get(manifest, "base"), "image")));
	/* the files the recipe names, so that --from-image can regenerate it
	 * (when they fit in a property) */
	if (r->nfiles || r->nscripts) {
		json_t *inputs = NULL;

		if (rain_build_inputs_pack(r, RAIN_BUILD_INPUTS_STORED_MAX, &inputs) == 0) {
			_cleanup_free_ char *text = json_dumps(inputs, JSON_COMPACT | JSON_SORT_KEYS);

			if (text && strlen(text) <= RAIN_PROP_VALUE_MAX)
				ret |= set_str(f, "rain_recipe_inputs", text);
		}
		json_decref(inputs);
	}
	if (ret) {
		rain_build_image_clear(out);
		return rain_error_oom();
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
