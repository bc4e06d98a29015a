/* The openstack site driver (rain/sys/target.h): images in an OpenStack
 * cloud's image service, Glance v2, logged in through Keystone v3 with an
 * entry of clouds.yaml (rain/clouds.h).
 *
 *   [site.NAME]
 *   uri = openstack:CLOUD         CLOUD: an entry of clouds.yaml
 *   clouds_yaml = PATH            else the standard search (rain/clouds.h)
 *   image_endpoint = URL          Glance's URL instead of the catalog's
 *                                 (also clouds.yaml's image_endpoint_override;
 *                                 with auth_type: none, the only way)
 *   disk_format = qcow2 | raw     what the image is uploaded as (qcow2)
 *   visibility = private | shared | community | public      (private)
 *   model = image | ec2           one disk image, or the EC2/Eucalyptus
 *                                 model: kernel (aki) and ramdisk (ari)
 *                                 images, then the machine image (ami)
 *                                 naming them in kernel_id and ramdisk_id
 *   min_disk = N | SIZE           GiB (N) or a size (20G); default: the
 *                                 disk's virtual size rounded up
 *   min_ram = N | SIZE            MiB (N) or a size (2G); default 0
 *   hw_qemu_guest_agent = BOOL    what the image tells Nova (false)
 *
 * adapt hashes the adapted disk (SHA-256 and SHA-512, in two threads)
 * once, when it is made: the digests are kept with the adapted copy, so
 * that every upload of it (warm registrations, several sites sharing the
 * copy) streams the file without hashing it.
 * publish chooses each image's id, names it in the op's state (kernel_id,
 * ramdisk_id, image_id) before POST /v2/images creates it with that id,
 * streams the file with PUT /v2/images/ID/file (hashing on the way only
 * what is not known: the EC2 kernel and ramdisk, a disk not adapted here),
 * and reads the image back: it must be active with the size and the
 * os_hash_value (SHA-512; SHA-256 where the image service keeps that,
 * raind) of the file as it was hashed, or publish fails (and the steps'
 * unpublish removes it): what the image service computed of what it got
 * is compared with the digest of the copy as adaptation made it. Only an
 * image service that keeps neither has the file read once more for its
 * MD5 checksum (MD5 is the slowest of the three; one SHA-2 digest
 * compared is the stronger check). A disk hashed on the way gets its
 * rain_disk_sha256 property then (PATCH), and the state's
 * adapted.disk_sha256 is set. The image service is checked to answer
 * before anything is named in the state.
 * unpublish deletes what the state names (gone already is fine), status
 * reads it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lib/target/target-internal.h"
#include "rain/adapt.h"
#include "rain/client.h"
#include "rain/clouds.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "rain/sys/registry.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "util/uuid.h"

#define GIB (1024LL * 1024 * 1024)
#define MIB (1024LL * 1024)
#define PROGRESS_STEP (4 * MIB)
#define PROPERTY_MAX 255        /* Glance's limit on a property's value */

struct os_site {
	struct rain_cloud *cloud;
	char *endpoint;                 /* image_endpoint, or NULL */
	const char *disk_format;        /* "qcow2" or "raw" */
	const char *visibility;
	bool ec2;
	int64_t min_disk;               /* GiB; -1: from the virtual size */
	int64_t min_ram;                /* MiB */
	bool guest_agent;
};

/* The images of a registration, in the order unpublish removes them. */
static const struct {
	const char *key;                /* in the op's state */
	const char *role;               /* in names and status */
} images[] = {
	{ "image_id", "image" },
	{ "kernel_id", "kernel" },
	{ "ramdisk_id", "ramdisk" },
};

static const char *const site_keys[] = {
	"uri", "policy", "kernels", "users",    /* every site's (rain/target.h) */
	"clouds_yaml", "image_endpoint", "disk_format", "visibility", "model", "min_disk",
	"min_ram", "hw_qemu_guest_agent", NULL,
};

/* ---- settings ------------------------------------------------------------ */

