/* The libvirt provider (rain/sys/provider.h): a run's instances as domains
 * at a libvirt site, made from what the registration made there
 * (src/lib/target/drivers/libvirt.c: the adapted disk volume
 * "rain-REGID.qcow2" or ".raw", a seed and the defined domain "rain-REGID",
 * named in the registration's state).
 *
 * up makes, for each instance "rain-RUNID-K" (K = 1..n), in the
 * registration's pool:
 *  - "rain-RUNID-K.qcow2", a qcow2 volume whose backing store is the
 *    registration's volume (copy-on-write: that volume is only read);
 *  - "rain-RUNID-K-seed.iso", a NoCloud seed with the run's public key and
 *    the host name rain-runid-k (rain-firstboot or cloud-init read it:
 *    rain/adapt.h);
 *  - the domain "rain-RUNID-K": the registration's definition with its
 *    disks swapped (libvirt_instance_xml), started paused, its serial
 *    console opened and copied into WORKDIR/rain-RUNID-K.console (the
 *    instance's "console") by a thread of this process until the domain
 *    ends (or the process: a plumbing `rain provision up` logs the boot up
 *    to ready only), then resumed, so that the log holds the whole boot.
 * Every name goes into the run's state before the object is made, and a
 * name that exists already is refused before it is named (it is not the
 * run's to remove). down destroys and undefines the domains and deletes
 * the volumes the state names, whatever of them exists.
 *
 * Reaching the guest: with the site's network = user (the default) each
 * domain gets qemu's own user network with 127.0.0.1:PORT of the libvirt
 * host forwarded to the guest's port 22 (hostfwd; PORT a free port chosen
 * per instance), given through <qemu:commandline>. libvirt 9.0 (Debian 12)
 * has <portForward> only for the passt backend, and its parser refuses
 * <backend type='passt'/> ("Invalid value for attribute 'type' in element
 * 'backend'"); its slirp <interface type='user'> forwards nothing. As the
 * port is on the libvirt host's loopback, runs need a local URI
 * (qemu:///system, qemu:///session). Sites with network = network:NAME,
 * bridge:NAME or none are refused for runs.
 *
 * With the site's reach = agent, the instances have no network interface
 * at all and are reached through the QEMU guest agent (qemu-ga in the
 * image) on the virtio-serial channel org.qemu.guest_agent.0 that their
 * domain gets: each command goes through libvirt
 * (virDomainQemuAgentCommand, libvirt-qemu), so the site's URI may then
 * be remote and its network setting does not matter. ready waits for
 * guest-ping, exec and fetch are agent.c's (the job's output streamed,
 * result files read with guest-file-read). Such an instance has "agent"
 * instead of "ssh" in the state, and that is what exec and fetch go by.
 *
 * A run's shared folder (op->share: the user's work folder on the libvirt
 * host, hence local URIs only) goes into each domain as a virtio-9p
 * <filesystem> (accessmode mapped, read-only unless op->share_rw), and
 * ready mounts it (mount -t 9p, as root, by ssh or the agent) at the job
 * folder's "work"; the instance's "share" in the state names that
 * mount point. The folder must be readable (writable, for share_rw) by the
 * user qemu runs as.
 *
 * The run's state (beside what rain/provision.h names):
 *   { "uri": URI, "pool": POOL,
 *     "instances": [ { "name", "domain", "volume", "seed", "console",
 *                      "ssh": { "host": "127.0.0.1", "port", "user": "root" }
 *                      or "agent": { "dir": "/root/rain-job" } } ] }
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libvirt/libvirt-qemu.h>

#include "lib/provision/provision-internal.h"
#include "lib/target/drivers/libvirt-conn.h"
#include "lib/target/drivers/libvirt-internal.h"
#include "rain/error.h"
#include "rain/sys/provider.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* An op for the shared libvirt helpers (libvirt-conn.h), which log and
 * check cancel only. */
