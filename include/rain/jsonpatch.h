/* JSON patch documents as Glance accepts them for image updates, restricted
 * to the operations add, replace and remove: media type
 * application/openstack-images-v2.1-json-patch is RFC 6902
 * ({"op": "replace", "path": "/name", "value": "x"}), and
 * application/openstack-images-v2.0-json-patch its draft 4, where the
 * operation's name holds the path ({"replace": "/name", "value": "x"}).
 *
 * A path is a JSON pointer of one reference token ("/name", "/tags",
 * "/os_distro"), with "~1" and "~0" unescaped.  Deeper paths are refused
 * since no image attribute is a nested object.
 */
#ifndef RAIN_JSONPATCH_H
#define RAIN_JSONPATCH_H

#include <stddef.h>

#include <jansson.h>

enum rain_patch_op {
	RAIN_PATCH_ADD,
	RAIN_PATCH_REPLACE,
	RAIN_PATCH_REMOVE,
};

struct rain_patch_item {
	enum rain_patch_op op;
	char *attr;       /* the decoded reference token */
	json_t *value;    /* NULL for remove; a reference owned by the patch */
};

struct rain_jsonpatch {
	struct rain_patch_item *items;
	size_t n;
};

#define RAIN_JSONPATCH_MAX_OPS 256

/* Parse len bytes of text (need not be NUL-terminated). On success *out is a
 * new patch owned by the caller. RAIN_EINVAL with a message that says what
 * and where ("operation 2: path '/a/b' is not a single attribute") on any
 * malformed input; never crashes on arbitrary bytes. */
int rain_jsonpatch_parse(const char *text, size_t len, struct rain_jsonpatch **out);

enum rain_jsonpatch_dialect {
	RAIN_JSONPATCH_RFC6902, /* v2.1 */
	RAIN_JSONPATCH_DRAFT4,  /* v2.0 */
};

/* The same, in either dialect (rain_jsonpatch_parse is RFC 6902's). */
int rain_jsonpatch_parse_dialect(const char *text, size_t len, enum rain_jsonpatch_dialect dialect,
				 struct rain_jsonpatch **out);

void rain_jsonpatch_free(struct rain_jsonpatch *patch);

#endif
