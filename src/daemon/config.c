#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "daemon/config.h"
#include "rain/auth.h"
#include "rain/build.h"
#include "rain/error.h"
#include "rain/provision.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/ini.h"
#include "util/netaddr.h"
#include "util/strutil.h"

#define CONFIG_SECTIONS_MAX 64          /* [vet.policy.NAME]s, [site.NAME]s */
#define CONFIG_SECTION_SETTINGS_MAX 64

int config_defaults(struct config *cfg)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = 32;
	cfg->max_connections = 16384;
	cfg->max_connections_per_address = 64;
	cfg->connection_memory = 32768;
	cfg->header_timeout = 30;
	cfg->idle_timeout = 60;
	cfg->body_timeout = 30;
	cfg->body_min_rate = 500;
	cfg->web_ui = true;
	cfg->log_level = LOG_INFO;
	cfg->max_image_size = 1LL << 40;   /* Glance's image_size_cap */
	cfg->upload_lease = 600;
	cfg->tmp_grace = 3600;
	cfg->builds_enabled = geteuid() == 0;   /* builds need root */
	cfg->max_builds = 2;
	cfg->max_queued_per_user = 10;
	cfg->max_running_per_user = 1;
	cfg->max_build_files = 1000;
	cfg->build_timeout = 3600;
	cfg->vet_enabled = true;
	cfg->vet_auto = true;
	cfg->vet_max_concurrent = 2;
	cfg->vet_max_queued_per_user = 20;
	cfg->vet_timeout = 900;
	cfg->register_enabled = true;
	cfg->register_max_concurrent = 4;
	cfg->register_max_queued_per_user = 10;
	cfg->register_timeout = 3600;
	cfg->runs_enabled = true;
	cfg->runs_max_concurrent = 16;
	cfg->runs_max_queued_per_user = 10;
	cfg->runs_max_instances = 8;
	cfg->runs_max_per_run = 8;
	cfg->runs_max_walltime = 86400;
	cfg->token_lifetime = 86400;
	cfg->import_glance_direct = true;
	cfg->import_max_concurrent = 4;
	cfg->web_download_timeout = 3600;
	cfg->login_address_limit = 30;
	cfg->min_password_length = RAIN_PASSWORD_MIN_DEFAULT;
	r = str_set(&cfg->listen, "127.0.0.1:9292");
	if (r < 0)
		return r;
	if (geteuid() == 0)
		return str_set(&cfg->data_dir, "/var/lib/rain");
	if (xdg && *xdg)
		r = asprintf(&cfg->data_dir, "%s/rain", xdg);
	else
		r = asprintf(&cfg->data_dir, "%s/.local/share/rain", home && *home ? home : ".");
	return r < 0 ? rain_error_oom() : 0;
}

static int parse_bool(const char *value, bool *out, const char *where, const char *key)
{
	if (str_to_bool(value, out) < 0)
		return rain_error_set(RAIN_EINVAL, "%s: %s must be true or false, not '%s'",
				      where, key, value);
	return 0;
}

static int parse_int(const char *value, int *out, int min, int max, const char *where,
		     const char *key, const char *unit)
{
	int64_t n;

	if (str_to_i64(value, &n) < 0 || n < min || n > max)
		return rain_error_set(RAIN_EINVAL, "%s: %s must be %d to %d %s, not '%s'", where, key,
				      min, max, unit, value);
	*out = (int)n;
	return 0;
}

/* A build limit: checked as rain generate --limit checks it, kept as
 * KEY=VALUE (a key given again replaces the earlier value). */
static int set_build_limit(struct config *cfg, const char *key, const char *value,
			   const char *where)
{
	struct rain_build_limits scratch = { 0 };
	size_t klen = strlen(key), i;
	char *kv;

	if (rain_build_limits_set(&scratch, key, value) < 0)
		return rain_error_set(RAIN_EINVAL, "%s: %s", where, rain_error_last());
	if (asprintf(&kv, "%s=%s", key, value) < 0)
		return rain_error_oom();
	for (i = 0; cfg->build_limits[i]; i++)
		if (!strncmp(cfg->build_limits[i], key, klen) && cfg->build_limits[i][klen] == '=')
			break;
	free(cfg->build_limits[i]);   /* the same key again, or the NULL at the end */
	cfg->build_limits[i] = kv;
	return 0;
}

