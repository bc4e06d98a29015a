/* The opennebula site driver (rain/sys/target.h): an image and a VM
 * template in OpenNebula, through its XML-RPC API (OpenNebula 6: the
 * one.image.* and one.template.* methods; every call's first parameter is
 * the session "USER:PASSWORD" of the ONE_AUTH file).
 *
 *   [site.NAME]
 *   uri = opennebula:URL          the XML-RPC endpoint (http://one:2633/RPC2)
 *   one_auth = PATH               a file holding USER:PASSWORD (default
 *                                 $ONE_AUTH, else ~/.one/one_auth)
 *   publish_dir = DIR             where the adapted disk is put (DIR/REGID/)
 *   publish_url = URL             the same folder as OpenNebula's front-end
 *                                 fetches it (the image's PATH)
 *   datastore_id = N              the image datastore (1, "default")
 *   disk_format = qcow2 | raw     the image's DRIVER (qcow2)
 *   memory = N | SIZE             the template's MEMORY: MiB (N) or a size (1024)
 *   vcpu = N                      the template's VCPU and CPU (1)
 *   network = NAME                a virtual network for the template's NIC
 *                                 (none: no NIC)
 *   image_timeout = SECONDS       how long the front-end may take to make the
 *                                 image READY (1800)
 *
 * adapt makes a copy with one-context's settings (rain/adapt.h:
 * RAIN_ADAPT_ONE_CONTEXT). publish copies it to publish_dir/REGID/, then
 * allocates the image (one.image.allocate, TYPE OS, PATH the URL) and
 * waits until the front-end has it READY, then a template (one.template.
 * allocate) with the image as its disk, OpenNebula contextualization
 * (NETWORK, SSH_PUBLIC_KEY, SET_HOSTNAME), a serial console, the image's
 * architecture and firmware. OpenNebula chooses ids itself, so each
 * object's name (rain-REGID-...) is saved in the op's state before it is
 * allocated and its id right after: unpublish finds by name (in the
 * user's pools) what a registration interrupted between the two left.
 * No OpenNebula runs on rain's test machines: the tests drive this against
 * a fake of the XML-RPC API (tests/integration/opennebula-fake.py) that
 * checks each method's documented parameters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lib/target/target-internal.h"
#include "rain/adapt.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

#define RESPONSE_MAX (16 << 20)  /* bytes of an XML-RPC answer (pool listings) */
#define AUTH_MAX 4096
#define CALL_TIMEOUT_S 120
#define IMAGE_READY 1            /* OpenNebula's image states */
#define IMAGE_ERROR 5

struct one_site {
	char *endpoint;
	char *session;           /* USER:PASSWORD; secret */
	const char *publish_dir, *publish_url;
	const char *disk_format;
	const char *network;     /* NULL: no NIC */
	int64_t datastore, memory_mib, vcpu, image_timeout;
};

static const char *const keys[] = {
	"uri", "policy", "kernels", "users",    /* every site's (rain/target.h) */
	"one_auth", "publish_dir", "publish_url", "datastore_id", "disk_format", "memory", "vcpu",
	"network", "image_timeout", NULL,
};

/* A name OpenNebula takes in a template's quoted values: no quotes,
 * backslashes or control characters. */
static bool template_safe(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
			return false;
	return true;
}

static void one_free(struct rain_site *site)
{
	struct one_site *o = site->priv;

	if (!o)
		return;
	free(o->endpoint);
	str_free_secret(o->session);
	free(o);
	site->priv = NULL;
}

static int read_auth(const struct rain_site *site, char **out)
{
	const char *path = rain_site_get(site, "one_auth");
	_cleanup_free_ char *deflt = NULL, *text = NULL;
	size_t len = 0;
	int r;

	if (!path)
		path = getenv("ONE_AUTH");
	if (!path && getenv("HOME") && asprintf(&deflt, "%s/.one/one_auth", getenv("HOME")) >= 0)
		path = deflt;
	if (!path)
		return rain_error_set(RAIN_EINVAL, "one_auth is not set and there is no ~/.one/one_auth");
	r = fs_read_small(path, AUTH_MAX, &text, &len);
	if (r < 0)
		return rain_error_set(r, "one_auth: %s (a file holding USER:PASSWORD)", rain_error_last());
	text[strcspn(text, "\r\n")] = '\0';
	if (!strchr(text, ':') || text[0] == ':' || !str_is_printable(text, AUTH_MAX)) {
		str_free_secret(TAKE_PTR(text));
		return rain_error_set(RAIN_EINVAL, "one_auth %s does not hold USER:PASSWORD", path);
	}
	*out = TAKE_PTR(text);
	return 0;
}