/* A size setting in unit (GiB or MiB) rounded up: a bare number is in unit
 * already (Glance's), one with a suffix is bytes. */
static int get_units(const struct rain_site *s, const char *key, int64_t unit, int64_t *out)
{
	const char *v = rain_site_get(s, key);
	int64_t n;

	*out = -1;
	if (!v)
		return 0;
	if (*v && strspn(v, "0123456789") == strlen(v)) {
		if (str_to_i64(v, &n) < 0 || n > INT32_MAX)
			goto bad;
		*out = n;
		return 0;
	}
	if (rain_recipe_parse_size(v, &n) < 0 || n < 0 || n / unit > INT32_MAX)
		goto bad;
	*out = (n + unit - 1) / unit;
	return 0;
bad:
	return rain_error_set(RAIN_EINVAL, "%s = '%.64s' is not a size (%s as a number, or with K, M, G, T)",
			      key, v, unit == GIB ? "GiB" : "MiB");
}

static void os_free(struct rain_site *site)
{
	struct os_site *os = site->priv;

	if (!os)
		return;
	rain_cloud_free(os->cloud);
	free(os->endpoint);
	free(os);
	site->priv = NULL;
}


static int os_check(struct rain_site *site)
{
	static const char *const formats[] = { "qcow2", "raw", NULL };
	static const char *const visibilities[] = { "private", "shared", "community", "public", NULL };
	struct os_site *os;
	const char *key, *v;
	json_t *val;
	int r;

	json_object_foreach(site->settings, key, val)
		if (!str_in_list(site_keys, key))
			return rain_error_set(RAIN_EINVAL, "unknown setting '%s' for an openstack site "
					      "(known: clouds_yaml, image_endpoint, disk_format, visibility, "
					      "model, min_disk, min_ram, hw_qemu_guest_agent)", key);
	if (!site->location || !*site->location)
		return rain_error_set(RAIN_EINVAL, "uri = openstack:CLOUD names no cloud of clouds.yaml");
	os = calloc(1, sizeof(*os));
	if (!os)
		return rain_error_oom();
	site->priv = os;
	os->disk_format = rain_site_get(site, "disk_format");
	if (!os->disk_format)
		os->disk_format = "qcow2";
	else if (!str_in_list(formats, os->disk_format))
		return rain_error_set(RAIN_EINVAL, "disk_format = '%.32s': Glance takes qcow2 or raw from rain",
				      os->disk_format);
	os->visibility = rain_site_get(site, "visibility");
	if (!os->visibility)
		os->visibility = "private";
	else if (!str_in_list(visibilities, os->visibility))
		return rain_error_set(RAIN_EINVAL, "visibility = '%.32s' is not private, shared, community "
				      "or public", os->visibility);
	v = rain_site_get(site, "model");
	if (v && strcmp(v, "image") != 0 && strcmp(v, "ec2") != 0)
		return rain_error_set(RAIN_EINVAL, "model = '%.32s' is not image or ec2", v);
	os->ec2 = v && !strcmp(v, "ec2");
	if ((r = get_units(site, "min_disk", GIB, &os->min_disk)) < 0 ||
	    (r = get_units(site, "min_ram", MIB, &os->min_ram)) < 0 ||
	    (r = rain_site_get_bool(site, "hw_qemu_guest_agent", false, &os->guest_agent)) < 0)
		return r;
	v = rain_site_get(site, "image_endpoint");
	if (v) {
		if (!str_has_prefix(v, "http://") && !str_has_prefix(v, "https://"))
			return rain_error_set(RAIN_EINVAL, "image_endpoint = '%.100s' is not an http:// or "
					      "https:// URL", v);
		if (!(os->endpoint = strdup(v)))
			return rain_error_oom();
	}
	r = rain_cloud_load(rain_site_get(site, "clouds_yaml"), site->location, &os->cloud);
	if (r < 0)
		return r;
	if (os->cloud->auth_type == RAIN_CLOUD_AUTH_NONE && !os->endpoint && !os->cloud->image_endpoint)
		return rain_error_set(RAIN_EINVAL, "cloud '%s' in %s has auth_type none: set "
				      "image_endpoint_override there or image_endpoint here",
				      os->cloud->name, os->cloud->file);
	return 0;
}

