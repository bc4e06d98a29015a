/* Shared pieces of the rain command-line client.
 *
 * Commands follow tmux's cmd-*.c layout: each file defines one or more
 * `const struct cli_cmd` entries next to their handlers, and a table
 * (main.c for top-level commands, cmd/image.c for `rain image ...`)
 * lists them.
 *
 * An entry declares its options (.opts), how many operands it takes
 * (.args) and what they name (.target); args.c parses every command line
 * from these and makes --help from them.  The handler gets the parsed
 * struct cli_args (options in command-line order, operands) and returns
 * the process exit status: CLI_EXIT_OK, CLI_EXIT_FAIL (server or user
 * error, already reported on stderr) or CLI_EXIT_USAGE (bad command line).
 * HTTP calls go through librain's client (rain/client.h), which never
 * prints.
 * Messages go to stderr as "rain: error: <what>; <what to do>"; results
 * go to stdout.
 */
#ifndef RAIN_CLI_H
#define RAIN_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "rain/build.h"
#include "rain/client.h"
#include "rain/target.h"

#define RAIN_CLI_VERSION "0.1.0"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
	CLI_CONTINUE = -1,      /* not an exit status: go on */
};

/* Where a setting came from, for messages. */
enum cli_source {
	CLI_SRC_DEFAULT,
	CLI_SRC_FILE,
	CLI_SRC_ENV,
	CLI_SRC_FLAG,
};

struct cli_setting {
	char *value;            /* owned; NULL when unset */
	enum cli_source source;
	const char *origin;     /* "--url", "RAIN_URL", the file name ... */
};

struct cli {
	struct cli_setting url, token, cacert;
	struct cli_setting cloud;       /* --os-cloud or OS_CLOUD: a clouds.yaml entry */
	char *cloud_file;               /* owned: the clouds.yaml it came from */
	bool insecure;
	bool json;              /* print the server's JSON */
	bool quiet;             /* no progress, no chatter */
	char *config_path;      /* owned; NULL when no home is known */
	bool config_is_default; /* config_path is the XDG one, not --config */
	bool config_loaded;
	struct rain_client *client;  /* created on first use */
};

/* ---- command lines ------------------------------------------------------ */

/* One option a command takes, declared in its struct cli_cmd (as tmux's
 * cmd_entry declares .args).  A table ends with { 0 }; an entry without a
 * name but with help is a heading line in --help. */
struct cli_opt {
	const char *name;       /* long name without "--" */
	char letter;            /* short option, or 0 */
	const char *arg;        /* name of its value in --help ("FILE"); NULL
				   for a flag, which takes no value */
	const char *help;       /* --help text, lines separated by '\n'; NULL
				   hides the option (an old spelling) */
	int key;                /* for handlers that switch on options; 0 unused */
	const char *same_as;    /* this is another spelling of the option so
				   named: it is recorded as that one */
	bool final;             /* stop parsing here (--help) */
};

/* An entry: long name, short letter (or 0), the value's name (NULL for a
 * flag), key, help. */
#define CLI_OPT(name_, letter_, arg_, key_, help_) \
	{ .name = (name_), .letter = (letter_), .arg = (arg_), .key = (key_), .help = (help_) }

/* -h/--help, --json, -q/--quiet: every command takes them. */
extern const struct cli_opt cli_common_opts[];

/* How many operands a command takes (max -1: any number). When the count
 * is outside, the usage error says wrong, or by default "unexpected
 * argument 'X'". */
struct cli_operands {
	int min, max;
	const char *wrong;
};

/* What a command's operands name, resolved with cli_target(). */
enum cli_target {
	CLI_TARGET_NONE,
	CLI_TARGET_IMAGE,       /* operand 0 is an image ID|NAME */
	CLI_TARGET_IMAGES,      /* every operand is */
	CLI_TARGET_BUILD,       /* operand 0 is a build id or a unique prefix */
	CLI_TARGET_BUILDS,      /* every operand is */
};