static int one_check(struct rain_site *site)
{
	struct one_site *o = calloc(1, sizeof(*o));
	const char *key, *v;
	json_t *val;
	int64_t n;
	int r = 0;

	if (!o)
		return rain_error_oom();
	site->priv = o;
	json_object_foreach(site->settings, key, val)
		if (!str_in_list(keys, key))
			return rain_error_set(RAIN_EINVAL, "unknown key '%s' (an opennebula site takes "
					      "one_auth, publish_dir, publish_url, datastore_id, "
					      "disk_format, memory, vcpu, network, image_timeout)", key);
	if (!target_url_valid(site->location))
		return rain_error_set(RAIN_EINVAL, "uri = opennebula:URL needs the XML-RPC endpoint's "
				      "http:// or https:// URL, not '%s'", site->location);
	if (!(o->endpoint = strdup(site->location)))
		return rain_error_oom();
	r = read_auth(site, &o->session);
	if (r >= 0)
		r = target_publish_settings(site, &o->publish_dir, &o->publish_url);
	if (r < 0)
		return r;
	o->disk_format = rain_site_get(site, "disk_format") ? rain_site_get(site, "disk_format") : "qcow2";
	if (strcmp(o->disk_format, "qcow2") && strcmp(o->disk_format, "raw"))
		return rain_error_set(RAIN_EINVAL, "disk_format = %s: qcow2 or raw", o->disk_format);
	if ((v = rain_site_get(site, "network")) && (!*v || !template_safe(v)))
		return rain_error_set(RAIN_EINVAL, "network = '%s' is not a network name", v);
	o->network = v;
	if ((r = rain_site_get_int(site, "datastore_id", 1, &o->datastore)) < 0 ||
	    (r = rain_site_get_int(site, "vcpu", 1, &o->vcpu)) < 0 ||
	    (r = rain_site_get_int(site, "image_timeout", 1800, &o->image_timeout)) < 0 ||
	    (r = rain_site_get_int(site, "memory", 1024, &n)) < 0)
		return r;
	/* a plain count is MiB, a size is bytes */
	v = rain_site_get(site, "memory");
	o->memory_mib = v && strspn(v, "0123456789") != strlen(v) ? n >> 20 : n;
	if (o->vcpu < 1 || o->vcpu > 1024 || o->memory_mib < 64 || o->datastore > 1000000000)
		return rain_error_set(RAIN_EINVAL, "vcpu (1-1024), memory (at least 64 MiB) or "
				      "datastore_id is out of range");
	return 0;
}

static int one_adapt(struct rain_target_op *op, const struct rain_target_image *img,
		     struct rain_target_artifacts *out)
{
	static const char *const modules[] = { "virtio_blk", "virtio_net", NULL };
	const struct one_site *o = op->site->priv;
	struct rain_adapt_opts opts = {
		.context = RAIN_ADAPT_ONE_CONTEXT,
		.disk_format = o->disk_format,
		.modules = modules,
	};

	return rain_adapt(op, img, &opts, out);
}

/* ---- XML-RPC ------------------------------------------------------------ */

struct xr_param {
	char type;               /* 's' string, 'i' int, 'b' boolean */
	const char *s;
	int64_t i;
};

struct buf {
	char *data;
	size_t len;
	bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t len = size * n;
	char *more;

