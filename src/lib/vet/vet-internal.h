/* Inside vetting's run (vet.c, policy.c, report.c, rules-*.c): the rules'
 * table, the policy's fields, the run's context and how rules add
 * findings. Used by src/lib/vet only.
 *
 * A run reads the facts first (each group of rules reads the few whole
 * files it needs: the package database, passwd, sshd_config, ...), then
 * walks the tree once: for each entry every group is asked how much of
 * a regular file's content it wants and whether it wants its MD5, the
 * content is read once and handed to them in chunks, then each group sees
 * the entry. After the walk each group finishes (what needs the whole
 * tree: missing files, sshd's Include globs, enabled services).
 *
 * The walk (vet-walk.c) reads on a thread of its own while the calling
 * thread runs the groups' data and entry callbacks, in the walk's order;
 * want and md5 are called on the reading thread, and may only read the
 * facts (which do not change during the walk) and the entry.
 */
#ifndef RAIN_VET_INTERNAL_H
#define RAIN_VET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/imgfs.h"
#include "rain/pkg.h"
#include "rain/vet.h"
#include "lib/vet/vet-map.h"

enum vet_rule {
	VET_VULNERABLE_PACKAGE,
	VET_UNFIXED_VULNERABILITY,
	VET_UNSUPPORTED_PACKAGE,
	VET_MODIFIED_FILE,
	VET_UNOWNED_FILE,
	VET_SETUID_FILE,
	VET_WORLD_WRITABLE,
	VET_EMPTY_PASSWORD,
	VET_ROOT_PASSWORD_LOGIN,
	VET_UNEXPECTED_AUTHORIZED_KEY,
	VET_PRIVATE_KEY,
	VET_SSH_HOST_KEY,
	VET_SSHD_SETTING,
	VET_UNSAFE_SERVICE,
	VET_KERNEL_NOT_ALLOWED,
	VET_RULE_COUNT
};

/* The rules by enum vet_rule: stable names (policies and reports). */
extern const char *const vet_rule_names[VET_RULE_COUNT];
/* The rule called name, or -1. */
int vet_rule_lookup(const char *name);
/* A name the runtime check may use: "runtime-" and [a-z0-9-]. */
bool vet_rule_is_runtime(const char *name);

/* An action of a policy's rule that is not set: by severity (below). */
#define VET_ACTION_AUTO (-1)

struct vet_rule_action {
	char *rule;             /* a runtime-* rule */
	enum rain_vet_action action;
};

struct rain_vet_policy {
	char *name;
	/* per rule: VET_ACTION_AUTO or an enum rain_vet_action */
	int action[VET_RULE_COUNT];
	struct vet_rule_action *runtime;   /* runtime-* rules set */
	size_t n_runtime;
	/* findings of a rule left AUTO: fail from here on, warn from low,
	 * ignore info */
	enum rain_vet_severity fail_severity;
	char **allowed_kernels; /* globs; none: any kernel */
	size_t n_allowed_kernels;
	char **allowed_setuid;  /* globs of image paths */
	size_t n_allowed_setuid;
	char **unsafe_services; /* globs of unit, inetd service or package names */
	size_t n_unsafe_services;
	char **unowned_ignore;  /* globs of paths unowned-file passes over */
	size_t n_unowned_ignore;
	int64_t max_feed_age;   /* days; 0: any age */
};

/* True when path matches one of the globs (fnmatch, '*' crossing '/'). */
bool vet_glob_any(char *const *globs, size_t n, const char *path);

struct vet_ctx;

/* A group of rules (one rules-*.c). Every callback may be NULL; the
 * negative code of any stops the run. */
struct vet_group {
	const char *name;
	/* read the facts (whole files) before the walk */
	int (*facts)(struct vet_ctx *c);
	/* bytes of a regular file's content wanted (0: none, UINT64_MAX:
	 * all); on the reading thread: reads the facts only */
	uint64_t (*want)(const struct vet_ctx *c, const struct rain_imgfs_entry *e);
	/* whether the MD5 of a regular file's whole content is wanted (in
	 * cur_md5 for entry); on the reading thread, as want */
	bool (*md5)(const struct vet_ctx *c, const struct rain_imgfs_entry *e);
	/* the next chunk of the content, in order, up to what was wanted */
	int (*data)(struct vet_ctx *c, const struct rain_imgfs_entry *e, const void *buf, size_t n);
	/* the entry, after its content */
	int (*entry)(struct vet_ctx *c, const struct rain_imgfs_entry *e);
	/* after the walk */
	int (*finish)(struct vet_ctx *c);
	void (*free)(struct vet_ctx *c);
};

