/* Unit tests for src/cli/shell-complete.c: what TAB offers in rain shell
 * after the words typed, over rain's real command tables (commands,
 * sub-commands, options, option values, operands named by a usage),
 * images and sites from a stand-in for raind's lists (and none when raind
 * is not reachable), file names from a real folder, and what TAB inserts
 * in each quoting.  Linked with the CLI but for main(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/shell.h"
#include "testutil.h"
#include "util/strutil.h"

static char *images[] = { "alpha", "alpine", "beta one", "it's", NULL };
static char *sites[] = { "cloud", "cluster", "hpc", NULL };
static bool reachable = true;
static int asked;

static char *const *names(void *ud, enum shell_names which)
{
	(void)ud;
	asked++;
	if (!reachable)
		return NULL;
	return which == SHELL_NAMES_IMAGES ? images : sites;
}

static const struct shell_completer sc = { .top = cli_top_cmds, .names = names };

/* The candidates after the words of line (blank-separated; the last one,
 * after the last blank, is the prefix) joined with ','. */
static char *cands(const char *line)
{
	char *copy = strdup(line), *words[16], *prefix, *save = NULL, **out, *joined;
	size_t n = 0, nout;

	assert_non_null(copy);
	prefix = strrchr(copy, ' ');
	if (prefix) {
		*prefix++ = '\0';
		for (char *t = strtok_r(copy, " ", &save); t && n < 15; t = strtok_r(NULL, " ", &save))
			words[n++] = t;
	} else {
		prefix = copy;
	}
	words[n] = NULL;
	assert_int_equal(shell_complete_words(&sc, words, n, prefix, &out, &nout), 0);
	assert_null(out[nout]);
	joined = strv_join(out, nout, ",");
	assert_non_null(joined);
	strv_free(out, nout);
	free(copy);
	return joined;
}

#define CANDS_ARE(line, want)                                                   \
	do {                                                                    \
		char *got_ = cands(line);                                       \
		if (strcmp(got_, (want)))                                       \
			fail_msg("'%s' offers '%s', want '%s'", (line), got_, (want)); \
		free(got_);                                                     \
	} while (0)

/* Each of the comma-separated needles is among line's candidates. */
static void cands_have(const char *line, const char *needles)
{
	char *got = cands(line), *list, *copy = strdup(needles), *save = NULL;

	assert_true(asprintf(&list, ",%s,", got) > 0);
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *x;

		assert_true(asprintf(&x, ",%s,", t) > 0);
		if (!strstr(list, x))
			fail_msg("'%s' offers '%s', without '%s'", line, got, t);
		free(x);
	}
	free(copy);
	free(list);
	free(got);
}

static void test_commands(void **state)
{
	char *all;

	(void)state;
	cands_have("", "image,generate,register,site,shell,vet,help,exit,quit,version");
	all = cands("");
	/* sorted, once each */
	for (char *p = all, *q; (q = strchr(p, ',')); p = q + 1) {
		char *next = strchr(q + 1, ',');
		size_t la = (size_t)(q - p), lb = next ? (size_t)(next - q - 1) : strlen(q + 1);
		int c = strncmp(p, q + 1, la < lb ? la : lb);

		if (c > 0 || (c == 0 && la >= lb))
			fail_msg("not sorted or repeated near '%.*s'", (int)la, p);
	}
	free(all);
	CANDS_ARE("ima", "image");
	CANDS_ARE("re", "register");
	CANDS_ARE("ex", "exit");
	CANDS_ARE("nosuch", "");
	/* sub-commands, also past the common options */
	cands_have("image ", "list,show,create,upload,download,put,get,delete,tag");
	CANDS_ARE("image sh", "show");
	CANDS_ARE("image --json sh", "show");
	CANDS_ARE("site ", "list,show");
	CANDS_ARE("help re", "register");
	CANDS_ARE("help image do", "download");
	CANDS_ARE("nosuch x", "");
}

static void test_options(void **state)
{
	(void)state;
	CANDS_ARE("image list --vi", "--visibility");
	CANDS_ARE("image list --j", "--json");
	CANDS_ARE("register alpha --s", "--site,--ssh-key");
	cands_have("image show alpha -", "--help,--json,--quiet");
	/* hidden spellings are not offered: download's --file is --output */
	CANDS_ARE("image download alpha --f", "");
	CANDS_ARE("image download alpha --o", "--output");
	/* a command group offers the common options only */
	CANDS_ARE("image --", "--help,--json,--quiet");
}