/* http(s)://HOST[:PORT][/PATH]: links are built on it, so nothing that
 * could break out of a URL or a JSON string. */
static int set_public_url(struct config *cfg, const char *value, const char *where)
{
	const char *host = str_has_prefix(value, "https://") ? value + 8 :
			   str_has_prefix(value, "http://") ? value + 7 : NULL;

	if (!host || !*host || *host == '/' || !str_is_printable(value, 1024) ||
	    strpbrk(value, " \\\"<>'`{}|^?#@"))
		return rain_error_set(RAIN_EINVAL, "%s: public_url must be an http:// or https:// URL "
				      "(scheme, host, optional port and path, no query), not '%s'",
				      where, value);
	return str_set(&cfg->public_url, value);
}

/* Policy names: [a-z0-9][a-z0-9._-]{0,63}, as they appear in reports
 * and image properties. */
static bool policy_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64 || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0]))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int policy_name_error(const char *where, const char *name)
{
	return rain_error_set(RAIN_EINVAL, "%s: '%s' is not a policy name (lower-case letters, "
			      "digits, '.', '_' and '-', at most 64, starting with a letter or digit)",
			      where, name);
}

/* [netboot] SITE = DIR: a folder the netboot site driver publishes into,
 * which raind serves as /netboot/SITE/ (api/netboot.c). */
static int add_netboot_site(struct config *cfg, const char *name, const char *dir, const char *where)
{
	_cleanup_free_ char *kv = NULL;
	size_t len = strlen(name);

	if (!len || len > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != len ||
	    name[0] == '-' || name[0] == '_')
		return rain_error_set(RAIN_EINVAL, "%s: [netboot] '%s' is not a site name (1-63 of a-z, "
				      "0-9, '-', '_')", where, name);
	if (dir[0] != '/' || strstr(dir, "/../") || str_has_suffix(dir, "/..") || !str_is_printable(dir, 4000))
		return rain_error_set(RAIN_EINVAL, "%s: [netboot] %s: '%s' is not an absolute folder", where,
				      name, dir);
	for (size_t i = 0; i < cfg->netboot_nsites; i++)
		if (!strncmp(cfg->netboot_sites[i], name, len) && cfg->netboot_sites[i][len] == '=')
			return rain_error_set(RAIN_EINVAL, "%s: [netboot] %s is given twice", where, name);
	if (asprintf(&kv, "%s=%s", name, dir) < 0)
		return rain_error_oom();
	return strv_add(&cfg->netboot_sites, &cfg->netboot_nsites, kv);
}

/* One KEY = VALUE of a named section (what: "vet.policy", "site"),
 * added to *v in the order first seen. */
static int add_section_setting(struct config_section **v, size_t *n, const char *what,
			       const char *name, const char *key, const char *value,
			       const char *where)
{
	struct config_section *p = NULL;
	_cleanup_free_ char *kv = NULL;
	int r;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i].name, name))
			p = &(*v)[i];
	if (!p) {
		if (*n == CONFIG_SECTIONS_MAX)
			return rain_error_set(RAIN_ETOOBIG, "%s: more than %d [%s.NAME] sections",
					      where, CONFIG_SECTIONS_MAX, what);
		r = ARRAY_GROW1(*v, *n);
		if (r < 0)
			return r;
		p = &(*v)[*n];
		memset(p, 0, sizeof(*p));
		if (!(p->name = strdup(name)))
			return rain_error_oom();
		(*n)++;
	}
	if (p->nsettings == CONFIG_SECTION_SETTINGS_MAX)
		return rain_error_set(RAIN_ETOOBIG, "%s: more than %d settings in [%s.%s]",
				      where, CONFIG_SECTION_SETTINGS_MAX, what, name);
	if (asprintf(&kv, "%s=%s", key, value) < 0)
		return rain_error_oom();
	return strv_add(&p->settings, &p->nsettings, kv);
}

/* One KEY = VALUE of [vet.policy.NAME]; checked when raind starts
 * (rain_vet_policy_set), where the error names the policy and key. */