/* One option given, in command-line order. value is the option's argument,
 * "" for a flag. */
struct cli_arg {
	const struct cli_opt *opt;
	const char *value;
};

/* One invocation: what the handler reads.  The strings point into argv. */
struct cli_args {
	const struct cli_cmd *cmd;
	struct cli_arg *opts;   /* owned */
	size_t nopts;
	int argc;               /* the operands */
	char **argv;
};

struct cli_cmd {
	const char *name;
	const char *alias;      /* NULL or another accepted name */
	const char *usage;      /* arguments after the command name */
	const char *summary;    /* one line, for the command lists */
	const char *help;       /* details after the options; may be NULL */
	const struct cli_opt *opts;     /* its own options; NULL for none */
	struct cli_operands args;
	enum cli_target target;
	int (*exec)(struct cli *cli, const struct cli_args *a);
	/* sub-commands, instead of exec; with exec too, the sub-command
	 * named by the first argument, else exec ("rain vet feed build" and
	 * "rain vet FILE") */
	const struct cli_cmd *const *table;
	const char *prefix;     /* "rain image" for messages and help; NULL at
				   the top ("rain") */
};

/* ---- command tables ---------------------------------------------------- */

extern const struct cli_cmd cmd_image_entry;
extern const struct cli_cmd cmd_config_entry;
extern const struct cli_cmd cmd_generate_entry;
extern const struct cli_cmd cmd_build_entry;
extern const struct cli_cmd cmd_build_worker_entry;
extern const struct cli_cmd cmd_user_entry;
extern const struct cli_cmd cmd_history_entry;
extern const struct cli_cmd cmd_audit_entry;
extern const struct cli_cmd cmd_login_entry;
extern const struct cli_cmd cmd_logout_entry;
extern const struct cli_cmd cmd_vet_entry;
/* rain vet feed (a sub-command of rain vet) */
extern const struct cli_cmd cmd_vet_feed_entry;
extern const struct cli_cmd cmd_vet_feed_push_entry;
extern const struct cli_cmd cmd_vet_feed_server_entry;
extern const struct cli_cmd cmd_target_entry;
extern const struct cli_cmd cmd_provision_entry;
extern const struct cli_cmd cmd_site_entry;
extern const struct cli_cmd cmd_register_entry;
extern const struct cli_cmd cmd_deregister_entry;
extern const struct cli_cmd cmd_shell_entry;
extern const struct cli_cmd cmd_run_image_entry;
extern const struct cli_cmd cmd_ps_entry;
extern const struct cli_cmd cmd_stop_entry;
extern const struct cli_cmd cmd_whoami_entry;
extern const struct cli_cmd cmd_completion_entry;

extern const struct cli_cmd cmd_image_list_entry;
extern const struct cli_cmd cmd_image_show_entry;
extern const struct cli_cmd cmd_image_create_entry;
extern const struct cli_cmd cmd_image_upload_entry;
extern const struct cli_cmd cmd_image_download_entry;
extern const struct cli_cmd cmd_image_put_entry;
extern const struct cli_cmd cmd_image_get_entry;
extern const struct cli_cmd cmd_image_set_entry;
extern const struct cli_cmd cmd_image_unset_entry;
extern const struct cli_cmd cmd_image_tag_entry;
extern const struct cli_cmd cmd_image_untag_entry;
extern const struct cli_cmd cmd_image_delete_entry;
extern const struct cli_cmd cmd_image_deactivate_entry;
extern const struct cli_cmd cmd_image_reactivate_entry;
extern const struct cli_cmd cmd_image_member_entry;

/* rain's options before the command (commands.c; main.c applies them by
 * key). */
enum {
	CLI_TOP_URL = 1, CLI_TOP_TOKEN, CLI_TOP_CACERT, CLI_TOP_INSECURE, CLI_TOP_CONFIG,
	CLI_TOP_VERSION, CLI_TOP_CLOUD,
};
extern const struct cli_opt cli_top_opts[];

