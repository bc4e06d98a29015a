/* rain completion bash|zsh: a completion script for the shell, made from
 * the command tables (commands, sub-commands, their options, which
 * options take files or one of a few words, which operands are files or
 * images). Image names are asked of the server when completed, through
 * 'rain image list -f value -c name'. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int cmd_completion_exec(struct cli *cli, const struct cli_args *a);

const struct cli_cmd cmd_completion_entry = {
	.name = "completion",
	.usage = "bash|zsh",
	.summary = "print a shell completion script (bash or zsh)",
	.help =
		"Load it in the shell's start-up file:\n"
		"  bash: source <(rain completion bash)    (in ~/.bashrc)\n"
		"  zsh:  source <(rain completion zsh)     (in ~/.zshrc, after compinit)\n"
		"or install it: rain completion bash > /etc/bash_completion.d/rain.\n"
		"It completes commands, options, files and, from the server, image names.\n",
	.args = { 1, 1, "give bash or zsh" },
	.exec = cmd_completion_exec,
	.prefix = "rain",
};

/* A placeholder names files: FILE, DIR, RECIPE, PATH, SCRIPT. */
static bool names_files(const char *ph)
{
	return ph && (strstr(ph, "FILE") || strstr(ph, "DIR") || strstr(ph, "RECIPE") ||
		      strstr(ph, "PATH") || strstr(ph, "SCRIPT"));
}

/* A placeholder of literal words ("bios|uefi"): any lower-case letter. */
static bool names_words(const char *ph)
{
	for (; ph && *ph; ph++)
		if (*ph >= 'a' && *ph <= 'z')
			return true;
	return false;
}

/* Each option of opts as "--name" (and "-l"), those that take a value,
 * those whose value is a file, each printed as a list after label=. */
static void print_opts(FILE *f, const struct cli_opt *const *tables, size_t n, const char *label,
		       int which)
{
	bool first = true;

	fprintf(f, " %s='", label);
	for (size_t t = 0; t < n; t++)
		for (const struct cli_opt *o = tables[t]; o && (o->name || o->help); o++) {
			if (!o->name || !o->help)
				continue;
			if ((which == 1 && !o->arg) ||
			    (which == 2 && !names_files(o->arg) && strcmp(o->name, "output")))
				continue;
			fprintf(f, "%s--%s", first ? "" : " ", o->name);
			if (o->letter && which)
				fprintf(f, " -%c", o->letter);
			first = false;
		}
	fputs("';", f);
}

/* The operand a command's usage names first: a file, an image or nothing
 * to complete. */
static const char *operand_kind(const struct cli_cmd *cmd)
{
	char word[128];
	const char *u = cmd->usage ? cmd->usage : "";

	while (*u) {
		size_t n = strcspn(u, " ");

		snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), u);
		u += n;
		u += strspn(u, " ");
		if (word[0] == '[' || word[0] == '-')
			continue;       /* an option in the usage */
		if (names_files(word))
			return "file";
		if (strstr(word, "ID|NAME") || strstr(word, "IMAGE") || strstr(word, "REF"))
			return "image";
		return "";
	}
	return "";
}

/* The case branch of path (and its aliases) and those below it. */
static void print_node(FILE *f, const struct cli_cmd *cmd, const char *path, const char *alias_path)
{
	const struct cli_opt *tables[] = { cmd->opts, cli_common_opts };

	fprintf(f, "\t'%s'", path);
	if (alias_path)
		fprintf(f, "|'%s'", alias_path);
	fputs(")", f);
	fputs(" __rain_subs='", f);
	for (size_t i = 0; cmd->table && cmd->table[i]; i++)
		fprintf(f, "%s%s", i ? " " : "", cmd->table[i]->name);
	fputs("'; __rain_aliases='", f);
	for (size_t i = 0, n = 0; cmd->table && cmd->table[i]; i++)
		if (cmd->table[i]->alias)
			fprintf(f, "%s%s", n++ ? " " : "", cmd->table[i]->alias);
	fputs("';", f);
	if (cmd->table && !cmd->exec) {
		/* a group: the common options between the names */
		const struct cli_opt *common[] = { cli_common_opts };

		print_opts(f, common, 1, "__rain_opts", 0);
		fputs(" __rain_vals=''; __rain_files=''; __rain_operand='';;\n", f);
	} else {
		print_opts(f, tables, 2, "__rain_opts", 0);
		print_opts(f, tables, 2, "__rain_vals", 1);
		print_opts(f, tables, 2, "__rain_files", 2);
		fprintf(f, " __rain_operand='%s';;\n", operand_kind(cmd));
	}
	for (size_t i = 0; cmd->table && cmd->table[i]; i++) {
		const struct cli_cmd *sub = cmd->table[i];
		char p[256], ap[256];

		snprintf(p, sizeof(p), "%s %s", path, sub->name);
		snprintf(ap, sizeof(ap), "%s %s", path, sub->alias ? sub->alias : "");
		print_node(f, sub, p, sub->alias ? ap : NULL);
	}
}

