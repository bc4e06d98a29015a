/* raind's access rules; see rain/policy.h. */
#include <string.h>

#include "rain/error.h"
#include "rain/policy.h"

enum {
	ADMIN = 1 << 0,
	OWNER = 1 << 1,
	MEMBER = 1 << 2,    /* of a shared image */
	OTHER = 1 << 3,     /* anyone else (who can see the image) */
	ANYONE = ADMIN | OWNER | MEMBER | OTHER,
};

static const struct rule {
	enum rain_resource res;
	unsigned int allowed;
	const char *denied;     /* the 403 message (Glance's, for images) */
} rules[] = {
	[RAIN_ACT_SHOW] = { RAIN_RES_IMAGE, ANYONE, "" },
	[RAIN_ACT_DOWNLOAD] = { RAIN_RES_IMAGE, ANYONE, "You are not authorized to download this image." },
	[RAIN_ACT_MODIFY] = { RAIN_RES_IMAGE, ADMIN | OWNER, "You are not authorized to modify this image." },
	[RAIN_ACT_PUBLICIZE] = { RAIN_RES_IMAGE, ADMIN, "You are not authorized to publicize images." },
	[RAIN_ACT_TAG] = { RAIN_RES_IMAGE, ADMIN | OWNER, "You are not authorized to tag this image." },
	[RAIN_ACT_UPLOAD] = { RAIN_RES_IMAGE, ADMIN | OWNER,
			      "You are not authorized to upload data to this image." },
	[RAIN_ACT_DELETE] = { RAIN_RES_IMAGE, ADMIN | OWNER, "You are not authorized to delete this image." },
	[RAIN_ACT_DEACTIVATE] = { RAIN_RES_IMAGE, ADMIN | OWNER,
				  "You are not authorized to deactivate or reactivate this image." },
	[RAIN_ACT_SHARE] = { RAIN_RES_IMAGE, ADMIN | OWNER, "You are not authorized to share this image." },
	[RAIN_ACT_ANSWER] = { RAIN_RES_IMAGE, MEMBER, "Only the member itself may accept or reject an image." },
	[RAIN_ACT_HISTORY] = { RAIN_RES_IMAGE, ADMIN | OWNER, "Only the owner and admins read an image's history." },
	[RAIN_ACT_GIVE] = { RAIN_RES_IMAGE, ADMIN, "You are not authorized to change the owner of this image." },
	[RAIN_ACT_PUBLIC] = { RAIN_RES_NONE, ANYONE, "" },
	[RAIN_ACT_ANY_USER] = { RAIN_RES_NONE, ANYONE, "" },
	[RAIN_ACT_TOKEN_CHECK] = { RAIN_RES_TOKEN, ADMIN | OWNER, "" },
	[RAIN_ACT_BUILD_SUBMIT] = { RAIN_RES_NONE, ANYONE, "" },
	[RAIN_ACT_BUILD_SHOW] = { RAIN_RES_BUILD, ADMIN | OWNER, "" },
	[RAIN_ACT_BUILD_CANCEL] = { RAIN_RES_BUILD, ADMIN | OWNER, "" },
	[RAIN_ACT_BUILD_DELETE] = { RAIN_RES_BUILD, ADMIN | OWNER, "" },
	[RAIN_ACT_JOB_SHOW] = { RAIN_RES_BUILD, ADMIN | OWNER, "" },
	[RAIN_ACT_USER_LIST] = { RAIN_RES_NONE, ADMIN, "Only admins list users." },
	[RAIN_ACT_IDENTITY_LIST] = { RAIN_RES_NONE, ANYONE, "" },
	[RAIN_ACT_USER_CREATE] = { RAIN_RES_NONE, ADMIN, "Only admins create users." },
	[RAIN_ACT_USER_SHOW] = { RAIN_RES_USER, ADMIN | OWNER, "Only the user and admins see an account." },
	[RAIN_ACT_PROJECT_SHOW] = { RAIN_RES_USER, ADMIN | OWNER,
				    "Only the project's members and admins see a project." },
	[RAIN_ACT_USER_MODIFY] = { RAIN_RES_USER, ADMIN,
				   "Only admins change a user's role, status and quotas." },
	[RAIN_ACT_USER_PASSWORD] = { RAIN_RES_USER, ADMIN | OWNER,
				     "Only the user and admins change a password." },
	[RAIN_ACT_USER_DELETE] = { RAIN_RES_USER, ADMIN, "Only admins delete users." },
	[RAIN_ACT_USER_HISTORY] = { RAIN_RES_USER, ADMIN | OWNER, "Only the user and admins read a user's history." },
	[RAIN_ACT_AUDIT_READ] = { RAIN_RES_NONE, ADMIN, "Only admins read the audit log." },
	[RAIN_ACT_VET_FEED] = { RAIN_RES_NONE, ADMIN, "Only admins replace the vulnerability feed." },
};

enum rain_resource rain_policy_resource(enum rain_action action)
{
	return rules[action].res;
}

int rain_policy_check(const struct rain_who *who, const struct rain_image *img,
		      const struct rain_member *member, enum rain_action action)
{
	unsigned int as;

	rain_error_clear();
	as = who->admin ? ADMIN :
		  (img->owner && who->owner && !strcmp(img->owner, who->owner)) ? OWNER :
		  (member && img->visibility == RAIN_VIS_SHARED) ? MEMBER : OTHER;
	if (rules[action].res != RAIN_RES_IMAGE)
		return rain_error_set(RAIN_EINVAL, "not an image action");
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

int rain_policy_check_owned(const struct rain_who *who, const char *owner, const char *id,
			    enum rain_action action)
{
	unsigned int as;

	rain_error_clear();
	as = who->admin ? ADMIN :
		  (owner && who->owner && !strcmp(owner, who->owner)) ? OWNER : OTHER;
	if (rules[action].res == RAIN_RES_IMAGE)
		return rain_error_set(RAIN_EINVAL, "an image action needs the image");
	if (rules[action].allowed & as)
		return 0;
	/* others' builds and tokens are hidden like others' private images */
	if (rules[action].res == RAIN_RES_BUILD)
		return rain_error_set(RAIN_ENOTFOUND, "no build %s", id ? id : "");
	if (rules[action].res == RAIN_RES_TOKEN)
		return rain_error_set(RAIN_ENOTFOUND, "Could not find token.");
	return rain_error_set(RAIN_EFORBIDDEN, "%s", rules[action].denied);
}
