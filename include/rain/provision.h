/* Provisioning ("raining"): instances started from a registration at a
 * site, a user's job run in them, and everything torn down again.
 *
 * A run takes what a registration made at a site (its state, as the site
 * driver saved it: rain/target.h) and asks the site's provider (the
 * driver of the same scheme, rain/sys/provider.h) for N instances of it.
 * Each instance is reached as the provider says: by ssh with the run's
 * own key pair (made for the run, given to the instances at boot, removed
 * with the run), or through the provider itself (a container, a batch
 * job). The steps:
 *
 *   rain_run_up      start the instances (each named in op->state first)
 *   rain_run_ready   wait until each answers (ssh), or its time limit
 *   rain_run_exec    run the job on the first instance or on each, its
 *                    output streamed line by line, its exit status back
 *   rain_run_fetch   copy named result files back
 *   rain_run_down    remove whatever op->state names
 *
 * The rule that keeps a site clean is the registration's: a provider
 * names every instance (domain, process, node claim, batch job) in
 * op->state, saved through op->save, BEFORE making it; rain_run_down,
 * given only the saved state, removes whatever may exist, however the run
 * ended (failure, cancel, kill -9 and a restart).
 *
 * op->state as providers fill it:
 *   { "instances": [ { "name": "rain-RUNID-1",
 *                      "ssh": { "host": "127.0.0.1", "port": 2201,
 *                               "user": "root",          (when reached by ssh)
 *                               "dir": "/scratch/x" },   (the job's folder;
 *                                                        default ~/rain-job)
 *                      "console": "PATH",                (its serial log, if any)
 *                      ...the provider's own fields } ],
 *     ...the provider's own fields }
 *
 * Functions return 0 or a negative RAIN_E* code with a message set
 * (rain/error.h); nothing prints.
 */
#ifndef RAIN_PROVISION_H
#define RAIN_PROVISION_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/target.h"

/* Exit codes of a run that has no exit status of the job, as `rain run`
 * returns them (timeout(1) and docker's conventions). */
#define RAIN_RUN_EXIT_TIMEOUT 124       /* the run's time limit (walltime) passed */
#define RAIN_RUN_EXIT_FAILED 125        /* rain failed before the job could end */
#define RAIN_RUN_EXIT_INTERRUPTED 130   /* canceled (Ctrl-C, rain stop) */

/* The most instances one run may ask for. */
#define RAIN_RUN_MAX_INSTANCES 64

/* One run at one site. The caller fills it; providers read it and change
 * state only through rain_target_state_set-like rain_run_state_set. */
struct rain_run_op {
	const struct rain_site *site;
	const char *run_id;             /* instances are named "rain-RUNID-K" */
	const char *workdir;            /* private (0700), the run's own: its key
					 * pair, known_hosts, consoles, seeds */
	json_t *registration;           /* the registration's state (read only):
					 * what its site driver made there */
	int n;                          /* instances asked for (1..MAX) */
	int ready_timeout_s;            /* for each instance to come up (0: 600) */
	const char *key_private;        /* the run's key pair (rain_run_keygen) */
	const char *key_public;         /* its public line ("ssh-ed25519 AAAA... rain-run-ID") */
	json_t *state;                  /* what exists for the run (an object) */
	int (*save)(void *ud, json_t *state);
	void (*log)(void *ud, enum rain_target_level level, const char *msg);
	void *ud;
	volatile sig_atomic_t *cancel;  /* non-zero: stop, return RAIN_ECANCELED */
	/* A folder of this host shared into each instance (for up; providers
	 * whose table has share; NULL: none): the user's work folder, mounted
	 * as the job folder's "work" when the instance is ready, read-only
	 * unless share_rw. */
	const char *share;
	bool share_rw;
};

/* Set state[key] = value (takes value's reference; NULL removes key) and
 * save. Call before creating what value names. */
int rain_run_state_set(struct rain_run_op *op, const char *key, json_t *value);
/* Append instance (takes its reference; it must have "name") to
 * state.instances, and its name and "ssh" to state.history (which down
 * leaves: the instances the run had), and save. */
int rain_run_instance_add(struct rain_run_op *op, json_t *instance);
/* Instance i of state.instances (borrowed), or NULL. */
json_t *rain_run_instance(const struct rain_run_op *op, size_t i);
size_t rain_run_instance_count(const struct rain_run_op *op);
void rain_run_log(struct rain_run_op *op, enum rain_target_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* RAIN_ECANCELED with a message when op->cancel is set, else 0. */
int rain_run_check_cancel(struct rain_run_op *op);

/* Make the run's key pair in dir: dir/key (0600) and dir/key.pub, an
 * ed25519 key without passphrase (ssh-keygen), its comment "rain-run-ID".
 * *pub (new) is the public line. */
int rain_run_keygen(const char *dir, const char *run_id, char **pub);

/* What to run. */
struct rain_run_job {
	const char *const *argv;        /* the command (NULL-terminated), or NULL */
	const char *script;             /* a local script file to copy in and run
					 * instead of argv; NULL: argv */
	bool each;                      /* on every instance (else the first) */
	int walltime_s;                 /* the job's time limit; 0: none */
	/* The paths rain_run_fetch will ask for after the job (NULL-terminated;
	 * NULL: none). Providers that can only reach the instances while the
	 * job holds them (slurm with node_exec) collect these then; their
	 * fetch returns only these. */
	const char *const *out;
	/* Each line of the job's output (stdout and stderr, in order per
	 * instance), without its newline; instance is its index. Called
	 * from one thread at a time. */
	void (*output)(void *ud, size_t instance, const char *line, size_t len);
	void *ud;
};

/* The steps (see above), through the site's provider. rain_run_up
 * refuses a site whose kind has no provider (RAIN_EINVAL naming the kinds
 * that have one) and a registration state the provider cannot start.
 * rain_run_ready: RAIN_ETIMEDOUT naming the instance and its console's
 * last lines when one does not answer within op->ready_timeout_s.
 * rain_run_exec: *status gets the job's exit status (the first failing
 * instance's with each; 128 + N for a signal), RAIN_RUN_EXIT_TIMEOUT
 * with RAIN_ETIMEDOUT after walltime; RAIN_EIO when an instance was lost
 * (its connection ended without an exit status).
 * rain_run_fetch copies each remote path (absolute, or relative to the
 * job's directory) from the first instance (each: from every one, into
 * dir/NAME/) into dir, refusing names that would leave dir.
 * rain_run_down removes what op->state names (what is gone already is not
 * an error) and clears it. */
int rain_run_up(struct rain_run_op *op);
int rain_run_ready(struct rain_run_op *op);
int rain_run_exec(struct rain_run_op *op, const struct rain_run_job *job, int *status);
int rain_run_fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir);
int rain_run_down(struct rain_run_op *op);
/* What the site says of the instances now (a new object). */
int rain_run_status(struct rain_run_op *op, json_t **out);

/* Whether the site's kind has a provider (runs can go there). */
bool rain_run_site_supported(const struct rain_site *site);
/* Whether its provider can share a folder of this host in (op->share). */
bool rain_run_site_shares(const struct rain_site *site);

#endif