static struct rain_target_op target_op(const struct rain_run_op *op)
{
	return (struct rain_target_op){
		.site = op->site,
		.workdir = op->workdir,
		.log = op->log,
		.ud = op->ud,
		.cancel = op->cancel,
	};
}

static const char *str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Whether the site reaches its instances through the guest agent. */
static bool site_agent(const struct rain_site *site)
{
	const char *v = rain_site_get(site, "reach");

	return v && strcmp(v, "agent") == 0;
}

/* Whether instance i is reached through the guest agent (its state says). */
static bool inst_agent(const struct rain_run_op *op, size_t i)
{
	return json_object_get(rain_run_instance(op, i), "agent") != NULL;
}

/* Whether uri names a daemon on this host ("qemu:///system", not
 * "qemu+ssh://host/system"). */
static bool uri_local(const char *uri)
{
	const char *p = strstr(uri, "://");

	return !p || p[3] == '/';
}

/* A run id that can be part of libvirt names. */
static bool run_id_ok(const char *id)
{
	return id && *id && strlen(id) <= 64 && id[0] != '-' && id[0] != '.' &&
	       !id[strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")];
}

/* A TCP port of 127.0.0.1 that nothing listens on now, and none of the
 * taken (n) ones. */
static int free_port(const int *taken, size_t n, int *out)
{
	for (int tries = 0; tries < 20; tries++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t len = sizeof(a);
		_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool dup = false;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
			return rain_error_errno(RAIN_EIO, errno, "libvirt: no free port on 127.0.0.1 "
						"for an instance's ssh");
		*out = ntohs(a.sin_port);
		for (size_t i = 0; i < n; i++)
			dup = dup || taken[i] == *out;
		if (!dup)
			return 0;
	}
	return rain_error_set(RAIN_EIO, "libvirt: no free port on 127.0.0.1 for an instance's ssh");
}

/* ---- the console --------------------------------------------------------- */

/* One domain's serial console copied to a file until its stream ends (the
 * domain stopped); the thread owns all of it. */
struct console {
	virConnectPtr conn;
	virStreamPtr st;
	int fd;
};

static void *console_copy(void *arg)
{
	struct console *c = arg;
	char buf[4096];
	int n;

	while ((n = virStreamRecv(c->st, buf, sizeof(buf))) > 0)
		if (fs_write_all(c->fd, buf, (size_t)n, "console log") < 0)
			break;
	if (n == 0)
		(void)virStreamFinish(c->st);
	else
		(void)virStreamAbort(c->st);
	virStreamFree(c->st);
	virConnectClose(c->conn);
	close(c->fd);
	free(c);
	return NULL;
}

/* Start copying domain name's console to path (created 0600, replaced).
 * The domain must be running (paused): its console opens then. A console
 * that cannot be opened is a warning: the run goes on without its log. */
static void console_start(struct rain_run_op *op, const char *name, const char *path)
{
	_cleanup_free_ struct console *c = calloc(1, sizeof(*c));
	_cleanup_dom_ virDomainPtr dom = NULL;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (!c) {
		rain_run_log(op, RAIN_TARGET_WARN, "libvirt: no memory to log the console of %s", name);
		return;
	}
	c->fd = -1;
	/* a connection of its own: its stream blocks in the thread */
	r = libvirt_connect(op->site, &c->conn);
	if (r == 0) {
		dom = virDomainLookupByName(c->conn, name);
		c->st = dom ? virStreamNew(c->conn, 0) : NULL;
		if (!c->st || virDomainOpenConsole(dom, NULL, c->st, VIR_DOMAIN_CONSOLE_FORCE) < 0)
			r = rain_error_set(RAIN_EIO, "%s", libvirt_msg());
	}
	if (r == 0) {
		(void)unlink(path);
		c->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (c->fd < 0)
			r = rain_error_errno(RAIN_EIO, errno, "%s", path);
	}
	if (r == 0) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, console_copy, c) != 0)
			r = rain_error_set(RAIN_EIO, "cannot start a thread");
		pthread_attr_destroy(&attr);
	}
	if (r == 0) {
		c = NULL;       /* the thread's */
		return;
	}
	rain_run_log(op, RAIN_TARGET_WARN, "libvirt: the console of %s is not logged: %s", name,
		     rain_error_last());
	if (c->fd >= 0)
		close(c->fd);
	if (c->st) {
		(void)virStreamAbort(c->st);
		virStreamFree(c->st);
	}
	if (c->conn)
		virConnectClose(c->conn);
}

