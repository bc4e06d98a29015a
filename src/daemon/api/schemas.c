/* GET /v2/schemas/image, /v2/schemas/images, /v2/schemas/member and
 * /v2/schemas/members: JSON schemas in the form Glance publishes, which
 * clients such as glanceclient use to validate and to print. */
#include "daemon/http.h"

#define IMAGE_PROPERTIES \
	"\"id\": {\"type\": \"string\", \"description\": \"An identifier for the image\", " \
	"\"pattern\": \"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$\"}," \
	"\"name\": {\"type\": [\"null\", \"string\"], \"description\": \"Descriptive name for the image\", \"maxLength\": 255}," \
	"\"status\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Status of the image\", " \
	"\"enum\": [\"queued\", \"saving\", \"active\", \"killed\", \"deleted\", \"uploading\", \"importing\", \"pending_delete\", \"deactivated\"]}," \
	"\"visibility\": {\"type\": \"string\", \"description\": \"Scope of image accessibility\", " \
	"\"enum\": [\"community\", \"public\", \"private\", \"shared\"]}," \
	"\"protected\": {\"type\": \"boolean\", \"description\": \"If true, image will not be deletable.\"}," \
	"\"os_hidden\": {\"type\": \"boolean\", \"description\": \"If true, image will not appear in default image list response.\"}," \
	"\"checksum\": {\"type\": [\"null\", \"string\"], \"readOnly\": true, \"description\": \"md5 hash of image contents.\", \"maxLength\": 32}," \
	"\"os_hash_algo\": {\"type\": [\"null\", \"string\"], \"readOnly\": true, \"description\": \"Algorithm to calculate the os_hash_value\", \"maxLength\": 64}," \
	"\"os_hash_value\": {\"type\": [\"null\", \"string\"], \"readOnly\": true, \"description\": \"Hexdigest of the image contents using the algorithm specified by the os_hash_algo\", \"maxLength\": 128}," \
	"\"owner\": {\"type\": [\"null\", \"string\"], \"description\": \"Owner of the image\", \"maxLength\": 255}," \
	"\"size\": {\"type\": [\"null\", \"integer\"], \"readOnly\": true, \"description\": \"Size of image file in bytes\"}," \
	"\"virtual_size\": {\"type\": [\"null\", \"integer\"], \"readOnly\": true, \"description\": \"Virtual size of image in bytes\"}," \
	"\"container_format\": {\"type\": [\"null\", \"string\"], \"description\": \"Format of the container\", " \
	"\"enum\": [null, \"ami\", \"ari\", \"aki\", \"bare\", \"ovf\", \"ova\", \"docker\", \"compressed\"]}," \
	"\"disk_format\": {\"type\": [\"null\", \"string\"], \"description\": \"Format of the disk\", " \
	"\"enum\": [null, \"ami\", \"ari\", \"aki\", \"vhd\", \"vhdx\", \"vmdk\", \"raw\", \"qcow2\", \"vdi\", \"iso\", \"ploop\"]}," \
	"\"created_at\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date and time of image registration\"}," \
	"\"updated_at\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"Date and time of the last image modification\"}," \
	"\"tags\": {\"type\": \"array\", \"description\": \"List of strings related to the image\", " \
	"\"items\": {\"type\": \"string\", \"maxLength\": 255}}," \
	"\"direct_url\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"URL to access the image file kept in external store\"}," \
	"\"min_ram\": {\"type\": \"integer\", \"description\": \"Amount of ram (in MB) required to boot image.\"}," \
	"\"min_disk\": {\"type\": \"integer\", \"description\": \"Amount of disk space (in GB) required to boot image.\"}," \
	"\"self\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"An image self url\"}," \
	"\"file\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"An image file url\"}," \
	"\"schema\": {\"type\": \"string\", \"readOnly\": true, \"description\": \"An image schema url\"}," \
	"\"download_count\": {\"type\": \"integer\", \"readOnly\": true, \"description\": \"How many times the image data was downloaded (rain)\"}," \
	"\"last_accessed_at\": {\"type\": [\"null\", \"string\"], \"readOnly\": true, \"description\": \"Date and time of the last download (rain)\"}," \
	"\"os_distro\": {\"type\": \"string\", \"description\": \"Common name of operating system distribution\", \"is_base\": false}," \
	"\"os_version\": {\"type\": \"string\", \"description\": \"Operating system version as specified by the distributor\", \"is_base\": false}," \
	"\"architecture\": {\"type\": \"string\", \"description\": \"Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html\", \"is_base\": false}," \
	"\"description\": {\"type\": \"string\", \"description\": \"A human-readable description of the image\", \"is_base\": false}," \
	"\"vm_type\": {\"type\": \"string\", \"description\": \"Hypervisor or cloud the image is made for (FutureGrid vmType)\", \"is_base\": false}," \
	"\"image_type\": {\"type\": \"string\", \"description\": \"Kind of image such as machine or kernel (FutureGrid imgType)\", \"is_base\": false}"

