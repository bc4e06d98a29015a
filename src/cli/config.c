/* Settings: flags > environment > config file > defaults. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/clouds.h"
#include "util/cleanup.h"
#include "util/ini.h"
#include "util/strutil.h"

#define DEFAULT_URL "http://127.0.0.1:9292"

char *cli_config_default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *s;

	if (xdg && xdg[0] == '/') {
		if (asprintf(&s, "%s/rain/config", xdg) < 0)
			return NULL;
		return s;
	}
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || home[0] != '/')
		return NULL;
	if (asprintf(&s, "%s/.config/rain/config", home) < 0)
		return NULL;
	return s;
}

static int setting_set(struct cli_setting *s, const char *value, enum cli_source src,
		       const char *origin)
{
	char *v = strdup(value);

	if (!v)
		return cli_error("out of memory");
	if (s->value && s->source == CLI_SRC_FILE)
		explicit_bzero(s->value, strlen(s->value));
	free(s->value);
	s->value = v;
	s->source = src;
	s->origin = origin;
	return 0;
}

static void setting_free(struct cli_setting *s)
{
	if (s->value) {
		explicit_bzero(s->value, strlen(s->value));
		free(s->value);
	}
	s->value = NULL;
}

void cli_config_free(struct cli *cli)
{
	setting_free(&cli->url);
	setting_free(&cli->token);
	setting_free(&cli->cacert);
	setting_free(&cli->cloud);
	free(cli->cloud_file);
	cli->cloud_file = NULL;
	free(cli->config_path);
	cli->config_path = NULL;
}

void cli_config_reload(struct cli *cli)
{
	struct cli_setting *all[] = { &cli->url, &cli->token, &cli->cacert, &cli->cloud };

	rain_client_free(cli->client);
	cli->client = NULL;
	for (size_t i = 0; i < 4; i++)
		if (all[i]->source != CLI_SRC_FLAG) {
			setting_free(all[i]);
			all[i]->source = CLI_SRC_DEFAULT;
			all[i]->origin = NULL;
		}
	cli->config_loaded = false;
}

/* The first non-empty variable among names. */
static int from_env(struct cli_setting *s, const char *const *names)
{
	if (s->source == CLI_SRC_FLAG)
		return 0;
	for (; *names; names++) {
		const char *v = getenv(*names);

		if (v && *v)
			return setting_set(s, v, CLI_SRC_ENV, *names);
	}
	return 0;
}

struct file_values {
	char *url, *token, *token_url, *cacert;
	int insecure;           /* -1 unset */
};

static int file_handler(void *ud, const char *file, int line, const char *section,
			const char *key, const char *value)
{
	struct file_values *fv = ud;
	char **slot = NULL;

	if (strcmp(section, "client") != 0)
		return 0;
	if (!strcmp(key, "url"))
		slot = &fv->url;
	else if (!strcmp(key, "token"))
		slot = &fv->token;
	else if (!strcmp(key, "token_url"))
		slot = &fv->token_url;
	else if (!strcmp(key, "cacert"))
		slot = &fv->cacert;
	else if (!strcmp(key, "insecure")) {
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))
			fv->insecure = 1;
		else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0"))
			fv->insecure = 0;
		else
			return rain_error_set(RAIN_EINVAL, "%s:%d: insecure must be true or false",
					      file, line);
		return 0;
	} else {
		cli_warn("%s:%d: unknown key '%s' in [client] ignored", file, line, key);
		return 0;
	}
	free(*slot);
	*slot = strdup(value);
	return *slot ? 0 : rain_error_oom();
}

static void file_values_free(struct file_values *fv)
{
	free(fv->url);
	if (fv->token) {
		explicit_bzero(fv->token, strlen(fv->token));
		free(fv->token);
	}
	free(fv->token_url);
	free(fv->cacert);
}

/* Two raind URLs are the same server (a trailing '/' aside). */
static bool same_url(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	while (na > 0 && a[na - 1] == '/')
		na--;
	while (nb > 0 && b[nb - 1] == '/')
		nb--;
	return na == nb && !strncmp(a, b, na);
}

/* A relative cacert in the file is taken relative to the file. */
static char *file_relative(const char *file, const char *path)
{
	const char *slash = strrchr(file, '/');
	char *s;

	if (path[0] == '/' || !slash)
		return strdup(path);
	if (asprintf(&s, "%.*s/%s", (int)(slash - file), file, path) < 0)
		return NULL;
	return s;
}

static int load_file(struct cli *cli)
{
	struct file_values fv = { .insecure = -1 };
	const char *path = cli->config_path;
	struct stat st;
	int r, rc = 0;

	if (!path)
		return 0;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT && cli->config_is_default)
			return 0;
		return cli_error("cannot read the config file %s: %s; fix the path or create "
				 "it with 'rain config set'", path, strerror(errno));
	}
	r = ini_parse_file(path, file_handler, &fv);
	if (r < 0) {
		rc = cli_error("%s; fix or remove the config file", rain_error_last());
		goto done;
	}
	if (fv.token && ((st.st_mode & 077) || st.st_uid != geteuid())) {
		cli_warn("not using the token in %s: the file is readable by others or is not yours; "
			 "run 'chmod 600 %s'", path, path);
		explicit_bzero(fv.token, strlen(fv.token));
		free(fv.token);
		fv.token = NULL;
	}
	if (fv.url && cli->url.source < CLI_SRC_ENV && (rc = setting_set(&cli->url, fv.url,
									CLI_SRC_FILE, cli->config_path)))
		goto done;
	/* rain login binds its token to the URL it logged in to: another
	 * server never gets it */
	if (fv.token && cli->token.source < CLI_SRC_ENV && fv.token_url &&
	    !same_url(fv.token_url, cli->url.value ? cli->url.value : DEFAULT_URL)) {
		cli_warn("not sending the token in %s: it is for %s, not %s; run 'rain login' "
			 "to log in there", path, fv.token_url,
			 cli->url.value ? cli->url.value : DEFAULT_URL);
	} else if (fv.token && cli->token.source < CLI_SRC_ENV &&
		   (rc = setting_set(&cli->token, fv.token, CLI_SRC_FILE, cli->config_path))) {
		goto done;
	}
	if (fv.cacert && cli->cacert.source < CLI_SRC_ENV) {
		char *p = file_relative(path, fv.cacert);

		if (!p) {
			rc = cli_error("out of memory");
			goto done;
		}
		rc = setting_set(&cli->cacert, p, CLI_SRC_FILE, cli->config_path);
		free(p);
		if (rc)
			goto done;
	}
	if (fv.insecure == 1)
		cli->insecure = true;
