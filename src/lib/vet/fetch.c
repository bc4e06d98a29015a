/* Inputs of the feed importers: a path, or a URL downloaded with
 * libcurl into a private temporary file, bounded in size. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/vet/feed-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

bool feed_is_url(const char *s)
{
	return str_has_prefix(s, "http://") || str_has_prefix(s, "https://") ||
	       str_has_prefix(s, "file://");
}

int feed_tmpfile(int *fd)
{
	const char *dir = getenv("TMPDIR");

	if (!dir || !*dir)
		dir = "/tmp";
	*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot make a temporary file in %s", dir);
	return 0;
}

struct sink {
	int fd;
	uint64_t written, max;
	EVP_MD_CTX *md;
	bool too_big;
	int err;
	volatile int *cancel;
};

static size_t sink_write(char *data, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t len = size * n;

	if (s->cancel && *s->cancel)
		return 0;
	if (s->written + len > s->max) {
		s->too_big = true;
		return 0;
	}
	if (fs_write_all(s->fd, data, len, "a download") < 0) {
		s->err = -1;
		return 0;
	}
	if (s->md)
		EVP_DigestUpdate(s->md, data, len);
	s->written += len;
	return len;
}

int feed_fetch(const char *url, int fd, uint64_t max, unsigned char *sha256, int64_t *mtime,
	       volatile int *cancel)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink s = { .fd = fd, .max = max, .cancel = cancel };
	long status = 0, filetime = -1;
	CURLcode rc;
	CURL *c;
	int r = 0;

	if (mtime)
		*mtime = 0;
	if (sha256) {
		s.md = EVP_MD_CTX_new();
		if (!s.md || !EVP_DigestInit_ex(s.md, EVP_sha256(), NULL)) {
			EVP_MD_CTX_free(s.md);
			return rain_error_oom();
		}
	}
	c = curl_easy_init();
	if (!c) {
		EVP_MD_CTX_free(s.md);
		return rain_error_set(RAIN_ENOMEM, "cannot start a request to %s", url);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "rain/0.1");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer (under 1 KB/s for a minute) fails */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_FILETIME, &filetime);
	curl_easy_cleanup(c);
	if (cancel && *cancel)
		r = rain_error_set(RAIN_ECANCELED, "%s: canceled", url);
	else if (s.too_big)
		r = rain_error_set(RAIN_ETOOBIG, "%s: larger than %llu bytes: refused", url,
				   (unsigned long long)max);
	else if (s.err)
		r = rain_error_set(RAIN_EIO, "%s: %s", url, rain_error_last());
	else if (rc == CURLE_FILE_COULDNT_READ_FILE || status == 404 || status == 410)
		r = rain_error_set(RAIN_ENOTFOUND, "%s: not found%s", url,
				   status ? " (HTTP 404)" : "");
	else if (rc != CURLE_OK)
		r = rain_error_set(RAIN_ENET, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (status >= 400)
		r = rain_error_set(RAIN_ENET, "%s: HTTP %ld", url, status);
	if (r == 0 && sha256)
		EVP_DigestFinal_ex(s.md, sha256, NULL);
	EVP_MD_CTX_free(s.md);
	if (r == 0 && mtime && filetime > 0)
		*mtime = filetime;
	return r;
}

int feed_open_input(const char *path_or_url, uint64_t max, bool dir_ok, int *fd, bool *is_dir,
		    int64_t *mtime)
{
	_cleanup_close_ int f = -1;
	struct stat st;
	int r;

	*fd = -1;
	if (is_dir)
		*is_dir = false;
	*mtime = 0;
	if (feed_is_url(path_or_url)) {
		r = feed_tmpfile(&f);
		if (r < 0)
			return r;
		r = feed_fetch(path_or_url, f, max, NULL, mtime, NULL);
		if (r < 0)
			return r;
		if (lseek(f, 0, SEEK_SET) < 0)
			return rain_error_errno(RAIN_EIO, errno, "%s: cannot rewind", path_or_url);
		*fd = TAKE_FD(f);
		return 0;
	}
	f = open(path_or_url, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, errno,
					"cannot open %s", path_or_url);
	if (fstat(f, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot stat %s", path_or_url);
	if (S_ISDIR(st.st_mode) && dir_ok && is_dir) {
		*is_dir = true;
	} else if (!S_ISREG(st.st_mode)) {
		return rain_error_set(RAIN_EINVAL, "%s is not a regular file%s", path_or_url,
				      dir_ok ? " or a folder" : "");
	} else if ((uint64_t)st.st_size > max) {
		return rain_error_set(RAIN_ETOOBIG, "%s: %lld bytes, larger than %llu: refused",
				      path_or_url, (long long)st.st_size, (unsigned long long)max);
	}
	*mtime = st.st_mtim.tv_sec;
	*fd = TAKE_FD(f);
	return 0;
}
