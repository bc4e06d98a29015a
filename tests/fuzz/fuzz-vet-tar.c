/* libFuzzer harness for vetting's rules over a hostile image: the input
 * is a tar archive (run.sh seeds it with small trees that hold every file
 * the rules read, links out of the image and loops), opened from memory
 * and vetted with the default policy, declared keys and a small feed,
 * the walk on two threads or on one (odd sizes).
 * Every run must give a report with its verdict and a summary, or an
 * error with a message; it must never crash, read out of bounds or open
 * a host file (the image's links are its own). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/imgfs.h"
#include "rain/vet-feed.h"
#include "rain/vet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *data;
	size_t size;
};

static ssize_t input_read(void *ud, uint64_t off, void *buf, size_t len)
{
	const struct input *in = ud;

	if (off >= in->size)
		return 0;
	if (len > in->size - off)
		len = in->size - off;
	memcpy(buf, in->data + off, len);
	return (ssize_t)len;
}

static struct rain_vet_feed *feed_make(void)
{
	static const struct rain_vet_advisory adv[] = {
		{ .package = "tool", .id = "CVE-2099-0001", .aliases = "", .fixed = "1.0-2",
		  .urgency = RAIN_VET_URGENCY_HIGH, .description = "" },
		{ .package = "openssh", .id = "CVE-2099-0002", .aliases = "", .fixed = NULL,
		  .urgency = RAIN_VET_URGENCY_LOW, .description = "" },
	};
	struct rain_vet_feed *f;

	if (rain_vet_feed_new(&f, RAIN_VET_FEED_TRACKER, RAIN_PKG_DEB, "bookworm", "fuzz", 1) < 0)
		__builtin_trap();
	for (size_t i = 0; i < sizeof(adv) / sizeof(adv[0]); i++)
		if (rain_vet_feed_add(f, &adv[i]) < 0)
			__builtin_trap();
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlY2xhcmVkLWJ5LXRoZS1yZWNpcGUtYWxpY2Uta2V5 a", NULL
	};
	static struct rain_vet_feed *feed;
	const struct rain_imgfs_limits lim = { .max_entries = 20000, .max_read = 1 << 20 };
	struct rain_vet_options o = { .declared_keys = keys, .security_support_dir = "/nonexistent" };
	struct input in = { data, size };
	enum rain_vet_verdict v;
	struct rain_imgfs *fs;
	json_t *rep;
	char *text;
	int r;

	if (!feed)
		feed = feed_make();
	o.feed = feed;
	/* the walk on two threads (the default) and on one, by the size */
	o.one_thread = size & 1;
	if (rain_imgfs_open_read(input_read, &in, size, "fuzz.tar", "tar", &lim, &fs) < 0)
		return 0;
	r = rain_vet_run(fs, &o, &rep);
	if (r == 0) {
		if (rain_vet_report_verdict(rep, &v) < 0 || rain_vet_report_text(rep, &text) < 0)
			__builtin_trap();
		free(text);
		json_decref(rep);
	} else if (r > 0 || !rain_error_last()[0] || rep) {
		__builtin_trap();
	}
	rain_imgfs_close(fs);
	return 0;
}