#define IMAGE_SCHEMA \
	"{\"name\": \"image\", " \
	"\"properties\": {" IMAGE_PROPERTIES "}, " \
	"\"additionalProperties\": {\"type\": \"string\"}, " \
	"\"links\": [{\"rel\": \"self\", \"href\": \"{self}\"}, " \
	"{\"rel\": \"enclosure\", \"href\": \"{file}\"}, " \
	"{\"rel\": \"describedby\", \"href\": \"{schema}\"}]}"

/* Glance's member schema, as glance.api.v2.image_members.get_schema()
 * writes it. */
#define MEMBER_SCHEMA \
	"{\"name\": \"member\", \"properties\": {" \
	"\"member_id\": {\"type\": \"string\", \"description\": \"An identifier for the image member (tenantId)\"}, " \
	"\"image_id\": {\"type\": \"string\", \"description\": \"An identifier for the image\", " \
	"\"pattern\": \"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$\"}, " \
	"\"created_at\": {\"type\": \"string\", \"description\": \"Date and time of image member creation\"}, " \
	"\"updated_at\": {\"type\": \"string\", \"description\": \"Date and time of last modification of image member\"}, " \
	"\"status\": {\"type\": \"string\", \"description\": \"The status of this image member\", " \
	"\"enum\": [\"pending\", \"accepted\", \"rejected\"]}, " \
	"\"schema\": {\"readOnly\": true, \"type\": \"string\"}}, " \
	"\"additionalProperties\": false}"

/* Reply with the schema text (one of the above). */
static int schema_one(struct request *req, const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	return j ? http_reply_json(req, 200, j, NULL) : http_reply_error(req, 500, "a schema does not parse");
}

/* Reply with the schema of a list called name of item (text), as
 * Glance's CollectionSchema writes it. */
static int schema_collection(struct request *req, const char *name, const char *item)
{
	json_t *one = json_loads(item, 0, NULL);

	if (!one)
		return http_reply_error(req, 500, "a schema does not parse");
	return http_reply_json(req, 200, json_pack(
		"{s:s, s:{s:{s:s, s:o}, s:{s:s}, s:{s:s}, s:{s:s}}, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}",
		"name", name,
		"properties",
		name, "type", "array", "items", one,
		"schema", "type", "string",
		"first", "type", "string",
		"next", "type", "string",
		"links",
		"rel", "first", "href", "{first}",
		"rel", "next", "href", "{next}",
		"rel", "describedby", "href", "{schema}"), NULL);
}

static int schema_image(struct request *req)
{
	return schema_one(req, IMAGE_SCHEMA);
}

static int schema_images(struct request *req)
{
	return schema_collection(req, "images", IMAGE_SCHEMA);
}

static int schema_member(struct request *req)
{
	return schema_one(req, MEMBER_SCHEMA);
}

static int schema_members(struct request *req)
{
	return schema_collection(req, "members", MEMBER_SCHEMA);
}

const struct route api_schemas_routes[] = {
	{ "GET", "/v2/schemas/image", BODY_NONE, RAIN_ACT_ANY_USER, schema_image, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/schemas/images", BODY_NONE, RAIN_ACT_ANY_USER, schema_images, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/schemas/member", BODY_NONE, RAIN_ACT_ANY_USER, schema_member, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/schemas/members", BODY_NONE, RAIN_ACT_ANY_USER, schema_members, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
