/* The libvirt pieces shared by the site driver and the run provider; see
 * libvirt-conn.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rain/error.h"
#include "lib/target/drivers/libvirt-conn.h"
#include "util/cleanup.h"

/* Report progress about every this many bytes (and at the end). */
#define PROGRESS_STEP (16 << 20)
/* Volumes being released by an aborted upload are "in use" for a moment. */
#define DELETE_TRIES 20

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;

static void lv_quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static void lv_init_once(void)
{
	virInitialize();
	virSetErrorFunc(NULL, lv_quiet);
}

void libvirt_init(void)
{
	pthread_once(&lv_once, lv_init_once);
}

const char *libvirt_msg(void)
{
	const char *m = virGetLastErrorMessage();

	return m && *m ? m : "unknown libvirt error";
}

int libvirt_connect(const struct rain_site *site, virConnectPtr *out)
{
	libvirt_init();
	*out = virConnectOpen(site->location);
	if (!*out)
		return rain_error_set(RAIN_ENET, "libvirt at %s: cannot connect: %s (is libvirtd "
				      "running there, and may this user use it?)", site->location,
				      libvirt_msg());
	return 0;
}

int libvirt_pool_get(virConnectPtr conn, const struct rain_site *site, const char *name,
		     virStoragePoolPtr *out)
{
	int active;

	*out = virStoragePoolLookupByName(conn, name);
	if (!*out) {
		virErrorPtr e = virGetLastError();

		if (e && e->code == VIR_ERR_NO_STORAGE_POOL)
			return rain_error_set(RAIN_ENOTFOUND, "libvirt at %s: there is no storage "
					      "pool '%s': create it (virsh pool-define-as %s dir "
					      "--target DIR; virsh pool-build %s; virsh pool-start "
					      "%s; virsh pool-autostart %s) or name another with "
					      "pool = NAME in [site.%s]", site->location, name, name,
					      name, name, name, site->name);
		return rain_error_set(RAIN_ENET, "libvirt at %s: storage pool '%s': %s",
				      site->location, name, libvirt_msg());
	}
	active = virStoragePoolIsActive(*out);
	if (active == 0)
		return rain_error_set(RAIN_ECONFLICT, "libvirt at %s: storage pool '%s' is not "
				      "active: start it (virsh pool-start %s)", site->location, name,
				      name);
	if (active < 0)
		return rain_error_set(RAIN_ENET, "libvirt at %s: storage pool '%s': %s",
				      site->location, name, libvirt_msg());
	/* see files made behind libvirt's back; fails harmlessly while
	 * another upload runs into the pool */
	(void)virStoragePoolRefresh(*out, 0);
	return 0;
}

int libvirt_vol_absent(const struct rain_site *site, virStoragePoolPtr pool, const char *pool_name,
		       const char *name)
{
	_cleanup_vol_ virStorageVolPtr v = virStorageVolLookupByName(pool, name);

	if (v)
		return rain_error_set(RAIN_EEXISTS, "libvirt at %s: pool '%s' already has a volume "
				      "%s: rain did not make it; remove it "
				      "(virsh vol-delete --pool %s %s) if nothing uses it",
				      site->location, pool_name, name, pool_name, name);
	return 0;
}

/* ---- uploading --------------------------------------------------------- */

struct upload {
	struct rain_target_op *op;
	const char *what;               /* "upload" */
	int fd;
	int64_t pos, total, reported;
	bool canceled;
	int read_errno;
};

static void up_progress(struct upload *u)
{
	if (u->pos - u->reported >= PROGRESS_STEP || u->pos == u->total) {
		u->reported = u->pos;
		rain_target_progress(u->op, u->what, u->pos, u->total);
	}
}

static bool up_canceled(struct upload *u)
{
	if (u->op->cancel && *u->op->cancel) {
		u->canceled = true;
		errno = ECANCELED;
		return true;
	}
	return false;
}