/* ---- up ------------------------------------------------------------------ */

/* What every instance is made from. */
struct reg {
	const char *pool;
	const char *volume;
	const char *format;             /* of the volume: qcow2 or raw */
	char *path;                     /* the volume's path (its overlays' backing) */
	uint64_t capacity;
	char *xml;                      /* the registration's domain */
};

static void reg_clear(struct reg *g)
{
	free(g->path);
	free(g->xml);
}

/* Read and check what the registration made at the site. */
static int reg_load(struct rain_run_op *op, virConnectPtr conn, virStoragePoolPtr *pool,
		    struct reg *g)
{
	const struct rain_site *site = op->site;
	const char *uri = str_of(op->registration, "uri");
	const char *domain = str_of(op->registration, "domain");
	_cleanup_vol_ virStorageVolPtr vol = NULL;
	_cleanup_dom_ virDomainPtr dom = NULL;
	virStorageVolInfo info;
	int r;

	g->pool = str_of(op->registration, "pool");
	g->volume = str_of(op->registration, "volume");
	if (!g->pool || !g->volume)
		return rain_error_set(RAIN_EINVAL, "libvirt: the registration's state names no pool "
				      "or volume at site %s: register the image there first",
				      site->name);
	if (!domain)
		return rain_error_set(RAIN_EINVAL, "libvirt: the registration at site %s has no "
				      "domain (define_domain = no): runs start from the "
				      "registration's domain; register with define_domain = yes",
				      site->name);
	if (uri && strcmp(uri, site->location) != 0)
		return rain_error_set(RAIN_EINVAL, "libvirt: the registration was made at %s, site "
				      "%s is at %s", uri, site->name, site->location);
	g->format = str_has_suffix(g->volume, ".raw") ? "raw" : "qcow2";
	r = libvirt_pool_get(conn, site, g->pool, pool);
	if (r < 0)
		return r;
	vol = virStorageVolLookupByName(*pool, g->volume);
	if (!vol)
		return rain_error_set(RAIN_ENOTFOUND, "libvirt at %s: the registration's volume %s "
				      "is not in pool %s (%s): register the image again",
				      site->location, g->volume, g->pool, libvirt_msg());
	g->path = virStorageVolGetPath(vol);
	if (!g->path || virStorageVolGetInfo(vol, &info) < 0)
		return rain_error_set(RAIN_ENET, "libvirt at %s: volume %s: %s", site->location,
				      g->volume, libvirt_msg());
	g->capacity = info.capacity;
	dom = virDomainLookupByName(conn, domain);
	if (!dom)
		return rain_error_set(RAIN_ENOTFOUND, "libvirt at %s: the registration's domain %s "
				      "is gone (%s): register the image again", site->location,
				      domain, libvirt_msg());
	g->xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	if (!g->xml)
		return rain_error_set(RAIN_ENET, "libvirt at %s: domain %s: %s", site->location,
				      domain, libvirt_msg());
	return 0;
}

