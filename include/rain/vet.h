/* Vetting: decide whether an image is safe to register, by reading it
 * (rain/imgfs.h: never mounted, nothing in it run) and checking it
 * against a policy.
 *
 * Every check is a named rule with a severity; all of them run in one
 * walk over the tree, after a first look at the few files they need
 * whole (the package database, passwd and shadow, sshd_config, ...). A
 * policy says, per rule, whether a finding fails the image, warns or is
 * ignored, the severity from which vulnerabilities fail, the kernels and
 * setuid files allowed. The report is JSON (the format is in raind(8) and
 * rain-vet(1)), with a readable summary made from it.
 *
 * Rules (names are stable; they appear in policies and reports):
 *   vulnerable-package   an installed package is older than the feed's fix
 *   unfixed-vulnerability a vulnerability with no fix yet affects a package
 *   unsupported-package  past its security support (debian-security-support)
 *   modified-file        differs from its package's recorded checksum
 *   unowned-file         in a system path, owned by no package
 *   setuid-file          setuid/setgid and not on the policy's list
 *   world-writable       a file, or a directory without the sticky bit
 *   empty-password       an account that can log in without a password
 *   root-password-login  root has a password and sshd lets it log in with it
 *   unexpected-authorized-key  an authorized_keys entry the recipe did not declare
 *   private-key          a private key in the image
 *   ssh-host-key         ssh host keys baked into the image
 *   sshd-setting         PermitRootLogin yes, PasswordAuthentication yes, ...
 *   unsafe-service       telnetd, rsh, tftpd, ... installed and enabled
 *   kernel-not-allowed   the image's kernel is not on the policy's list
 *   runtime-listening    the runtime check (rain/vet-runtime.h) saw a socket
 *                        listening on an address other than loopback
 *   runtime-failed-unit  a unit failed while the image booted there
 *   runtime-kernel       the kernel that ran is not on the policy's list
 *
 * Functions return 0 or a negative RAIN_E* code with a message set.
 */
#ifndef RAIN_VET_H
#define RAIN_VET_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/imgfs.h"

struct rain_vet_policy;
struct rain_vet_feed;          /* rain/vet-feed.h */

enum rain_vet_severity {
	RAIN_VET_INFO,
	RAIN_VET_LOW,
	RAIN_VET_MEDIUM,
	RAIN_VET_HIGH,
	RAIN_VET_CRITICAL,
};
const char *rain_vet_severity_name(enum rain_vet_severity s);
int rain_vet_severity_parse(const char *s, enum rain_vet_severity *out);

/* What a policy does with a rule's findings. */
enum rain_vet_action { RAIN_VET_IGNORE, RAIN_VET_WARN, RAIN_VET_FAIL };
const char *rain_vet_action_name(enum rain_vet_action a);

/* The verdict: passed (no finding that fails, none that warns), warned
 * (findings that warn only) or failed. */
enum rain_vet_verdict { RAIN_VET_PASSED, RAIN_VET_WARNED, RAIN_VET_FAILED };
const char *rain_vet_verdict_name(enum rain_vet_verdict v);

/* A new policy called name (1 to 64 of letters, digits, '.', '_', '-'),
 * holding the values of the built-in policy "default": every rule acts
 * by the severity of each finding (from fail_severity, high, on it fails,
 * from low on it warns, info is listed and ignored) but
 * unfixed-vulnerability, which warns (a rebuild cannot fix it); the
 * severity of a vulnerability is its urgency (not yet assigned: medium,
 * unimportant: info); allowed_setuid holds the setuid/setgid programs
 * of Debian's and Fedora's base systems,
 * unsafe_services telnet, r-services, tftp, finger, talk and NIS
 * daemons, allowed_kernels nothing (any kernel), max_feed_age 0 (any).
 * Free with rain_vet_policy_free(). */
