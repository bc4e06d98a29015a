/* The access rules of rain/policy.h, case by case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "rain/error.h"
#include "rain/policy.h"

static const struct rain_who alice = { .owner = "alice", .admin = false };
static const struct rain_who bob = { .owner = "bob", .admin = false };
static const struct rain_who root = { .owner = "root", .admin = true };

static int check(const struct rain_who *who, enum rain_visibility vis, enum rain_image_status status,
		 enum rain_action action)
{
	struct rain_image img;

	memset(&img, 0, sizeof(img));
	strcpy(img.id, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f");
	img.owner = (char *)"alice";
	img.visibility = vis;
	img.status = status;
	return rain_policy_check(who, &img, NULL, action);
}

static void test_private_and_shared_are_hidden(void **state)
{
	for (enum rain_visibility v = RAIN_VIS_PRIVATE; v <= RAIN_VIS_SHARED; v++)
		for (enum rain_action a = RAIN_ACT_SHOW; a <= RAIN_ACT_SHARE; a++) {
			assert_int_equal(check(&bob, v, RAIN_STATUS_ACTIVE, a), RAIN_ENOTFOUND);
			if (a != RAIN_ACT_PUBLICIZE)
				assert_int_equal(check(&alice, v, RAIN_STATUS_ACTIVE, a), 0);
			assert_int_equal(check(&root, v, RAIN_STATUS_ACTIVE, a), 0);
		}
}

static void test_public_is_read_only_for_others(void **state)
{
	for (enum rain_visibility v = RAIN_VIS_COMMUNITY; v <= RAIN_VIS_PUBLIC; v++) {
		assert_int_equal(check(&bob, v, RAIN_STATUS_ACTIVE, RAIN_ACT_SHOW), 0);
		assert_int_equal(check(&bob, v, RAIN_STATUS_ACTIVE, RAIN_ACT_DOWNLOAD), 0);
		for (enum rain_action a = RAIN_ACT_MODIFY; a <= RAIN_ACT_SHARE; a++)
			assert_int_equal(check(&bob, v, RAIN_STATUS_ACTIVE, a), RAIN_EFORBIDDEN);
	}
}

static void test_publicize_and_deactivated(void **state)
{
	assert_int_equal(check(&alice, RAIN_VIS_PRIVATE, RAIN_STATUS_ACTIVE, RAIN_ACT_PUBLICIZE), RAIN_EFORBIDDEN);
	assert_non_null(strstr(rain_error_last(), "publicize"));
	assert_int_equal(check(&root, RAIN_VIS_PRIVATE, RAIN_STATUS_ACTIVE, RAIN_ACT_PUBLICIZE), 0);
	/* only admins give images away */
	assert_int_equal(check(&alice, RAIN_VIS_PRIVATE, RAIN_STATUS_ACTIVE, RAIN_ACT_GIVE), RAIN_EFORBIDDEN);
	assert_int_equal(check(&root, RAIN_VIS_PRIVATE, RAIN_STATUS_ACTIVE, RAIN_ACT_GIVE), 0);
	assert_int_equal(check(&alice, RAIN_VIS_PRIVATE, RAIN_STATUS_DEACTIVATED, RAIN_ACT_DOWNLOAD),
			 RAIN_EFORBIDDEN);
	assert_int_equal(check(&bob, RAIN_VIS_PUBLIC, RAIN_STATUS_DEACTIVATED, RAIN_ACT_DOWNLOAD),
			 RAIN_EFORBIDDEN);
	assert_int_equal(check(&root, RAIN_VIS_PRIVATE, RAIN_STATUS_DEACTIVATED, RAIN_ACT_DOWNLOAD), 0);
	/* a hidden image stays hidden whatever its status */
	assert_int_equal(check(&bob, RAIN_VIS_PRIVATE, RAIN_STATUS_DEACTIVATED, RAIN_ACT_DOWNLOAD),
			 RAIN_ENOTFOUND);
}

