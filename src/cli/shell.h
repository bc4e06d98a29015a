/* rain shell's completion (shell-complete.c), apart from the terminal so
 * that it can be tested alone: what TAB offers after the words typed so
 * far, and what it inserts.  The command loop is cmd/shell.c. */
#ifndef RAIN_CLI_SHELL_H
#define RAIN_CLI_SHELL_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"

/* Names only raind knows. */
enum shell_names {
	SHELL_NAMES_IMAGES,
	SHELL_NAMES_SITES,
};

struct shell_completer {
	const struct cli_cmd *const *top;       /* the top-level commands */
	/* The names of which: a NULL-terminated vector borrowed until the
	 * next call, or NULL when there are none to offer (raind is not
	 * reachable).  NULL: never any. */
	char *const *(*names)(void *ud, enum shell_names which);
	void *ud;
};

/* The words of rain shell besides the commands. */
extern const char *const shell_builtin_words[];

/* What may follow words[0..n) (complete words) as the word whose
 * unquoted text so far is prefix: command and sub-command names, option
 * names ("--name") of the command reached, the values an option or an
 * operand takes (images and sites from sc->names, file names under the
 * current directory or the folder prefix names, folders ending in '/',
 * literal words a usage lists as "a|b").  Each starts with prefix.  A new
 * sorted vector without repeats in *out (NULL-terminated, *nout entries;
 * strv_free()), possibly empty.  0 or rain_error_oom(). */
int shell_complete_words(const struct shell_completer *sc, char *const *words, size_t n,
			 const char *prefix, char ***out, size_t *nout);

/* What TAB inserts after prefix (typed inside quote: '\'', '"' or 0) given
 * the candidates: the rest of their longest common beginning, quoted for
 * where it goes; for a single candidate that is no folder also the closing
 * quote and a blank.  A new string ("" when nothing is to be added), or
 * NULL when out of memory. */
char *shell_complete_insert(char *const *cands, size_t n, const char *prefix, char quote);

#endif