/* 0 when neither a domain nor a volume of instance k's names exists. */
static int names_free(struct rain_run_op *op, virConnectPtr conn, virStoragePoolPtr pool,
		      const char *pool_name, const char *domain, const char *volume, const char *seed)
{
	_cleanup_dom_ virDomainPtr dom = virDomainLookupByName(conn, domain);
	int r;

	if (dom)
		return rain_error_set(RAIN_EEXISTS, "libvirt at %s: a domain %s exists already: the "
				      "run did not make it; use another run id, or remove it (virsh "
				      "undefine %s) if it is not needed", op->site->location, domain,
				      domain);
	r = libvirt_vol_absent(op->site, pool, pool_name, volume);
	if (r == 0)
		r = libvirt_vol_absent(op->site, pool, pool_name, seed);
	return r;
}

/* Make and start instance k (named in the state first); share: the
 * shared folder's real path, or NULL. */
static int instance_up(struct rain_run_op *op, virConnectPtr conn, virStoragePoolPtr pool,
		       const struct reg *g, int k, int *ports, const char *share)
{
	const struct rain_site *site = op->site;
	struct rain_target_op top = target_op(op);
	_cleanup_free_ char *name = NULL, *volume = NULL, *seed = NULL, *seed_path = NULL;
	_cleanup_free_ char *console = NULL, *vol_xml = NULL, *xml = NULL;
	_cleanup_vol_ virStorageVolPtr vol = NULL;
	_cleanup_dom_ virDomainPtr dom = NULL;
	bool agent = site_agent(site);
	char hostname[64];
	json_t *inst;
	int r;

	if (asprintf(&name, "rain-%s-%d", op->run_id, k) < 0 ||
	    asprintf(&volume, "%s.qcow2", name) < 0 || asprintf(&seed, "%s-seed.iso", name) < 0 ||
	    asprintf(&seed_path, "%s/%s-seed.iso", op->workdir, name) < 0 ||
	    asprintf(&console, "%s/%s.console", op->workdir, name) < 0)
		return rain_error_oom();
	r = names_free(op, conn, pool, g->pool, name, volume, seed);
	if (r == 0 && !agent)
		r = free_port(ports, (size_t)(k - 1), &ports[k - 1]);
	if (r < 0)
		return r;
	if (agent)
		inst = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "name", name, "domain", name,
				 "volume", volume, "seed", seed, "console", console, "agent", "dir",
				 RUN_AGENT_JOB_DIR);
	else
		inst = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i, s:s}}", "name", name, "domain",
				 name, "volume", volume, "seed", seed, "console", console, "ssh",
				 "host", "127.0.0.1", "port", ports[k - 1], "user", "root");
	if (!inst)
		return rain_error_oom();
	if (share && json_object_set_new(inst, "share", json_pack("{s:s, s:b}", "mount", agent ?
				       RUN_AGENT_JOB_DIR "/work" : RUN_JOB_DIR "/work", "rw",
				       op->share_rw)) < 0) {
		json_decref(inst);
		return rain_error_oom();
	}
	r = rain_run_instance_add(op, inst);
	if (r < 0)
		return r;

	/* the disk: an overlay of the registration's */
	r = libvirt_overlay_xml(volume, g->capacity, g->path, g->format, &vol_xml);
	if (r < 0)
		return r;
	vol = virStorageVolCreateXML(pool, vol_xml, 0);
	if (!vol)
		return rain_error_set(RAIN_EIO, "libvirt at %s: cannot create volume %s over %s in "
				      "pool %s: %s", site->location, volume, g->volume, g->pool,
				      libvirt_msg());

	/* the seed: the run's key and the instance's host name */
	libvirt_hostname_from(name, hostname, sizeof(hostname));
	r = libvirt_seed_write(seed_path, name, hostname, op->key_public);
	if (r == 0)
		r = libvirt_vol_upload(&top, conn, pool, g->pool, seed, seed_path);
	(void)unlink(seed_path);
	if (r == 0)
		r = rain_run_check_cancel(op);
	if (r < 0)
		return r;

	/* the domain */
	struct libvirt_instance in = {
		.name = name,
		.run_id = op->run_id,
		.pool = g->pool,
		.disk_volume = volume,
		.seed_volume = seed,
		.ssh_port = agent ? 0 : ports[k - 1],
		.agent = agent,
		.share_dir = share,
		.share_rw = op->share_rw,
	};
	r = libvirt_instance_xml(g->xml, &in, &xml);
	if (r < 0)
		return r;
	dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	if (!dom)
		return rain_error_set(RAIN_EIO, "libvirt at %s: cannot define domain %s: %s",
				      site->location, name, libvirt_msg());
	if (virDomainCreateWithFlags(dom, VIR_DOMAIN_START_PAUSED) < 0)
		return rain_error_set(RAIN_EIO, "libvirt at %s: cannot start domain %s: %s",
				      site->location, name, libvirt_msg());
	console_start(op, name, console);
	if (virDomainResume(dom) < 0)
		return rain_error_set(RAIN_EIO, "libvirt at %s: cannot resume domain %s: %s",
				      site->location, name, libvirt_msg());
	if (agent)
		rain_run_log(op, RAIN_TARGET_INFO, "libvirt: started %s (no network, reached by its "
			     "guest agent; console in %s)", name, console);
	else
		rain_run_log(op, RAIN_TARGET_INFO, "libvirt: started %s (ssh on 127.0.0.1:%d, "
			     "console in %s)", name, ports[k - 1], console);
	return 0;
}

