/* Slurm's commands as the slurm site driver and the slurm provider run
 * them; see target-internal.h. */
#include "lib/target/target-internal.h"
#include "rain/error.h"
#include "util/slurm.h"

int target_slurm_run(const struct rain_site *site, const char *const *argv, int timeout_s,
		     volatile sig_atomic_t *cancel, char **out, int *status)
{
	int r = slurm_cmd_run(rain_site_get(site, "slurm_conf"), argv, NULL, timeout_s, cancel, out,
			      status);

	if (r == RAIN_ENOTFOUND)
		r = rain_error_set(RAIN_ENOTFOUND, "site %s: cannot run %s (%s): install Slurm's client "
				   "commands (Debian: slurm-client)", site->name, argv[0], rain_error_last());
	return r;
}

const char *target_slurm_last_line(char *text)
{
	return slurm_last_line(text);
}
