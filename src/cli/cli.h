/* Shared pieces of the rain command-line client.
 *
 * Commands follow tmux's cmd-*.c layout: each file defines one or more
 * `const struct cli_cmd` entries next to their handlers, and a table
 * (main.c for top-level commands, cmd-image.c for `rain image ...`)
 * lists them.
 *
 * A handler gets argv with argv[0] set to its own name and returns the
 * process exit status: CLI_EXIT_OK, CLI_EXIT_FAIL (server or user error,
 * already reported on stderr) or CLI_EXIT_USAGE (bad command line).
 * Messages go to stderr as "rain: error: <what>; <what to do>"; results
 * go to stdout.
 */
#ifndef RAIN_CLI_H
#define RAIN_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "rain/build.h"
#include "rain/client.h"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
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
	bool insecure;
	bool json;              /* print the server's JSON */
	bool quiet;             /* no progress, no chatter */
	char *config_path;      /* owned; NULL when no home is known */
	bool config_is_default; /* config_path is the XDG one, not --config */
	bool config_loaded;
	struct rain_client *client;  /* created on first use */
};

struct cli_cmd {
	const char *name;
	const char *alias;      /* NULL or another accepted name */
	const char *usage;      /* arguments after the command name */
	const char *summary;    /* one line, for the command lists */
	const char *help;       /* options and details; may be NULL */
	int (*exec)(struct cli *cli, int argc, char **argv);
	const char *prefix;     /* "rain image" for messages and help */
};

/* ---- command tables ---------------------------------------------------- */

extern const struct cli_cmd cmd_image_entry;
extern const struct cli_cmd cmd_config_entry;
extern const struct cli_cmd cmd_generate_entry;
extern const struct cli_cmd cmd_build_entry;
extern const struct cli_cmd cmd_user_entry;
extern const struct cli_cmd cmd_history_entry;
extern const struct cli_cmd cmd_audit_entry;
extern const struct cli_cmd cmd_login_entry;
extern const struct cli_cmd cmd_logout_entry;

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

/* Find name (or an alias) in a NULL-terminated table. */
const struct cli_cmd *cli_cmd_find(const struct cli_cmd *const *table, const char *name);

/* Run a sub-command from table with argv[0] its name; prints the list of
 * sub-commands for "--help" or no argument. */
int cli_cmd_dispatch(struct cli *cli, const struct cli_cmd *parent,
		     const struct cli_cmd *const *table, int argc, char **argv);

/* ---- option parsing ------------------------------------------------------ */

#define CLI_OPT_JSON 0x100

/* Long options every command accepts, to put at the end of its table
 * (before the terminating zero entry). */
#define CLI_COMMON_LONGOPTS \
	{ "help", no_argument, NULL, 'h' }, \
	{ "json", no_argument, NULL, CLI_OPT_JSON }, \
	{ "quiet", no_argument, NULL, 'q' }

/* Short options for the above, to start every optstring with:
 * ':' so that a missing value comes back as ':'. */
#define CLI_COMMON_SHORTOPTS ":hq"

#define CLI_CONTINUE (-1)

/* Handle an option the command's own switch did not: the common ones,
 * and the errors getopt_long reports.  Returns CLI_CONTINUE to go on,
 * or an exit status (after printing help or the usage error). */
int cli_common_opt(struct cli *cli, const struct cli_cmd *cmd, int opt, char **argv);
/* Parse argv for the common options only (a command that takes no others);
 * optind then points at the operands. CLI_CONTINUE or an exit status. */
int cli_common_only(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);

/* Prepare getopt_long for a new argv (glibc: optind = 0). */
void cli_getopt_reset(void);

/* Print a command's help on stdout. */
void cli_help(const struct cli_cmd *cmd);

/* Report a usage error: "rain: error: <msg>; see 'rain image x --help'".
 * Returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parse a non-negative decimal for option opt. 0 or CLI_EXIT_USAGE. */
int cli_parse_count(const struct cli_cmd *cmd, const char *opt, const char *s, int64_t *out);

/* Split "key=value" (key non-empty) into new strings. */
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
 * never overriding a setting that came from a flag.  Returns an exit
 * status (CLI_EXIT_OK when fine). */
int cli_config_load(struct cli *cli);
void cli_config_free(struct cli *cli);

/* Set key (url, token, cacert, insecure) to value in the config file, or
 * remove it when value is NULL; the file is written atomically with mode
 * 0600 in a private directory. Reports errors; exit status. */
int cli_config_store(struct cli *cli, const char *key, const char *value);

