/* raind: the rain repository server. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "daemon/builds.h"
#include "daemon/registrations.h"
#include "daemon/runs.h"
#include "daemon/import.h"
#include "daemon/metrics.h"
#include "daemon/vetting.h"
#include "rain/vet.h"
#include "daemon/config.h"
#include "daemon/http.h"
#include "daemon/log.h"
#include "rain/auth.h"
#include "rain/error.h"
#include "rain/identity.h"
#include "rain/repo.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static void usage(FILE *f)
{
	fputs("Usage: raind [OPTIONS]\n"
	      "\n"
	      "Serve the rain image repository (OpenStack Image API v2) over HTTP.\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE     read settings from an INI file (see raind(8))\n"
	      "  -l, --listen ADDR     listen on HOST:PORT (default 127.0.0.1:9292; port 0 picks one)\n"
	      "  -d, --data-dir DIR    keep the catalog and the image data in DIR\n"
	      "                        (default: /var/lib/rain as root, else ~/.local/share/rain)\n"
	      "      --tls-cert FILE   serve HTTPS with this PEM certificate ...\n"
	      "      --tls-key FILE    ... and this PEM private key\n"
	      "      --port-file FILE  write the bound port to FILE once listening\n"
	      "      --log-level LVL   debug, info, warning or error (default info)\n"
	      "      --max-builds N    run at most N image builds at once (default 2)\n"
	      "      --admin-password-file FILE\n"
	      "                        on first start, the password of user admin\n"
	      "                        (else $RAIN_ADMIN_PASSWORD, else one is generated\n"
	      "                        and printed once on stderr)\n"
	      "  -h, --help            show this help\n"
	      "  -V, --version         show the version\n"
	      "\n"
	      "Without a configured admin token, raind creates one in DATA_DIR/admin-token\n"
	      "(mode 0600); clients send it in the X-Auth-Token header.\n", f);
}

struct flag {
	const char *section;
	const char *key;
	const char *value;
};

/* First start: no user yet, so create "admin" (role admin, active). */
static int first_admin(struct config *cfg, struct rain_repo *repo, struct rain_identity *identity)
{
	struct rain_catalog *cat = rain_repo_catalog(repo);
	struct rain_user u;
	/* at least 24 characters, and at least min_password_length */
	char generated[1024 + 1];
	size_t generated_len = cfg->min_password_length > 24 ? (size_t)cfg->min_password_length : 24;
	char *password = NULL;
	int64_t count = 0;
	int r = rain_catalog_user_count(cat, &count);

	if (r < 0 || count > 0)
		return r;
	r = config_admin_password(cfg, &password);
	if (r < 0)
		return r;
	if (!password) {
		r = rain_password_generate(generated, generated_len);
		if (r < 0)
			return r;
	}
	rain_identity_user_init(&u, (char *)"admin");
	u.role = RAIN_ROLE_ADMIN;
	/* not even the first admin's password is exempt from the rule */
	r = rain_identity_password_new(identity, password ? password : generated, &u.password_hash);
	if (r == RAIN_EINVAL && password) {
		char why[256];

		snprintf(why, sizeof(why), "%s", rain_error_last());
		r = rain_error_set(RAIN_EINVAL, "the admin password from %s: %s",
				   cfg->admin_password_file ? cfg->admin_password_file : "RAIN_ADMIN_PASSWORD",
				   why);
	}
	if (r == 0)
		r = rain_catalog_user_create(cat, &u);
	free(u.password_hash);
	if (r == 0 && !password) {
		/* the only place it ever appears; the log never sees it */
		fprintf(stderr, "raind: first start: created user 'admin' with the one-time "
			"password %s\nraind: log in with 'rain login --user admin' and change it "
			"with 'rain user set admin --password-file FILE'\n", generated);
		fflush(stderr);
	} else if (r == 0) {
		log_printf(LOG_INFO, "first start: created user 'admin' with the password from %s",
			   cfg->admin_password_file ? cfg->admin_password_file : "RAIN_ADMIN_PASSWORD");
	}
	if (password)
		explicit_bzero(password, strlen(password));
	free(password);
	explicit_bzero(generated, sizeof(generated));
	return r;
}