/* The words an option's value is one of: "'PATH OPT') echo a b;;", for
 * path and (when not NULL) the path through the command's alias. */
static void print_choices(FILE *f, const struct cli_cmd *cmd, const char *path, const char *apath)
{
	const struct cli_opt *tables[] = { cmd->opts, cli_common_opts };

	for (size_t t = 0; t < 2; t++)
		for (const struct cli_opt *o = tables[t]; o && (o->name || o->help); o++) {
			const char *paths[] = { path, apath };
			char words[256];

			if (!o->name || !o->help || !o->arg || !names_words(o->arg))
				continue;
			snprintf(words, sizeof(words), "%s", o->arg);
			for (char *p = words; *p; p++)
				if (*p == '|')
					*p = ' ';
			fputs("\t", f);
			for (size_t k = 0; k < 2 && paths[k]; k++) {
				fprintf(f, "%s'%s --%s'", k ? "|" : "", paths[k], o->name);
				if (o->letter)
					fprintf(f, "|'%s -%c'", paths[k], o->letter);
			}
			fprintf(f, ") __rain_words='%s';;\n", words);
		}
	for (size_t i = 0; cmd->table && cmd->table[i]; i++) {
		const struct cli_cmd *sub = cmd->table[i];
		char p[256], ap[256];

		snprintf(p, sizeof(p), "%s%s%s", path, *path ? " " : "", sub->name);
		snprintf(ap, sizeof(ap), "%s%s%s", path, *path ? " " : "", sub->alias ? sub->alias : "");
		print_choices(f, sub, p, sub->alias ? ap : NULL);
	}
}