static void test_members(void **state)
{
	struct rain_image img;
	struct rain_member m = { .status = RAIN_MEMBER_PENDING };

	memset(&img, 0, sizeof(img));
	strcpy(img.id, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f");
	img.owner = (char *)"alice";
	img.visibility = RAIN_VIS_SHARED;
	img.status = RAIN_STATUS_ACTIVE;
	strcpy(m.member, "bob");
	/* a member, whatever its answer, sees and downloads; nothing more */
	for (m.status = RAIN_MEMBER_PENDING; m.status <= RAIN_MEMBER_REJECTED; m.status++) {
		assert_int_equal(rain_policy_check(&bob, &img, &m, RAIN_ACT_SHOW), 0);
		assert_int_equal(rain_policy_check(&bob, &img, &m, RAIN_ACT_DOWNLOAD), 0);
		assert_int_equal(rain_policy_check(&bob, &img, &m, RAIN_ACT_ANSWER), 0);
		assert_int_equal(rain_policy_check(&bob, &img, &m, RAIN_ACT_MODIFY), RAIN_EFORBIDDEN);
		assert_int_equal(rain_policy_check(&bob, &img, &m, RAIN_ACT_SHARE), RAIN_EFORBIDDEN);
	}
	/* no member: not there at all; the owner may share but not answer */
	assert_int_equal(rain_policy_check(&bob, &img, NULL, RAIN_ACT_SHOW), RAIN_ENOTFOUND);
	assert_int_equal(rain_policy_check(&alice, &img, NULL, RAIN_ACT_SHARE), 0);
	assert_int_equal(rain_policy_check(&alice, &img, NULL, RAIN_ACT_ANSWER), RAIN_EFORBIDDEN);
	/* a membership of an image that is no longer shared counts for nothing */
	img.visibility = RAIN_VIS_PRIVATE;
	assert_int_equal(rain_policy_check(&bob, &img, &m, RAIN_ACT_SHOW), RAIN_ENOTFOUND);
}

/* The second half of rain/policy.h's table, row by row: what alice may do
 * to her own account or build (owner), bob to it (other), root (admin). */
static void test_owned(void **state)
{
	static const struct {
		enum rain_action action;
		int owner, other;     /* the admin may do everything */
	} rows[] = {
		{ RAIN_ACT_PUBLIC, 0, 0 },
		{ RAIN_ACT_ANY_USER, 0, 0 },
		{ RAIN_ACT_TOKEN_CHECK, 0, RAIN_ENOTFOUND },
		{ RAIN_ACT_BUILD_SUBMIT, 0, 0 },
		{ RAIN_ACT_BUILD_SHOW, 0, RAIN_ENOTFOUND },
		{ RAIN_ACT_BUILD_CANCEL, 0, RAIN_ENOTFOUND },
		{ RAIN_ACT_BUILD_DELETE, 0, RAIN_ENOTFOUND },
		{ RAIN_ACT_JOB_SHOW, 0, RAIN_ENOTFOUND },
		{ RAIN_ACT_USER_LIST, RAIN_EFORBIDDEN, RAIN_EFORBIDDEN },
		{ RAIN_ACT_IDENTITY_LIST, 0, 0 },
		{ RAIN_ACT_USER_CREATE, RAIN_EFORBIDDEN, RAIN_EFORBIDDEN },
		{ RAIN_ACT_USER_SHOW, 0, RAIN_EFORBIDDEN },
		{ RAIN_ACT_PROJECT_SHOW, 0, RAIN_EFORBIDDEN },
		{ RAIN_ACT_USER_MODIFY, RAIN_EFORBIDDEN, RAIN_EFORBIDDEN },
		{ RAIN_ACT_USER_PASSWORD, 0, RAIN_EFORBIDDEN },
		{ RAIN_ACT_USER_DELETE, RAIN_EFORBIDDEN, RAIN_EFORBIDDEN },
		{ RAIN_ACT_USER_HISTORY, 0, RAIN_EFORBIDDEN },
		{ RAIN_ACT_AUDIT_READ, RAIN_EFORBIDDEN, RAIN_EFORBIDDEN },
	};
	const char *id = "0b6cbc3e-0f7e-4a57-a3f4-3b8a4f1e9b21";

	assert_int_equal(sizeof(rows) / sizeof(*rows), RAIN_ACT_AUDIT_READ - RAIN_ACT_PUBLIC + 1);
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		enum rain_action a = rows[i].action;
		/* who owns the list of users or the audit log: nobody */
		const char *owner = a == RAIN_ACT_USER_LIST || a == RAIN_ACT_USER_CREATE ||
				    a == RAIN_ACT_AUDIT_READ ? NULL : "alice";

		assert_int_not_equal(rain_policy_resource(a), RAIN_RES_IMAGE);
		assert_int_equal(rain_policy_check_owned(&root, owner, id, a), 0);
		assert_int_equal(rain_policy_check_owned(&alice, owner, id, a), rows[i].owner);
		assert_int_equal(rain_policy_check_owned(&bob, owner, id, a), rows[i].other);
		if (rows[i].other == RAIN_ENOTFOUND && rain_policy_resource(a) == RAIN_RES_BUILD)
			assert_non_null(strstr(rain_error_last(), id));
	}
	/* the two halves do not mix */
	assert_int_equal(rain_policy_check_owned(&root, "alice", id, RAIN_ACT_SHOW), RAIN_EINVAL);
	assert_int_equal(check(&root, RAIN_VIS_PUBLIC, RAIN_STATUS_ACTIVE, RAIN_ACT_AUDIT_READ), RAIN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_and_shared_are_hidden),
		cmocka_unit_test(test_public_is_read_only_for_others),
		cmocka_unit_test(test_publicize_and_deactivated),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_owned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