/* The top-level commands (commands.c), NULL-terminated. */
extern const struct cli_cmd *const cli_top_cmds[];

/* The top-level commands with their summaries, one a line, as --help
 * lists them. */
void cli_commands_print(FILE *f);

/* Run one command line after rain's own options: argv[0] a command of
 * cli_top_cmds, "version", or "help" with a COMMAND [SUB-COMMAND] after it
 * (a bare "help" is the caller's).  Reports errors; exit status. */
int cli_command_run(struct cli *cli, int argc, char **argv);

/* The one of names[0..n) (NULL entries skipped) that word was most likely
 * meant to be: the closest within two edits (one for words of up to 3
 * letters), else the only one word begins; NULL when none is close. */
const char *cli_suggest(const char *word, const char *const *names, size_t n);

/* Report word as no command of table (under parent, NULL at the top),
 * with "did you mean" when one is close. Returns CLI_EXIT_USAGE. */
int cli_unknown_command(const struct cli_cmd *parent, const struct cli_cmd *const *table,
			const char *word);

/* Find name (or an alias) in a NULL-terminated table. */
const struct cli_cmd *cli_cmd_find(const struct cli_cmd *const *table, const char *name);

/* Run cmd with argv[0] its name: a command with a table runs the
 * sub-command named next (and lists them for --help or no argument);
 * otherwise argv is parsed against cmd->opts, --help answered, --json and
 * --quiet applied to cli, the operand count checked, and cmd->exec called.
 * Returns the exit status. */
int cli_cmd_run(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);

/* Parse argv (argv[0] the command's name) against cmd->opts and
 * cli_common_opts into *a (free it with cli_args_free()).  With
 * stop_at_operand the options end at the first operand (as for "rain
 * [OPTIONS] COMMAND ...").  A final option ends the parsing.  A usage
 * error is reported and returned (CLI_EXIT_USAGE, nothing to free);
 * else 0.  Nothing is checked but the names and the presence of values. */
int cli_args_parse(const struct cli_cmd *cmd, int argc, char **argv, bool stop_at_operand,
		   struct cli_args *a);
void cli_args_free(struct cli_args *a);

/* The value of the last option so named (its long name; "" for a flag),
 * or NULL when it was not given. */
const char *cli_arg(const struct cli_args *a, const char *name);
/* Was the option given? */
bool cli_flag(const struct cli_args *a, const char *name);

/* Resolve operand i of a to an id (36 chars + NUL) as cmd->target says:
 * an image ID|NAME or a build id (prefix).  Reports errors; exit status. */
int cli_target(struct cli *cli, const struct cli_args *a, int i, char id[37]);

/* For a command whose operands each name a target (CLI_TARGET_IMAGES,
 * CLI_TARGET_BUILDS): resolve them in turn and call fn with each id and
 * the client.  An operand that fails is reported (by cli_target or fn) and
 * the rest are still tried.  CLI_EXIT_OK when all went well, else the
 * last failure's exit status. */
int cli_each_target(struct cli *cli, const struct cli_args *a,
		    int (*fn)(struct cli *cli, struct rain_client *c, const char *id));

/* The width of the option labels of a table ("  -o, --output FILE"), and
 * the table as help lines with the text at column width + 2. */
int cli_opts_width(const struct cli_opt *opts);
void cli_opts_print(FILE *f, const struct cli_opt *opts, int width);

/* Print a command's help on stdout. */
void cli_help(const struct cli_cmd *cmd);

/* Report a usage error: "rain: error: <msg>; see 'rain image x --help'".
 * Returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parse a non-negative decimal for option opt. 0 or CLI_EXIT_USAGE. */
int cli_parse_count(const struct cli_cmd *cmd, const char *opt, const char *s, int64_t *out);

