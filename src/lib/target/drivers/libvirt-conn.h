/* What the libvirt site driver (drivers/libvirt.c) and the libvirt
 * provider (src/lib/provision/providers/libvirt.c) share to talk to a
 * libvirt daemon: the connection (libvirt's own error printing off, its
 * messages carried into rain's), the pool, volumes uploaded from a file
 * and removed, domains stopped and undefined, and cleanup attributes for
 * libvirt's objects. The pure parts (documents) are libvirt-internal.h's.
 *
 * Each function returns 0 or a negative RAIN_E* code with a message that
 * names the daemon (the site's URI) and the object. Those taking a
 * rain_target_op use only its site, log, progress, ud and cancel (a run's
 * provider fills those from its own op).
 */
#ifndef RAIN_TARGET_DRIVERS_LIBVIRT_CONN_H
#define RAIN_TARGET_DRIVERS_LIBVIRT_CONN_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "rain/target.h"

/* x_freep(&x): free x through libvirt's own function when it is set */
#define LIBVIRT_FREEP(name, type, fn)           \
	static inline void name(type *p)        \
	{                                       \
		if (*p)                         \
			fn(*p);                 \
	}
LIBVIRT_FREEP(libvirt_conn_closep, virConnectPtr, virConnectClose)
LIBVIRT_FREEP(libvirt_pool_freep, virStoragePoolPtr, virStoragePoolFree)
LIBVIRT_FREEP(libvirt_vol_freep, virStorageVolPtr, virStorageVolFree)
LIBVIRT_FREEP(libvirt_dom_freep, virDomainPtr, virDomainFree)
LIBVIRT_FREEP(libvirt_stream_freep, virStreamPtr, virStreamFree)
#define _cleanup_conn_ __attribute__((cleanup(libvirt_conn_closep)))
#define _cleanup_pool_ __attribute__((cleanup(libvirt_pool_freep)))
#define _cleanup_vol_ __attribute__((cleanup(libvirt_vol_freep)))
#define _cleanup_dom_ __attribute__((cleanup(libvirt_dom_freep)))
#define _cleanup_stream_ __attribute__((cleanup(libvirt_stream_freep)))

/* Initialise libvirt once for the process and silence its printing. Any
 * thread; every function here calls it. */
void libvirt_init(void);

/* libvirt's last message on this thread, never NULL (borrowed). */
const char *libvirt_msg(void);

/* A connection to the site's daemon (site->location); RAIN_ENET saying
 * so when there is none. */
int libvirt_connect(const struct rain_site *site, virConnectPtr *out);

/* Pool name, active and refreshed: RAIN_ENOTFOUND (saying how to make
 * one) when there is none, RAIN_ECONFLICT when it is not active. */
int libvirt_pool_get(virConnectPtr conn, const struct rain_site *site, const char *name,
		     virStoragePoolPtr *out);

/* 0 when the pool has no volume name; RAIN_EEXISTS when it has (rain
 * did not make it: it is not rain's to remove). */
int libvirt_vol_absent(const struct rain_site *site, virStoragePoolPtr pool, const char *pool_name,
		       const char *name);

/* Create volume name (raw, sparse, the file's size) in pool and fill it
 * from path with a sparse stream, reporting progress as "upload". The
 * caller named it in its state first. */
int libvirt_vol_upload(struct rain_target_op *op, virConnectPtr conn, virStoragePoolPtr pool,
		       const char *pool_name, const char *name, const char *path);

/* Remove volume name from pool; one that is not there is no error. */
int libvirt_vol_remove(struct rain_target_op *op, virStoragePoolPtr pool, const char *name);

/* Stop (destroy) domain name when it runs and undefine it with its
 * NVRAM, managed save and snapshot metadata; one that is not there is no
 * error. */
int libvirt_dom_remove(struct rain_target_op *op, virConnectPtr conn, const char *name);

#endif