	if (b->len + len > RESPONSE_MAX) {
		b->too_big = true;
		return 0;
	}
	more = realloc(b->data, b->len + len + 1);
	if (!more)
		return 0;
	memcpy(more + b->len, ptr, len);
	b->data = more;
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* The methodCall of method with the session and params. */
static char *xr_request(const struct one_site *o, const char *method, const struct xr_param *p,
			size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "<?xml version=\"1.0\"?>\n<methodCall><methodName>%s</methodName><params>"
		"<param><value><string>", method);
	put_escaped(f, o->session);
	fputs("</string></value></param>", f);
	for (size_t i = 0; i < n; i++) {
		fputs("<param><value>", f);
		if (p[i].type == 's') {
			fputs("<string>", f);
			put_escaped(f, p[i].s);
			fputs("</string>", f);
		} else if (p[i].type == 'i') {
			fprintf(f, "<int>%lld</int>", (long long)p[i].i);
		} else {
			fprintf(f, "<boolean>%d</boolean>", p[i].i ? 1 : 0);
		}
		fputs("</value></param>", f);
	}
	fputs("</params></methodCall>\n", f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Call method; on success *result is its result value's text (a new
 * string: an id, or an XML document as text). OpenNebula's failures (the
 * first value false) are RAIN_EAUTH (0x100), RAIN_EFORBIDDEN (0x200),
 * RAIN_ENOTFOUND (0x400), RAIN_ECONFLICT (0x800, 0x8000) or RAIN_EIO, with
 * its message. */
static int xr_call(const struct one_site *o, const char *method, const struct xr_param *p,
		   size_t n, char **result)
{
	_cleanup_free_ char *req = xr_request(o, method, p, n);
	struct buf b = { 0 };
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	long status = 0;
	CURLcode rc;
	int r = 0;

	*result = NULL;
	if (!req || !c || !(h = curl_slist_append(NULL, "Content-Type: text/xml"))) {
		curl_easy_cleanup(c);
		return rain_error_oom();
	}
	curl_easy_setopt(c, CURLOPT_URL, o->endpoint);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)CALL_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		r = rain_error_set(RAIN_ENET, "OpenNebula at %s: %s: %s", o->endpoint, method,
				   b.too_big ? "the answer is too big" : curl_easy_strerror(rc));
		goto out;
	}
	if (status != 200) {
		r = rain_error_set(status == 401 ? RAIN_EAUTH : RAIN_ENET, "OpenNebula at %s: %s: "
				   "HTTP status %ld", o->endpoint, method, status);
		goto out;
	}
	{
		_cleanup_free_ char *res = NULL;
		bool ok;
		long e;

		r = opennebula_parse_response(b.data ? b.data : "", b.len, &ok, &res, &e);
		if (r < 0) {
			r = rain_error_set(r, "OpenNebula at %s: %s: %s", o->endpoint, method,
					   rain_error_last());
		} else if (!ok) {
			int kind = e == 0x100 ? RAIN_EAUTH : e == 0x200 ? RAIN_EFORBIDDEN :
				   e == 0x400 ? RAIN_ENOTFOUND : (e == 0x800 || e == 0x8000) ?
				   RAIN_ECONFLICT : RAIN_EIO;

			r = rain_error_set(kind, "OpenNebula at %s: %s: %s%s", o->endpoint, method, res,
					   kind == RAIN_EAUTH ? " (check the site's one_auth)" : "");
		} else {
			*result = TAKE_PTR(res);
		}
	}
out:
	free(b.data);
	return r;
}

/* A result that is an id. */
static int xr_call_id(const struct one_site *o, const char *method, const struct xr_param *p,
		      size_t n, int64_t *id)
{
	_cleanup_free_ char *res = NULL;
	int r = xr_call(o, method, p, n, &res);

	if (r < 0)
		return r;
	if (str_to_i64(res, id) < 0 || *id < 0)
		return rain_error_set(RAIN_EFORMAT, "OpenNebula at %s: %s answered '%s', not an id",
				      o->endpoint, method, res);
	return 0;
}

/* The id of the object named name in the user's pool (pool: "image" or
 * "template"; filter -3: the user's own), or -1. */
static int find_by_name(const struct one_site *o, const char *pool, const char *name, int64_t *id)
{
	const struct xr_param p[] = { { 'i', NULL, -3 }, { 'i', NULL, -1 }, { 'i', NULL, -1 } };
	const char *element = !strcmp(pool, "image") ? "IMAGE" : "VMTEMPLATE";
	char method[32];
	_cleanup_free_ char *res = NULL;
	int r;

	*id = -1;
	snprintf(method, sizeof(method), "one.%spool.info", pool);
	r = xr_call(o, method, p, 3, &res);
	if (r < 0)
		return r;
	return opennebula_pool_find(res, element, name, id);
}

/* ---- publish ------------------------------------------------------------ */

