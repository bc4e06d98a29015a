/* Files a site fetches from a folder it serves (publish_dir/publish_url):
 * shared by the drivers whose target downloads what is registered; see
 * target-internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/target/target-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

bool target_url_valid(const char *s)
{
	if (!str_has_prefix(s, "http://") && !str_has_prefix(s, "https://"))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return false;
	return true;
}

int target_publish_settings(const struct rain_site *site, const char **dir, const char **url)
{
	*dir = rain_site_get(site, "publish_dir");
	*url = rain_site_get(site, "publish_url");
	if (!*dir || (*dir)[0] != '/' || !str_is_printable(*dir, 4096) || strstr(*dir, "/../") ||
	    str_has_suffix(*dir, "/.."))
		return rain_error_set(RAIN_EINVAL, "publish_dir %s (publish_dir = /ABSOLUTE/FOLDER "
				      "that publish_url serves)", *dir ? "must be an absolute path" :
				      "is missing");
	if (!*url || !target_url_valid(*url))
		return rain_error_set(RAIN_EINVAL, "publish_url %s (publish_url = http://HOST/PATH, "
				      "where the site fetches publish_dir)", *url ? "must be an http:// "
				      "or https:// URL without spaces or quotes" : "is missing");
	return 0;
}

int target_reg_dir(const struct rain_target_op *op, const char *base, char **out)
{
	*out = NULL;
	if (!op->reg_id || !fs_name_is_safe(op->reg_id) || strchr(op->reg_id, ' '))
		return rain_error_set(RAIN_EINVAL, "registration id '%s' cannot name a folder",
				      op->reg_id ? op->reg_id : "");
	if (!(*out = fs_path_join(base, op->reg_id)))
		return rain_error_oom();
	return 0;
}

int target_publish_file(struct rain_target_op *op, const char *src, const char *dst, char sha[65])
{
	_cleanup_close_ int in = -1, out = -1;
	struct stat st;
	int64_t size;
	int r;

	r = rain_target_check_cancel(op);
	if (r < 0)
		return r;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot read %s", src);
	out = open(dst, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (out < 0)
		return rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno,
					"cannot create %s", dst);
	if (fchmod(out, 0644) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot set the mode of %s", dst);
	r = fs_copy_sparse(in, out, st.st_size, dst);
	if (r == 0)
		r = fs_sha256_fd(out, dst, sha, &size);
	rain_target_progress(op, "publish", st.st_size, st.st_size);
	return r;
}

int target_place_file(const char *src, const char *dst)
{
	_cleanup_close_ int in = -1, out = -1;
	struct stat st;
	int r;

	if (unlink(dst) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "cannot replace %s", dst);
	if (link(src, dst) == 0)
		return chmod(dst, 0644) < 0 ? rain_error_errno(RAIN_EIO, errno, "cannot set the mode of %s", dst)
					    : 0;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot read %s", src);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno, "cannot create %s", dst);
	r = fs_copy_sparse(in, out, st.st_size, dst);
	if (r < 0)
		unlink(dst);
	return r;
}

static const char *const boot_files[] = { "vmlinuz", "initramfs", "root.squashfs", NULL };

int target_place_boot_files(struct rain_target_op *op, const struct rain_target_artifacts *a,
			    const char *dir, const char *who)
{
	const char *src[] = { a->kernel, a->initramfs, a->rootfs };
	int r;

	if (!a->kernel || !a->initramfs || !a->rootfs || !a->rootfs_sha256)
		return rain_error_set(RAIN_EINVAL, "%s: the adapted image lacks a kernel, initramfs or "
				      "root squashfs", who);
	if ((r = fs_mkdir_p(dir, 0755)) < 0)
		return r;
	for (size_t i = 0; boot_files[i]; i++) {
		_cleanup_free_ char *dst = fs_path_join(dir, boot_files[i]);

		if (!dst)
			return rain_error_oom();
		if ((r = rain_target_check_cancel(op)) < 0 || (r = target_place_file(src[i], dst)) < 0)
			return r;
		rain_target_progress(op, "publish", (int64_t)i + 1, 3);
	}
	return 0;
}

int target_files_present(const char *dir, const char *const *names, size_t *count)
{
	*count = 0;
	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *path = fs_path_join(dir, names[i]);

		if (!path)
			return rain_error_oom();
		if (access(path, R_OK) == 0)
			(*count)++;
	}
	return 0;
}

int target_files_remove(const char *dir, const char *const *names)
{
	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *path = fs_path_join(dir, names[i]);

		if (!path)
			return rain_error_oom();
		if (unlink(path) < 0 && errno != ENOENT)
			return rain_error_errno(RAIN_EIO, errno, "cannot remove %s", path);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "cannot remove %s", dir);
	return 0;
}