static int os_accepts(const struct rain_site *site, const struct rain_target_image *img)
{
	if (!img->disk_format || (strcmp(img->disk_format, "qcow2") && strcmp(img->disk_format, "raw")))
		return rain_error_set(RAIN_EINVAL, "its data is %s, not a qcow2 or raw disk",
				      img->disk_format ? img->disk_format : "of no known format");
	return 0;
}

/* ---- what an image is told ------------------------------------------------ */

/* Nova's names of architectures for Debian's */
static const char *nova_arch(const char *a)
{
	static const char *const map[][2] = {
		{ "amd64", "x86_64" }, { "arm64", "aarch64" }, { "i386", "i686" },
		{ "armhf", "armv7l" }, { "ppc64el", "ppc64le" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(a, map[i][0]))
			return map[i][1];
	return a;
}

/* Properties of src that tell a cloud how to run the image (os_*, hw_*,
 * img_*, architecture) into fields; values past Glance's limit are left
 * out with a warning. */
static int copy_properties(struct rain_target_op *op, json_t *fields, json_t *src)
{
	static const char *const reserved[] = {
		"os_hash_algo", "os_hash_value", "os_hidden", NULL,
	};
	const char *key;
	json_t *v;

	json_object_foreach(src, key, v) {
		const char *s = json_string_value(v);

		if (!s || str_in_list(reserved, key) ||
		    !(str_has_prefix(key, "os_") || str_has_prefix(key, "hw_") ||
		      str_has_prefix(key, "img_") || !strcmp(key, "architecture")))
			continue;
		if (strlen(s) > PROPERTY_MAX || strlen(key) > PROPERTY_MAX) {
			rain_target_log(op, RAIN_TARGET_WARN, "property %.64s left out: Glance takes at "
					"most %d characters", key, PROPERTY_MAX);
			continue;
		}
		if (!strcmp(key, "architecture"))
			s = nova_arch(s);
		if (json_object_set_new(fields, key, json_string(s)) < 0)
			return rain_error_oom();
	}
	return 0;
}

int openstack_image_fields(struct rain_target_op *op, const struct rain_target_image *img,
			   const struct rain_target_artifacts *a, const char *role, const char *id,
			   json_t **out)
{
	const struct os_site *os = op->site->priv;
	_cleanup_json_ json_t *f = NULL;
	_cleanup_free_ char *name = NULL;
	const char *base = img->name ? img->name : img->id;
	bool machine = !strcmp(role, "image");
	const char *fmt = os->ec2 ? (machine ? "ami" : !strcmp(role, "kernel") ? "aki" : "ari") :
		a->disk_format ? a->disk_format : img->disk_format;
	int64_t vsize = a->virtual_size > 0 ? a->virtual_size : img->size;
	int64_t min_disk = os->min_disk >= 0 ? os->min_disk : (vsize + GIB - 1) / GIB;
	int r = 0;

	*out = NULL;
	if (machine ? asprintf(&name, "%s", base) < 0 : asprintf(&name, "%s-%s", base, role) < 0)
		return rain_error_oom();
	f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s?, s:s?}",
		      "id", id, "name", name, "disk_format", fmt,
		      "container_format", os->ec2 ? fmt : "bare", "visibility", os->visibility,
		      "tags", "rain", "rain_image_id", img->id, "rain_registration", op->reg_id,
		      "rain_site", op->site->name);
	if (!f)
		return rain_error_set(RAIN_EINVAL, "the image's name, id or registration is not UTF-8");
	if (!machine) {
		*out = TAKE_PTR(f);
		return 0;
	}
	r |= json_object_set_new(f, "min_disk", json_integer(min_disk));
	r |= json_object_set_new(f, "min_ram", json_integer(os->min_ram > 0 ? os->min_ram : 0));
	r |= json_object_set_new(f, "hw_disk_bus", json_string("virtio"));
	r |= json_object_set_new(f, "hw_firmware_type", json_string("bios"));
	r |= json_object_set_new(f, "hw_qemu_guest_agent", json_string(os->guest_agent ? "yes" : "no"));
	if (r)
		return rain_error_oom();
	/* what the image says of itself, then what adaptation found */
	if ((r = copy_properties(op, f, img->properties)) < 0 ||
	    (r = copy_properties(op, f, a->properties)) < 0)
		return r;
	if (a->disk_sha256 && json_object_set_new(f, "rain_disk_sha256", json_string(a->disk_sha256)) < 0)
		return rain_error_oom();
	if (os->ec2) {
		const char *k = json_string_value(json_object_get(op->state, "kernel_id"));
		const char *rd = json_string_value(json_object_get(op->state, "ramdisk_id"));

		if ((k && json_object_set_new(f, "kernel_id", json_string(k)) < 0) ||
		    (rd && json_object_set_new(f, "ramdisk_id", json_string(rd)) < 0) ||
		    (a->cmdline && strlen(a->cmdline) <= PROPERTY_MAX &&
		     json_object_set_new(f, "os_command_line", json_string(a->cmdline)) < 0))
			return rain_error_oom();
	}
	*out = TAKE_PTR(f);
	return 0;
}

