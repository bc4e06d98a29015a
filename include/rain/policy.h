/* Who may do what to an image: the one table of the repository's access
 * rules, enforced by repo.c for every endpoint (and by the catalog's list
 * query, which shows what SHOW allows).
 *
 *   action      admin   owner   anyone else, when the image is public or community
 *   show        yes     yes     yes
 *   download    yes     yes     yes (not while deactivated: admins only)
 *   modify      yes     yes     403   (name, properties, visibility, ...)
 *   publicize   yes     403     403   (make an image public)
 *   tag         yes     yes     403
 *   upload      yes     yes     403
 *   delete      yes     yes     403   (protected images: nobody)
 *   deactivate  yes     yes     403   (and reactivate)
 *
 * Anyone else and a private or shared image: 404, as if it did not exist,
 * so that its existence is not leaked. (Shared images' accepted members
 * come with the members API.)
 */
#ifndef RAIN_POLICY_H
#define RAIN_POLICY_H

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
};

/* 0 when who may do action to img; RAIN_ENOTFOUND when who may not even
 * see it; RAIN_EFORBIDDEN with Glance's message otherwise. */
int rain_policy_check(const struct rain_who *who, const struct rain_image *img, enum rain_action action);

#endif
