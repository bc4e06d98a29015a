/* raind's configuration: embedded defaults, an INI file, then flags.
 *
 *   [server]   listen = 127.0.0.1:9292      tls_cert = PEM   tls_key = PEM
 *              port_file = PATH             log_level = info
 *              public_url = (derived: see server_config)
 *              threads = 32                 max_connections = 16384
 *              max_connections_per_address = 64
 *              connection_memory = 32768 (bytes; per connection)
 *              header_timeout = 30  idle_timeout = 60  (seconds)
 *              body_timeout = 30    body_min_rate = 500 (bytes/s)
 *              trusted_proxies = (none; addresses and CIDR ranges)
 *              web_ui = true (the web catalog at /ui/)
 *   [storage]  data_dir = DIR   catalog = sqlite:PATH   blobs = file:DIR
 *              md5_checksum = false          max_image_size = 1099511627776
 *              upload_lease = 600  tmp_grace = 3600  (seconds)
 *   [auth]     admin_token = SECRET          admin_token_file = PATH
 *              token_lifetime = 86400 (seconds; user tokens)
 *              login_address_limit = 30 (failed logins from one address
 *              in 15 minutes before it is refused for 15; 0: no limit)
 *              admin_password_file = PATH (first start: user admin's password)
 *              min_password_length = 8 (characters of a new password)
 *              ldap_url = ldap://HOST[:PORT], ldap_user_dn = uid={user},ou=people,...
 *   [builds]   enabled = (true as root)      max_concurrent = 2
 *              max_queued_per_user = 10      max_running_per_user = 1
 *              max_files = 1000 (per submission; 0: no limit for any)
 *              timeout = 3600                cache_dir = DATA_DIR/cache
 *              rain_command = (see config_rain_command)
 *              repository_url = (raind's own address; see builds_serve)
 *              backend = local | slurm (where builds run, rain/sys/worker.h)
 *              slurm_partition, slurm_account, slurm_conf,
 *              slurm_time_limit = (timeout; seconds): the slurm backend's
 *              pids, memory, cpus, io_bps, tmpfs_size, scratch_size, cache_size,
 *              allow_private_mirrors: each build's limits (rain/build.h)
 *   [vet]      enabled = true                auto = true (vet what builds store)
 *              max_concurrent = 2            max_queued_per_user = 20
 *              timeout = 900                 policy = default
 *              feed = (DATA_DIR/vet/feed, put there by rain vet feed push)
 *   [vet.policy.NAME]  KEY = VALUE as rain vet --set KEY=VALUE (rain/vet.h)
 *   [netboot]  SITE = DIR   a netboot site's folder (rain/netboot.h), served
 *              read-only and without a token under /netboot/SITE/ (a
 *              [site.NAME] with uri = netboot:DIR is served so as well)
 *   [register] enabled = true                max_concurrent = 4
 *              max_queued_per_user = 10      timeout = 3600
 *              cache_dir = DATA_DIR/adapted (adapted copies, reused)
 *   [runs]     enabled = true                max_concurrent = 16
 *              max_queued_per_user = 10      max_walltime = 86400 (seconds)
 *              max_instances = 8 (in use by one user at once: queued and
 *              running runs, kept instances)   max_per_run = 8
 *   [import]   glance_direct = true          max_concurrent = 4
 *              web_download_allow = (none: no web-download; URL prefixes)
 *              web_download_private = (none; CIDR ranges web-download may reach
 *              although private, loopback or link-local)
 *              web_download_max_size = 0 (max_image_size)   web_download_timeout = 3600
 *   [metrics]  listen = (none; HOST:PORT serving /metrics without a token)
 *   [site.NAME]  uri = KIND:LOCATION, policy, kernels, users and the
 *              driver's keys (rain/target.h, rain-site(5))
 */
#ifndef RAIND_CONFIG_H
#define RAIND_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/log.h"

/* A named section ([vet.policy.NAME], [site.NAME]) kept for its user. */
struct config_section {
	char *name;
	char **settings;        /* "KEY=VALUE", NULL-terminated */
	size_t nsettings;
};