static int state_str(struct rain_run_op *op, const char *key, const char *value)
{
	json_t *v = json_string(value);

	if (!v)
		return rain_error_oom();
	return rain_run_state_set(op, key, v);
}

static int lv_up(struct rain_run_op *op)
{
	const struct rain_site *site = op->site;
	const char *network = rain_site_get(site, "network");
	_cleanup_conn_ virConnectPtr conn = NULL;
	_cleanup_pool_ virStoragePoolPtr pool = NULL;
	int ports[RAIN_RUN_MAX_INSTANCES] = { 0 };
	_cleanup_free_ char *share = NULL;
	struct reg g = { 0 };
	struct stat st;
	int r;

	if (!run_id_ok(op->run_id))
		return rain_error_set(RAIN_EINVAL, "libvirt: run id '%s' cannot name a domain "
				      "(letters, digits, '_', '.', '-'; at most 64)",
				      op->run_id ? op->run_id : "");
	if (op->n < 1 || op->n > RAIN_RUN_MAX_INSTANCES)
		return rain_error_set(RAIN_EINVAL, "libvirt: %d instances: between 1 and %d", op->n,
				      RAIN_RUN_MAX_INSTANCES);
	if (!site_agent(site) && network && strcmp(network, "user") != 0)
		return rain_error_set(RAIN_EINVAL, "site %s: network = %s: runs at libvirt sites "
				      "reach their instances through user networking with a "
				      "forwarded ssh port; set network = user (or reach = agent)",
				      site->name, network);
	if (!site_agent(site) && !uri_local(site->location))
		return rain_error_set(RAIN_EINVAL, "site %s: %s is not on this host: runs with "
				      "network = user reach the instances' ssh on the libvirt host's "
				      "127.0.0.1, so they need a local libvirt (qemu:///system, "
				      "qemu:///session)", site->name, site->location);
	if (op->share) {
		if (!uri_local(site->location))
			return rain_error_set(RAIN_EINVAL, "site %s: %s is not on this host: a "
					      "shared folder must be on the libvirt host", site->name,
					      site->location);
		share = realpath(op->share, NULL);
		if (!share || stat(share, &st) < 0)
			return rain_error_errno(RAIN_EINVAL, errno, "the shared folder %s", op->share);
		if (!S_ISDIR(st.st_mode))
			return rain_error_set(RAIN_EINVAL, "the shared folder %s is no folder",
					      op->share);
	}
	r = libvirt_connect(site, &conn);
	if (r == 0)
		r = reg_load(op, conn, &pool, &g);
	if (r == 0)
		r = state_str(op, "uri", site->location);
	if (r == 0)
		r = state_str(op, "pool", g.pool);
	for (int k = 1; r == 0 && k <= op->n; k++) {
		r = rain_run_check_cancel(op);
		if (r == 0)
			r = instance_up(op, conn, pool, &g, k, ports, share);
	}
	reg_clear(&g);
	return r;
}

