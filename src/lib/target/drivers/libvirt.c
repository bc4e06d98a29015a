/* The libvirt site driver: a KVM/QEMU host reached through the libvirt C
 * API, local or remote ("libvirt:qemu:///system",
 * "libvirt:qemu+ssh://host/system", "libvirt:test:///default").
 *
 * publish puts two volumes in the site's storage pool, the adapted disk
 * ("rain-REGID.qcow2" or ".raw") and a cloud-init NoCloud seed
 * ("rain-REGID-seed.iso"), each created empty (raw, sparse) and then
 * filled through virStorageVolUpload with a sparse stream read from the
 * file a buffer at a time (constant memory, holes sent as holes), and
 * defines (never starts) the domain "rain-REGID": virtio disk and network,
 * the seed as a cdrom, a serial console on a pty, OVMF/AAVMF when the image
 * asks for UEFI. Every name goes into op->state before the object is made;
 * an object that exists already is refused before it is named, so that
 * unpublish never removes what rain did not make.
 *
 * Settings ([site.NAME]):
 *   pool = NAME            the storage pool (default "default"); it must
 *                          exist and be active
 *   memory = SIZE          the domain's memory (default 1G)
 *   vcpus = N              (default 1)
 *   network = user | none | network:NAME | bridge:NAME   (default user)
 *   domain_type = auto | qemu | kvm   auto: kvm when the host offers it
 *                          for the image's architecture, else qemu
 *   define_domain = yes | no   (default yes) no: the volumes only
 *   console_log = DIR      log the serial console to DIR/rain-REGID.log
 *                          on the libvirt host (default: no log)
 *   hostname = NAME        the guest's host name (default: the domain's)
 *   reach = ssh | agent    how runs reach the instances (default ssh):
 *                          agent: through the QEMU guest agent (the image
 *                          needs qemu-guest-agent) on the virtio-serial
 *                          channel org.qemu.guest_agent.0, which the
 *                          registration's domain then has; run instances
 *                          get no network interface at all
 *
 * libvirt's own error printing is turned off (the library never prints);
 * its messages are carried into rain's. A program using this driver
 * ignores SIGPIPE (rain and raind do): a daemon that goes away mid-upload
 * is then an error, not the end of the program.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rain/adapt.h"
#include "rain/error.h"
#include "lib/target/drivers/libvirt-conn.h"
#include "lib/target/drivers/libvirt-internal.h"
#include "lib/target/target-internal.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* Settings every site has (rain/target.h); the rest are the driver's. */
static const char *const common_keys[] = { "uri", "policy", "kernels", "users", NULL };
static const char *const own_keys[] = {
	"pool", "memory", "vcpus", "network", "domain_type", "define_domain", "console_log",
	"hostname", "reach", NULL,
};

struct lv_site {
	char *pool;
	int64_t memory_mib;
	int vcpus;
	char *network;
	char *domain_type;
	bool define_domain;
	char *console_log;
	char *hostname;
	bool agent;                     /* reach = agent */
};

/* ---- settings ---------------------------------------------------------- */

static void lv_free(struct rain_site *site)
{
	struct lv_site *s = site->priv;

	if (!s)
		return;
	free(s->pool);
	free(s->network);
	free(s->domain_type);
	free(s->console_log);
	free(s->hostname);
	free(s);
	site->priv = NULL;
}