struct config {
	char *listen;
	char *tls_cert;
	char *tls_key;
	char *port_file;
	char *public_url;          /* NULL: derived from the listen address */
	int threads;
	int max_connections;
	int max_connections_per_address;
	int connection_memory;
	int header_timeout;
	int idle_timeout;
	int body_timeout;
	int64_t body_min_rate;
	char *trusted_proxies;     /* NULL: none */
	bool web_ui;               /* the web catalog at /ui/ (api/web.c) */
	enum log_level log_level;
	char *data_dir;
	char *catalog;
	char *blobs;
	bool md5_checksum;
	int64_t max_image_size;
	int upload_lease;       /* seconds */
	int tmp_grace;          /* seconds; 0: sweep every temporary object */
	char *admin_token;
	char *admin_token_file;
	char *admin_password_file;
	char *ldap_url;            /* [auth] ldap_url: check passwords there too */
	char *ldap_user_dn;        /* [auth] ldap_user_dn: "uid={user},ou=..." */
	int64_t token_lifetime;
	int64_t login_address_limit;
	int min_password_length;   /* [auth]: characters of a new password */
	bool builds_enabled;
	bool builds_enabled_set;    /* given, rather than the default */
	int max_builds;
	int max_queued_per_user;
	int max_running_per_user;
	int max_build_files;
	int build_timeout;
	char *build_cache_dir;      /* NULL: DATA_DIR/cache */
	char *rain_command;         /* NULL: found next to raind */
	/* [builds] limits of each build ("KEY=VALUE", as rain generate
	 * --limit takes them; rain_build_limit_keys), NULL-terminated */
	char *build_limits[16];
	char *repository_url;       /* NULL: raind's own address and port */
	char *build_backend;        /* NULL: local */
	char *slurm_partition, *slurm_account, *slurm_conf;
	int slurm_time_limit;       /* 0: build_timeout */
	bool vet_enabled;
	bool vet_auto;              /* vet every image a build stores */
	int vet_max_concurrent;
	int vet_max_queued_per_user;
	int vet_timeout;
	char *vet_policy;           /* the default policy; NULL: "default" */
	char *vet_feed;             /* NULL: DATA_DIR/vet/feed (PUT /rain/v1/vetting/feed) */
	/* [vet.policy.NAME] sections, in the order first seen */
	struct config_section *vet_policies;
	size_t vet_npolicies;
	/* [netboot] "SITE=DIR", NULL-terminated (api/netboot.c) */
	char **netboot_sites;
	size_t netboot_nsites;
	bool register_enabled;
	int register_max_concurrent;
	int register_max_queued_per_user;
	int register_timeout;
	char *register_cache_dir;  /* NULL: DATA_DIR/adapted */
	bool runs_enabled;
	int runs_max_concurrent;
	int runs_max_queued_per_user;
	int runs_max_instances;
	int runs_max_per_run;
	int runs_max_walltime;
	char *runs_share_roots;    /* folders users may share in (%u: the user); NULL: none */
	/* [site.NAME] sections, in the order first seen (rain/target.h) */
	struct config_section *sites;
	size_t nsites;
	/* [import] (daemon/import.h) */
	bool import_glance_direct;
	char *web_download_allow;   /* URL prefixes; NULL: no web-download */
	char *web_download_private; /* CIDR ranges of private addresses allowed */
	int64_t web_download_max_size;   /* 0: max_image_size */
	int web_download_timeout;
	int import_max_concurrent;
	char *metrics_listen;       /* [metrics] listen: /metrics without a token */
};

/* Serve the folder of every netboot site ([site.NAME] with uri =
 * netboot:DIR) as /netboot/NAME/ too, unless [netboot] names it. */
int config_netboot_from_sites(struct config *cfg);
/* Fill cfg with the embedded defaults. */
int config_defaults(struct config *cfg);
/* Read an INI file over cfg; errors name the file, line and key. */
int config_load(struct config *cfg, const char *path);
/* Set one "section.key" (or bare key) as the file would. */
int config_set(struct config *cfg, const char *section, const char *key, const char *value,
	       const char *where);
/* Resolve the admin token: admin_token, else admin_token_file, else
 * DATA_DIR/admin-token, created (0600, random) when missing; *generated
 * tells when it was just made. */
int config_admin_token(struct config *cfg, bool *generated, char **path);
/* The rain program the build service runs, in a new string in *out:
 * [builds] rain_command, else the rain next to raind's own executable
 * (the same directory when installed; ../cli/rain in the build tree).
 * RAIN_ENOTFOUND when there is none. */
int config_rain_command(const struct config *cfg, char **out);
/* On first start (no user in the catalog) the password of user "admin":
 * admin_password_file, else $RAIN_ADMIN_PASSWORD, else NULL in *out
 * (generate one). *out is a new string. */
int config_admin_password(const struct config *cfg, char **out);
void config_free(struct config *cfg);

#endif