/* ---- talking to the cloud ---------------------------------------------- */

/* What to do about a refusal, for the message. */
static const char *hint(int r, long status)
{
	if (r == RAIN_EAUTH)
		return ": check the cloud's credentials in clouds.yaml";
	if (r == RAIN_EFORBIDDEN)
		return ": the cloud's policy does not let this user or project do that";
	if (status == 409 || status == 413 || r == RAIN_ETOOBIG)
		return ": the project's image quota is reached; remove images or ask for a larger quota";
	if (r == RAIN_ENET)
		return ": is the image service running and reachable?";
	return "";
}

/* Prefix the message of a failed request with the cloud and the URL. */
static int fail(int r, const struct os_site *os, struct rain_client *c, const char *what, long status)
{
	if (r == RAIN_ENOMEM || r == RAIN_ECANCELED)
		return r;
	return rain_error_set(r, "cloud '%s': Glance at %s: %s: %s%s", os->cloud->name,
			      c ? rain_client_url(c) : "?", what, rain_error_last(), hint(r, status));
}

/* Log in; with probe, check that the image service answers (an
 * unreachable Glance, bad credentials, a refusing policy fail there,
 * before anything is adapted or named). */
static int os_connect(struct rain_target_op *op, bool probe, struct rain_client **c)
{
	const struct os_site *os = op->site->priv;
	long status = 0;
	int r;

	r = rain_cloud_connect(os->cloud, os->endpoint, 0, c);
	if (r < 0 || !probe)
		return r;
	r = rain_client_request(*c, "GET", "/v2/images?limit=1", NULL, NULL, &status, NULL);
	if (r < 0) {
		r = fail(r, os, *c, "listing images", status);
		rain_client_free(*c);
		*c = NULL;
	}
	return r;
}

/* The adaptation a site's images get: the same for every site of the
 * same disk format and model, which share one adapted copy (os_adapt_key). */
static const char *const os_modules[] = { "virtio_blk", "virtio_net", NULL };

static struct rain_adapt_opts os_adapt_opts(const struct os_site *os)
{
	return (struct rain_adapt_opts){
		.context = RAIN_ADAPT_CLOUD_INIT,
		/* an ami is a raw disk; its kernel and ramdisk are images of their own */
		.disk_format = os->ec2 ? "raw" : os->disk_format,
		.boot_files = os->ec2,
		.modules = os_modules,
		/* hashed once here, kept with the copy: uploads send it unhashed */
		.disk_sha512 = true,
	};
}

static int os_adapt_key(const struct rain_site *site, char **out)
{
	struct rain_adapt_opts o = os_adapt_opts(site->priv);

	return rain_adapt_opts_key("openstack", &o, out);
}