static void identity_log(void *ud, enum rain_identity_log_level level, const char *message)
{
	(void)ud;
	log_printf(level == RAIN_IDENTITY_LOG_ERROR ? LOG_ERROR :
		   level == RAIN_IDENTITY_LOG_WARN ? LOG_WARN : LOG_INFO, "%s", message);
}

/* raind's one identity over the repository's catalog: the login rules
 * and token checks of the server, the token issuer of the builds. */
static int open_identity(const struct config *cfg, struct rain_repo *repo, struct rain_identity **out)
{
	struct rain_ldap_config ldap = { .url = cfg->ldap_url, .user_dn = cfg->ldap_user_dn };
	struct rain_identity_config ic = {
		.ldap = cfg->ldap_url && cfg->ldap_user_dn ? &ldap : NULL,
		.login_address_limit = cfg->login_address_limit,
		.token_lifetime_us = (cfg->token_lifetime > 0 ? cfg->token_lifetime : 86400) * 1000000LL,
		.log = identity_log,
		.min_password_length = cfg->min_password_length,
	};

	return rain_identity_new(rain_repo_catalog(repo), &ic, out);
}

/* Check the [vet.policy.NAME] sections as rain vet will take them, so
 * that a typo stops raind rather than fails every vetting. */
static int check_policies(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->vet_npolicies; i++) {
		const struct config_section *cp = &cfg->vet_policies[i];
		struct rain_vet_policy *p = NULL;
		int r = rain_vet_policy_new(cp->name, &p);

		for (size_t k = 0; r == 0 && k < cp->nsettings; k++) {
			_cleanup_free_ char *key = strdup(cp->settings[k]);
			char *eq = key ? strchr(key, '=') : NULL;

			if (!eq) {
				r = rain_error_oom();
				break;
			}
			*eq = '\0';
			r = rain_vet_policy_set(p, key, eq + 1);
			if (r < 0)
				r = rain_error_set(r, "[vet.policy.%s] %s: %s", cp->name, key,
						   rain_error_last());
		}
		rain_vet_policy_free(p);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The vetting service: DATA_DIR/vettings, run by the rain program. */
static int start_vetting(struct config *cfg, struct rain_repo *repo, struct vetting **out)
{
	_cleanup_free_ char *dir = fs_path_join(cfg->data_dir, "vettings");
	_cleanup_free_ char *feed = cfg->vet_feed ? strdup(cfg->vet_feed) :
				    fs_path_join(cfg->data_dir, "vet/feed");
	_cleanup_free_ char *rain = NULL;
	_cleanup_free_ struct rain_vet_kind_policy *policies = NULL;
	struct vetting_config vc = { 0 };
	int r;

	if (!dir || !feed)
		return rain_error_oom();
	r = check_policies(cfg);
	if (r < 0)
		return r;
	if (cfg->vet_npolicies &&
	    !(policies = calloc(cfg->vet_npolicies, sizeof(*policies))))
		return rain_error_oom();
	for (size_t i = 0; i < cfg->vet_npolicies; i++) {
		policies[i].name = cfg->vet_policies[i].name;
		policies[i].settings = (const char *const *)cfg->vet_policies[i].settings;
	}
	vc.enabled = cfg->vet_enabled;
	if (vc.enabled && config_rain_command(cfg, &rain) < 0) {
		log_printf(LOG_WARN, "vetting is off: %s", rain_error_last());
		vc.enabled = false;
	}
	if (cfg->vet_feed && access(feed, R_OK) < 0)
		return rain_error_errno(RAIN_ENOTFOUND, errno, "[vet] feed %s", feed);
	vc.dir = dir;
	vc.rain_command = rain;
	vc.feed = feed;
	vc.feed_writable = !cfg->vet_feed;
	vc.default_policy = cfg->vet_policy;
	vc.policies = policies;
	vc.npolicies = cfg->vet_npolicies;
	vc.max_concurrent = cfg->vet_max_concurrent;
	vc.max_queued_per_user = cfg->vet_max_queued_per_user;
	vc.timeout_s = cfg->vet_timeout;
	r = vetting_start(out, &vc, repo);
	if (r == 0 && vc.enabled)
		log_printf(LOG_INFO, "vetting: up to %d at once, policy %s, feed %s%s%s",
			   vc.max_concurrent, cfg->vet_policy ? cfg->vet_policy : "default", feed,
			   access(feed, F_OK) == 0 ? "" : " (none yet: rain vet feed push FILE)",
			   cfg->vet_auto ? ", images that builds store too" : "");
	return r;
}

/* The registration service: the sites of [site.NAME], jobs in
 * DATA_DIR/registrations, adapted copies in [register] cache_dir. A bad
 * site stops raind, naming the section and key. */
static int start_registrations(struct config *cfg, struct rain_repo *repo,
			       struct registrations **out)
{
	_cleanup_free_ char *dir = fs_path_join(cfg->data_dir, "registrations");
	_cleanup_free_ char *cache = cfg->register_cache_dir ? strdup(cfg->register_cache_dir) :
				     fs_path_join(cfg->data_dir, "adapted");
	_cleanup_free_ char *rain = NULL;
	struct registrations_config rc = {
		.sites = cfg->sites,
		.nsites = cfg->nsites,
		.max_concurrent = cfg->register_max_concurrent,
		.max_queued_per_user = cfg->register_max_queued_per_user,
		.timeout_s = cfg->register_timeout,
		.enabled = cfg->register_enabled,
	};
	int r;

	if (!dir || !cache)
		return rain_error_oom();
	if (rc.enabled && config_rain_command(cfg, &rain) < 0) {
		log_printf(LOG_WARN, "registration is off: %s", rain_error_last());
		rc.enabled = false;
	}
	rc.dir = dir;
	rc.cache_dir = cache;
	rc.rain_command = rain;
	r = registrations_start(out, &rc, repo);
	if (r == 0 && rc.enabled && cfg->nsites)
		log_printf(LOG_INFO, "registration: %zu site(s), up to %d at once", cfg->nsites,
			   rc.max_concurrent);
	return r;
}

/* Glance's interoperable import ([import]; daemon/import.h). */
static int start_imports(struct config *cfg, struct rain_repo *repo, struct imports **out)
{
	struct import_config ic = {
		.glance_direct = cfg->import_glance_direct,
		.web_download_allow = cfg->web_download_allow,
		.web_download_private = cfg->web_download_private,
		.web_download_max_size = cfg->web_download_max_size,
		.web_download_timeout = cfg->web_download_timeout,
		.max_concurrent = cfg->import_max_concurrent,
	};
	int r = imports_new(out, &ic, repo);

	if (r == 0 && cfg->web_download_allow)
		log_printf(LOG_INFO, "web-download from %s", cfg->web_download_allow);
	return r;
}

/* The run service: jobs in DATA_DIR/runs over the registrations' sites. */
static int start_runs(struct config *cfg, struct rain_repo *repo, struct registrations *regs,
		      struct runs **out)
{
	_cleanup_free_ char *dir = fs_path_join(cfg->data_dir, "runs");
	_cleanup_free_ char *rain = NULL;
	struct runs_config rc = {
		.registrations = regs,
		.max_concurrent = cfg->runs_max_concurrent,
		.max_queued_per_user = cfg->runs_max_queued_per_user,
		.max_instances = cfg->runs_max_instances,
		.max_per_run = cfg->runs_max_per_run,
		.max_walltime_s = cfg->runs_max_walltime,
		.share_roots = cfg->runs_share_roots,
		.enabled = cfg->runs_enabled,
	};
	int r;

	if (!dir)
		return rain_error_oom();
	if (rc.enabled && config_rain_command(cfg, &rain) < 0) {
		log_printf(LOG_WARN, "runs are off: %s", rain_error_last());
		rc.enabled = false;
	}
	rc.dir = dir;
	rc.rain_command = rain;
	r = runs_start(out, &rc, repo);
	if (r == 0 && rc.enabled && cfg->nsites)
		log_printf(LOG_INFO, "runs: up to %d at once, %d instance(s) per user", rc.max_concurrent,
			   rc.max_instances);
	return r;
}

/* With [vet] auto: a build stored an image; vet it as its owner. */
static void vet_stored(void *ud, const char *owner, const char *image_id, const char *manifest)
{
	struct rain_who who = { .owner = owner };
	json_t *rec = NULL;

	if (vetting_submit(ud, &who, image_id, NULL, false, manifest, &rec) < 0)
		log_printf(LOG_WARN, "image %s of %s was stored by a build but cannot be vetted: %s",
			   image_id, owner, rain_error_last());
	json_decref(rec);
}

/* The build service: DATA_DIR/builds, run by the rain program. */
static int start_builds(struct config *cfg, struct rain_repo *repo, struct rain_identity *identity,
			struct vetting *vetting, struct builds **out)
{
	_cleanup_free_ char *dir = fs_path_join(cfg->data_dir, "builds");
	/* not under DATA_DIR, which is private (0700): the build sandbox's
	 * unprivileged root must reach the cache */
	_cleanup_free_ char *cache = strdup(cfg->build_cache_dir ? cfg->build_cache_dir : "/var/cache/rain");
	_cleanup_free_ char *rain = NULL, *why = NULL;
	struct builds_config bc = { 0 };
	struct builds_recovery rec;
	int r;

	if (!dir || !cache)
		return rain_error_oom();
	bc.enabled = cfg->builds_enabled;
	if (!bc.enabled && cfg->builds_enabled_set)
		why = strdup("the build service is disabled ([builds] enabled = false in raind's "
			     "configuration)");
	else if (!bc.enabled)
		why = strdup("the build service is off: raind does not run as root, and image "
			     "builds need root ([builds] enabled = true overrides this)");
	if (bc.enabled && config_rain_command(cfg, &rain) < 0) {
		if (asprintf(&why, "the build service is off: %s", rain_error_last()) < 0)
			why = NULL;
		log_printf(LOG_WARN, "%s", why ? why : "the build service is off");
		bc.enabled = false;
	}
	bc.dir = dir;
	bc.cache_dir = cache;
	bc.rain_command = rain;
	bc.limits = cfg->build_limits;
	bc.max_concurrent = cfg->max_builds;
	bc.max_queued_per_user = cfg->max_queued_per_user;
	bc.max_running_per_user = cfg->max_running_per_user;
	bc.max_files = cfg->max_build_files;
	bc.timeout_s = cfg->build_timeout;
	bc.backend = cfg->build_backend;
	bc.slurm_partition = cfg->slurm_partition;
	bc.slurm_account = cfg->slurm_account;
	bc.slurm_conf = cfg->slurm_conf;
	bc.slurm_time_limit_s = cfg->slurm_time_limit;
	bc.disabled_why = why;
	bc.admin_token = cfg->admin_token;
	bc.identity = identity;
	if (cfg->vet_auto && cfg->vet_enabled) {
		bc.stored = vet_stored;
		bc.stored_ud = vetting;
	}
	r = builds_start(out, &bc, repo, &rec);
	if (r < 0)
		return r;
	if (rec.failed || rec.requeued || rec.unreadable)
		log_printf(LOG_WARN, "builds from the previous run: %lld stopped during the build "
			   "(now failed; %lld leftover process(es) or Slurm job(s) stopped), %lld "
			   "queued again, "
			   "%lld unreadable", (long long)rec.failed, (long long)rec.stopped,
			   (long long)rec.requeued, (long long)rec.unreadable);
	if (rec.tokens_revoked)
		log_printf(LOG_INFO, "revoked %lld token(s) of builds from the previous run",
			   (long long)rec.tokens_revoked);
	if (bc.enabled)
		log_printf(LOG_INFO, "build service: up to %d at once with %s on the %s backend, "
			   "cache in %s", bc.max_concurrent, rain,
			   bc.backend ? bc.backend : "local", cache);
	return 0;
}

/* Each connection is a descriptor: raise RLIMIT_NOFILE to what
 * max_connections needs, plus the workers' own (epoll, wake-up pipe) and
 * some for the catalog, blobs and builds. The hard limit too when raind
 * may (root); when it cannot, fewer connections are taken, and the log
 * says so. */
static void fit_open_files(struct config *cfg)
{
	rlim_t reserve = 256 + 4 * (rlim_t)cfg->threads, need = (rlim_t)cfg->max_connections + reserve;
	struct rlimit rl, old;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	old = rl;
	rl.rlim_cur = need;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		rl.rlim_max = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		rl.rlim_cur = old.rlim_max == RLIM_INFINITY ? need : old.rlim_max;
		rl.rlim_max = old.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl = old;
	}
	if (rl.rlim_cur >= need) {
		log_printf(LOG_INFO, "raised the open-file limit (RLIMIT_NOFILE) from %llu to %llu for "
			   "%d connections", (unsigned long long)old.rlim_cur,
			   (unsigned long long)rl.rlim_cur, cfg->max_connections);
		return;
	}
	cfg->max_connections = rl.rlim_cur > reserve + 16 ? (int)(rl.rlim_cur - reserve) : 16;
	log_printf(LOG_WARN, "the open-file limit (RLIMIT_NOFILE) is %llu and cannot be raised to "
		   "%llu: taking at most %d connections instead of [server] max_connections; raise "
		   "the limit (e.g. LimitNOFILE= in a systemd unit) to take more",
		   (unsigned long long)rl.rlim_cur, (unsigned long long)need, cfg->max_connections);
}