extern const struct vet_group vet_group_packages;
extern const struct vet_group vet_group_files;
extern const struct vet_group vet_group_accounts;
extern const struct vet_group vet_group_services;

/* One account of /etc/passwd, with its /etc/shadow hash. */
struct vet_account {
	char *name;
	char *password;         /* the passwd field ("x": see hash) */
	char *hash;             /* shadow's field; NULL: no shadow entry */
	uint32_t uid;
	char *home;
	char *shell;
};

struct vet_ctx {
	struct rain_imgfs *fs;
	const struct rain_vet_options *opts;
	const struct rain_vet_policy *policy;
	json_t *findings;
	size_t listed[VET_RULE_COUNT];
	json_t *omitted[VET_RULE_COUNT];   /* one finding that counts the rest */
	json_t *notes;          /* what could not be checked, and why */
	json_t *info;           /* more fields of the report ("kernels") */
	uint64_t entries;

	/* facts shared between groups */
	struct rain_pkg_list pkgs;
	bool have_dpkg;
	char *os_id, *os_version_id;
	struct vet_account *accounts;
	size_t n_accounts;
	/* path -> package name: files of the package database (paths as
	 * the image has them, through its directory links); the value is
	 * borrowed from pkgs or the groups' state */
	struct vet_map owned;
	/* the current entry, as the packages group saw it: owned by a
	 * package, and its content matches the package's checksum */
	const char *cur_package;
	bool cur_intact;
	/* the current entry: a regular file whose content was offered to
	 * the groups (it could be opened); its MD5 when a group asked for it
	 * and it could be computed (cur_md5_ok) */
	bool cur_read;
	bool cur_md5_ok;
	unsigned char cur_md5[16];
	/* link lookups of vet_resolve: path -> target ("" not a link) */
	struct vet_map links;
	/* a tar's files the facts read, kept by a first pass (vet.c) */
	struct vet_map prefetched;

	/* each group's own state */
	void *pk, *fi, *ac, *sv;
};

/* Add a finding of rule with severity; path and package may be NULL;
 * extra (may be NULL) is an object of more fields, stolen. Past a cap per
 * rule findings are counted in one last finding of the rule. 0 or
 * RAIN_ENOMEM. */
int vet_finding(struct vet_ctx *c, enum vet_rule rule, enum rain_vet_severity sev,
		const char *path, const char *package, json_t *extra, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* A note in the report: something a rule could not check. */
int vet_note(struct vet_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* path resolved inside the image: every component but the last (all of
 * them with last) that is a symbolic link replaced by its target, as the
 * image's own links say; absolute, normalized. Components that do not
 * exist are kept as they are. A new string in *out. RAIN_EFORMAT on a
 * loop (more than RAIN_IMGFS_MAX_LINKS links). */
int vet_resolve(struct vet_ctx *c, const char *path, bool last, char **out);

/* The walk over the tree with the groups (vet-walk.c): 0 or the first
 * error (the walk's, a read's or a group's). */
int vet_walk(struct vet_ctx *c, const struct vet_group *const *groups, size_t n_groups);

/* A file of the image, whole (links resolved inside it): 0 and a new
 * *text, RAIN_ENOTFOUND (also for what is not a regular file or is over
 * max bytes, which is noted in the report), or an error. */
int vet_read(struct vet_ctx *c, const char *path, size_t max, char **text, size_t *len);
/* qsort's comparison of strings (char *). */
int vet_strp_cmp(const void *a, const void *b);

/* What a policy does with a finding (policy.c). */
enum rain_vet_action vet_policy_action(const struct rain_vet_policy *p, const char *rule,
				       enum rain_vet_severity sev);
/* The built-in policy "default" (a static object). */
const struct rain_vet_policy *vet_policy_default(void);

/* Count a report's findings per severity and per action and set its
 * verdict (report.c). */
int vet_report_count(json_t *report);

#endif