/* The cloud is asked first, so that a registration that cannot succeed
 * fails before the copy is made. */
static int os_adapt(struct rain_target_op *op, const struct rain_target_image *img,
		    struct rain_target_artifacts *out)
{
	struct rain_adapt_opts o = os_adapt_opts(op->site->priv);
	struct rain_client *c = NULL;
	int r = os_connect(op, true, &c);

	rain_client_free(c);
	return r < 0 ? r : rain_adapt(op, img, &o, out);
}

struct progress {
	struct rain_target_op *op;
	int64_t last;
};

static int upload_progress(void *ud, int64_t done, int64_t total)
{
	struct progress *p = ud;

	/* libcurl calls this often, also while it waits for the answer */
	if (done != p->last && (done == total || done - p->last >= PROGRESS_STEP || done < p->last)) {
		p->last = done;
		rain_target_progress(p->op, "upload", done, total);
	}
	return p->op->cancel && *p->op->cancel;
}

/* One digest Glance keeps against the one of what was sent; 1 when they
 * were compared and agree, 0 when there was nothing to compare. */
static int same_digest(const struct os_site *os, struct rain_client *c, const char *id,
		       const char *field, const char *theirs, const char *algo, const char *ours)
{
	if (!theirs || !ours || !*ours)
		return 0;
	if (strcasecmp(theirs, ours) != 0)
		return rain_error_set(RAIN_EIO, "cloud '%s': Glance at %s: image %s has %s %.32s... but "
				      "what rain sent has %s %.32s...: the data changed on the way",
				      os->cloud->name, rain_client_url(c), id, field, theirs, algo, ours);
	return 1;
}

