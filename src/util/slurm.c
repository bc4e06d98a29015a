/* Slurm's client commands; see slurm.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "util/process.h"
#include "util/slurm.h"
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

/* Whether entry ("NAME=...") sets a variable that extra sets too. */
static bool overridden(const char *entry, const char *const *extra)
{
	size_t n = strcspn(entry, "=");

	for (size_t i = 0; extra && extra[i]; i++)
		if (!strncmp(entry, extra[i], n) && extra[i][n] == '=')
			return true;
	return false;
}

int slurm_cmd_run(const char *conf, const char *const *argv, const char *const *extra,
		  int timeout_s, volatile sig_atomic_t *cancel, char **out, int *status)
{
	const char *more[2] = { NULL, NULL };
	char *confvar = NULL;
	const char **env = NULL;
	struct collect c = { 0 };
	size_t n = 0, k = 0;
	int r;

	*out = NULL;
	*status = -1;
	if (conf && asprintf(&confvar, "SLURM_CONF=%s", conf) < 0)
		return rain_error_oom();
	more[0] = confvar;
	for (char **e = environ; e && *e; e++)
		n++;
	for (size_t i = 0; extra && extra[i]; i++)
		n++;
	if (!(env = calloc(n + 2, sizeof(*env)))) {
		free(confvar);
		return rain_error_oom();
	}
	for (char **e = environ; e && *e; e++)
		if (!overridden(*e, extra) && !overridden(*e, more))
			env[k++] = *e;
	for (size_t i = 0; extra && extra[i]; i++)
		env[k++] = extra[i];
	if (confvar)
		env[k++] = confvar;
	{
		struct process_opts po = { .argv = argv, .envp = env, .stdin_fd = -1,
					   .timeout_s = timeout_s, .cancel = cancel,
					   .on_line = collect_line, .ud = &c,
					   .end_with_program = true };

		r = process_run(&po, status);
	}
	free(env);
	free(confvar);
	if (r >= 0 && c.oom)
		r = rain_error_oom();
	if (r < 0) {
		free(c.text);
		return r;
	}
	*out = c.text ? c.text : strdup("");
	return *out ? 0 : rain_error_oom();
}

const char *slurm_last_line(char *text)
{
	size_t n = strlen(text);
	char *p;

	while (n && text[n - 1] == '\n')
		text[--n] = '\0';
	p = strrchr(text, '\n');
	return p ? p + 1 : text;
}

int slurm_job_parse(char *text, struct slurm_job *ji)
{
	char *save = NULL;

	memset(ji, 0, sizeof(*ji));
	/* key=value words; Reason's value has no blanks, Command's may */
	for (char *w = strtok_r(text, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		if (str_has_prefix(w, "JobState="))
			snprintf(ji->state, sizeof(ji->state), "%s", w + 9);
		else if (str_has_prefix(w, "Reason="))
			snprintf(ji->reason, sizeof(ji->reason), "%s", w + 7);
		else if (str_has_prefix(w, "NodeList="))
			snprintf(ji->nodes, sizeof(ji->nodes), "%s", w + 9);
		else if (str_has_prefix(w, "ExitCode="))
			sscanf(w + 9, "%d:%d", &ji->exit_code, &ji->exit_signal);
	}
	return ji->state[0] ? 0 : -1;
}

bool slurm_job_ended(const struct slurm_job *ji)
{
	static const char *const ended[] = { "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED",
					     "NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
					     "DEADLINE", NULL };

	return ji->gone || str_in_list(ended, ji->state);
}