/* The URL at which raind reaches itself: the listen address (a wildcard
 * one is the loopback address of its family) and the bound port. */
static int own_url(const struct config *cfg, unsigned int port, char *out, size_t outlen)
{
	const char *listen = cfg->listen, *end;
	char host[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;
	struct in_addr a4;
	size_t n;

	if (listen[0] == '[') {
		end = strchr(listen, ']');
		listen++;
	} else {
		end = strrchr(listen, ':');
	}
	n = end ? (size_t)(end - listen) : 0;
	if (n >= sizeof(host))
		return rain_error_set(RAIN_EINVAL, "bad listen address '%s'", cfg->listen);
	memcpy(host, listen, n);
	host[n] = '\0';
	if (strchr(host, ':'))
		snprintf(out, outlen, "%s://[%s]:%u", cfg->tls_cert ? "https" : "http",
			 inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6) ?
			 "::1" : host, port);
	else if (!*host || (inet_pton(AF_INET, host, &a4) == 1 && a4.s_addr == htonl(INADDR_ANY)))
		snprintf(out, outlen, "%s://127.0.0.1:%u", cfg->tls_cert ? "https" : "http", port);
	else
		snprintf(out, outlen, "%s://%s:%u", cfg->tls_cert ? "https" : "http", host, port);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "tls-cert", required_argument, NULL, 1 },
		{ "tls-key", required_argument, NULL, 2 },
		{ "port-file", required_argument, NULL, 3 },
		{ "log-level", required_argument, NULL, 4 },
		{ "max-builds", required_argument, NULL, 5 },
		{ "admin-password-file", required_argument, NULL, 6 },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct flag flags[16];
	size_t nflags = 0;
	const char *config_path = getenv("RAIND_CONFIG");
	struct rain_repo_options ropts = { 0 };
	struct rain_repo_recovery rec;
	struct server_config scfg = { 0 };
	struct rain_repo *repo = NULL;
	struct server *srv = NULL;
	struct builds *builds = NULL;
	struct rain_identity *identity = NULL;
	struct vetting *vetting = NULL;
	struct registrations *registrations = NULL;
	struct runs *runs = NULL;
	struct imports *imports = NULL;
	struct metrics_listener *metrics = NULL;
	struct metrics_sources msrc = { 0 };
	struct config cfg;
	char *token_path = NULL;
	bool generated;
	sigset_t sigs;
	int c, sig, r, status = 1;

	while ((c = getopt_long(argc, argv, "c:l:d:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'l': flags[nflags++] = (struct flag){ "server", "listen", optarg }; break;
		case 'd': flags[nflags++] = (struct flag){ "storage", "data_dir", optarg }; break;
		case 1: flags[nflags++] = (struct flag){ "server", "tls_cert", optarg }; break;
		case 2: flags[nflags++] = (struct flag){ "server", "tls_key", optarg }; break;
		case 3: flags[nflags++] = (struct flag){ "server", "port_file", optarg }; break;
		case 4: flags[nflags++] = (struct flag){ "server", "log_level", optarg }; break;
		case 5: flags[nflags++] = (struct flag){ "builds", "max_concurrent", optarg }; break;
		case 6: flags[nflags++] = (struct flag){ "auth", "admin_password_file", optarg }; break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("raind 0.1.0"); return 0;
		default: usage(stderr); return 2;
		}
		if (nflags == sizeof(flags) / sizeof(*flags)) {
			fprintf(stderr, "raind: too many options\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "raind: unexpected argument '%s'; see raind --help\n", argv[optind]);
		return 2;
	}
	if (config_defaults(&cfg) < 0) {
		fprintf(stderr, "raind: out of memory\n");
		return 1;
	}
	r = config_path ? config_load(&cfg, config_path) : 0;
	for (size_t i = 0; r == 0 && i < nflags; i++) {
		char where[64];

		snprintf(where, sizeof(where), "--%s", flags[i].key);
		r = config_set(&cfg, flags[i].section, flags[i].key, flags[i].value, where);
	}
	if (r < 0) {
		fprintf(stderr, "raind: %s\n", rain_error_last());
		goto done;
	}
	log_set_level(cfg.log_level);
	r = config_admin_token(&cfg, &generated, &token_path);
	if (r < 0) {
		log_printf(LOG_ERROR, "admin token: %s", rain_error_last());
		goto done;
	}
	if (generated)
		log_printf(LOG_INFO, "generated an admin token in %s (mode 0600)", token_path);

	/* every thread inherits this mask; the main thread takes the signals */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	ropts.data_dir = cfg.data_dir;
	ropts.catalog_uri = cfg.catalog;
	ropts.blob_uri = cfg.blobs;
	ropts.md5_checksum = cfg.md5_checksum;
	ropts.max_image_size = cfg.max_image_size;
	ropts.upload_lease_us = cfg.upload_lease * 1000000LL;
	ropts.tmp_grace_us = cfg.tmp_grace * 1000000LL;
	r = rain_repo_open(&repo, &ropts, &rec);
	if (r < 0) {
		log_printf(LOG_ERROR, "cannot open the repository in %s: %s", cfg.data_dir,
			   rain_error_last());
		goto done;
	}
	if (rec.uploads_reset || rec.tmp_removed || rec.blobs_removed)
		log_printf(LOG_WARN, "recovered from an unclean stop: %lld interrupted upload(s) "
			   "back to queued, %lld temporary and %lld unreferenced blob file(s) removed",
			   (long long)rec.uploads_reset, (long long)rec.tmp_removed,
			   (long long)rec.blobs_removed);
	if (rec.imports_reset)
		log_printf(LOG_WARN, "recovered from an unclean stop: %lld interrupted import(s) or "
			   "stage(s) reset", (long long)rec.imports_reset);

	r = open_identity(&cfg, repo, &identity);
	if (r < 0) {
		log_printf(LOG_ERROR, "%s", rain_error_last());
		goto done;
	}
	r = first_admin(&cfg, repo, identity);
	if (r < 0) {
		log_printf(LOG_ERROR, "cannot create the first user: %s", rain_error_last());
		goto done;
	}
	{
		int64_t purged = 0;

		if (rain_catalog_token_purge(rain_repo_catalog(repo), time_now_us(), &purged) < 0)
			log_printf(LOG_WARN, "cannot remove expired tokens: %s", rain_error_last());
		else if (purged > 0)
			log_printf(LOG_INFO, "removed %lld expired token(s)", (long long)purged);
	}

	r = start_vetting(&cfg, repo, &vetting);
	if (r < 0) {
		log_printf(LOG_ERROR, "cannot start vetting: %s", rain_error_last());
		goto done;
	}
	r = start_registrations(&cfg, repo, &registrations);
	if (r < 0) {
		log_printf(LOG_ERROR, "cannot start registration: %s", rain_error_last());
		goto done;
	}
	r = start_runs(&cfg, repo, registrations, &runs);
	if (r < 0) {
		log_printf(LOG_ERROR, "cannot start runs: %s", rain_error_last());
		goto done;
	}
	r = start_builds(&cfg, repo, identity, vetting, &builds);
	if (r < 0) {
		log_printf(LOG_ERROR, "cannot start the build service: %s", rain_error_last());
		goto done;
	}

	r = start_imports(&cfg, repo, &imports);
	if (r < 0) {
		log_printf(LOG_ERROR, "cannot start imports: %s", rain_error_last());
		goto done;
	}
	scfg.imports = imports;
	scfg.builds = builds;
	scfg.vetting = vetting;
	r = config_netboot_from_sites(&cfg);
	if (r < 0) {
		log_printf(LOG_ERROR, "%s", rain_error_last());
		goto done;
	}
	scfg.netboot_sites = cfg.netboot_sites;
	scfg.registrations = registrations;
	scfg.runs = runs;
	scfg.listen = cfg.listen;
	scfg.tls_cert = cfg.tls_cert;
	scfg.tls_key = cfg.tls_key;
	scfg.admin_token = cfg.admin_token;
	scfg.identity = identity;
	fit_open_files(&cfg);
	scfg.public_url = cfg.public_url;
	scfg.threads = cfg.threads;
	scfg.max_connections = cfg.max_connections;
	scfg.max_connections_per_address = cfg.max_connections_per_address;
	scfg.connection_memory = cfg.connection_memory;
	scfg.header_timeout_s = cfg.header_timeout;
	scfg.idle_timeout_s = cfg.idle_timeout;
	scfg.body_timeout_s = cfg.body_timeout;
	scfg.body_min_rate = cfg.body_min_rate;
	scfg.trusted_proxies = cfg.trusted_proxies;
	scfg.web_ui = cfg.web_ui;
	r = server_start(&srv, &scfg, repo);
	if (r < 0) {
		log_printf(LOG_ERROR, "%s", rain_error_last());
		goto done;
	}
	{
		/* builds cloning repository images reach it here (the port is
		 * known only now), checking its certificate against its own;
		 * [builds] repository_url against the system's CAs */
		_cleanup_free_ char *cacert = cfg.tls_cert ? realpath(cfg.tls_cert, NULL) : NULL;
		char url[128];

		if (cfg.repository_url)
			r = builds_serve(builds, cfg.repository_url, NULL);
		else if ((r = own_url(&cfg, server_port(srv), url, sizeof(url))) == 0)
			r = builds_serve(builds, url, cacert ? cacert : cfg.tls_cert);
		if (r < 0) {
			log_printf(LOG_ERROR, "cannot start the build service: %s", rain_error_last());
			goto done;
		}
	}
	if (cfg.metrics_listen) {
		msrc = (struct metrics_sources){
			.jobs = { builds ? builds_jobs(builds) : NULL, vetting_jobs(vetting),
				  registrations_jobs(registrations), runs_jobs(runs) },
			.imports = imports,
		};
		r = metrics_listen_start(&metrics, cfg.metrics_listen, &msrc);
		if (r < 0) {
			log_printf(LOG_ERROR, "%s", rain_error_last());
			goto done;
		}
		log_printf(LOG_INFO, "metrics on http://%s/metrics", cfg.metrics_listen);
	}
	if (cfg.port_file) {
		char port[16];

		snprintf(port, sizeof(port), "%u\n", server_port(srv));
		if (fs_write_atomic(cfg.port_file, port, strlen(port), 0644) < 0) {
			log_printf(LOG_ERROR, "%s", rain_error_last());
			goto done;
		}
	}
	log_printf(LOG_INFO, "raind 0.1.0 listening on %s://%s (port %u), data in %s",
		   cfg.tls_cert ? "https" : "http", cfg.listen, server_port(srv), cfg.data_dir);

	for (;;) {
		/* meanwhile, every half lease: the uploads of servers that
		 * died (their leases lapsed) back to queued */
		struct timespec tick = { .tv_sec = cfg.upload_lease / 2 > 0 ? cfg.upload_lease / 2 : 1 };
		int64_t reset = 0;

		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig < 0 && errno == EAGAIN) {
			if (rain_repo_requeue_lapsed(repo, &reset) < 0)
				log_printf(LOG_WARN, "cannot check for lapsed uploads: %s", rain_error_last());
			else if (reset > 0)
				log_printf(LOG_WARN, "%lld upload(s) whose server stopped (lease lapsed) back to queued",
					   (long long)reset);
			continue;
		}
		if (sig < 0)
			continue;
		if (sig == SIGHUP) {
			log_printf(LOG_INFO, "SIGHUP ignored: restart raind to change its settings");
			continue;
		}
		break;
	}
	log_printf(LOG_INFO, "received %s, shutting down", strsignal(sig));
	status = 0;
done:
	/* log streams end first, so that the server's threads can finish */
	builds_quiesce(builds);
	vetting_quiesce(vetting);
	registrations_quiesce(registrations);
	runs_quiesce(runs);
	metrics_listen_stop(metrics);
	server_stop(srv);
	imports_free(imports);
	builds_stop(builds);
	rain_identity_free(identity);
	vetting_stop(vetting);
	runs_stop(runs);
	registrations_stop(registrations);
	rain_repo_close(repo);
	if (status == 0)
		log_printf(LOG_INFO, "stopped");
	free(token_path);
	config_free(&cfg);
	return status;
}