/* The MD5 of fd's first size bytes (Glance's checksum), read once more. */
static int file_md5(int fd, int64_t size, char out[33])
{
	_cleanup_free_ unsigned char *buf = malloc(1 << 20);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int64_t done = 0;
	bool ok;

	if (!buf || !ctx) {
		EVP_MD_CTX_free(ctx);
		return rain_error_oom();
	}
	/* MD5 may be missing (FIPS mode): then there is nothing to compare */
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
	while (ok && done < size) {
		size_t want = size - done < (1 << 20) ? (size_t)(size - done) : (size_t)1 << 20;
		ssize_t n = pread(fd, buf, want, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			EVP_MD_CTX_free(ctx);
			return rain_error_errno(RAIN_EIO, n < 0 ? errno : EIO, "cannot read the uploaded "
						"file again for its MD5");
		}
		ok = EVP_DigestUpdate(ctx, buf, (size_t)n) == 1;
		done += n;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 16;
	EVP_MD_CTX_free(ctx);
	out[0] = '\0';
	for (unsigned int i = 0; ok && i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Compare the image as Glance keeps it with what was sent from fd
 * (sha256, sha512: the file's, known before or computed on the way): active, the
 * same size, and its os_hash_value (SHA-512, or SHA-256) the same; only
 * when Glance keeps no digest of these, its checksum the file's MD5. */
static int verify(const struct os_site *os, struct rain_client *c, const char *id, int fd,
		  const struct rain_upload_info *up, const char *sha256, const char *sha512,
		  const char **checked)
{
	_cleanup_json_ json_t *img = NULL;
	const char *status, *sum, *algo, *hash;
	char md5[33] = "";
	json_t *size;
	int r, n = 0;

	r = rain_client_image_get(c, id, &img);
	if (r < 0)
		return fail(r, os, c, "reading back image", 0);
	status = json_string_value(json_object_get(img, "status"));
	size = json_object_get(img, "size");
	sum = json_string_value(json_object_get(img, "checksum"));
	algo = json_string_value(json_object_get(img, "os_hash_algo"));
	hash = json_string_value(json_object_get(img, "os_hash_value"));
	if (!status || strcmp(status, "active") != 0)
		return rain_error_set(RAIN_EIO, "cloud '%s': Glance at %s: image %s is '%s' after its "
				      "upload, not active", os->cloud->name, rain_client_url(c), id,
				      status ? status : "(no status)");
	if (!json_is_integer(size) || json_integer_value(size) != up->sent)
		return rain_error_set(RAIN_EIO, "cloud '%s': Glance at %s: image %s holds %" JSON_INTEGER_FORMAT
				      " bytes but rain sent %" PRId64, os->cloud->name, rain_client_url(c),
				      id, json_integer_value(size), up->sent);
	if (algo && !strcmp(algo, "sha512"))
		n = same_digest(os, c, id, "os_hash_value", hash, *checked = "SHA-512", sha512);
	else if (algo && !strcmp(algo, "sha256"))
		n = same_digest(os, c, id, "os_hash_value", hash, *checked = "SHA-256", sha256);
	if (n < 0)
		return n;
	if (n == 0 && sum) {
		if ((r = file_md5(fd, up->sent, md5)) < 0)
			return r;
		if ((n = same_digest(os, c, id, "checksum", sum, *checked = "MD5", md5)) < 0)
			return n;
	}
	if (n == 0)
		return rain_error_set(RAIN_EIO, "cloud '%s': Glance at %s: image %s has no digest rain can "
				      "check (checksum %s, os_hash_algo %s)", os->cloud->name,
				      rain_client_url(c), id, sum ? sum : "none", algo ? algo : "none");
	return 0;
}

/* The adapted disk's SHA-256, computed on the way: the image's
 * rain_disk_sha256 and the state's adapted.disk_sha256. */
static int record_disk_sha256(struct rain_target_op *op, struct rain_client *c, const char *id,
			      const char *sha256)
{
	const struct os_site *os = op->site->priv;
	_cleanup_json_ json_t *patch = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path",
						 "/rain_disk_sha256", "value", sha256);
	json_t *adapted = json_object_get(op->state, "adapted");
	int r;

	if (!patch)
		return rain_error_oom();
	r = rain_client_image_patch(c, id, patch, NULL);
	if (r < 0)
		return fail(r, os, c, "setting rain_disk_sha256", 0);
	if (!json_is_object(adapted))
		return 0;
	adapted = json_deep_copy(adapted);
	if (!adapted || json_object_set_new(adapted, "disk_sha256", json_string(sha256)) < 0) {
		json_decref(adapted);
		return rain_error_oom();
	}
	return rain_target_state_set(op, "adapted", adapted);
}

/* Create one image with an id chosen here and saved first, upload path
 * (whose SHA-256 and SHA-512 are sha256 and sha512 when known: what is
 * not known is computed on the way) and check it; *id_out (37 bytes)
 * receives the id. */
static int publish_one(struct rain_target_op *op, struct rain_client *c,
		       const struct rain_target_image *img, const struct rain_target_artifacts *a,
		       int which, const char *path, const char *sha256, const char *sha512,
		       char *id_out)
{
	const struct os_site *os = op->site->priv;
	_cleanup_json_ json_t *fields = NULL, *created = NULL;
	_cleanup_close_ int fd = -1;
	struct rain_upload_info up;
	struct progress p = { .op = op };
	const char *checked = "";
	char id[UUID_STR_LEN], what[128];
	const char *got;
	struct stat st;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open the %s to upload, %s",
					images[which].role, path);
	r = uuid_generate(id);
	if (r < 0)
		return r;
	r = openstack_image_fields(op, img, a, images[which].role, id, &fields);
	if (r < 0)
		return r;
	/* named before it exists, so that unpublish finds it however this ends */
	r = rain_target_state_set(op, images[which].key, json_string(id));
	if (r < 0)
		return r;
	r = rain_target_check_cancel(op);
	if (r < 0)
		return r;
	r = rain_client_image_create(c, fields, &created);
	if (r < 0)
		return fail(r, os, c, "creating the image", 0);
	got = json_string_value(json_object_get(created, "id"));
	if (!got || strcmp(got, id) != 0)
		return rain_error_set(RAIN_EFORMAT, "cloud '%s': Glance at %s made image %.64s instead of "
				      "the id asked for, %s", os->cloud->name, rain_client_url(c),
				      got ? got : "(no id)", id);
	rain_target_log(op, RAIN_TARGET_INFO, "created %s %s at %s; uploading %s (%lld bytes)",
			images[which].role, id, rain_client_url(c), path, (long long)st.st_size);
	/* Glance's os_hash_value (SHA-512; SHA-256 where an image service
	 * keeps that, raind), unless known already */
	r = rain_client_image_upload_hashes(c, id, fd, st.st_size, (sha512 ? 0 : RAIN_HASH_SHA512) |
					    (sha256 ? 0 : RAIN_HASH_SHA256) | RAIN_UPLOAD_CONTINUE,
					    upload_progress, &p, &up);
	if (r == RAIN_ECANCELED)
		return rain_target_check_cancel(op) < 0 ? RAIN_ECANCELED :
			rain_error_set(RAIN_ECANCELED, "the upload of image %s was canceled", id);
	if (r < 0) {
		snprintf(what, sizeof(what), "uploading image %s (%lld bytes)", id, (long long)st.st_size);
		return fail(r, os, c, what, up.status);
	}
	r = verify(os, c, id, fd, &up, sha256 ? sha256 : up.sha256, sha512 ? sha512 : up.sha512,
		   &checked);
	if (r < 0)
		return r;
	if (which == 0 && a->disk && !a->disk_sha256) {
		r = record_disk_sha256(op, c, id, up.sha256);
		if (r < 0)
			return r;
	}
	rain_target_log(op, RAIN_TARGET_INFO, "%s %s is active: %" PRId64 " bytes, its %s checksum "
			"that of what was sent", images[which].role, id, up.sent, checked);
	memcpy(id_out, id, UUID_STR_LEN);
	return 0;
}

static int os_publish(struct rain_target_op *op, const struct rain_target_image *img,
		      const struct rain_target_artifacts *a)
{
	const struct os_site *os = op->site->priv;
	struct rain_client *c = NULL;
	char ids[ARRAY_SIZE(images)][UUID_STR_LEN] = { "", "", "" };
	const char *disk = a->disk ? a->disk : img->path;
	json_t *show;
	int r;

	if (os->ec2 && (!a->kernel || !a->initramfs))
		return rain_error_set(RAIN_EINVAL, "model = ec2 needs the image's kernel and initramfs, "
				      "which adaptation did not find");
	r = os_connect(op, true, &c);
	if (r < 0)
		return r;
	r = rain_target_state_set(op, "cloud", json_string(os->cloud->name));
	if (r >= 0)
		r = rain_target_state_set(op, "endpoint", json_string(rain_client_url(c)));
	if (r >= 0 && os->ec2) {
		r = publish_one(op, c, img, a, 1, a->kernel, NULL, NULL, ids[1]);
		if (r >= 0)
			r = publish_one(op, c, img, a, 2, a->initramfs, NULL, NULL, ids[2]);
	}
	if (r >= 0)
		r = publish_one(op, c, img, a, 0, disk, a->disk ? a->disk_sha256 : img->sha256,
				a->disk ? a->disk_sha512 : NULL, ids[0]);
	if (r >= 0) {
		show = json_pack("{s:s, s:s, s:s, s:s*, s:s*}", "cloud", os->cloud->name,
				 "image_id", ids[0], "endpoint", rain_client_url(c),
				 "kernel_id", ids[1][0] ? ids[1] : NULL,
				 "ramdisk_id", ids[2][0] ? ids[2] : NULL);
		r = show ? rain_target_state_set(op, "show", show) : rain_error_oom();
	}
	rain_client_free(c);
	return r;
}

static int os_unpublish(struct rain_target_op *op)
{
	static const char *const forget[] = { "show", "cloud", "endpoint" };
	const struct os_site *os = op->site->priv;
	struct rain_client *c = NULL;
	bool any = false;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(images); i++)
		any |= json_is_string(json_object_get(op->state, images[i].key));
	for (size_t i = 0; i < ARRAY_SIZE(forget) && !any && r >= 0; i++)
		r = rain_target_state_set(op, forget[i], NULL);
	if (!any)
		return r;
	r = os_connect(op, false, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(images) && r >= 0; i++) {
		_cleanup_free_ char *id = NULL;
		const char *v = json_string_value(json_object_get(op->state, images[i].key));
		char what[128];

		if (!v)
			continue;
		if (!(id = strdup(v))) {
			r = rain_error_oom();
			break;
		}
		r = rain_client_image_delete(c, id);
		if (r == RAIN_ENOTFOUND)
			r = 0;
		if (r < 0) {
			snprintf(what, sizeof(what), "deleting %s %s", images[i].role, id);
			r = fail(r, os, c, what, 0);
			break;
		}
		rain_target_log(op, RAIN_TARGET_INFO, "removed %s %s from %s", images[i].role, id,
				rain_client_url(c));
		r = rain_target_state_set(op, images[i].key, NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(forget) && r >= 0; i++)
		r = rain_target_state_set(op, forget[i], NULL);
	rain_client_free(c);
	return r;
}

static int os_status(struct rain_target_op *op, json_t **out)
{
	const struct os_site *os = op->site->priv;
	_cleanup_json_ json_t *res = NULL, *list = json_object();
	struct rain_client *c = NULL;
	bool present = false;
	int r = 0;

	*out = NULL;
	if (!list)
		return rain_error_oom();
	for (size_t i = 0; i < ARRAY_SIZE(images); i++)
		present |= json_is_string(json_object_get(op->state, images[i].key));
	if (present && (r = os_connect(op, false, &c)) < 0)
		return r;
	present = false;
	for (size_t i = 0; i < ARRAY_SIZE(images) && r >= 0; i++) {
		const char *id = json_string_value(json_object_get(op->state, images[i].key));
		_cleanup_json_ json_t *img = NULL;
		json_t *one;

		if (!id)
			continue;
		r = rain_client_image_get(c, id, &img);
		if (r == RAIN_ENOTFOUND) {
			one = json_pack("{s:s, s:s}", "id", id, "status", "gone");
			r = 0;
		} else if (r < 0) {
			r = fail(r, os, c, "reading the image", 0);
			break;
		} else {
			present = true;
			one = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O}", "id", id,
					"status", json_object_get(img, "status") ?: json_null(),
					"checksum", json_object_get(img, "checksum") ?: json_null(),
					"os_hash_value", json_object_get(img, "os_hash_value") ?: json_null(),
					"size", json_object_get(img, "size") ?: json_null(),
					"disk_format", json_object_get(img, "disk_format") ?: json_null());
		}
		if (!one || json_object_set_new(list, images[i].role, one) < 0)
			r = rain_error_oom();
	}
	if (r >= 0) {
		res = json_pack("{s:b, s:s, s:s?, s:O}", "present", present, "cloud", os->cloud->name,
				"endpoint", c ? rain_client_url(c) : NULL, "images", list);
		if (!res)
			r = rain_error_oom();
	}
	rain_client_free(c);
	if (r < 0)
		return r;
	*out = TAKE_PTR(res);
	return 0;
}

static const struct rain_target_driver openstack = {
	.version = RAIN_TARGET_DRIVER_VERSION,
	.scheme = "openstack",
	.usage = "openstack:CLOUD (an entry of clouds.yaml)",
	.check = os_check,
	.free = os_free,
	.accepts = os_accepts,
	.adapt = os_adapt,
	.publish = os_publish,
	.unpublish = os_unpublish,
	.status = os_status,
	.adapt_key = os_adapt_key,
};

const struct rain_driver rain_target_driver_openstack = {
	.kind = "target",
	.scheme = "openstack",
	.usage = "openstack:CLOUD (an entry of clouds.yaml)",
	.table = &openstack,
};