done:
	file_values_free(&fv);
	return rc;
}

/* The cloud cli->cloud names: log in to its Keystone, take the token and
 * the image endpoint (flags still win). Exit status. */
static int load_cloud(struct cli *cli)
{
	struct rain_cloud *cloud = NULL;
	char token[RAIN_CLIENT_TOKEN_MAX + 1];
	_cleanup_free_ char *url = NULL;
	json_t *body = NULL;
	int r;

	r = rain_cloud_load(NULL, cli->cloud.value, &cloud);
	if (r < 0)
		return cli_error("%s; fix clouds.yaml or give another cloud (%s)", rain_error_last(),
				 cli_setting_origin(&cli->cloud));
	free(cli->cloud_file);
	cli->cloud_file = strdup(cloud->file);
	if (!cli->cloud_file) {
		rain_cloud_free(cloud);
		return cli_error("out of memory");
	}
	if (cloud->auth_type == RAIN_CLOUD_AUTH_NONE) {
		url = cloud->image_endpoint ? strdup(cloud->image_endpoint) : NULL;
		token[0] = '\0';
	} else {
		r = rain_cloud_login(cloud, 0, token, &body);
		if (r == 0)
			r = cloud->image_endpoint ? ((url = strdup(cloud->image_endpoint)) ? 0 :
						     rain_error_oom()) :
			    rain_cloud_image_url(cloud, body, &url);
		json_decref(body);
		if (r < 0) {
			explicit_bzero(token, sizeof(token));
			rain_cloud_free(cloud);
			return cli_fail(cli, r, r == RAIN_EAUTH ? "check the user and password of the "
					"cloud in clouds.yaml" : NULL, "cannot log in to cloud %s",
					cli->cloud.value);
		}
	}
	r = 0;
	if (!url)
		r = cli_error("cloud %s names no image endpoint (image_endpoint_override)",
			      cli->cloud.value);
	if (!r && cli->url.source != CLI_SRC_FLAG)
		r = setting_set(&cli->url, url, CLI_SRC_FILE, cli->cloud_file);
	if (!r && token[0] && cli->token.source != CLI_SRC_FLAG)
		r = setting_set(&cli->token, token, CLI_SRC_FILE, cli->cloud_file);
	if (!r && cloud->cacert && cli->cacert.source != CLI_SRC_FLAG)
		r = setting_set(&cli->cacert, cloud->cacert, CLI_SRC_FILE, cli->cloud_file);
	if (cloud->insecure)
		cli->insecure = true;
	explicit_bzero(token, sizeof(token));
	rain_cloud_free(cloud);
	return r;
}

int cli_config_load(struct cli *cli)
{
	static const char *const url_env[] = { "RAIN_URL", "OS_IMAGE_URL", NULL };
	static const char *const token_env[] = { "RAIN_TOKEN", "OS_AUTH_TOKEN", NULL };
	static const char *const cacert_env[] = { "RAIN_CACERT", "OS_CACERT", NULL };
	int rc;

	static const char *const cloud_env[] = { "OS_CLOUD", NULL };

	if (cli->config_loaded)
		return 0;
	cli->config_loaded = true;
	if ((rc = from_env(&cli->url, url_env)) || (rc = from_env(&cli->token, token_env)) ||
	    (rc = from_env(&cli->cacert, cacert_env)))
		return rc;
	/* OS_CLOUD only when rain's own settings do not say where to go:
	 * --os-cloud always */
	if (cli->cloud.source != CLI_SRC_FLAG && cli->url.source < CLI_SRC_ENV &&
	    cli->token.source < CLI_SRC_ENV && (rc = from_env(&cli->cloud, cloud_env)))
		return rc;
	if (cli->cloud.value)
		return load_cloud(cli);
	rc = load_file(cli);
	if (rc)
		return rc;
	if (!cli->url.value)
		return setting_set(&cli->url, DEFAULT_URL, CLI_SRC_DEFAULT, "default");
	return 0;
}

int cli_client(struct cli *cli, struct rain_client **out)
{
	struct rain_client_config cfg = { 0 };
	int r;

	if (cli->client) {
		*out = cli->client;
		return 0;
	}
	r = cli_config_load(cli);
	if (r)
		return r;
	cfg.url = cli->url.value;
	cfg.token = cli->token.value;
	cfg.cacert = cli->cacert.value;
	cfg.insecure = cli->insecure;
	if (cfg.cacert && access(cfg.cacert, R_OK) < 0)
		return cli_error("cannot read the CA file %s: %s; fix --cacert, RAIN_CACERT "
				 "or the config file", cfg.cacert, strerror(errno));
	r = rain_client_new(&cfg, &cli->client);
	if (r < 0)
		return cli_fail(cli, r, "fix the settings (see 'rain config show')",
				"cannot set up the client");
	*out = cli->client;
	return 0;
}