/* ---- alive and down ------------------------------------------------------ */

static const char *shutoff_reason(int reason)
{
	switch (reason) {
	case VIR_DOMAIN_SHUTOFF_SHUTDOWN: return "the guest powered off";
	case VIR_DOMAIN_SHUTOFF_DESTROYED: return "it was destroyed";
	case VIR_DOMAIN_SHUTOFF_CRASHED: return "qemu crashed";
	case VIR_DOMAIN_SHUTOFF_FAILED: return "it failed to start";
	default: return "it stopped";
	}
}

static int lv_alive(struct rain_run_op *op, size_t i)
{
	const char *name = str_of(rain_run_instance(op, i), "domain");
	_cleanup_conn_ virConnectPtr conn = NULL;
	_cleanup_dom_ virDomainPtr dom = NULL;
	int state, reason, r;

	if (!name)
		return rain_error_set(RAIN_EIO, "libvirt: instance %zu has no domain", i + 1);
	r = libvirt_connect(op->site, &conn);
	if (r < 0)
		return r;
	dom = virDomainLookupByName(conn, name);
	if (!dom)
		return rain_error_set(RAIN_EIO, "libvirt at %s: domain %s is gone", op->site->location,
				      name);
	if (virDomainGetState(dom, &state, &reason, 0) < 0)
		return rain_error_set(RAIN_ENET, "libvirt at %s: domain %s: %s", op->site->location,
				      name, libvirt_msg());
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
	case VIR_DOMAIN_PAUSED:
		return 0;
	case VIR_DOMAIN_SHUTOFF:
		return rain_error_set(RAIN_EIO, "libvirt: domain %s is shut off: %s", name,
				      shutoff_reason(reason));
	case VIR_DOMAIN_CRASHED:
		return rain_error_set(RAIN_EIO, "libvirt: domain %s crashed", name);
	default:
		return rain_error_set(RAIN_EIO, "libvirt: domain %s is no longer running (state %d)",
				      name, state);
	}
}

static int lv_down(struct rain_run_op *op)
{
	const struct rain_site *site = op->site;
	struct rain_target_op top = target_op(op);
	const char *pool_name = str_of(op->state, "pool");
	size_t n = rain_run_instance_count(op);
	_cleanup_conn_ virConnectPtr conn = NULL;
	_cleanup_pool_ virStoragePoolPtr pool = NULL;
	_cleanup_free_ char *msg = NULL;
	int first = 0, r;

	if (n == 0 && !pool_name)
		return 0;
	r = libvirt_connect(site, &conn);
	if (r < 0)
		return r;
	if (!pool_name)
		pool_name = rain_site_get(site, "pool");
	if (!pool_name)
		pool_name = "default";
	r = libvirt_pool_get(conn, site, pool_name, &pool);
	if (r == RAIN_ENOTFOUND) {
		rain_run_log(op, RAIN_TARGET_WARN, "libvirt: pool %s is gone, and the run's volumes "
			     "with it", pool_name);
		pool = NULL;
	} else if (r < 0) {
		return r;
	}
	/* every instance, whatever the others did; the first failure is
	 * returned (its message kept) and the state keeps naming everything */
	for (size_t i = 0; i < n; i++) {
		json_t *inst = rain_run_instance(op, i);
		const char *dom = str_of(inst, "domain"), *vol = str_of(inst, "volume");
		const char *seed = str_of(inst, "seed");

		r = dom ? libvirt_dom_remove(&top, conn, dom) : 0;
		if (r == 0 && pool && vol)
			r = libvirt_vol_remove(&top, pool, vol);
		if (r == 0 && pool && seed)
			r = libvirt_vol_remove(&top, pool, seed);
		if (r < 0 && first == 0) {
			first = r;
			msg = strdup(rain_error_last());
		}
	}
	if (first < 0)
		return msg ? rain_error_set(first, "%s", msg) : rain_error_oom();
	r = rain_run_state_set(op, "instances", NULL);
	if (r == 0)
		r = rain_run_state_set(op, "pool", NULL);
	if (r == 0)
		r = rain_run_state_set(op, "uri", NULL);
	return r;
}