static int add_policy_setting(struct config *cfg, const char *name, const char *key,
			      const char *value, const char *where)
{
	if (!policy_name_ok(name))
		return policy_name_error(where, name);
	if (!strcmp(name, "default"))
		return rain_error_set(RAIN_EINVAL, "%s: the policy 'default' is built in; name "
				      "yours otherwise ([vet.policy.NAME]) and make it the default "
				      "with [vet] policy = NAME", where);
	return add_section_setting(&cfg->vet_policies, &cfg->vet_npolicies, "vet.policy", name, key,
				   value, where);
}

int config_set(struct config *cfg, const char *section, const char *key, const char *value,
	       const char *where)
{
	int64_t n;

	if (!strcmp(section, "server")) {
		if (!strcmp(key, "listen"))
			return str_set(&cfg->listen, value);
		if (!strcmp(key, "tls_cert"))
			return str_set(&cfg->tls_cert, value);
		if (!strcmp(key, "tls_key"))
			return str_set(&cfg->tls_key, value);
		if (!strcmp(key, "port_file"))
			return str_set(&cfg->port_file, value);
		if (!strcmp(key, "public_url"))
			return set_public_url(cfg, value, where);
		if (!strcmp(key, "trusted_proxies")) {
			struct net_prefix *list;
			size_t count;

			if (net_prefix_list_parse(value, &list, &count) < 0)
				return rain_error_set(RAIN_EINVAL, "%s: trusted_proxies: %s", where,
						      rain_error_last());
			free(list);
			return str_set(&cfg->trusted_proxies, count ? value : NULL);
		}
		if (!strcmp(key, "web_ui"))
			return parse_bool(value, &cfg->web_ui, where, key);
		if (!strcmp(key, "threads"))
			return parse_int(value, &cfg->threads, 1, 1024, where, key, "threads");
		if (!strcmp(key, "max_connections"))
			return parse_int(value, &cfg->max_connections, 1, 1000000, where, key,
					 "connections");
		if (!strcmp(key, "max_connections_per_address"))
			return parse_int(value, &cfg->max_connections_per_address, 1, 1000000, where,
					 key, "connections");
		if (!strcmp(key, "connection_memory"))
			return parse_int(value, &cfg->connection_memory, 8192, 1 << 20, where, key,
					 "bytes");
		if (!strcmp(key, "header_timeout"))
			return parse_int(value, &cfg->header_timeout, 1, 3600, where, key, "seconds");
		if (!strcmp(key, "idle_timeout"))
			return parse_int(value, &cfg->idle_timeout, 1, 86400, where, key, "seconds");
		if (!strcmp(key, "body_timeout"))
			return parse_int(value, &cfg->body_timeout, 1, 3600, where, key, "seconds");
		if (!strcmp(key, "body_min_rate")) {
			if (str_to_i64(value, &n) < 0 || n < 0 || n > (1LL << 40))
				return rain_error_set(RAIN_EINVAL, "%s: body_min_rate must be 0 to %lld "
						      "bytes per second, not '%s'", where, 1LL << 40, value);
			cfg->body_min_rate = n;
			return 0;
		}
		if (!strcmp(key, "log_level")) {
			static const char *const names[] = { "debug", "info", "warning", "error" };

			for (int i = 0; i < 4; i++)
				if (!strcmp(value, names[i])) {
					cfg->log_level = (enum log_level)i;
					return 0;
				}
			return rain_error_set(RAIN_EINVAL,
					      "%s: log_level must be debug, info, warning or error", where);
		}
	} else if (!strcmp(section, "storage")) {
		if (!strcmp(key, "data_dir"))
			return str_set(&cfg->data_dir, value);
		if (!strcmp(key, "catalog"))
			return str_set(&cfg->catalog, value);
		if (!strcmp(key, "blobs"))
			return str_set(&cfg->blobs, value);
		if (!strcmp(key, "md5_checksum"))
			return parse_bool(value, &cfg->md5_checksum, where, key);
		if (!strcmp(key, "max_image_size")) {
			if (str_to_i64(value, &n) < 0 || n < 0)
				return rain_error_set(RAIN_EINVAL,
						      "%s: max_image_size must be a byte count (0: no limit)",
						      where);
			cfg->max_image_size = n;
			return 0;
		}
		/* several raind on one catalog and store: how long a dead
		 * server's upload holds its image and bytes, and how old a
		 * temporary object must be before a start sweeps it */
		if (!strcmp(key, "upload_lease"))
			return parse_int(value, &cfg->upload_lease, 2, 7 * 86400, where, key, "seconds");
		if (!strcmp(key, "tmp_grace"))
			return parse_int(value, &cfg->tmp_grace, 0, 7 * 86400, where, key, "seconds");
	} else if (!strcmp(section, "import")) {
		/* the URL prefixes and ranges are checked when raind starts
		 * (daemon/import.h), where the error names the entry */
		if (!strcmp(key, "glance_direct"))
			return parse_bool(value, &cfg->import_glance_direct, where, key);
		if (!strcmp(key, "web_download_allow"))
			return str_set(&cfg->web_download_allow, value);
		if (!strcmp(key, "web_download_private"))
			return str_set(&cfg->web_download_private, value);
		if (!strcmp(key, "web_download_max_size")) {
			if (str_to_i64(value, &n) < 0 || n < 0)
				return rain_error_set(RAIN_EINVAL, "%s: web_download_max_size must be "
						      "a byte count (0: [storage] max_image_size)", where);
			cfg->web_download_max_size = n;
			return 0;
		}
		if (!strcmp(key, "web_download_timeout"))
			return parse_int(value, &cfg->web_download_timeout, 1, 7 * 86400, where, key,
					 "seconds");
		if (!strcmp(key, "max_concurrent"))
			return parse_int(value, &cfg->import_max_concurrent, 1, 256, where, key,
					 "imports");
	} else if (!strcmp(section, "metrics")) {
		if (!strcmp(key, "listen"))
			return str_set(&cfg->metrics_listen, value);
	} else if (!strcmp(section, "builds")) {
		if (!strcmp(key, "enabled")) {
			cfg->builds_enabled_set = true;
			return parse_bool(value, &cfg->builds_enabled, where, key);
		}
		if (!strcmp(key, "max_concurrent")) {
			if (str_to_i64(value, &n) < 0 || n < 1 || n > 256)
				return rain_error_set(RAIN_EINVAL, "%s: max_concurrent must be 1 to 256",
						      where);
			cfg->max_builds = (int)n;
			return 0;
		}
		if (!strcmp(key, "max_queued_per_user"))
			return parse_int(value, &cfg->max_queued_per_user, 0, 100000, where, key,
					 "builds (0: no limit)");
		if (!strcmp(key, "max_running_per_user"))
			return parse_int(value, &cfg->max_running_per_user, 0, 256, where, key,
					 "builds (0: no limit)");
		if (!strcmp(key, "max_files"))
			return parse_int(value, &cfg->max_build_files, 0, 1000000, where, key,
					 "files (0: no limit)");
		if (!strcmp(key, "timeout")) {
			if (str_to_i64(value, &n) < 0 || n < 1 || n > 7 * 86400)
				return rain_error_set(RAIN_EINVAL, "%s: timeout must be 1 to 604800 seconds",
						      where);
			cfg->build_timeout = (int)n;
			return 0;
		}
		if (!strcmp(key, "cache_dir"))
			return str_set(&cfg->build_cache_dir, value);
		if (!strcmp(key, "rain_command"))
			return str_set(&cfg->rain_command, value);
		if (!strcmp(key, "backend")) {
			if (strcmp(value, "local") && strcmp(value, "slurm"))
				return rain_error_set(RAIN_EINVAL, "%s: backend must be local or slurm, "
						      "not '%s'", where, value);
			return str_set(&cfg->build_backend, value);
		}
		if (!strcmp(key, "slurm_partition"))
			return str_set(&cfg->slurm_partition, value);
		if (!strcmp(key, "slurm_account"))
			return str_set(&cfg->slurm_account, value);
		if (!strcmp(key, "slurm_conf"))
			return str_set(&cfg->slurm_conf, value);
		if (!strcmp(key, "slurm_time_limit"))
			return parse_int(value, &cfg->slurm_time_limit, 0, 7 * 86400, where, key,
					 "seconds (0: [builds] timeout)");
		for (const char *const *k = rain_build_limit_keys; *k; k++)
			if (!strcmp(key, *k))
				return set_build_limit(cfg, key, value, where);
		if (!strcmp(key, "repository_url")) {
			if ((!str_has_prefix(value, "http://") && !str_has_prefix(value, "https://")) ||
			    strlen(value) > 1024)
				return rain_error_set(RAIN_EINVAL, "%s: repository_url must be an http:// "
						      "or https:// URL", where);
			return str_set(&cfg->repository_url, value);
		}
	} else if (!strcmp(section, "vet")) {
		if (!strcmp(key, "enabled"))
			return parse_bool(value, &cfg->vet_enabled, where, key);
		if (!strcmp(key, "auto"))
			return parse_bool(value, &cfg->vet_auto, where, key);
		if (!strcmp(key, "max_concurrent"))
			return parse_int(value, &cfg->vet_max_concurrent, 1, 256, where, key,
					 "vettings at once");
		if (!strcmp(key, "max_queued_per_user"))
			return parse_int(value, &cfg->vet_max_queued_per_user, 0, 100000, where, key,
					 "vettings (0: no limit)");
		if (!strcmp(key, "timeout"))
			return parse_int(value, &cfg->vet_timeout, 1, 86400, where, key, "seconds");
		if (!strcmp(key, "policy")) {
			if (!policy_name_ok(value))
				return policy_name_error(where, value);
			return str_set(&cfg->vet_policy, value);
		}
		if (!strcmp(key, "feed"))
			return str_set(&cfg->vet_feed, value);
	} else if (!strcmp(section, "netboot")) {
		return add_netboot_site(cfg, key, value, where);
	} else if (str_has_prefix(section, "vet.policy.")) {
		return add_policy_setting(cfg, section + strlen("vet.policy."), key, value, where);
	} else if (!strcmp(section, "register")) {
		if (!strcmp(key, "enabled"))
			return parse_bool(value, &cfg->register_enabled, where, key);
		if (!strcmp(key, "max_concurrent"))
			return parse_int(value, &cfg->register_max_concurrent, 1, 256, where, key,
					 "registrations at once");
		if (!strcmp(key, "max_queued_per_user"))
			return parse_int(value, &cfg->register_max_queued_per_user, 0, 100000, where,
					 key, "registrations (0: no limit)");
		if (!strcmp(key, "timeout"))
			return parse_int(value, &cfg->register_timeout, 1, 86400, where, key, "seconds");
		if (!strcmp(key, "cache_dir"))
			return str_set(&cfg->register_cache_dir, value);
	} else if (!strcmp(section, "runs")) {
		if (!strcmp(key, "enabled"))
			return parse_bool(value, &cfg->runs_enabled, where, key);
		if (!strcmp(key, "max_concurrent"))
			return parse_int(value, &cfg->runs_max_concurrent, 1, 1024, where, key,
					 "runs at once");
		if (!strcmp(key, "max_queued_per_user"))
			return parse_int(value, &cfg->runs_max_queued_per_user, 0, 100000, where,
					 key, "runs (0: no limit)");
		if (!strcmp(key, "max_instances"))
			return parse_int(value, &cfg->runs_max_instances, 1, 100000, where, key,
					 "instances one user may have at once");
		if (!strcmp(key, "max_per_run"))
			return parse_int(value, &cfg->runs_max_per_run, 1, RAIN_RUN_MAX_INSTANCES,
					 where, key, "instances of one run");
		if (!strcmp(key, "max_walltime"))
			return parse_int(value, &cfg->runs_max_walltime, 1, 30 * 86400, where, key,
					 "seconds");
		if (!strcmp(key, "share_roots")) {
			_cleanup_free_ char *copy = strdup(value);
			char *save = NULL;

			if (!copy)
				return rain_error_oom();
			for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
				if (w[0] != '/' || strstr(w, "/../") || str_has_suffix(w, "/..") ||
				    strstr(w, "/./") || str_has_suffix(w, "/."))
					return rain_error_set(RAIN_EINVAL, "%s: share_roots takes absolute "
							      "folders without '.' or '..' (a component "
							      "%%u is the user's name), not '%s'", where, w);
			return str_set(&cfg->runs_share_roots, value);
		}
	} else if (str_has_prefix(section, "site.")) {
		/* checked by rain_site_new when raind starts, naming the key */
		return add_section_setting(&cfg->sites, &cfg->nsites, "site",
					   section + strlen("site."), key, value, where);
	} else if (!strcmp(section, "auth")) {
		if (!strcmp(key, "admin_token"))
			return str_set(&cfg->admin_token, value);
		if (!strcmp(key, "admin_token_file"))
			return str_set(&cfg->admin_token_file, value);
		if (!strcmp(key, "admin_password_file"))
			return str_set(&cfg->admin_password_file, value);
		if (!strcmp(key, "ldap_url")) {
			if (!str_has_prefix(value, "ldap://") && !str_has_prefix(value, "ldaps://"))
				return rain_error_set(RAIN_EINVAL, "%s: ldap_url must start with ldap:// or "
						      "ldaps://", where);
			return str_set(&cfg->ldap_url, value);
		}
		if (!strcmp(key, "ldap_user_dn")) {
			if (!strstr(value, "{user}"))
				return rain_error_set(RAIN_EINVAL, "%s: ldap_user_dn needs {user} where the "
						      "user name goes, e.g. uid={user},ou=people,dc=example,dc=org",
						      where);
			return str_set(&cfg->ldap_user_dn, value);
		}
		if (!strcmp(key, "token_lifetime")) {
			if (str_to_i64(value, &n) < 0 || n < 1 || n > 366LL * 86400)
				return rain_error_set(RAIN_EINVAL, "%s: token_lifetime must be 1 to 31622400 "
						      "seconds", where);
			cfg->token_lifetime = n;
			return 0;
		}
		if (!strcmp(key, "login_address_limit")) {
			if (str_to_i64(value, &n) < 0 || n < 0 || n > 1000000)
				return rain_error_set(RAIN_EINVAL, "%s: login_address_limit must be 0 (no "
						      "limit) to 1000000 failed logins", where);
			cfg->login_address_limit = n;
			return 0;
		}
		if (!strcmp(key, "min_password_length")) {
			if (str_to_i64(value, &n) < 0 || n < 1 || n > 1024)
				return rain_error_set(RAIN_EINVAL, "%s: min_password_length must be 1 to 1024 "
						      "characters (NIST SP 800-63B asks for at least 8)", where);
			cfg->min_password_length = (int)n;
			return 0;
		}
	}
	return rain_error_set(RAIN_EINVAL, "%s: unknown setting '%s' in section [%s]",
			      where, key, section);
}