int rain_vet_policy_new(const char *name, struct rain_vet_policy **out);
/* Set one key of a policy, as a config file section [vet.policy.NAME] or
 * `rain vet --set KEY=VALUE` gives it: RULE = fail|warn|ignore|auto
 * (RULE: a rule's name, or runtime-NAME), fail_severity =
 * low|medium|high|critical (findings of rules left auto fail from there
 * on, warn below), allowed_kernels = GLOB..., allowed_setuid = PATH...,
 * unsafe_services = NAME..., unowned_ignore = PATH... (lists: blanks or
 * commas between globs; a first word "+" adds to the list instead of
 * replacing it; empty: an empty list), max_feed_age = DAYS (0: any age).
 * RAIN_EINVAL naming the key and what it takes; p is then unchanged. */
int rain_vet_policy_set(struct rain_vet_policy *p, const char *key, const char *value);
/* What p (NULL: "default") does with a finding of rule (any name, the
 * runtime check's too) of severity sev. */
enum rain_vet_action rain_vet_policy_action(const struct rain_vet_policy *p, const char *rule,
					    enum rain_vet_severity sev);
const char *rain_vet_policy_name(const struct rain_vet_policy *p);
/* The policy as JSON (for reports). */
json_t *rain_vet_policy_json(const struct rain_vet_policy *p);
void rain_vet_policy_free(struct rain_vet_policy *p);

struct rain_vet_options {
	const struct rain_vet_policy *policy;     /* NULL: "default" */
	const struct rain_vet_feed *feed;         /* NULL: no vulnerability rules
						   * (the report says so) */
	/* ssh public keys the recipe declared (authorized_keys lines), NULL
	 * terminated; NULL: none declared. */
	const char *const *declared_keys;
	/* The build's manifest (rain/build.h), when the image is a build's:
	 * its package list is compared with the image's database (a package
	 * changed since the build is noted) and used when the image has no
	 * database. May be NULL. */
	const json_t *manifest;
	/* Where the lists of debian-security-support are (NULL: the host's
	 * /usr/share/debian-security-support, when there). */
	const char *security_support_dir;
	volatile int *cancel;                     /* may be NULL */
	/* progress: called now and then with entries walked so far. */
	void (*progress)(void *ud, uint64_t entries);
	void *progress_ud;
	/* Read the image on the calling thread too (by default a thread of
	 * the run's own reads it while the calling thread checks, and both
	 * compute the files' checksums): the same report, for a caller
	 * that must not start a thread. */
	bool one_thread;
};

/* Vet the tree of fs. *report (a new object) holds: the image's format
 * and detail, the policy (as JSON), the feed (null, or its name: where it
 * came from, kind, release, date as ISO 8601, age_days), the
 * packages (count, family), the findings (rule, severity, action, path
 * or package, message, and for vulnerabilities cve, package, source,
 * installed, fixed, urgency), counts per severity and per action, the
 * verdict, and the time taken; also os (id, version_id), packages_from
 * ("dpkg status", "dpkg status (as the build manifest)", the path of an
 * rpm image's rpmdb.sqlite, or "manifest" when the image has no package
 * database), kernels (version, path), notes (what could not be checked, and why) and
 * entries (walked). A finding's "count", when there, stands for that
 * many findings of its rule not listed (past 200 per rule). The opts'
 * feed is sorted on its first use (rain/vet-feed.h): share a feed
 * between threads only once it has been matched or sorted. fs is read
 * by a thread of the run's own during the walk (not with one_thread),
 * with every signal blocked; the callbacks of opts (progress) are called
 * on the calling thread. */
int rain_vet_run(struct rain_imgfs *fs, const struct rain_vet_options *opts, json_t **report);
/* Add a finding to a report made by rain_vet_run (the runtime check's):
 * finding (stolen) holds at least "rule", "severity" (a name) and
 * "message"; its action comes from policy p (NULL: "default"), and the
 * report's counts and verdict are made again. RAIN_EINVAL for a finding
 * without those. */
int rain_vet_report_add(json_t *report, const struct rain_vet_policy *p, json_t *finding);
/* The verdict of a report; RAIN_EFORMAT when it has none. */
int rain_vet_report_verdict(const json_t *report, enum rain_vet_verdict *out);
/* A readable summary of a report (a new string): verdict, counts per
 * severity, then the findings that fail and warn, one per line. */
int rain_vet_report_text(const json_t *report, char **out);

#endif
