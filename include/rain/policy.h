/* Who may do what to an image: the one table of the repository's access
 * rules, enforced by repo.c for every endpoint (and by the catalog's list
 * query, which shows what SHOW allows).
 *
 *   action      admin   owner   member          anyone else
 *                               (shared image)  (public or community image)
 *   show        yes     yes     yes             yes
 *   download    yes     yes     yes             yes (deactivated: admins only)
 *   modify      yes     yes     403             403 (name, properties, visibility, ...)
 *   publicize   yes     403     403             403 (make an image public)
 *   tag         yes     yes     403             403
 *   upload      yes     yes     403             403
 *   delete      yes     yes     403             403 (protected images: nobody)
 *   deactivate  yes     yes     403             403 (and reactivate)
 *   share       yes     yes     403             403 (add, remove, list all members)
 *   answer      403     403     yes             403 (accept, reject: one's own membership)
 *
 * Anyone else and a private image, or a shared one they are no member of:
 * 404, as if it did not exist, so that its existence is not leaked. A
 * member sees a shared image whatever their answer; lists show it only
 * once accepted.
 */
#ifndef RAIN_POLICY_H
#define RAIN_POLICY_H

#include "rain/catalog.h"
#include "rain/image.h"
#include "rain/repo.h"

enum rain_action {
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
};

/* 0 when who may do action to img; RAIN_ENOTFOUND when who may not even
 * see it; RAIN_EFORBIDDEN with Glance's message otherwise. member: who's
 * membership of img, or NULL. */
int rain_policy_check(const struct rain_who *who, const struct rain_image *img,
		      const struct rain_member *member, enum rain_action action);

#endif