static int on_ini(void *ud, const char *file, int line, const char *section,
		  const char *key, const char *value)
{
	char where[512];

	snprintf(where, sizeof(where), "%s:%d", file, line);
	return config_set(ud, section, key, value, where);
}

int config_load(struct config *cfg, const char *path)
{
	int r = ini_parse_file(path, on_ini, cfg);

	if (r == 0 && !cfg->ldap_url != !cfg->ldap_user_dn)
		return rain_error_set(RAIN_EINVAL, "%s: [auth] ldap_url and ldap_user_dn go together", path);
	return r;
}

static int token_from_file(const char *path, char **out)
{
	char *text = NULL;
	size_t n;
	int r = fs_read_small(path, 4096, &text, &n);

	if (r < 0)
		return r;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (n < 16) {
		free(text);
		return rain_error_set(RAIN_EINVAL, "%s: the admin token must be at least 16 characters",
				      path);
	}
	*out = text;
	return 0;
}

int config_netboot_from_sites(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nsites; i++) {
		const struct config_section *site = &cfg->sites[i];
		char where[96];

		snprintf(where, sizeof(where), "[site.%s]", site->name);
		for (size_t k = 0; k < site->nsettings; k++) {
			const char *dir = site->settings[k] + strlen("uri=netboot:");
			size_t len = strlen(site->name);
			bool given = false;
			int r;

			if (!str_has_prefix(site->settings[k], "uri=netboot:"))
				continue;
			for (size_t j = 0; j < cfg->netboot_nsites; j++)
				given |= !strncmp(cfg->netboot_sites[j], site->name, len) &&
					 cfg->netboot_sites[j][len] == '=';
			if (given)
				continue;
			r = add_netboot_site(cfg, site->name, dir, where);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int config_admin_token(struct config *cfg, bool *generated, char **path)
{
	unsigned char raw[32];
	char hex[65], line[70];
	int r;

	*generated = false;
	*path = NULL;
	if (cfg->admin_token) {
		if (strlen(cfg->admin_token) < 16)
			return rain_error_set(RAIN_EINVAL, "admin_token must be at least 16 characters");
		return 0;
	}
	if (cfg->admin_token_file) {
		*path = strdup(cfg->admin_token_file);
		return token_from_file(cfg->admin_token_file, &cfg->admin_token);
	}
	*path = fs_path_join(cfg->data_dir, "admin-token");
	if (!*path)
		return rain_error_oom();
	r = token_from_file(*path, &cfg->admin_token);
	if (r != RAIN_ENOTFOUND)
		return r;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return rain_error_set(RAIN_EIO, "no randomness for the admin token");
	hex_encode(raw, sizeof(raw), hex);
	snprintf(line, sizeof(line), "%s\n", hex);
	r = fs_mkdir_p(cfg->data_dir, 0700);
	if (r == 0)
		r = fs_write_atomic(*path, line, strlen(line), 0600);
	if (r < 0)
		return r;
	*generated = true;
	return str_set(&cfg->admin_token, hex);
}

int config_rain_command(const struct config *cfg, char **out)
{
	char self[4096], *slash, *path = NULL;
	ssize_t n;

	*out = NULL;
	if (cfg->rain_command) {
		if (access(cfg->rain_command, X_OK) < 0)
			return rain_error_errno(RAIN_ENOTFOUND, errno, "[builds] rain_command %s",
						cfg->rain_command);
		return str_set(out, cfg->rain_command);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return rain_error_errno(RAIN_ENOTFOUND, errno, "cannot find raind's own executable");
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return rain_error_set(RAIN_ENOTFOUND, "cannot find raind's own directory");
	*slash = '\0';
	/* installed: both in one bin directory; build tree: src/daemon and src/cli */
	for (int i = 0; i < 2; i++) {
		if (asprintf(&path, i == 0 ? "%s/rain" : "%s/../cli/rain", self) < 0)
			return rain_error_oom();
		if (access(path, X_OK) == 0) {
			char *real = realpath(path, NULL);

			if (real) {
				free(path);
				path = real;
			}
			*out = path;
			return 0;
		}
		free(path);
	}
	return rain_error_set(RAIN_ENOTFOUND, "no rain program in %s or %s/../cli; set [builds] "
			      "rain_command", self, self);
}

int config_admin_password(const struct config *cfg, char **out)
{
	const char *env = getenv("RAIN_ADMIN_PASSWORD");
	char *text = NULL;
	size_t n;
	int r;

	*out = NULL;
	if (cfg->admin_password_file) {
		r = fs_read_small(cfg->admin_password_file, 4096, &text, &n);
		if (r < 0)
			return r;
		while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
			text[--n] = '\0';
		if (n == 0) {
			free(text);
			return rain_error_set(RAIN_EINVAL, "%s: the admin password is empty",
					      cfg->admin_password_file);
		}
		*out = text;
		return 0;
	}
	if (env && *env)
		return str_set(out, env);
	return 0;
}

static void sections_free(struct config_section *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		strv_free(v[i].settings, v[i].nsettings);
	}
	free(v);
}

void config_free(struct config *cfg)
{
	free(cfg->admin_password_file);
	free(cfg->ldap_url);
	free(cfg->ldap_user_dn);
	free(cfg->build_cache_dir);
	free(cfg->rain_command);
	free(cfg->build_backend);
	free(cfg->slurm_partition);
	free(cfg->slurm_account);
	free(cfg->slurm_conf);
	for (char **l = cfg->build_limits; *l; l++)
		free(*l);
	free(cfg->repository_url);
	free(cfg->vet_policy);
	free(cfg->vet_feed);
	sections_free(cfg->vet_policies, cfg->vet_npolicies);
	sections_free(cfg->sites, cfg->nsites);
	free(cfg->register_cache_dir);
	free(cfg->runs_share_roots);
	strv_free(cfg->netboot_sites, cfg->netboot_nsites);
	free(cfg->listen);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->port_file);
	free(cfg->public_url);
	free(cfg->trusted_proxies);
	free(cfg->data_dir);
	free(cfg->catalog);
	free(cfg->blobs);
	free(cfg->admin_token);
	free(cfg->admin_token_file);
	free(cfg->web_download_allow);
	free(cfg->web_download_private);
	free(cfg->metrics_listen);
}