static void test_names(void **state)
{
	(void)state;
	reachable = true;
	CANDS_ARE("image show ", "alpha,alpine,beta one,it's");
	CANDS_ARE("image show al", "alpha,alpine");
	CANDS_ARE("image show b", "beta one");
	/* ID|NAME... takes any number; ID|NAME TAG... one image, then tags */
	CANDS_ARE("image delete alpha al", "alpha,alpine");
	CANDS_ARE("image tag alpha ", "");
	/* an option's value: --site NAME, --image ID|NAME */
	CANDS_ARE("register alpha --site ", "cloud,cluster,hpc");
	CANDS_ARE("register alpha --site c", "cloud,cluster");
	CANDS_ARE("register list --image alp", "alpha,alpine");
	/* --name=VALUE in one word */
	CANDS_ARE("register alpha --site=c", "--site=cloud,--site=cluster");
	CANDS_ARE("image list --visibility=", "");
	CANDS_ARE("generate --firmware=u", "--firmware=uefi");
	CANDS_ARE("register alpha --nosuch=", "");
	/* rain register IMAGE | list | show REG */
	CANDS_ARE("register ", "alpha,alpine,beta one,cancel,it's,list,show");
	CANDS_ARE("site show ", "cloud,cluster,hpc");
	/* literal words of a usage: history image ID|NAME | user NAME */
	CANDS_ARE("history ", "image,user");
	CANDS_ARE("history image al", "alpha,alpine");
	CANDS_ARE("history user ", "");
	cands_have("config set ", "url,token,cacert,insecure");
	CANDS_ARE("generate --firmware ", "bios,uefi");
	/* raind not reachable: nothing, and no error */
	reachable = false;
	CANDS_ARE("image show ", "");
	CANDS_ARE("register alpha --site ", "");
	reachable = true;
	/* names are asked for only where they can go */
	asked = 0;
	CANDS_ARE("image list --vi", "--visibility");
	CANDS_ARE("image ", "create,deactivate,delete,download,get,list,member,put,reactivate,set,show,"
		  "tag,unset,untag,upload");
	assert_int_equal(asked, 0);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/rain-test-shell.XXXXXX", *path, *line;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&path, "%s/file one", dir) > 0);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	free(path);
	assert_true(asprintf(&path, "%s/folder", dir) > 0);
	assert_int_equal(mkdir(path, 0700), 0);
	free(path);
	assert_true(asprintf(&path, "%s/.hidden", dir) > 0);
	assert_int_equal(mkdir(path, 0700), 0);
	free(path);

	/* an operand named FILE, an option's FILE, folders with '/' */
	assert_true(asprintf(&line, "image upload alpha %s/f", dir) > 0);
	assert_true(asprintf(&path, "%s/file one,%s/folder/", dir, dir) > 0);
	CANDS_ARE(line, path);
	free(line);
	assert_true(asprintf(&line, "image download alpha -o %s/", dir) > 0);
	CANDS_ARE(line, path);
	free(line);
	free(path);
	/* hidden names when asked for */
	assert_true(asprintf(&line, "vet %s/.h", dir) > 0);
	assert_true(asprintf(&path, "%s/.hidden/", dir) > 0);
	CANDS_ARE(line, path);
	free(line);
	free(path);
	/* vet FILE|IMAGE: both */
	assert_true(asprintf(&line, "vet %s/nosuch", dir) > 0);
	CANDS_ARE(line, "");
	free(line);
	cands_have("vet al", "alpha,alpine");
	test_rmtree(dir);
}

static void insert_is(char *const *c, size_t n, const char *prefix, char quote, const char *want)
{
	char *got = shell_complete_insert(c, n, prefix, quote);

	assert_non_null(got);
	if (strcmp(got, want))
		fail_msg("after '%s' (quote %d): inserts '%s', want '%s'", prefix, quote, got, want);
	free(got);
}

static void test_insert(void **state)
{
	char *two[] = { "alpha", "alpine" }, *one[] = { "beta one" }, *quote[] = { "it's" };
	char *folder[] = { "dir/" }, *utf[] = { "caf\xc3\xa9", "caf\xc3\xa8" };

	(void)state;
	/* the common beginning, no blank: more than one */
	insert_is(two, 2, "a", 0, "lp");
	insert_is(two, 2, "alp", 0, "");
	/* one: quoted for where it goes, the quote closed, a blank after */
	insert_is(one, 1, "b", 0, "eta\\ one ");
	insert_is(one, 1, "b", '\'', "eta one' ");
	insert_is(one, 1, "b", '"', "eta one\" ");
	insert_is(quote, 1, "i", 0, "t\\'s ");
	insert_is(quote, 1, "i", '\'', "t'\\''s' ");
	insert_is(quote, 1, "", '"', "it's\" ");
	/* a folder stays open for what is in it */
	insert_is(folder, 1, "d", 0, "ir/");
	/* never half a UTF-8 character */
	insert_is(utf, 2, "c", 0, "af");
	insert_is(two, 0, "x", 0, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_insert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
