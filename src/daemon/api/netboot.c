/* Netboot: what diskless nodes fetch from a netboot site's folder
 * ([netboot] SITE = DIR; the files the site driver publishes,
 * rain/netboot.h), without a token (firmware has none), read only:
 *
 *   GET /netboot/SITE/boot.ipxe            the chain script (iPXE asks
 *                                          it first: DHCP's boot file)
 *   GET /netboot/SITE/boot.ipxe?mac=MAC    the node's own script
 *   GET /netboot/SITE/ipxe/MAC             the same ("52-54-00-..." or
 *                                          "52:54:00:...", ".ipxe" or not)
 *   GET /netboot/SITE/REGID/FILE           vmlinuz, initramfs, root.squashfs
 *                                          (single ranges: the initramfs
 *                                          resumes a broken transfer)
 *
 * Nothing but those names is served: every segment is checked, and the
 * file is opened beneath the site's folder with no symbolic link on the
 * way (fs_open_regular_beneath), so a link or ".." planted there leads
 * nowhere.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/http.h"
#include "rain/error.h"
#include "rain/netboot.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

static int serve(struct request *req, const char *rel, const char *ctype, bool ranges)
{
	const char *dir = request_netboot_dir(req, req->params[0]);
	const char *range = ranges ? request_header(req, "Range") : NULL;
	_cleanup_close_ int dfd = -1, fd = -1;
	struct MHD_Response *resp;
	int64_t start = 0, end, len;
	unsigned int status = 200;
	char crange[96];
	struct stat st;

	if (!dir)
		return http_reply_error(req, 404, "no netboot site '%s' here", req->params[0]);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return http_reply_error(req, 404, "netboot site '%s' has published nothing", req->params[0]);
	fd = fs_open_regular_beneath(dfd, rel, O_RDONLY, false, &st);
	if (fd == RAIN_ENOTFOUND || fd == RAIN_EFORBIDDEN)
		return http_reply_error(req, 404, "netboot site '%s' has no %s", req->params[0], rel);
	if (fd < 0)
		return fd;
	end = st.st_size - 1;
	if (range) {
		if (http_parse_range(range, st.st_size, &start, &end) < 0)
			return http_reply_error(req, 416, "Range '%s' cannot be satisfied (%s has %" PRId64 " bytes)",
						range, rel, (int64_t)st.st_size);
		status = 206;
		snprintf(crange, sizeof(crange), "bytes %" PRId64 "-%" PRId64 "/%" PRId64, start, end,
			 (int64_t)st.st_size);
	}
	len = st.st_size ? end - start + 1 : 0;
	resp = MHD_create_response_from_fd_at_offset64((uint64_t)len, fd, (uint64_t)start);
	if (!resp)
		return rain_error_set(RAIN_ENOMEM, "cannot build the response for %s", rel);
	fd = -1;        /* libmicrohttpd's now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (ranges)
		MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (status == 206)
		MHD_add_response_header(resp, "Content-Range", crange);
	req->bytes_out = len;
	return http_reply_response(req, status, resp);
}

static int node_script(struct request *req, const char *mac_in)
{
	char mac[RAIN_NETBOOT_MAC_LEN + 1], rel[64];
	char copy[32];
	size_t n = strlen(mac_in);

	if (n < sizeof(copy) && str_has_suffix(mac_in, ".ipxe"))
		n -= strlen(".ipxe");
	if (n >= sizeof(copy))
		return http_reply_error(req, 404, "'%s' is not a MAC address", mac_in);
	memcpy(copy, mac_in, n);
	copy[n] = '\0';
	if (rain_netboot_mac_norm(copy, mac) < 0)
		return http_reply_error(req, 404, "%s", rain_error_last());
	snprintf(rel, sizeof(rel), "ipxe/%s.ipxe", mac);
	return serve(req, rel, "text/plain", false);
}

static int get_boot(struct request *req)
{
	const char *mac = request_query(req, "mac");

	return mac ? node_script(req, mac) : serve(req, "boot.ipxe", "text/plain", false);
}

static int get_node(struct request *req)
{
	return node_script(req, req->params[1]);
}

static int get_file(struct request *req)
{
	static const char *const files[] = { "vmlinuz", "initramfs", "root.squashfs", NULL };
	const char *reg = req->params[1], *file = req->params[2];
	char rel[600];

	if (!fs_name_is_safe(reg) || strlen(reg) > 255 || !str_in_list(files, file) || !strcmp(reg, "ipxe") ||
	    !strcmp(reg, "tftp"))
		return http_reply_error(req, 404, "netboot serves REGISTRATION/vmlinuz, initramfs and "
					"root.squashfs only");
	snprintf(rel, sizeof(rel), "%s/%s", reg, file);
	return serve(req, rel, "application/octet-stream", true);
}

const struct route api_netboot_routes[] = {
	{ "GET", "/netboot/{}/boot.ipxe", BODY_NONE, RAIN_ACT_PUBLIC, get_boot, NULL, NULL, NULL, 0 },
	{ "GET", "/netboot/{}/ipxe/{}", BODY_NONE, RAIN_ACT_PUBLIC, get_node, NULL, NULL, NULL, 0 },
	{ "GET", "/netboot/{}/{}/{}", BODY_NONE, RAIN_ACT_PUBLIC, get_file, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
