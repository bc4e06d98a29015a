/* The repository's access rules; see rain/policy.h. */
#include <string.h>

#include "rain/error.h"
#include "rain/policy.h"

enum {
	ADMIN = 1 << 0,
	OWNER = 1 << 1,
	MEMBER = 1 << 2,    /* of a shared image */
	OTHER = 1 << 3,     /* anyone else who can see the image */
};

static const struct rule {
	const char *denied;     /* Glance's 403 message */
	unsigned int allowed;
} rules[] = {
	[RAIN_ACT_SHOW] = { "", ADMIN | OWNER | MEMBER | OTHER },
	[RAIN_ACT_DOWNLOAD] = { "You are not authorized to download this image.",
				ADMIN | OWNER | MEMBER | OTHER },
	[RAIN_ACT_MODIFY] = { "You are not authorized to modify this image.", ADMIN | OWNER },
	[RAIN_ACT_PUBLICIZE] = { "You are not authorized to publicize images.", ADMIN },
	[RAIN_ACT_TAG] = { "You are not authorized to tag this image.", ADMIN | OWNER },
	[RAIN_ACT_UPLOAD] = { "You are not authorized to upload data to this image.", ADMIN | OWNER },
	[RAIN_ACT_DELETE] = { "You are not authorized to delete this image.", ADMIN | OWNER },
	[RAIN_ACT_DEACTIVATE] = { "You are not authorized to deactivate or reactivate this image.",
				  ADMIN | OWNER },
	[RAIN_ACT_SHARE] = { "You are not authorized to share this image.", ADMIN | OWNER },
	[RAIN_ACT_ANSWER] = { "Only the member itself may accept or reject an image.", MEMBER },
};

int rain_policy_check(const struct rain_who *who, const struct rain_image *img,
		      const struct rain_member *member, enum rain_action action)
{
	unsigned int as = who->admin ? ADMIN :
			  (img->owner && who->owner && !strcmp(img->owner, who->owner)) ? OWNER :
			  (member && img->visibility == RAIN_VIS_SHARED) ? MEMBER : OTHER;

	/* an admin answers for nobody: membership is a user's own */
	if (action == RAIN_ACT_ANSWER && member && img->visibility == RAIN_VIS_SHARED)
		as = MEMBER;
	if (as == OTHER && img->visibility != RAIN_VIS_PUBLIC && img->visibility != RAIN_VIS_COMMUNITY)
		return rain_error_set(RAIN_ENOTFOUND, "No image found with ID %s", img->id);
	if (action == RAIN_ACT_DOWNLOAD && img->status == RAIN_STATUS_DEACTIVATED && as != ADMIN)
		return rain_error_set(RAIN_EFORBIDDEN,
				      "The requested image has been deactivated. Image data download is forbidden.");
	if (!(rules[action].allowed & as))
		return rain_error_set(RAIN_EFORBIDDEN, "%s", rules[action].denied);
	return 0;
}