/* Split "key=value" (key non-empty) into new strings owned by the caller;
 * on failure *key and *value are left NULL or untouched. */
int cli_parse_property(const struct cli_cmd *cmd, const char *s, char **key, char **value);

/* ---- messages ------------------------------------------------------------ */

/* "rain: error: <fmt>" on stderr; returns CLI_EXIT_FAIL. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line of chatter on stderr, unless --quiet. */
void cli_note(const struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report a failed library call r: "rain: error: <what>: <last error>; <hint>".
 * hint NULL picks one from the error code.  Returns CLI_EXIT_FAIL. */
int cli_fail(struct cli *cli, int r, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- configuration ------------------------------------------------------- */

/* Fill cli->url/token/cacert from the environment and the config file,
 * never overriding a setting that came from a flag; with a named cloud
 * (--os-cloud, OS_CLOUD) from that entry of clouds.yaml instead: a
 * Keystone login with its password, the image endpoint of its catalog.
 * Returns an exit status (CLI_EXIT_OK when fine). */
int cli_config_load(struct cli *cli);
void cli_config_free(struct cli *cli);

/* Forget the client and every setting not given as a flag, so that the
 * next cli_client() reads the environment and the config file again (rain
 * shell, after a line that may have changed them: login, logout, config).
 * cli->insecure is the caller's. */
void cli_config_reload(struct cli *cli);

/* Set key (url, token, cacert, insecure) to value in the config file, or
 * remove it when value is NULL; the file is written atomically with mode
 * 0600 in a private directory. Reports errors; exit status. */
int cli_config_store(struct cli *cli, const char *key, const char *value);

/* $XDG_CONFIG_HOME/rain/config or ~/.config/rain/config, new string. */
char *cli_config_default_path(void);

/* The client, created on first use from cli's settings. */
int cli_client(struct cli *cli, struct rain_client **out);

/* Where a setting came from, for messages: "--token", "$RAIN_TOKEN", the
 * config file's name, "the default". Borrowed until the next call. */
const char *cli_setting_origin(const struct cli_setting *s);

/* The token document of the token in use (GET /v3/auth/tokens: {"token":
 * {"user", "project", "roles", "expires_at", ...}}) in *out, a new
 * reference; raind's admin token, which is no login's, gives a document
 * with only user.name, roles and a null expires_at. A missing, expired
 * or revoked token is reported with 'rain login' named. Exit status. */
int cli_whoami(struct cli *cli, json_t **out);

/* ---- output -------------------------------------------------------------- */

/* How results are printed: -f/--format and -c/--column of the command
 * that runs (cli_output_setup makes them from its options; rain shell's
 * next line starts over). Tables and JSON print through cli_table_print
 * and cli_json_print, which follow them. */
enum cli_format {
	CLI_FORMAT_TABLE,       /* aligned columns with a header */
	CLI_FORMAT_JSON,        /* the server's JSON (--json) */
	CLI_FORMAT_YAML,        /* the same as YAML */
	CLI_FORMAT_VALUE,       /* the cells alone, no header, one space apart */
};

#define CLI_OUTPUT_COLUMNS_MAX 32

struct cli_output {
	enum cli_format format;
	const char *columns[CLI_OUTPUT_COLUMNS_MAX];    /* -c, borrowed from argv */
	size_t ncolumns;
	bool failed;            /* a column asked for is none (reported) */
};

extern struct cli_output cli_output;

/* The options of commands that print a list or a record. */
#define CLI_OUTPUT_OPTS \
	CLI_OPT("format", 'f', "table|json|yaml|value", 0, "output format (default table; --json is -f json)"), \
	CLI_OPT("column", 'c', "COLUMN", 0, "only this column (repeatable; a table's header or\n" \
		"a JSON key; in a Field/Value table a field)")

/* A table of just those, for commands with no other options. */
extern const struct cli_opt cli_output_opts[];

/* Reset cli_output from a's options (--json, -f, -c) and set cli->json
 * when the format is JSON or YAML (what commands test to print the
 * server's document). 0, or a usage error (reported). */
int cli_output_setup(struct cli *cli, const struct cli_args *a);

struct cli_table;

struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
/* Add a row of ncols cells (NULL shows as "-"). Text is copied with
 * control characters replaced. */
void cli_table_add(struct cli_table *t, const char *const *cells);
/* Print t; on stdout as cli_output says: -c picks columns (rows of a
 * Field/Value table), -f value drops the header and the alignment. A
 * column that is none is reported and cli_output.failed set. */
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* Print a JSON value on stdout, indented, or as YAML with -f yaml; with
 * -c only the keys named (of the object, or of each object in its list). */
void cli_json_print(json_t *j);

/* Human size: "512 B", "1.5 MiB". */
void cli_format_size(int64_t n, char *out, size_t outlen);

/* A copy of s with control characters replaced by '?', for printing
 * text that came from the server. */
char *cli_sanitize(const char *s);

/* ---- progress ------------------------------------------------------------ */

struct cli_progress {
	const char *label;
	bool tty, silent;
	int64_t start_us, last_draw_us, last_line_us;
	int64_t base;           /* bytes already there (resume) */
	int64_t done, total;
	int last_decile;
	bool drawn;
};

void cli_progress_init(struct cli_progress *p, const struct cli *cli, const char *label,
		       int64_t base);
/* A rain_progress_fn; returns non-zero once SIGINT/SIGTERM arrived. */
int cli_progress_cb(void *ud, int64_t done, int64_t total);
/* Finish the line (ok) or clear it (failure). */
void cli_progress_end(struct cli_progress *p, bool ok);

/* A JSON state file the plumbing keeps (rain target, rain provision):
 * what exists at a site, saved on every change. */
struct cli_state {
	struct cli *cli;
	const char *path;
};
/* The save and log callbacks of a rain_target_op or rain_run_op whose ud
 * is (or starts with) a struct cli_state. */
int cli_state_save(void *ud, json_t *state);
void cli_state_log(void *ud, enum rain_target_level level, const char *msg);
/* Read a state file (an object) into *out; what names it in the error. */
int cli_state_load(const char *path, const char *what, json_t **out);

/* Catch SIGINT/SIGTERM into cli_interrupted while on is true. */
extern volatile sig_atomic_t cli_interrupted;
void cli_catch_signals(bool on);

/* ---- images -------------------------------------------------------------- */

/* Resolve "ID|NAME" to an image id (36 chars + NUL) with
 * rain_client_image_resolve(): a UUID is taken as is, anything else must
 * name exactly one image.  Reports errors itself; exit status. */
int cli_image_resolve(struct cli *cli, const char *arg, char id[37]);

/* Resolve and GET the image; *image is a new reference. Exit status. */
int cli_image_fetch(struct cli *cli, const char *arg, char id[37], json_t **image);

/* Print an image as a Field/Value table. */
void cli_image_print(json_t *image);

/* Helpers to read image JSON: a string member or NULL; an integer member
 * or -1. */
const char *cli_json_str(json_t *obj, const char *key);
int64_t cli_json_int(json_t *obj, const char *key);

/* Escape an attribute name as a one-token JSON pointer ("/a~1b"). */
char *cli_json_pointer(const char *name);

/* Append "key=urlencoded(value)" to a query string being built in *q
 * (which starts as NULL); returns 0 or RAIN_ENOMEM. */
int cli_query_add(char **q, const char *key, const char *value);

/* ---- builds (raind's build service) ------------------------------------ */

struct rain_recipe;

/* A build's progress on stderr, the same for local and remote builds: on
 * a terminal one status line per stage ("[0:42] installing: + apt-get
 * install") with the programs' output left to build.log (unless
 * verbose); otherwise every line as it comes; nothing with --quiet. */
struct cli_build_view {
	struct cli *cli;
	bool tty, verbose;
	int64_t t0;
	char stage[160];
	char partial[4096];     /* a line not yet ended (cli_build_view_open) */
	size_t npartial;
};
void cli_build_view_init(struct cli_build_view *v, struct cli *cli, bool verbose);
/* One log line (a rain_build_options log callback; ud is the view). */
void cli_build_view_line(void *ud, const char *line);
/* A stream whose lines go to the view (for a log that comes as text, a
 * remote build's); fclose() ends the last status line. NULL on ENOMEM. */
FILE *cli_build_view_open(struct cli_build_view *v);

/* rain generate --remote (generate-remote.c): send the recipe and the
 * files it names to the server's build service, follow the log on
 * stderr as a local build shows it (verbose: every line), print the
 * outcome; Ctrl-C cancels the build on the server. output must be NULL
 * (the result stays on the server). Exit status. */
int cli_generate_remote(struct cli *cli, const struct rain_recipe *r, const char *output,
			bool store, bool boot_check, bool verbose);

/* base = image:REF (generate-image.c): the stored image the build starts
 * from, resolved and checked; its data is downloaded only when the base
 * cache lacks it. Reports errors; exit status. */
struct cli_base_image {
	struct cli *cli;
	json_t *image;
	char id[37];
	struct rain_build_base_image bi;
};
int cli_generate_base_image(struct cli *cli, const struct rain_recipe *r, struct cli_base_image *out);
void cli_base_image_clear(struct cli_base_image *b);

/* --from-image REF: the recipe stored with the image, its stored files
 * unpacked into *dir (a new private directory the caller removes with
 * fs_remove_tree). Reports errors; exit status. */
int cli_generate_from_image(struct cli *cli, const char *ref, struct rain_recipe **out, char **dir);

/* Copy build id's log to out as it is written (reconnecting when the
 * stream breaks) until the build has finished; *final is then its record.
 * Stops on SIGINT/SIGTERM (when the caller catches them with
 * cli_catch_signals): with cancel_on_interrupt the build is canceled and
 * *final is its record afterwards. Reports errors; exit status. */
int cli_build_follow(struct cli *cli, const char *id, FILE *out, bool cancel_on_interrupt,
		     json_t **final);
/* The same for a job of any kind through /rain/v1/jobs (what names it in
 * messages: "registration", "vetting"; out NULL: the log is not shown);
 * *final is its job record. */
int cli_job_follow(struct cli *cli, const char *what, const char *id, FILE *out,
		   bool cancel_on_interrupt, json_t **final);
/* Follow run id's log (rain run): the job's output to out, rain's
 * progress (lines starting "rain: ") to progress (NULL: not shown);
 * SIGINT/SIGTERM stop the run and wait for its teardown; *final is the
 * run afterwards. Reports errors; exit status. */
int cli_run_follow(struct cli *cli, const char *id, FILE *out, FILE *progress, json_t **final);
/* Vet image id (label: as the user named it) in the server with policy
 * (NULL: its default) and follow it; *job its job record afterwards.
 * CLI_EXIT_OK when the vetting succeeded (whatever its verdict).
 * Reports errors; exit status. */
int cli_vet_remote(struct cli *cli, const char *id, const char *label, const char *policy,
		   bool runtime, json_t **job);
/* Register image id at site (rain register): submitted, and with wait
 * followed to its end; *reg the registration then (or the earlier one of
 * the same image data there). Reports errors; exit status. */
int cli_register(struct cli *cli, const char *id, const char *label, const char *site,
		 const char *key, bool override, bool wait, json_t **reg);
/* {"builds": [...]} in *list (a new reference). Reports errors; exit status. */
int cli_build_list(struct cli *cli, json_t **list);
/* A full build id, or a prefix of exactly one build the token can list,
 * to the id (36 chars + NUL). Reports errors; exit status. */
int cli_build_resolve(struct cli *cli, const char *arg, char id[37]);
/* Print a build record as a Field/Value table (with the manifest's outputs). */
void cli_build_print(json_t *build);
/* CLI_EXIT_OK for a succeeded build, else report how it ended. */
int cli_build_outcome(struct cli *cli, json_t *build);

/* ---- shared by create and put ------------------------------------------ */

struct cli_create_opts {
	const char *name, *disk_format, *container_format, *visibility;
	const char *owner;      /* NULL: the caller */
	int protected_;         /* -1 unset, else 0/1 */
	int64_t min_disk, min_ram;  /* -1 unset */
	json_t *tags;           /* array of strings, owned */
	json_t *props;          /* object of strings, owned */
};

enum {
	CLI_OPT_NAME = 0x300, CLI_OPT_DISK_FORMAT, CLI_OPT_CONTAINER_FORMAT,
	CLI_OPT_VISIBILITY, CLI_OPT_PROTECTED, CLI_OPT_MIN_DISK, CLI_OPT_MIN_RAM,
	CLI_OPT_TAG, CLI_OPT_PROPERTY, CLI_OPT_OWNER,
};

/* The options of create and put, for their tables. */
#define CLI_CREATE_OPTS \
	CLI_OPT("name", 0, "NAME", CLI_OPT_NAME, "the image's name"), \
	CLI_OPT("disk-format", 0, "FORMAT", \
	  CLI_OPT_DISK_FORMAT, "raw, qcow2, iso, vmdk, vhd, vhdx, vdi, ..."), \
	CLI_OPT("container-format", 0, "FMT", \
	  CLI_OPT_CONTAINER_FORMAT, "bare, ovf, ova, docker, ..."), \
	CLI_OPT("visibility", 0, "V", CLI_OPT_VISIBILITY, "private, shared, community or public"), \
	CLI_OPT("protected", 0, NULL, CLI_OPT_PROTECTED, "forbid deleting the image"), \
	CLI_OPT("min-disk", 0, "GIB", CLI_OPT_MIN_DISK, "disk size needed to boot the image"), \
	CLI_OPT("min-ram", 0, "MIB", CLI_OPT_MIN_RAM, "memory needed to boot the image"), \
	CLI_OPT("tag", 0, "TAG", CLI_OPT_TAG, "add a tag (repeatable)"), \
	CLI_OPT("property", 0, "KEY=VALUE", CLI_OPT_PROPERTY, "set a property (repeatable)"), \
	CLI_OPT("owner", 0, "USER", CLI_OPT_OWNER, "create it for another user (admins)")

void cli_create_opts_init(struct cli_create_opts *o);
void cli_create_opts_free(struct cli_create_opts *o);
/* Fill o from the CLI_CREATE_OPTS in a. 0 or an exit status (a usage
 * error, reported). */
int cli_create_opts_parse(const struct cli_args *a, struct cli_create_opts *o);
/* Create the image (rain_client_image_create); *image is the new record.
 * Reports errors; exit status. */
int cli_image_create(struct cli *cli, const struct cli_create_opts *o, json_t **image);

/* Upload file ("-" for stdin) as the data of image id, with progress,
 * and check the server's os_hash_value against what was sent. fresh: the
 * image was just made for this and goes again on failure (rain image
 * put), so hints do not point at it. Reports errors; exit status. */
int cli_image_upload_file(struct cli *cli, const char *id, const char *file, bool fresh);

/* Download the data of image (JSON as from GET /v2/images/ID) to out
 * ("-" for stdout) via out.part, verify it and rename.  overwrite allows
 * replacing an existing out; resume continues out.part.  Reports errors;
 * exit status. */
int cli_image_save(struct cli *cli, json_t *image, const char *out, bool overwrite,
		   bool resume);

#endif
