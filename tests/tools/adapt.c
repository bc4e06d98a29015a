/* Adaptation (rain/adapt.h) of one stored disk, for the integration tests
 * until a site driver's adapt runs it:
 *   adapt [--context none|cloud-init|one|firstboot] [--format raw|qcow2]
 *         [--ssh-key PUBFILE] [--boot-files] [--no-sysprep]
 *         [--module NAME]... [--kernels PATTERN] IMAGE FORMAT WORKDIR
 * prints the artifacts as JSON on stdout, the log on stderr, and on
 * failure "error: MESSAGE" on stderr with exit status 1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rain/adapt.h"
#include "rain/error.h"
#include "rain/target.h"
#include "util/fsutil.h"

static void log_line(void *ud, enum rain_target_level level, const char *msg)
{
	fprintf(stderr, "%s%s\n", level == RAIN_TARGET_WARN ? "warning: " : "", msg);
}

static void progress(void *ud, const char *what, int64_t done, int64_t total)
{
	fprintf(stderr, "progress: %s %lld/%lld\n", what, (long long)done, (long long)total);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "context", required_argument, NULL, 'c' }, { "format", required_argument, NULL, 'f' },
		{ "ssh-key", required_argument, NULL, 'k' }, { "boot-files", no_argument, NULL, 'b' },
		{ "no-sysprep", no_argument, NULL, 'n' },    { "module", required_argument, NULL, 'm' },
		{ "kernels", required_argument, NULL, 'K' }, { NULL, 0, NULL, 0 },
	};
	const char *modules[32] = { NULL };
	char *kernels[2] = { NULL, NULL }, *key = NULL;
	struct rain_adapt_opts o = { 0 };
	struct rain_site site = { .name = "adapt-tool" };
	struct rain_target_artifacts a = { 0 };
	struct rain_target_image img = { 0 };
	struct rain_target_op op = { .site = &site, .reg_id = "tool", .log = log_line, .progress = progress };
	size_t nmod = 0, len;
	json_t *j = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.context = !strcmp(optarg, "cloud-init") ? RAIN_ADAPT_CLOUD_INIT :
				    !strcmp(optarg, "one") ? RAIN_ADAPT_ONE_CONTEXT :
				    !strcmp(optarg, "firstboot") ? RAIN_ADAPT_FIRSTBOOT : RAIN_ADAPT_CONTEXT_NONE;
			break;
		case 'f':
			o.disk_format = optarg;
			break;
		case 'k':
			if (fs_read_small(optarg, 16384, &key, &len) < 0) {
				fprintf(stderr, "error: %s\n", rain_error_last());
				return 1;
			}
			key[strcspn(key, "\n")] = '\0';
			op.ssh_key = key;
			break;
		case 'b':
			o.boot_files = true;
			break;
		case 'n':
			o.no_sysprep = true;
			break;
		case 'm':
			if (nmod < 31)
				modules[nmod++] = optarg;
			o.modules = modules;
			break;
		case 'K':
			kernels[0] = optarg;
			site.kernels = kernels;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: adapt [options] IMAGE FORMAT WORKDIR\n");
		return 2;
	}
	img = (struct rain_target_image){ .id = "tool", .name = argv[optind], .path = argv[optind],
					  .disk_format = argv[optind + 1] };
	op.workdir = argv[optind + 2];
	r = rain_adapt(&op, &img, &o, &a);
	if (r == 0)
		r = rain_target_artifacts_to_json(&a, NULL, &j);
	if (r < 0) {
		fprintf(stderr, "error: %s\n", rain_error_last());
		free(key);
		return 1;
	}
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(j);
	rain_target_artifacts_clear(&a);
	free(key);
	return 0;
}
