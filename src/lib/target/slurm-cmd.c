/* Slurm's commands as the slurm site driver and the slurm provider run
 * them; see target-internal.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/target/target-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/process.h"
#include "util/strutil.h"

extern char **environ;

#define OUTPUT_MAX 65536

struct collect {
	char *text;
	size_t len;
	bool oom;
};

static void collect_line(void *ud, const char *line)
{
	struct collect *c = ud;
	size_t n = strlen(line);
	char *p;

	if (c->oom || c->len + n + 1 > OUTPUT_MAX)
		return;
	if (!(p = realloc(c->text, c->len + n + 2))) {
		c->oom = true;
		return;
	}
	c->text = p;
	memcpy(c->text + c->len, line, n);
	c->len += n;
	c->text[c->len++] = '\n';
	c->text[c->len] = '\0';
}

int target_slurm_env(const struct rain_site *site, char ***out)
{
	const char *conf = rain_site_get(site, "slurm_conf");
	_cleanup_free_ char *kv = NULL;
	char **v = NULL;
	size_t n = 0;

	*out = NULL;
	if (!conf)
		return 0;
	if (asprintf(&kv, "SLURM_CONF=%s", conf) < 0 || strv_add(&v, &n, kv) < 0)
		goto oom;
	for (char **e = environ; e && *e; e++)
		if (!str_has_prefix(*e, "SLURM_CONF=") && strv_add(&v, &n, *e) < 0)
			goto oom;
	*out = v;
	return 0;
oom:
	strv_free(v, n);
	return rain_error_oom();
}

void target_slurm_env_free(char **env)
{
	size_t n = 0;

	if (!env)
		return;
	while (env[n])
		n++;
	strv_free(env, n);
}

int target_slurm_run(const struct rain_site *site, const char *const *argv, int timeout_s,
		     volatile sig_atomic_t *cancel, char **out, int *status)
{
	struct collect c = { 0 };
	char **env = NULL;
	int r;

	*out = NULL;
	*status = -1;
	if ((r = target_slurm_env(site, &env)) < 0)
		return r;
	{
		struct process_opts po = { .argv = argv, .envp = (const char *const *)env, .stdin_fd = -1,
					   .timeout_s = timeout_s, .cancel = cancel, .on_line = collect_line,
					   .ud = &c, .end_with_program = true };

		r = process_run(&po, status);
	}
	target_slurm_env_free(env);
	if (r >= 0 && c.oom)
		r = rain_error_oom();
	if (r == RAIN_ENOTFOUND)
		r = rain_error_set(RAIN_ENOTFOUND, "site %s: cannot run %s (%s): install Slurm's client "
				   "commands (Debian: slurm-client)", site->name, argv[0], rain_error_last());
	if (r < 0) {
		free(c.text);
		return r;
	}
	*out = c.text ? c.text : strdup("");
	return *out ? 0 : rain_error_oom();
}

const char *target_slurm_last_line(char *text)
{
	size_t n = strlen(text);
	char *p;

	while (n && text[n - 1] == '\n')
		text[--n] = '\0';
	p = strrchr(text, '\n');
	return p ? p + 1 : text;
}