static int up_read(virStreamPtr st, char *buf, size_t n, void *opaque)
{
	struct upload *u = opaque;
	ssize_t got;

	(void)st;
	if (up_canceled(u))
		return -1;
	if ((int64_t)n > u->total - u->pos)
		n = (size_t)(u->total - u->pos);
	if (n == 0)
		return 0;
	do
		got = pread(u->fd, buf, n, u->pos);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		u->read_errno = errno;
		return -1;
	}
	u->pos += got;
	up_progress(u);
	return (int)got;
}

static int up_hole(virStreamPtr st, int *in_data, long long *len, void *opaque)
{
	struct upload *u = opaque;
	off_t data, hole;

	(void)st;
	if (up_canceled(u))
		return -1;
	if (u->pos >= u->total) {
		*in_data = 0;
		*len = 0;
		return 0;
	}
	data = lseek(u->fd, u->pos, SEEK_DATA);
	if (data < 0 && errno == ENXIO) {
		/* a hole to the end */
		*in_data = 0;
		*len = u->total - u->pos;
		return 0;
	}
	if (data < 0) {
		/* a file system that cannot tell: all data */
		*in_data = 1;
		*len = u->total - u->pos;
		return 0;
	}
	if (data > u->pos) {
		*in_data = 0;
		*len = (data < u->total ? data : u->total) - u->pos;
		return 0;
	}
	hole = lseek(u->fd, u->pos, SEEK_HOLE);
	if (hole < 0 || hole > u->total)
		hole = u->total;
	*in_data = 1;
	*len = hole - u->pos;
	return 0;
}

static int up_skip(virStreamPtr st, long long len, void *opaque)
{
	struct upload *u = opaque;

	(void)st;
	u->pos += len;
	up_progress(u);
	return 0;
}

int libvirt_vol_upload(struct rain_target_op *op, virConnectPtr conn, virStoragePoolPtr pool,
		       const char *pool_name, const char *name, const char *path)
{
	const char *loc = op->site->location;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *xml = NULL;
	_cleanup_vol_ virStorageVolPtr vol = NULL;
	_cleanup_stream_ virStreamPtr st = NULL;
	struct upload u = { .op = op, .what = "upload", .fd = -1 };
	struct stat sb;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return rain_error_errno(RAIN_EIO, errno, "libvirt: cannot read %s", path);
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0)
		return rain_error_set(RAIN_EINVAL, "libvirt: %s is no file with data", path);
	if (asprintf(&xml, "<volume><name>%s</name><capacity unit='bytes'>%lld</capacity>"
		     "<allocation unit='bytes'>0</allocation><target><format type='raw'/>"
		     "<permissions><mode>0600</mode></permissions></target></volume>",
		     name, (long long)sb.st_size) < 0) {
		xml = NULL;
		return rain_error_oom();
	}
	vol = virStorageVolCreateXML(pool, xml, 0);
	if (!vol)
		return rain_error_set(RAIN_EIO, "libvirt at %s: cannot create volume %s in pool "
				      "'%s': %s", loc, name, pool_name, libvirt_msg());
	rain_target_log(op, RAIN_TARGET_INFO, "libvirt: created volume %s in pool %s (%lld bytes)",
			name, pool_name, (long long)sb.st_size);
	st = virStreamNew(conn, 0);
	if (!st)
		return rain_error_set(RAIN_EIO, "libvirt at %s: %s", loc, libvirt_msg());
	if (virStorageVolUpload(vol, st, 0, (unsigned long long)sb.st_size,
				VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM) < 0)
		return rain_error_set(RAIN_EIO, "libvirt at %s: cannot upload to volume %s: %s", loc,
				      name, libvirt_msg());
	u.fd = fd;
	u.total = sb.st_size;
	rain_target_progress(op, u.what, 0, u.total);
	/* on failure, virStreamSparseSendAll has aborted the stream */
	if (virStreamSparseSendAll(st, up_read, up_hole, up_skip, &u) < 0) {
		if (u.canceled)
			return rain_error_set(RAIN_ECANCELED, "libvirt: upload of %s to volume %s "
					      "canceled at %" PRId64 " of %" PRId64 " bytes", path,
					      name, u.pos, u.total);
		if (u.read_errno)
			return rain_error_errno(RAIN_EIO, u.read_errno, "libvirt: reading %s at "
						"byte %" PRId64, path, u.pos);
		return rain_error_set(RAIN_ENET, "libvirt at %s: upload of %s to volume %s "
				      "interrupted at %" PRId64 " of %" PRId64 " bytes: %s", loc,
				      path, name, u.pos, u.total, libvirt_msg());
	}
	if (virStreamFinish(st) < 0)
		return rain_error_set(RAIN_ENET, "libvirt at %s: upload of %s to volume %s did not "
				      "finish: %s", loc, path, name, libvirt_msg());
	return 0;
}