static void print_common(FILE *f)
{
	const struct cli_cmd top = {
		.name = "rain", .usage = "", .opts = cli_top_opts, .table = cli_top_cmds,
	};
	const struct cli_opt *tables[] = { cli_top_opts, cli_common_opts };

	fputs("# What follows a command path (\"\", \"image\", \"image list\"):\n"
	      "# sub-commands (and their other names), options, options taking a value, options taking a\n"
	      "# file, and what the operands are (file, image or nothing).\n"
	      "__rain_node() {\n"
	      "\tcase \"$1\" in\n\t'')", f);
	fputs(" __rain_subs='", f);
	for (size_t i = 0; cli_top_cmds[i]; i++)
		fprintf(f, "%s%s", i ? " " : "", cli_top_cmds[i]->name);
	fputs(" help version'; __rain_aliases='';", f);
	print_opts(f, tables, 2, "__rain_opts", 0);
	print_opts(f, tables, 2, "__rain_vals", 1);
	print_opts(f, tables, 2, "__rain_files", 2);
	fputs(" __rain_operand='';;\n", f);
	for (size_t i = 0; cli_top_cmds[i]; i++)
		print_node(f, cli_top_cmds[i], cli_top_cmds[i]->name, cli_top_cmds[i]->alias);
	fputs("\t*) __rain_subs=''; __rain_aliases=''; __rain_opts=''; __rain_vals=''; __rain_files='';"
	      " __rain_operand='';;\n\tesac\n}\n\n", f);
	fputs("# The words the value of option $2 at path $1 is one of.\n"
	      "__rain_choices() {\n\t__rain_words=''\n\tcase \"$1 $2\" in\n", f);
	print_choices(f, &top, "", NULL);
	fputs("\tesac\n}\n\n", f);
	fputs("# Walk the words before the one completed: the command path they\n"
	      "# reach, and the option whose value comes next (if any).\n"
	      "__rain_walk() {\n"
	      "\t__rain_path=''\n"
	      "\t__rain_expect=''\n"
	      "\t__rain_node ''\n"
	      "\tfor __rain_w in \"$@\"; do\n"
	      "\t\tif [ -n \"$__rain_expect\" ]; then __rain_expect=''; continue; fi\n"
	      "\t\tcase \" $__rain_vals \" in *\" $__rain_w \"*) __rain_expect=$__rain_w; continue;; esac\n"
	      "\t\tcase $__rain_w in -*) continue;; esac\n"
	      "\t\tcase \" $__rain_subs $__rain_aliases \" in *\" $__rain_w \"*)\n"
	      "\t\t\t__rain_path=${__rain_path:+$__rain_path }$__rain_w\n"
	      "\t\t\t__rain_node \"$__rain_path\";;\n"
	      "\t\tesac\n"
	      "\tdone\n"
	      "}\n\n"
	      "# What the current word $1 may be, after __rain_walk: __rain_kind is\n"
	      "# files, or words (then __rain_words lists them).\n"
	      "__rain_candidates() {\n"
	      "\t__rain_kind=words\n"
	      "\t__rain_words=''\n"
	      "\tif [ -n \"$__rain_expect\" ]; then\n"
	      "\t\tcase \" $__rain_files \" in *\" $__rain_expect \"*) __rain_kind=files; return;; esac\n"
	      "\t\t__rain_choices \"$__rain_path\" \"$__rain_expect\"\n"
	      "\t\treturn\n"
	      "\tfi\n"
	      "\tcase $1 in -*) __rain_words=$__rain_opts; return;; esac\n"
	      "\tif [ -n \"$__rain_subs\" ]; then __rain_words=$__rain_subs; return; fi\n"
	      "\tcase $__rain_operand in\n"
	      "\tfile) __rain_kind=files;;\n"
	      "\timage) __rain_words=$(\"${__rain_bin:-rain}\" image list -f value -c name 2>/dev/null);;\n"
	      "\tesac\n"
	      "}\n\n", f);
}

static int cmd_completion_exec(struct cli *cli, const struct cli_args *a)
{
	const char *shell = a->argv[0];

	(void)cli;
	if (strcmp(shell, "bash") && strcmp(shell, "zsh"))
		return cli_usage_error(a->cmd, "no completion for '%s': give bash or zsh", shell);
	if (!strcmp(shell, "zsh"))
		fputs("#compdef rain\n", stdout);
	printf("# %s completion for rain %s, made by 'rain completion %s' from rain's\n"
	       "# command tables. Load it with: source <(rain completion %s)\n\n",
	       shell, RAIN_CLI_VERSION, shell, shell);
	print_common(stdout);
	if (!strcmp(shell, "bash")) {
		fputs("_rain() {\n"
		      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} __rain_bin=${COMP_WORDS[0]}\n"
		      "\t__rain_walk \"${COMP_WORDS[@]:1:COMP_CWORD-1}\"\n"
		      "\t__rain_candidates \"$cur\"\n"
		      "\tif [ \"$__rain_kind\" = files ]; then\n"
		      "\t\tcompopt -o filenames 2>/dev/null\n"
		      "\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
		      "\telse\n"
		      "\t\tCOMPREPLY=($(compgen -W \"$__rain_words\" -- \"$cur\"))\n"
		      "\tfi\n"
		      "}\n"
		      "complete -F _rain rain\n", stdout);
	} else {
		fputs("_rain() {\n"
		      "\tlocal __rain_bin=${words[1]}\n"
		      "\t__rain_walk \"${(@)words[2,CURRENT-1]}\"\n"
		      "\t__rain_candidates \"${words[CURRENT]}\"\n"
		      "\tif [ \"$__rain_kind\" = files ]; then\n"
		      "\t\t_files\n"
		      "\telse\n"
		      "\t\tcompadd -- ${=__rain_words}\n"
		      "\tfi\n"
		      "}\n"
		      "if [ \"$funcstack[1]\" = _rain ]; then\n"
		      "\t_rain \"$@\"\n"
		      "else\n"
		      "\tcompdef _rain rain\n"
		      "fi\n", stdout);
	}
	return CLI_EXIT_OK;
}