/* $XDG_CONFIG_HOME/rain/config or ~/.config/rain/config, new string. */
char *cli_config_default_path(void);

/* The client, created on first use from cli's settings. */
int cli_client(struct cli *cli, struct rain_client **out);

/* ---- output -------------------------------------------------------------- */

struct cli_table;

struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
/* Add a row of ncols cells (NULL shows as "-"). Text is copied with
 * control characters replaced. */
void cli_table_add(struct cli_table *t, const char *const *cells);
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* Print a JSON value on stdout, indented. */
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

/* Catch SIGINT/SIGTERM into cli_interrupted while on is true. */
extern volatile sig_atomic_t cli_interrupted;
void cli_catch_signals(bool on);

/* ---- images -------------------------------------------------------------- */

/* Resolve "ID|NAME" to an image id (36 chars + NUL): a UUID is taken as
 * is, anything else must name exactly one image.  Reports errors itself
 * and returns an exit status. */
int cli_image_resolve(struct cli *cli, const char *arg, char id[37]);

/* Resolve and GET the image; *image is a new reference. Exit status. */
int cli_image_fetch(struct cli *cli, const char *arg, char id[37], json_t **image);

/* GET path and the pages after it through "next" links (all of them when
 * follow, else only the first) and append the images to *images (a new
 * array).  Returns 0 or a rain error code. */
int cli_image_list_fetch(struct rain_client *c, const char *path, bool follow, json_t **images);

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

/* rain generate --remote (generate-remote.c): send the recipe and the
 * files it names to the server's build service, follow the log on
 * stderr, print the outcome; Ctrl-C cancels the build on the server.
 * output must be NULL (the result stays on the server). Exit status. */
int cli_generate_remote(struct cli *cli, const struct rain_recipe *r, const char *output,
			bool store, bool boot_check);

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

#define CLI_CREATE_LONGOPTS \
	{ "name", required_argument, NULL, CLI_OPT_NAME }, \
	{ "disk-format", required_argument, NULL, CLI_OPT_DISK_FORMAT }, \
	{ "container-format", required_argument, NULL, CLI_OPT_CONTAINER_FORMAT }, \
	{ "visibility", required_argument, NULL, CLI_OPT_VISIBILITY }, \
	{ "protected", no_argument, NULL, CLI_OPT_PROTECTED }, \
	{ "min-disk", required_argument, NULL, CLI_OPT_MIN_DISK }, \
	{ "min-ram", required_argument, NULL, CLI_OPT_MIN_RAM }, \
	{ "tag", required_argument, NULL, CLI_OPT_TAG }, \
	{ "property", required_argument, NULL, CLI_OPT_PROPERTY }, \
	{ "owner", required_argument, NULL, CLI_OPT_OWNER }

#define CLI_CREATE_HELP \
	"      --name NAME              the image's name\n" \
	"      --disk-format FORMAT     raw, qcow2, iso, vmdk, vhd, vhdx, vdi, ...\n" \
	"      --container-format FMT   bare, ovf, ova, docker, ...\n" \
	"      --visibility V           private, shared, community or public\n" \
	"      --protected              forbid deleting the image\n" \
	"      --min-disk GIB           disk size needed to boot the image\n" \
	"      --min-ram MIB            memory needed to boot the image\n" \
	"      --tag TAG                add a tag (repeatable)\n" \
	"      --property KEY=VALUE     set a property (repeatable)\n" \
	"      --owner USER             create it for another user (admins)\n"

void cli_create_opts_init(struct cli_create_opts *o);
void cli_create_opts_free(struct cli_create_opts *o);
/* Handle one of CLI_CREATE_LONGOPTS: CLI_CONTINUE when done, an exit
 * status on a usage error, or -2 when opt is not one of them. */
int cli_create_opt(const struct cli_cmd *cmd, struct cli_create_opts *o, int opt,
		   const char *arg);
/* POST /v2/images; *image is the new image. Reports errors; exit status. */
int cli_image_create(struct cli *cli, const struct cli_create_opts *o, json_t **image);

/* Upload file ("-" for stdin) as the data of image id, with progress,
 * and check the server's os_hash_value against what was sent.
 * Reports errors; exit status. */
int cli_image_upload_file(struct cli *cli, const char *id, const char *file);

/* Download the data of image (JSON as from GET /v2/images/ID) to out
 * ("-" for stdout) via out.part, verify it and rename.  overwrite allows
 * replacing an existing out; resume continues out.part.  Reports errors;
 * exit status. */
int cli_image_save(struct cli *cli, json_t *image, const char *out, bool overwrite,
		   bool resume);

#endif