int libvirt_dom_remove(struct rain_target_op *op, virConnectPtr conn, const char *name)
{
	const char *loc = op->site->location;
	_cleanup_dom_ virDomainPtr dom = virDomainLookupByName(conn, name);
	/* a daemon older than the checkpoints (5.6), or one that keeps no
	 * NVRAM (the test driver), refuses flags it does not know: fewer */
	const unsigned int flags[] = {
		VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_NVRAM |
			VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
		VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_NVRAM |
			VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
		0,
	};
	size_t k = 0;
	int r;

	if (!dom) {
		virErrorPtr e = virGetLastError();

		if (e && e->code == VIR_ERR_NO_DOMAIN)
			return 0;
		return rain_error_set(RAIN_ENET, "libvirt at %s: domain %s: %s", loc, name, libvirt_msg());
	}
	if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
		return rain_error_set(RAIN_EIO, "libvirt at %s: cannot stop domain %s: %s", loc, name,
				      libvirt_msg());
	while ((r = virDomainUndefineFlags(dom, flags[k])) < 0 && k + 1 < ARRAY_SIZE(flags)) {
		virErrorPtr e = virGetLastError();

		if (!e || (e->code != VIR_ERR_INVALID_ARG && e->code != VIR_ERR_NO_SUPPORT))
			break;
		k++;
	}
	if (r < 0) {
		virErrorPtr e = virGetLastError();

		/* a transient domain that is gone with its destroy */
		if (e && e->code == VIR_ERR_NO_DOMAIN)
			return 0;
		return rain_error_set(RAIN_EIO, "libvirt at %s: cannot undefine domain %s: %s", loc,
				      name, libvirt_msg());
	}
	rain_target_log(op, RAIN_TARGET_INFO, "libvirt: removed domain %s", name);
	return 0;
}

int libvirt_vol_remove(struct rain_target_op *op, virStoragePoolPtr pool, const char *name)
{
	const char *loc = op->site->location;

	for (int i = 0;; i++) {
		_cleanup_vol_ virStorageVolPtr v = virStorageVolLookupByName(pool, name);
		virErrorPtr e;

		if (!v) {
			e = virGetLastError();
			if (e && e->code == VIR_ERR_NO_STORAGE_VOL)
				return 0;
			return rain_error_set(RAIN_ENET, "libvirt at %s: volume %s: %s", loc, name,
					      libvirt_msg());
		}
		if (virStorageVolDelete(v, 0) == 0)
			break;
		/* an aborted upload holds the volume for a moment */
		if (i + 1 >= DELETE_TRIES)
			return rain_error_set(RAIN_EIO, "libvirt at %s: cannot delete volume %s: %s",
					      loc, name, libvirt_msg());
		usleep(250 * 1000);
	}
	rain_target_log(op, RAIN_TARGET_INFO, "libvirt: removed volume %s", name);
	return 0;
}