static int lv_check(struct rain_site *site)
{
	struct lv_site *s;
	const char *key, *v;
	json_t *val;
	int64_t mem, vcpus;
	int r;

	libvirt_init();
	if (!str_is_printable(site->location, 4096) || strpbrk(site->location, " \t"))
		return rain_error_set(RAIN_EINVAL, "site %s: uri: expected libvirt:URI "
				      "(libvirt:qemu:///system, libvirt:qemu+ssh://HOST/system)",
				      site->name);
	json_object_foreach(site->settings, key, val) {
		if (!str_in_list(common_keys, key) && !str_in_list(own_keys, key))
			return rain_error_set(RAIN_EINVAL, "site %s: unknown setting '%s' (libvirt "
					      "sites know pool, memory, vcpus, network, "
					      "domain_type, define_domain, console_log, hostname, "
					      "reach)",
					      site->name, key);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return rain_error_oom();
	site->priv = s;

	v = rain_site_get(site, "pool");
	if (v && (!str_is_printable(v, 255) || strchr(v, '/'))) {
		r = rain_error_set(RAIN_EINVAL, "site %s: pool: '%s' is no storage pool name",
				   site->name, v);
		goto fail;
	}
	r = str_set(&s->pool, v ? v : "default");
	if (r < 0)
		goto fail;

	r = rain_site_get_int(site, "memory", 1LL << 30, &mem);
	if (r < 0)
		goto fail;
	if (mem < (128LL << 20) || mem > (4LL << 40)) {
		r = rain_error_set(RAIN_EINVAL, "site %s: memory: between 128M and 4T (a size: "
				   "1G, 512M)", site->name);
		goto fail;
	}
	s->memory_mib = mem >> 20;

	r = rain_site_get_int(site, "vcpus", 1, &vcpus);
	if (r < 0)
		goto fail;
	if (vcpus < 1 || vcpus > 256) {
		r = rain_error_set(RAIN_EINVAL, "site %s: vcpus: between 1 and 256", site->name);
		goto fail;
	}
	s->vcpus = (int)vcpus;

	v = rain_site_get(site, "network");
	if (!v)
		v = "user";
	if (!str_is_printable(v, 255) || strpbrk(v, " \t'\"<>&") ||
	    (strcmp(v, "user") != 0 && strcmp(v, "none") != 0 &&
	     !(str_has_prefix(v, "network:") && v[8]) && !(str_has_prefix(v, "bridge:") && v[7]))) {
		r = rain_error_set(RAIN_EINVAL, "site %s: network: '%s': expected user, none, "
				   "network:NAME (a libvirt network) or bridge:NAME", site->name, v);
		goto fail;
	}
	r = str_set(&s->network, v);
	if (r < 0)
		goto fail;

	v = rain_site_get(site, "domain_type");
	if (!v)
		v = "auto";
	if (strcmp(v, "auto") != 0 && strcmp(v, "qemu") != 0 && strcmp(v, "kvm") != 0) {
		r = rain_error_set(RAIN_EINVAL, "site %s: domain_type: '%s': expected auto, qemu "
				   "(emulation) or kvm", site->name, v);
		goto fail;
	}
	r = str_set(&s->domain_type, v);
	if (r < 0)
		goto fail;

	r = rain_site_get_bool(site, "define_domain", true, &s->define_domain);
	if (r < 0)
		goto fail;

	v = rain_site_get(site, "console_log");
	if (v) {
		if (v[0] != '/' || !str_is_printable(v, 3000) || strstr(v, "/../") ||
		    str_has_suffix(v, "/..")) {
			r = rain_error_set(RAIN_EINVAL, "site %s: console_log: '%s': expected an "
					   "absolute folder on the libvirt host", site->name, v);
			goto fail;
		}
		r = str_set(&s->console_log, v);
		if (r < 0)
			goto fail;
	}

	v = rain_site_get(site, "hostname");
	if (v) {
		if (!libvirt_hostname_ok(v)) {
			r = rain_error_set(RAIN_EINVAL, "site %s: hostname: '%s': use 1-63 of a-z, "
					   "0-9 and '-'", site->name, v);
			goto fail;
		}
		r = str_set(&s->hostname, v);
		if (r < 0)
			goto fail;
	}

	v = rain_site_get(site, "reach");
	if (v && strcmp(v, "ssh") != 0 && strcmp(v, "agent") != 0) {
		r = rain_error_set(RAIN_EINVAL, "site %s: reach: '%s': expected ssh (the run's key "
				   "and ssh) or agent (the QEMU guest agent, for images without "
				   "network)", site->name, v);
		goto fail;
	}
	s->agent = v && strcmp(v, "agent") == 0;
	return 0;
fail:
	lv_free(site);
	return r;
}

/* ---- the image --------------------------------------------------------- */

static const char *prop(const json_t *props, const char *key)
{
	return props ? json_string_value(json_object_get(props, key)) : NULL;
}

/* libvirt's name of the image's architecture (x86_64 when it says none),
 * or NULL for one this driver cannot run. */
static const char *image_arch(const json_t *props, const char **given)
{
	const char *a = prop(props, "architecture");

	*given = a;
	if (!a || strcmp(a, "x86_64") == 0 || strcmp(a, "amd64") == 0)
		return "x86_64";
	if (strcmp(a, "aarch64") == 0 || strcmp(a, "arm64") == 0)
		return "aarch64";
	return NULL;
}

static int lv_accepts(const struct rain_site *site, const struct rain_target_image *img)
{
	const char *given;

	if (!image_arch(img->properties, &given))
		return rain_error_set(RAIN_EINVAL, "site %s: image %s: architecture '%s' cannot "
				      "run there (x86_64 or aarch64)", site->name, img->id, given);
	if (img->disk_format && strcmp(img->disk_format, "raw") != 0 &&
	    strcmp(img->disk_format, "qcow2") != 0)
		return rain_error_set(RAIN_EINVAL, "site %s: image %s: a %s image cannot go there "
				      "(raw or qcow2 disks)", site->name, img->id, img->disk_format);
	return 0;
}

/* A qcow2 copy with cloud-init told of NoCloud (or rain's first-boot unit
 * reading the seed and op->ssh_key), and the modules the domain's disk,
 * network and seed cdrom need. */
static int lv_adapt(struct rain_target_op *op, const struct rain_target_image *img,
		    struct rain_target_artifacts *out)
{
	static const char *const modules[] = {
		"virtio_blk", "virtio_net", "virtio_scsi", "sr_mod", "isofs", NULL,
	};
	const struct rain_adapt_opts o = {
		.context = RAIN_ADAPT_CLOUD_INIT,
		.disk_format = "qcow2",
		.modules = modules,
	};

	return rain_adapt(op, img, &o, out);
}

/* ---- names ------------------------------------------------------------- */

struct lv_names {
	char *domain;   /* rain-ID */
	char *disk;     /* rain-ID.qcow2 */
	char *seed;     /* rain-ID-seed.iso */
};

static void names_clear(struct lv_names *n)
{
	free(n->domain);
	free(n->disk);
	free(n->seed);
}

static int names_make(const char *reg_id, const char *format, struct lv_names *n)
{
	memset(n, 0, sizeof(*n));
	if (!reg_id || !*reg_id || strlen(reg_id) > 64 || reg_id[0] == '.' || reg_id[0] == '-' ||
	    reg_id[strspn(reg_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")])
		return rain_error_set(RAIN_EINVAL, "libvirt: registration id '%s' cannot name a "
				      "domain (letters, digits, '_', '.', '-'; at most 64)",
				      reg_id ? reg_id : "");
	if (asprintf(&n->domain, "rain-%s", reg_id) < 0)
		n->domain = NULL;
	if (asprintf(&n->disk, "rain-%s.%s", reg_id, format) < 0)
		n->disk = NULL;
	if (asprintf(&n->seed, "rain-%s-seed.iso", reg_id) < 0)
		n->seed = NULL;
	if (!n->domain || !n->disk || !n->seed) {
		names_clear(n);
		return rain_error_oom();
	}
	return 0;
}

/* ---- publish ----------------------------------------------------------- */

static int state_str(struct rain_target_op *op, const char *key, const char *value)
{
	json_t *v = json_string(value);

	if (!v)
		return rain_error_oom();
	return rain_target_state_set(op, key, v);
}

/* kvm when the host offers it for arch, else qemu. */
static const char *domain_type(virConnectPtr conn, const struct lv_site *s, const char *arch)
{
	char *caps;

	if (strcmp(s->domain_type, "auto") != 0)
		return s->domain_type;
	caps = virConnectGetDomainCapabilities(conn, NULL, arch, NULL, "kvm", 0);
	if (!caps)
		return "qemu";
	free(caps);
	return "kvm";
}

static int lv_publish(struct rain_target_op *op, const struct rain_target_image *img,
		      const struct rain_target_artifacts *a)
{
	const struct rain_site *site = op->site;
	const struct lv_site *s = site->priv;
	const char *loc = site->location;
	const char *format = a->disk_format ? a->disk_format : img->disk_format;
	_cleanup_conn_ virConnectPtr conn = NULL;
	_cleanup_pool_ virStoragePoolPtr pool = NULL;
	_cleanup_dom_ virDomainPtr dom = NULL;
	_cleanup_free_ char *seed = NULL, *xml = NULL, *log = NULL;
	_cleanup_json_ json_t *show = NULL;
	struct lv_names n;
	const char *arch, *given, *fw;
	char hostname[64], uuid[VIR_UUID_STRING_BUFLEN];
	int r;

	if (!a->disk)
		return rain_error_set(RAIN_EINVAL, "libvirt: adaptation made no disk for site %s",
				      site->name);
	if (!format || (strcmp(format, "qcow2") != 0 && strcmp(format, "raw") != 0))
		return rain_error_set(RAIN_EINVAL, "libvirt: the adapted disk %s is %s: expected "
				      "qcow2 or raw", a->disk, format ? format : "of no known format");
	arch = image_arch(a->properties && prop(a->properties, "architecture") ? a->properties :
			  img->properties, &given);
	if (!arch)
		return rain_error_set(RAIN_EINVAL, "libvirt: architecture '%s' cannot run at site %s",
				      given, site->name);
	fw = prop(a->properties, "hw_firmware_type");
	if (!fw)
		fw = prop(img->properties, "hw_firmware_type");
	r = names_make(op->reg_id, format, &n);
	if (r < 0)
		return r;
	if (s->hostname)
		snprintf(hostname, sizeof(hostname), "%s", s->hostname);
	else
		libvirt_hostname_from(n.domain, hostname, sizeof(hostname));

	r = libvirt_connect(site, &conn);
	if (r < 0)
		goto done;
	r = libvirt_pool_get(conn, site, s->pool, &pool);
	if (r < 0)
		goto done;
	/* refuse what exists before naming it: it is not ours to remove */
	r = libvirt_vol_absent(site, pool, s->pool, n.disk);
	if (r == 0)
		r = libvirt_vol_absent(site, pool, s->pool, n.seed);
	if (r < 0)
		goto done;
	if (s->define_domain) {
		dom = virDomainLookupByName(conn, n.domain);
		if (dom) {
			r = rain_error_set(RAIN_EEXISTS, "libvirt at %s: a domain %s exists already: "
					   "rain did not make it for this registration; remove it "
					   "(virsh undefine %s) if it is not needed", loc, n.domain,
					   n.domain);
			goto done;
		}
	}

	if (asprintf(&seed, "%s/seed.iso", op->workdir) < 0) {
		seed = NULL;
		r = rain_error_oom();
		goto done;
	}
	r = libvirt_seed_write(seed, n.domain, hostname, op->ssh_key);
	if (r < 0)
		goto done;

	r = state_str(op, "uri", loc);
	if (r == 0)
		r = state_str(op, "pool", s->pool);
	if (r == 0)
		r = state_str(op, "volume", n.disk);
	if (r < 0)
		goto done;
	rain_target_log(op, RAIN_TARGET_INFO, "libvirt: uploading %s to %s in pool %s at %s",
			a->disk, n.disk, s->pool, loc);
	r = libvirt_vol_upload(op, conn, pool, s->pool, n.disk, a->disk);
	if (r < 0)
		goto done;
	r = rain_target_check_cancel(op);
	if (r == 0)
		r = state_str(op, "seed", n.seed);
	if (r == 0)
		r = libvirt_vol_upload(op, conn, pool, s->pool, n.seed, seed);
	if (r == 0)
		r = rain_target_check_cancel(op);
	if (r < 0)
		goto done;

	show = json_pack("{s:s, s:s, s:s, s:s}", "uri", loc, "pool", s->pool, "volume", n.disk,
			 "seed", n.seed);
	if (!show) {
		r = rain_error_oom();
		goto done;
	}
	if (s->define_domain) {
		struct libvirt_domain d = {
			.name = n.domain,
			.title = img->name,
			.description = "registered by rain",
			.type = domain_type(conn, s, arch),
			.arch = arch,
			.uefi = fw && strcmp(fw, "uefi") == 0,
			.memory_mib = s->memory_mib,
			.vcpus = s->vcpus,
			.pool = s->pool,
			.disk_volume = n.disk,
			.disk_format = format,
			.seed_volume = n.seed,
			.network = s->network,
			.guest_agent = s->agent,
			.reg_id = op->reg_id,
			.image_id = img->id,
		};

		if (s->console_log) {
			if (asprintf(&log, "%s/%s.log", s->console_log, n.domain) < 0) {
				log = NULL;
				r = rain_error_oom();
				goto done;
			}
			d.console_log = log;
		}
		r = libvirt_domain_xml(&d, &xml);
		if (r == 0)
			r = state_str(op, "domain", n.domain);
		if (r < 0)
			goto done;
		dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
		if (!dom) {
			r = rain_error_set(RAIN_EIO, "libvirt at %s: cannot define domain %s: %s", loc,
					   n.domain, libvirt_msg());
			goto done;
		}
		if (virDomainGetUUIDString(dom, uuid) < 0)
			uuid[0] = '\0';
		rain_target_log(op, RAIN_TARGET_INFO, "libvirt: defined domain %s (%s, %s%s); start "
				"it with: virsh -c %s start %s", n.domain, d.type, arch,
				d.uefi ? ", UEFI" : "", loc, n.domain);
		if (json_object_set_new(show, "domain", json_string(n.domain)) < 0 ||
		    json_object_set_new(show, "domain_type", json_string(d.type)) < 0 ||
		    (uuid[0] && json_object_set_new(show, "uuid", json_string(uuid)) < 0) ||
		    (log && json_object_set_new(show, "console_log", json_string(log)) < 0)) {
			r = rain_error_oom();
			goto done;
		}
	}
	r = rain_target_state_set(op, "show", TAKE_PTR(show));
done:
	names_clear(&n);
	if (seed)
		(void)unlink(seed);
	return r;
}

/* ---- unpublish and status ---------------------------------------------- */

/* RAIN_ECONFLICT when a volume of pool, such as a run's overlay, has the
 * volume vol as its backing store: removing vol would pull the disk from
 * under a running instance. */
static int vol_in_use(virStoragePoolPtr pool, const char *vol)
{
	_cleanup_vol_ virStorageVolPtr v = virStorageVolLookupByName(pool, vol);
	_cleanup_free_ char *path = NULL, *users = NULL;
	virStorageVolPtr *vols = NULL;
	size_t len = 0;
	FILE *f;
	int n, r = 0;

	if (!v || !(path = virStorageVolGetPath(v)))
		return 0;       /* gone: nothing can use it */
	n = virStoragePoolListAllVolumes(pool, &vols, 0);
	if (n < 0)
		return rain_error_set(RAIN_EIO, "libvirt: cannot list the volumes of the pool: %s",
				      libvirt_msg());
	f = open_memstream(&users, &len);
	if (!f)
		r = rain_error_oom();
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *xml = NULL, *backing = NULL;

		if (r == 0 && (xml = virStorageVolGetXMLDesc(vols[i], 0)) &&
		    libvirt_vol_backing(xml, &backing) == 0 && backing && !strcmp(backing, path))
			fprintf(f, "%s%s", ftell(f) ? ", " : "", virStorageVolGetName(vols[i]));
		virStorageVolFree(vols[i]);
	}
	free(vols);
	if (f && fclose(f) != 0 && r == 0)
		r = rain_error_oom();
	if (r == 0 && users && *users)
		r = rain_error_set(RAIN_ECONFLICT, "libvirt: volume %s is the backing file of %s, "
				   "the disks of runs still up: stop those runs (rain stop RUN, or "
				   "rain provision down) and deregister again", vol, users);
	return r;
}

static int lv_unpublish(struct rain_target_op *op)
{
	const struct rain_site *site = op->site;
	const struct lv_site *s = site->priv;
	const char *dom = json_string_value(json_object_get(op->state, "domain"));
	const char *vol = json_string_value(json_object_get(op->state, "volume"));
	const char *seed = json_string_value(json_object_get(op->state, "seed"));
	const char *pool_name = json_string_value(json_object_get(op->state, "pool"));
	_cleanup_conn_ virConnectPtr conn = NULL;
	_cleanup_pool_ virStoragePoolPtr pool = NULL;
	int r;

	if (!pool_name)
		pool_name = s->pool;
	r = libvirt_connect(site, &conn);
	if (r < 0)
		return r;
	if (vol || seed) {
		r = libvirt_pool_get(conn, site, pool_name, &pool);
		if (r == RAIN_ENOTFOUND) {
			/* no pool, no volumes in it */
			rain_target_log(op, RAIN_TARGET_WARN, "libvirt: pool %s is gone, and its "
					"volumes with it", pool_name);
			pool = NULL;
		} else if (r < 0) {
			return r;
		}
	}
	/* before anything is removed: nothing half-deregistered */
	if (pool && vol && (r = vol_in_use(pool, vol)) < 0)
		return r;
	if (dom) {
		r = libvirt_dom_remove(op, conn, dom);
		if (r == 0)
			r = rain_target_state_set(op, "domain", NULL);
		if (r < 0)
			return r;
	}
	if (vol) {
		r = pool ? libvirt_vol_remove(op, pool, vol) : 0;
		if (r == 0)
			r = rain_target_state_set(op, "volume", NULL);
		if (r < 0)
			return r;
	}
	if (seed) {
		r = pool ? libvirt_vol_remove(op, pool, seed) : 0;
		if (r == 0)
			r = rain_target_state_set(op, "seed", NULL);
		if (r < 0)
			return r;
	}
	r = rain_target_state_set(op, "show", NULL);
	if (r == 0)
		r = rain_target_state_set(op, "pool", NULL);
	if (r == 0)
		r = rain_target_state_set(op, "uri", NULL);
	return r;
}

static const char *dom_state_name(int state)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING: return "running";
	case VIR_DOMAIN_BLOCKED: return "blocked";
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_SHUTDOWN: return "shutting down";
	case VIR_DOMAIN_SHUTOFF: return "shut off";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PMSUSPENDED: return "suspended";
	default: return "unknown";
	}
}

/* {"name": ..., "present": bool, "capacity": N, "allocation": N} */
static int vol_status(const struct rain_site *site, virStoragePoolPtr pool, const char *name,
		      json_t **out)
{
	_cleanup_vol_ virStorageVolPtr v = pool ? virStorageVolLookupByName(pool, name) : NULL;
	virStorageVolInfo info;

	if (!v) {
		virErrorPtr e = virGetLastError();

		if (pool && !(e && e->code == VIR_ERR_NO_STORAGE_VOL))
			return rain_error_set(RAIN_ENET, "libvirt at %s: volume %s: %s",
					      site->location, name, libvirt_msg());
		*out = json_pack("{s:s, s:b}", "name", name, "present", false);
	} else if (virStorageVolGetInfo(v, &info) < 0) {
		return rain_error_set(RAIN_ENET, "libvirt at %s: volume %s: %s", site->location,
				      name, libvirt_msg());
	} else {
		*out = json_pack("{s:s, s:b, s:I, s:I}", "name", name, "present", true, "capacity",
				 (json_int_t)info.capacity, "allocation", (json_int_t)info.allocation);
	}
	return *out ? 0 : rain_error_oom();
}

static int lv_status(struct rain_target_op *op, json_t **out)
{
	const struct rain_site *site = op->site;
	const struct lv_site *s = site->priv;
	const char *names[] = {
		json_string_value(json_object_get(op->state, "volume")),
		json_string_value(json_object_get(op->state, "seed")),
	};
	const char *keys[] = { "volume", "seed" };
	const char *dom_name = json_string_value(json_object_get(op->state, "domain"));
	const char *pool_name = json_string_value(json_object_get(op->state, "pool"));
	_cleanup_conn_ virConnectPtr conn = NULL;
	_cleanup_pool_ virStoragePoolPtr pool = NULL;
	_cleanup_json_ json_t *o = NULL;
	bool present = true, any = false;
	int r;

	*out = NULL;
	if (!pool_name)
		pool_name = s->pool;
	r = libvirt_connect(site, &conn);
	if (r < 0)
		return r;
	o = json_pack("{s:s, s:s}", "uri", site->location, "pool", pool_name);
	if (!o)
		return rain_error_oom();
	if (names[0] || names[1]) {
		r = libvirt_pool_get(conn, site, pool_name, &pool);
		if (r < 0 && r != RAIN_ENOTFOUND)
			return r;
		if (r == RAIN_ENOTFOUND)
			pool = NULL;
		rain_error_clear();
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		json_t *v;

		if (!names[i])
			continue;
		r = vol_status(site, pool, names[i], &v);
		if (r < 0)
			return r;
		any = true;
		present = present && json_is_true(json_object_get(v, "present"));
		if (json_object_set_new(o, keys[i], v) < 0)
			return rain_error_oom();
	}
	if (dom_name) {
		_cleanup_dom_ virDomainPtr dom = virDomainLookupByName(conn, dom_name);
		json_t *d;
		int state, reason;

		if (!dom) {
			virErrorPtr e = virGetLastError();

			if (!(e && e->code == VIR_ERR_NO_DOMAIN))
				return rain_error_set(RAIN_ENET, "libvirt at %s: domain %s: %s",
						      site->location, dom_name, libvirt_msg());
			d = json_pack("{s:s, s:b}", "name", dom_name, "present", false);
			present = false;
		} else if (virDomainGetState(dom, &state, &reason, 0) < 0) {
			return rain_error_set(RAIN_ENET, "libvirt at %s: domain %s: %s",
					      site->location, dom_name, libvirt_msg());
		} else {
			d = json_pack("{s:s, s:b, s:s}", "name", dom_name, "present", true, "state",
				      dom_state_name(state));
		}
		if (!d || json_object_set_new(o, "domain", d) < 0)
			return rain_error_oom();
		any = true;
	}
	if (json_object_set_new(o, "present", json_boolean(any && present)) < 0)
		return rain_error_oom();
	*out = TAKE_PTR(o);
	return 0;
}

static const struct rain_target_driver libvirt_driver = {
	.version = RAIN_TARGET_DRIVER_VERSION,
	.scheme = "libvirt",
	.usage = "libvirt:URI (qemu:///system, qemu+ssh://HOST/system)",
	.check = lv_check,
	.free = lv_free,
	.accepts = lv_accepts,
	.adapt = lv_adapt,
	.publish = lv_publish,
	.unpublish = lv_unpublish,
	.status = lv_status,
};

const struct rain_driver rain_target_driver_libvirt = {
	"target", "libvirt", "libvirt:URI (qemu:///system, qemu+ssh://HOST/system)", &libvirt_driver,
};