/* A name for an object of the registration: rain-REGID-WHAT. */
static void object_name(const struct rain_target_op *op, const char *what, char *out, size_t len)
{
	snprintf(out, len, "rain-%s-%s", op->reg_id, what);
}

static int wait_ready(struct rain_target_op *op, const struct one_site *o, int64_t id)
{
	static const char *const state_path[] = { "IMAGE", "STATE", NULL };
	static const char *const error_path[] = { "IMAGE", "TEMPLATE", "ERROR", NULL };
	time_t end = time(NULL) + o->image_timeout;
	int r;

	for (;;) {
		const struct xr_param p[] = { { 'i', NULL, id }, { 'b', NULL, 0 } };
		_cleanup_free_ char *res = NULL, *st = NULL, *err = NULL;
		int64_t state = -1;

		r = xr_call(o, "one.image.info", p, 2, &res);
		if (r < 0)
			return r;
		st = opennebula_doc_text(res, state_path);
		if (!st || str_to_i64(st, &state) < 0)
			return rain_error_set(RAIN_EFORMAT, "OpenNebula at %s: image %lld has no STATE",
					      o->endpoint, (long long)id);
		if (state == IMAGE_READY)
			return 0;
		if (state == IMAGE_ERROR) {
			err = opennebula_doc_text(res, error_path);
			return rain_error_set(RAIN_EIO, "OpenNebula could not make image %lld: %s",
					      (long long)id, err ? err : "no reason given (state ERROR)");
		}
		if (state != 0 && state != 4)
			return rain_error_set(RAIN_EIO, "OpenNebula's image %lld is in state %lld, "
					      "not READY", (long long)id, (long long)state);
		if (time(NULL) >= end)
			return rain_error_set(RAIN_ECANCELED, "OpenNebula did not make image %lld "
					      "READY within %lld s (image_timeout)", (long long)id,
					      (long long)o->image_timeout);
		r = rain_target_check_cancel(op);
		if (r < 0)
			return r;
		sleep(1);
	}
}

/* The architecture OpenNebula names (OS ARCH) for the image's property. */
static const char *one_arch(const struct rain_target_image *img)
{
	const char *a = json_string_value(json_object_get(img->properties, "architecture"));

	return a && !strcmp(a, "aarch64") ? "aarch64" : "x86_64";
}

static int template_text(struct rain_target_op *op, const struct rain_target_image *img,
			 const char *name, int64_t image_id, char **out)
{
	const struct one_site *o = op->site->priv;
	const char *fw = json_string_value(json_object_get(img->properties, "hw_firmware_type"));
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return rain_error_oom();
	fprintf(f, "NAME = \"%s\"\nCPU = \"%lld\"\nVCPU = \"%lld\"\nMEMORY = \"%lld\"\n"
		"DISK = [ IMAGE_ID = \"%lld\" ]\nOS = [ ARCH = \"%s\"%s ]\n"
		"GRAPHICS = [ TYPE = \"VNC\", LISTEN = \"0.0.0.0\" ]\n"
		"RAW = [ TYPE = \"kvm\", DATA = \"<devices><serial type='pty'><target port='0'/></serial>"
		"<console type='pty'><target type='serial' port='0'/></console></devices>\" ]\n"
		"CONTEXT = [ NETWORK = \"YES\", SET_HOSTNAME = \"$NAME\", SSH_PUBLIC_KEY = \"%s\" ]\n",
		name, (long long)o->vcpu, (long long)o->vcpu, (long long)o->memory_mib,
		(long long)image_id, one_arch(img), fw && !strcmp(fw, "uefi") ? ", FIRMWARE = \"UEFI\"" : "",
		op->ssh_key ? op->ssh_key : "$USER[SSH_PUBLIC_KEY]");
	if (o->network)
		fprintf(f, "NIC = [ NETWORK = \"%s\" ]\n", o->network);
	if (fclose(f) != 0) {
		free(text);
		return rain_error_oom();
	}
	*out = text;
	return 0;
}

/* After an allocate failed with r: when OpenNebula itself refused (an
 * answer, not a lost connection), nothing was made, and the name saved
 * for it goes from the state (the error stays the step's). */
static void refused(struct rain_target_op *op, int r, const char *name_key)
{
	_cleanup_free_ char *msg = NULL;

	if (r >= 0 || r == RAIN_ENET || r == RAIN_EFORMAT || !(msg = strdup(rain_error_last())))
		return;
	rain_target_state_set(op, name_key, NULL);
	rain_error_set(r, "%s", msg);
}

