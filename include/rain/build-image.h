/* From a finished build to a repository image: which output is stored
 * and the image's fields and properties. `rain generate --store` and
 * raind's build service both use it, so that an image stored either way
 * looks the same.
 *
 * The stored output is the qcow2 when there is one, else the raw disk.
 * The fields are name, disk_format (qcow2 or raw), container_format
 * (bare), and as string properties: os_distro, os_version, architecture
 * (Glance's names: x86_64, aarch64), description, the recipe's
 * [metadata], rain_recipe (the canonical recipe text), rain_packages (how
 * many), rain_package_list (every installed package, one "NAME VERSION
 * ARCHITECTURE" line each; a list longer than a property continues in
 * rain_package_list_2, _3, ..., split between lines), rain_boot_check (passed, failed or "not run"),
 * rain_build_seconds, rain_parent_image (the image it was cloned from) and
 * rain_recipe_inputs (the files the recipe names, packed as below, when
 * they fit in a property), so that the image can be regenerated.
 */
#ifndef RAIN_BUILD_IMAGE_H
#define RAIN_BUILD_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/image.h"
#include "rain/recipe.h"

/* The package list is split in properties of at most this many bytes,
 * at most RAIN_BUILD_PACKAGE_LIST_PARTS of them. */
#define RAIN_BUILD_PACKAGE_LIST_PART (RAIN_PROP_VALUE_MAX - 1)
#define RAIN_BUILD_PACKAGE_LIST_PARTS 16

/* Packed inputs larger than this are not stored with an image. */
#define RAIN_BUILD_INPUTS_STORED_MAX (40 << 10)

struct rain_build_image {
	json_t *fields;     /* a body for POST /v2/images (rain_repo_image_create) */
	char *format;       /* the stored output's format: "qcow2" or "disk" */
	char *file;         /* its file name in the build's output directory */
};

/* True when the recipe asks for an output that can be stored. */
bool rain_build_image_storable(const struct rain_recipe *r);

/* Fill *out from the recipe and the build's manifest (as written to
 * manifest.json). RAIN_EINVAL when the build has no disk or qcow2 output,
 * RAIN_EFORMAT when the manifest lacks what is needed. */
int rain_build_image_make(const struct rain_recipe *r, json_t *manifest,
			  struct rain_build_image *out);
void rain_build_image_clear(struct rain_build_image *bi);

/* The files the recipe's [files] copy and [scripts] run name (relative to
 * the recipe; an absolute path is RAIN_EINVAL), at most max bytes in all
 * (RAIN_ETOOBIG), as a new JSON object {"NAME": {"data": BASE64,
 * "mode": N}} with NAME as rain_build_file_name() normalizes it. */
int rain_build_inputs_pack(const struct rain_recipe *r, int64_t max, json_t **out);
/* Write packed files under dir (created as needed); names are checked. */
int rain_build_inputs_unpack(json_t *files, const char *dir);

#endif
