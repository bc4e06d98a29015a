/* Who may do what: the one table of raind's access rules. Every route names
 * its action (daemon/http.h); http.c checks the actions whose resource the
 * path names (users, the audit log, creating things) before the handler
 * runs, repo.c checks image actions when it loads the image, and the build
 * service checks build actions when it finds the build. The catalog's list
 * query shows what SHOW allows.
 *
 * Images ("member": of a shared image; "others": anyone else, for a public
 * or community image):
 *   action         admin   owner   member  others
 *   show           yes     yes     yes     yes
 *   download       yes     yes     yes     yes (deactivated: admins only)
 *   modify         yes     yes     403     403 (name, properties, visibility, ...)
 *   publicize      yes     403     403     403 (make an image public)
 *   tag            yes     yes     403     403
 *   upload         yes     yes     403     403
 *   delete         yes     yes     403     403 (protected images: nobody)
 *   deactivate     yes     yes     403     403 (and reactivate)
 *   share          yes     yes     403     403 (add, remove, list all members)
 *   answer         403     403     yes     403 (accept, reject: one's own membership)
 *   history        yes     yes     403     403 (the image's use and changes)
 *   give           yes     403     403     403 (change the owner)
 * Anyone else and a private image, or a shared one they are no member of:
 * 404, as if it did not exist, so that its existence is not leaked. A
 * member sees a shared image whatever their answer; lists show it only
 * once accepted.
 *
 * Everything else ("owner": of the build; for a user account, that user):
 *   action         admin   owner   others
 *   public         yes     yes     yes (also without a token: versions, login)
 *   any-user       yes     yes     yes (list and create images, usage, tokens)
 *   token-check    yes     yes     404 (validate, revoke: one's own tokens)
 *   build-submit   yes     yes     yes
 *   build-show     yes     yes     404 (record, log, list shows only these)
 *   build-cancel   yes     yes     404
 *   build-delete   yes     yes     404
 *   job-show       yes     yes     404 (a job of any kind: GET /rain/v1/jobs)
 *   user-list      yes     -       403
 *   identity-list  yes     yes     yes (Keystone's /v3/users and /v3/projects:
 *                                   the caller's own, all for admins, and
 *                                   any one by its exact name= for sharing)
 *   user-create    yes     -       403
 *   user-show      yes     yes     403
 *   project-show   yes     yes     403 (a user's own project, named as the user)
 *   user-modify    yes     403     403 (role, status, quotas)
 *   user-password  yes     yes     403 (one's own password)
 *   user-delete    yes     403     403
 *   user-history   yes     yes     403
 *   audit-read     yes     -       403
 * Every action but public needs a valid token of an active user (401).
 */
#ifndef RAIN_POLICY_H
#define RAIN_POLICY_H

#include "rain/catalog.h"
#include "rain/image.h"
#include "rain/repo.h"

enum rain_action {
	/* on an image: rain_policy_check() */
	RAIN_ACT_SHOW,
	RAIN_ACT_DOWNLOAD,
	RAIN_ACT_MODIFY,
	RAIN_ACT_PUBLICIZE,
	RAIN_ACT_TAG,
	RAIN_ACT_UPLOAD,
	RAIN_ACT_DELETE,
	RAIN_ACT_DEACTIVATE,
	RAIN_ACT_SHARE,
	RAIN_ACT_ANSWER,
	RAIN_ACT_HISTORY,
	RAIN_ACT_GIVE,
	/* on anything else: rain_policy_check_owned() */
	RAIN_ACT_PUBLIC,
	RAIN_ACT_ANY_USER,
	RAIN_ACT_TOKEN_CHECK,
	RAIN_ACT_BUILD_SUBMIT,
	RAIN_ACT_BUILD_SHOW,
	RAIN_ACT_BUILD_CANCEL,
	RAIN_ACT_BUILD_DELETE,
	RAIN_ACT_JOB_SHOW,
	RAIN_ACT_USER_LIST,
	RAIN_ACT_IDENTITY_LIST,
	RAIN_ACT_USER_CREATE,
	RAIN_ACT_USER_SHOW,
	RAIN_ACT_PROJECT_SHOW,
	RAIN_ACT_USER_MODIFY,
	RAIN_ACT_USER_PASSWORD,
	RAIN_ACT_USER_DELETE,
	RAIN_ACT_USER_HISTORY,
	RAIN_ACT_AUDIT_READ,
	RAIN_ACT_VET_FEED,          /* replace the vulnerability feed (admins) */
};

/* What an action applies to: an image, a build (found by the build
 * service), a token (found by the identity API), a user named by the
 * path's first segment, or nothing in particular (http.c checks the last
 * two itself). */
enum rain_resource {
	RAIN_RES_IMAGE,
	RAIN_RES_BUILD,
	RAIN_RES_TOKEN,
	RAIN_RES_USER,
	RAIN_RES_NONE,
};

enum rain_resource rain_policy_resource(enum rain_action action);

/* 0 when who may do action to img; RAIN_ENOTFOUND when who may not even
 * see it; RAIN_EFORBIDDEN with Glance's message otherwise. member: who's
 * membership of img, or NULL. */
int rain_policy_check(const struct rain_who *who, const struct rain_image *img,
		      const struct rain_member *member, enum rain_action action);

/* The same for the other actions. owner: the build's owner, the user
 * account's name, or NULL (nobody owns the audit log or the user list);
 * id names the thing in a 404's message. Returns 0, RAIN_ENOTFOUND
 * (builds) or RAIN_EFORBIDDEN, with a message. */
int rain_policy_check_owned(const struct rain_who *who, const char *owner, const char *id,
			    enum rain_action action);

#endif