static int one_publish(struct rain_target_op *op, const struct rain_target_image *img,
		       const struct rain_target_artifacts *a)
{
	const struct one_site *o = op->site->priv;
	_cleanup_free_ char *dir = NULL, *file = NULL, *url = NULL, *desc = NULL, *itext = NULL;
	_cleanup_free_ char *ttext = NULL;
	char iname[96], tname[96], sha[65];
	const char *ext = !strcmp(a->disk_format ? a->disk_format : "", "raw") ? "raw" : "qcow2";
	int64_t image_id = -1, template_id = -1;
	int r;

	if (!a->disk)
		return rain_error_set(RAIN_EINVAL, "the adaptation made no disk");
	if (op->ssh_key && !template_safe(op->ssh_key))
		return rain_error_set(RAIN_EINVAL, "the ssh key holds quotes or control characters");
	r = target_reg_dir(op, o->publish_dir, &dir);
	if (r < 0)
		return r;
	if (asprintf(&file, "%s/disk.%s", dir, ext) < 0 ||
	    asprintf(&url, "%s/%s/disk.%s", o->publish_url, op->reg_id, ext) < 0)
		return rain_error_oom();
	/* the files first, so that unpublish removes them whatever follows */
	r = rain_target_state_set(op, "files", json_string(dir));
	if (r >= 0)
		r = fs_mkdir_p(dir, 0755);
	if (r >= 0)
		r = target_publish_file(op, a->disk, file, sha);
	if (r < 0)
		return r;
	rain_target_log(op, RAIN_TARGET_INFO, "published %s for OpenNebula at %s", file, url);

	object_name(op, "image", iname, sizeof(iname));
	desc = strdup(img->name && template_safe(img->name) ? img->name : "rain image");
	if (!desc || asprintf(&itext, "NAME = \"%s\"\nPATH = \"%s\"\nTYPE = \"OS\"\nDRIVER = \"%s\"\n"
			      "DEV_PREFIX = \"vd\"\nDESCRIPTION = \"%s (rain registration %s, "
			      "sha256 %s)\"\n", iname, url, ext, desc, op->reg_id, sha) < 0)
		return rain_error_oom();
	r = rain_target_state_set(op, "image_name", json_string(iname));
	if (r >= 0) {
		const struct xr_param p[] = { { 's', itext, 0 }, { 'i', NULL, o->datastore },
					      { 'b', NULL, 0 } };

		r = xr_call_id(o, "one.image.allocate", p, 3, &image_id);
		refused(op, r, "image_name");
	}
	if (r >= 0)
		r = rain_target_state_set(op, "image_id", json_integer(image_id));
	if (r >= 0) {
		rain_target_log(op, RAIN_TARGET_INFO, "OpenNebula image %lld (%s): waiting until it "
				"is READY", (long long)image_id, iname);
		r = wait_ready(op, o, image_id);
	}
	if (r < 0)
		return r;

	object_name(op, "template", tname, sizeof(tname));
	r = template_text(op, img, tname, image_id, &ttext);
	if (r >= 0)
		r = rain_target_state_set(op, "template_name", json_string(tname));
	if (r >= 0) {
		const struct xr_param p[] = { { 's', ttext, 0 } };

		r = xr_call_id(o, "one.template.allocate", p, 1, &template_id);
		refused(op, r, "template_name");
	}
	if (r >= 0)
		r = rain_target_state_set(op, "template_id", json_integer(template_id));
	if (r >= 0)
		r = rain_target_state_set(op, "show", json_pack("{s:I, s:I, s:s}", "image_id",
				(json_int_t)image_id, "template_id", (json_int_t)template_id, "url", url));
	if (r >= 0)
		rain_target_log(op, RAIN_TARGET_INFO, "OpenNebula template %lld (%s) boots image %lld",
				(long long)template_id, tname, (long long)image_id);
	return r;
}

/* Remove one kind of object named in the state: by its id, else by the
 * name saved before it was allocated. */