/* ---- reaching the guest: ssh, or its agent ------------------------------- */

static const struct rain_provider_driver libvirt_provider;

/* The guest agent transport: one command through libvirt. */
static int agent_send(struct rain_run_op *op, size_t i, const char *cmd, int timeout_s, char **reply)
{
	const char *name = str_of(rain_run_instance(op, i), "domain");
	_cleanup_conn_ virConnectPtr conn = NULL;
	_cleanup_dom_ virDomainPtr dom = NULL;
	int r;

	*reply = NULL;
	if (!name)
		return rain_error_set(RAIN_EIO, "libvirt: instance %zu has no domain", i + 1);
	r = libvirt_connect(op->site, &conn);
	if (r < 0)
		return r;
	dom = virDomainLookupByName(conn, name);
	if (!dom)
		return rain_error_set(RAIN_EIO, "libvirt at %s: domain %s is gone", op->site->location,
				      name);
	*reply = virDomainQemuAgentCommand(dom, cmd, timeout_s, 0);
	if (!*reply)
		return rain_error_set(RAIN_EIO, "libvirt at %s: domain %s: %s", op->site->location,
				      name, libvirt_msg());
	return 0;
}

/* Mount the shared folder (9p) at "mount" (made first): "$1" the mount
 * point, "$2" ro or rw. */
static const char share_mount[] =
	"mkdir -p -- \"$1\" && mount -t 9p -o \"trans=virtio,version=9p2000.L,msize=262144,$2\" "
	LIBVIRT_SHARE_TAG " \"$1\"";

static int lv_ready(struct rain_run_op *op, size_t i)
{
	json_t *share = json_object_get(rain_run_instance(op, i), "share");
	const char *args[] = {
		str_of(share, "mount"), json_is_true(json_object_get(share, "rw")) ? "rw" : "ro", NULL,
	};
	const char *what = "mount the shared folder";
	int r;

	if (inst_agent(op, i))
		r = run_agent_ready(op, &libvirt_provider, i, agent_send);
	else
		r = run_ssh_ready(op, &libvirt_provider, i);
	if (r < 0 || !share)
		return r;
	if (!args[0])
		return rain_error_set(RAIN_EINVAL, "libvirt: the run's state names a share without "
				      "a mount point");
	if (inst_agent(op, i))
		return run_agent_sh(op, i, agent_send, share_mount, args, what);
	return run_ssh_sh(op, i, share_mount, args, what);
}

static int lv_exec(struct rain_run_op *op, const struct rain_run_job *job, int *status)
{
	if (inst_agent(op, 0))
		return run_agent_exec(op, &libvirt_provider, job, agent_send, status);
	return run_ssh_exec(op, &libvirt_provider, job, status);
}

static int lv_fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir)
{
	if (inst_agent(op, 0))
		return run_agent_fetch(op, paths, each, dir, agent_send);
	return run_ssh_fetch(op, paths, each, dir);
}

static const struct rain_provider_driver libvirt_provider = {
	.version = RAIN_PROVIDER_DRIVER_VERSION,
	.scheme = "libvirt",
	.up = lv_up,
	.alive = lv_alive,
	.ready = lv_ready,
	.exec = lv_exec,
	.fetch = lv_fetch,
	.down = lv_down,
	.share = true,
};

const struct rain_driver rain_provider_driver_libvirt = {
	"provider", "libvirt", "libvirt:URI (domains made from the registration's)", &libvirt_provider,
};