static int remove_object(struct rain_target_op *op, const char *pool, const char *id_key,
			 const char *name_key)
{
	const struct one_site *o = op->site->priv;
	const char *name = json_string_value(json_object_get(op->state, name_key));
	json_t *idv = json_object_get(op->state, id_key);
	int64_t id = json_is_integer(idv) ? json_integer_value(idv) : -1;
	_cleanup_free_ char *res = NULL;
	char method[32];
	int r = 0;

	if (id < 0 && name)
		r = find_by_name(o, pool, name, &id);
	if (r >= 0 && id >= 0) {
		/* a template's images are not its to delete (recursive false);
		 * an image is deleted without force */
		const struct xr_param p[] = { { 'i', NULL, id }, { 'b', NULL, 0 } };

		snprintf(method, sizeof(method), "one.%s.delete", pool);
		r = xr_call(o, method, p, 2, &res);
		if (r == RAIN_ENOTFOUND)
			r = 0;
		if (r >= 0)
			rain_target_log(op, RAIN_TARGET_INFO, "removed OpenNebula %s %lld", pool,
					(long long)id);
	}
	if (r >= 0) {
		r = rain_target_state_set(op, id_key, NULL);
		if (r >= 0)
			r = rain_target_state_set(op, name_key, NULL);
	}
	return r;
}

static int one_unpublish(struct rain_target_op *op)
{
	const char *dir = json_string_value(json_object_get(op->state, "files"));
	const struct one_site *o = op->site->priv;
	_cleanup_free_ char *mine = NULL, *first = NULL;
	int r, ret = 0;

	/* everything that can go goes; the first failure is the answer */
	r = remove_object(op, "template", "template_id", "template_name");
	if (r < 0 && !first) {
		ret = r;
		first = strdup(rain_error_last());
	}
	/* the template's image only once the template is gone */
	r = r < 0 ? r : remove_object(op, "image", "image_id", "image_name");
	if (r < 0 && !first) {
		ret = r;
		first = strdup(rain_error_last());
	}
	if (dir) {
		/* only this registration's own folder */
		r = target_reg_dir(op, o->publish_dir, &mine);
		if (r >= 0 && strcmp(dir, mine))
			r = rain_error_set(RAIN_EINVAL, "the state names %s, not this registration's "
					   "folder %s", dir, mine);
		if (r >= 0)
			r = fs_remove_tree(dir);
		if (r >= 0)
			r = rain_target_state_set(op, "files", NULL);
		if (r < 0 && !first) {
			ret = r;
			first = strdup(rain_error_last());
		}
	}
	if (ret < 0)
		return rain_error_set(ret, "%s", first ? first : "cannot remove everything");
	return rain_target_state_set(op, "show", NULL);
}

static int one_status(struct rain_target_op *op, json_t **out)
{
	static const char *const state_path[] = { "IMAGE", "STATE", NULL };
	const struct one_site *o = op->site->priv;
	json_t *idv = json_object_get(op->state, "image_id");
	_cleanup_free_ char *res = NULL, *st = NULL;
	int r;

	*out = NULL;
	if (!json_is_integer(idv)) {
		*out = json_pack("{s:b}", "present", false);
		return *out ? 0 : rain_error_oom();
	}
	{
		const struct xr_param p[] = { { 'i', NULL, json_integer_value(idv) }, { 'b', NULL, 0 } };

		r = xr_call(o, "one.image.info", p, 2, &res);
	}
	if (r == RAIN_ENOTFOUND) {
		*out = json_pack("{s:b}", "present", false);
		return *out ? 0 : rain_error_oom();
	}
	if (r < 0)
		return r;
	st = opennebula_doc_text(res, state_path);
	*out = json_pack("{s:b, s:O, s:O, s:s?}", "present", true, "image_id", idv, "template_id",
			 json_object_get(op->state, "template_id") ?: json_null(), "image_state", st);
	return *out ? 0 : rain_error_oom();
}

static const struct rain_target_driver opennebula = {
	.version = RAIN_TARGET_DRIVER_VERSION,
	.scheme = "opennebula",
	.usage = "opennebula:URL (the XML-RPC endpoint)",
	.check = one_check,
	.free = one_free,
	.adapt = one_adapt,
	.publish = one_publish,
	.unpublish = one_unpublish,
	.status = one_status,
};

const struct rain_driver rain_target_driver_opennebula = {
	.kind = "target",
	.scheme = "opennebula",
	.usage = "opennebula:URL (the XML-RPC endpoint)",
	.table = &opennebula,
};
