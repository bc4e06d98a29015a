/* The changes adaptation makes to the copy's root file system (rain/adapt.h),
 * through adapt-ext4.c: sysprep, contextualization, the root's label and
 * /etc/fstab, the serial console. Each path is looked up inside the image
 * without following links; a link where rain writes is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lib/target/adapt-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"

#define MAX_TEXT (4u << 20)
#define MAX_KEY 16384
/* /var/log is walked this deep at most */
#define MAX_LOG_DEPTH 16

int adapt_check_ssh_key(const char *key)
{
	static const char *const types[] = { "ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-", NULL };
	const char *sp;
	bool typed = false;

	if (!key)
		return 0;
	for (size_t i = 0; types[i]; i++)
		typed |= str_has_prefix(key, types[i]);
	sp = strchr(key, ' ');
	if (!typed || !sp || sp[1] == '\0' || sp[1] == ' ' || strlen(key) > MAX_KEY || !str_is_printable(key, MAX_KEY))
		return rain_error_set(RAIN_EINVAL, "the SSH key for the image is no OpenSSH public key line "
				      "(\"ssh-ed25519 AAAA... comment\" on one line, at most %d bytes): give the "
				      "content of a .pub file", MAX_KEY);
	return 0;
}

/* ---- sysprep ---- */

static bool is_lease(const char *name)
{
	return str_has_suffix(name, ".lease") || str_has_suffix(name, ".leases") || str_has_prefix(name, "dhclient") ||
	       str_has_prefix(name, "internal-");
}

/* Each regular file (or link) in dir whose name keep() accepts is removed;
 * the count goes to *n. A missing dir is nothing to do; so is one that is
 * a link, when optional (a warning says so; else it is refused). */
static int unlink_in(struct adapt_edit *e, const char *dir, bool optional, bool (*keep)(const char *), int *n)
{
	struct adapt_fs *x = e->fs;
	char **names = NULL;
	uint32_t *modes = NULL;
	size_t count = 0;
	bool exists;
	uint32_t mode;
	int r = adapt_fs_stat(x, dir, &exists, &mode);

	if (r == 0 && exists && optional && S_ISLNK(mode)) {
		rain_target_log(e->op, RAIN_TARGET_WARN, "sysprep: the image's %s is a symbolic link: what is in "
				"it is left as it is", dir);
		return 0;
	}
	if (r == 0)
		r = adapt_fs_list(x, dir, &names, &modes, &count);
	if (r == RAIN_ENOTFOUND) {
		rain_error_clear();
		return 0;
	}
	for (size_t i = 0; r >= 0 && i < count; i++) {
		_cleanup_free_ char *p = NULL;

		if (S_ISDIR(modes[i]) || !keep(names[i]))
			continue;
		if (asprintf(&p, "%s/%s", dir, names[i]) < 0) {
			r = rain_error_oom();
			break;
		}
		r = adapt_fs_unlink(x, p);
		if (r > 0)
			(*n)++;
	}
	strv_free(names, count);
	free(modes);
	return r < 0 ? r : 0;
}

static bool is_host_key(const char *name)
{
	return str_has_prefix(name, "ssh_host_");
}

static bool is_history(const char *name)
{
	return strcmp(name, ".bash_history") == 0 || strcmp(name, ".zsh_history") == 0 ||
	       strcmp(name, ".ash_history") == 0 || strcmp(name, ".sh_history") == 0 ||
	       strcmp(name, ".history") == 0 || strcmp(name, ".python_history") == 0 ||
	       strcmp(name, ".lesshst") == 0 || strcmp(name, ".viminfo") == 0;
}

/* Logs: files in /var/log emptied (their owners and modes stay, as
 * programs expect them there), the journal's files removed. Links are
 * left alone. */
static int clear_logs(struct adapt_fs *x, const char *dir, int depth, bool journal, int *n)
{
	char **names = NULL;
	uint32_t *modes = NULL;
	size_t count = 0;
	int r;

	if (depth > MAX_LOG_DEPTH)
		return 0;
	r = adapt_fs_list(x, dir, &names, &modes, &count);
	if (r == RAIN_ENOTFOUND) {
		rain_error_clear();
		return 0;
	}
	for (size_t i = 0; r >= 0 && i < count; i++) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s/%s", dir, names[i]) < 0) {
			r = rain_error_oom();
			break;
		}
		if (S_ISDIR(modes[i]))
			r = clear_logs(x, p, depth + 1, journal || (depth == 0 && strcmp(names[i], "journal") == 0),
				       n);
		else if (S_ISREG(modes[i]))
			r = journal ? adapt_fs_unlink(x, p) : adapt_fs_truncate(x, p);
		if (r > 0 && !S_ISDIR(modes[i]))
			(*n)++;
	}
	strv_free(names, count);
	free(modes);
	return r < 0 ? r : 0;
}

static int sysprep(struct adapt_edit *e)
{
	static const char *const gone[] = {
		"/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed", "/var/lib/dbus/machine-id",
		NULL,
	};
	static const char *const lease_dirs[] = {
		"/var/lib/dhcp", "/var/lib/dhclient", "/var/lib/NetworkManager", "/var/lib/dhcpcd", NULL,
	};
	struct adapt_fs *x = e->fs;
	int keys = 0, logs = 0, leases = 0, other = 0, r;
	char **homes = NULL;
	uint32_t *modes = NULL;
	size_t nhomes = 0;
	bool exists;
	uint32_t mode;

	r = adapt_fs_truncate(x, "/etc/machine-id");
	if (r >= 0)
		r = unlink_in(e, "/etc/ssh", false, is_host_key, &keys);
	if (r >= 0)
		r = clear_logs(x, "/var/log", 0, false, &logs);
	for (size_t i = 0; r >= 0 && lease_dirs[i]; i++)
		r = unlink_in(e, lease_dirs[i], true, is_lease, &leases);
	for (size_t i = 0; r >= 0 && gone[i]; i++) {
		/* dbus's machine-id is often a link to /etc/machine-id: kept */
		r = adapt_fs_stat(x, gone[i], &exists, &mode);
		if (r == 0 && exists && S_ISREG(mode)) {
			r = adapt_fs_unlink(x, gone[i]);
			other += r > 0;
		}
	}
	if (r >= 0)
		r = unlink_in(e, "/root", false, is_history, &other);
	if (r >= 0) {
		r = adapt_fs_list(x, "/home", &homes, &modes, &nhomes);
		if (r == RAIN_ENOTFOUND) {
			rain_error_clear();
			r = 0;
		}
	}
	for (size_t i = 0; r >= 0 && i < nhomes; i++) {
		_cleanup_free_ char *p = NULL;

		if (!S_ISDIR(modes[i]) && !S_ISLNK(modes[i]))
			continue;
		if (asprintf(&p, "/home/%s", homes[i]) < 0)
			r = rain_error_oom();
		else
			r = unlink_in(e, p, true, is_history, &other);
	}
	strv_free(homes, nhomes);
	free(modes);
	if (r < 0)
		return rain_error_set(r, "sysprep: %s", rain_error_last());
	rain_target_log(e->op, RAIN_TARGET_INFO, "sysprep: machine-id emptied, %d SSH host key files removed, "
			"%d log files emptied or removed, %d DHCP leases and %d histories and seeds removed",
			keys, logs, leases, other);
	/* new host keys at the next boot where nothing else makes them */
	if (keys > 0 && !e->cloud_init) {
		r = adapt_fs_stat(x, "/etc/systemd/system/rain-ssh-host-keys.service", &exists, NULL);
		if (r == 0 && !exists) {
			static const char unit[] =
				"[Unit]\nDescription=Generate SSH host keys (rain)\nBefore=ssh.service\n"
				"ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key\n\n"
				"[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n"
				"[Install]\nWantedBy=multi-user.target\n";

			r = adapt_fs_write(x, "/etc/systemd/system/rain-ssh-host-keys.service", unit,
					   strlen(unit), 0644);
			if (r == 0)
				r = adapt_fs_mkdir(x, "/etc/systemd/system/multi-user.target.wants");
			if (r == 0)
				r = adapt_fs_symlink(x, "/etc/systemd/system/multi-user.target.wants/"
						     "rain-ssh-host-keys.service",
						     "/etc/systemd/system/rain-ssh-host-keys.service");
		}
	}
	return r;
}

/* ---- contextualization ---- */

static const char firstboot_script[] =
	"#!/bin/sh\n"
	"# rain-firstboot: written by rain when it adapted this image for a site.\n"
	"# At the first boot it installs for root the SSH key rain was given\n"
	"# (/etc/rain/authorized_keys) and those of the site's seed, and sets the\n"
	"# hostname the seed names: a NoCloud seed (a disk labelled cidata:\n"
	"# meta-data, user-data) or OpenNebula's context disk (CONTEXT: context.sh).\n"
	"# It runs once (/var/lib/rain/firstboot.done) and runs nothing of the seed.\n"
	"set -u\n"
	"mode=$1\n"
	"keys=/etc/rain/authorized_keys\n"
	"seed=/run/rain-firstboot\n"
	"\n"
	"add_key() {\n"
	"\tcase $1 in\n"
	"\tssh-* | ecdsa-* | sk-ssh-* | sk-ecdsa-*) ;;\n"
	"\t*) return 0 ;;\n"
	"\tesac\n"
	"\tmkdir -p /root/.ssh && chmod 0700 /root/.ssh || return 1\n"
	"\ttouch /root/.ssh/authorized_keys && chmod 0600 /root/.ssh/authorized_keys || return 1\n"
	"\tgrep -qxF -- \"$1\" /root/.ssh/authorized_keys ||\n"
	"\t\tprintf '%s\\n' \"$1\" >>/root/.ssh/authorized_keys\n"
	"\techo \"rain-firstboot: key ${1%% *} for root\"\n"
	"}\n"
	"\n"
	"add_keys() {\n"
	"\twhile IFS= read -r k; do add_key \"$k\"; done\n"
	"}\n"
	"\n"
	"set_hostname() {\n"
	"\tcase $1 in\n"
	"\t'' | *[!A-Za-z0-9.-]*) return 0 ;;\n"
	"\tesac\n"
	"\tprintf '%s\\n' \"$1\" >/etc/hostname\n"
	"\thostname \"$1\" 2>/dev/null || true\n"
	"\techo \"rain-firstboot: hostname $1\"\n"
	"}\n"
	"\n"
	"# mount the first disk with one of the labels, read-only, at $seed; the\n"
	"# seed's driver (sr_mod for a cdrom) may still be loading: udev settles first\n"
	"mount_seed() {\n"
	"\tcommand -v udevadm >/dev/null 2>&1 && udevadm settle --timeout=60\n"
	"\tfor l in \"$@\"; do\n"
	"\t\tdev=$(blkid -t LABEL=\"$l\" -o device 2>/dev/null | head -n 1)\n"
	"\t\t[ -n \"$dev\" ] || continue\n"
	"\t\tmkdir -p \"$seed\" && mount -o ro \"$dev\" \"$seed\" && return 0\n"
	"\tdone\n"
	"\treturn 1\n"
	"}\n"
	"\n"
	"# the items of the YAML list KEY: in file\n"
	"yaml_list() {\n"
	"\tawk -v key=\"$1:\" '\n"
	"\t\t$1 == key { inlist = 1; next }\n"
	"\t\tinlist && $1 == \"-\" { sub(/^[ \\t]*-[ \\t]*/, \"\"); gsub(/^[\"'\\'']|[\"'\\'']$/, \"\"); print; next }\n"
	"\t\tinlist && NF { inlist = 0 }' \"$2\"\n"
	"}\n"
	"\n"
	"# the value of KEY: VALUE (YAML) or KEY=VALUE (shell) in file, quotes taken off\n"
	"value_of() {\n"
	"\tsed -n \"s/^$1[:=][ \\t]*[\\\"']\\{0,1\\}\\([^\\\"']*\\)[\\\"']\\{0,1\\}[ \\t]*\\$/\\1/p\" \"$2\" | head -n 1\n"
	"}\n"
	"\n"
	"[ -s \"$keys\" ] && add_keys <\"$keys\"\n"
	"case $mode in\n"
	"nocloud)\n"
	"\tif mount_seed cidata CIDATA; then\n"
	"\t\t[ -f \"$seed/user-data\" ] && yaml_list ssh_authorized_keys \"$seed/user-data\" | add_keys\n"
	"\t\tif [ -f \"$seed/meta-data\" ]; then\n"
	"\t\t\th=$(value_of local-hostname \"$seed/meta-data\")\n"
	"\t\t\t[ -n \"$h\" ] || h=$(value_of hostname \"$seed/meta-data\")\n"
	"\t\t\tset_hostname \"$h\"\n"
	"\t\tfi\n"
	"\t\tumount \"$seed\"\n"
	"\tfi\n"
	"\t;;\n"
	"one)\n"
	"\tif mount_seed CONTEXT; then\n"
	"\t\tif [ -f \"$seed/context.sh\" ]; then\n"
	"\t\t\tvalue_of SSH_PUBLIC_KEY \"$seed/context.sh\" | add_keys\n"
	"\t\t\tset_hostname \"$(value_of HOSTNAME \"$seed/context.sh\")\"\n"
	"\t\tfi\n"
	"\t\tumount \"$seed\"\n"
	"\tfi\n"
	"\t;;\n"
	"esac\n"
	"mkdir -p /var/lib/rain && : >/var/lib/rain/firstboot.done\n"
	"echo 'rain-firstboot: done'\n";

#define FIRSTBOOT_UNIT_PATH "/etc/systemd/system/rain-firstboot.service"

static int firstboot(struct adapt_edit *e, const char *mode)
{
	struct adapt_fs *x = e->fs;
	_cleanup_free_ char *unit = NULL, *key = NULL;
	int r;

	if (asprintf(&unit,
		     "[Unit]\n"
		     "Description=rain first boot: SSH key and hostname\n"
		     "After=local-fs.target systemd-udev-trigger.service\n"
		     "Before=ssh.service systemd-user-sessions.service\n"
		     "ConditionPathExists=!/var/lib/rain/firstboot.done\n\n"
		     "[Service]\n"
		     "Type=oneshot\n"
		     "ExecStart=/bin/sh /usr/local/sbin/rain-firstboot %s\n"
		     "RemainAfterExit=yes\n"
		     "StandardOutput=journal+console\n\n"
		     "[Install]\n"
		     "WantedBy=multi-user.target\n", mode) < 0)
		return rain_error_oom();
	r = adapt_fs_mkdir(x, "/usr/local/sbin");
	if (r == 0)
		r = adapt_fs_write(x, "/usr/local/sbin/rain-firstboot", firstboot_script, strlen(firstboot_script),
				   0755);
	if (r == 0)
		r = adapt_fs_mkdir(x, "/etc/systemd/system/multi-user.target.wants");
	if (r == 0)
		r = adapt_fs_write(x, FIRSTBOOT_UNIT_PATH, unit, strlen(unit), 0644);
	if (r == 0)
		r = adapt_fs_symlink(x, "/etc/systemd/system/multi-user.target.wants/rain-firstboot.service",
				     FIRSTBOOT_UNIT_PATH);
	if (r == 0 && e->op->ssh_key) {
		if (asprintf(&key, "%s\n", e->op->ssh_key) < 0)
			return rain_error_oom();
		r = adapt_fs_mkdir(x, "/etc/rain");
		if (r == 0)
			r = adapt_fs_write(x, "/etc/rain/authorized_keys", key, strlen(key), 0600);
	}
	if (r == 0)
		rain_target_log(e->op, RAIN_TARGET_INFO, "contextualization: rain's first-boot unit (%s%s)", mode,
				e->op->ssh_key ? ", the given SSH key" : "");
	return r;
}

static int cloud_init(struct adapt_edit *e)
{
	static const char *const lists[] = {
		[RAIN_ADAPT_CLOUD_INIT] = "[ NoCloud, ConfigDrive, OpenStack, None ]",
		[RAIN_ADAPT_ONE_CONTEXT] = "[ OpenNebula, None ]",
		[RAIN_ADAPT_FIRSTBOOT] = "[ NoCloud, None ]",
	};
	_cleanup_free_ char *cfg = NULL, *quoted = NULL, *keycfg = NULL;
	int r;

	if (asprintf(&cfg, "# written by rain for the site's contextualization\ndatasource_list: %s\n",
		     lists[e->o->context]) < 0)
		return rain_error_oom();
	r = adapt_fs_mkdir(e->fs, "/etc/cloud/cloud.cfg.d");
	if (r == 0)
		r = adapt_fs_write(e->fs, "/etc/cloud/cloud.cfg.d/90_rain_datasource.cfg", cfg, strlen(cfg), 0644);
	if (r == 0 && e->op->ssh_key) {
		_cleanup_json_ json_t *s = json_string(e->op->ssh_key);

		/* a JSON string is a YAML scalar whatever the key holds */
		if (!s || !(quoted = json_dumps(s, JSON_ENCODE_ANY)) ||
		    asprintf(&keycfg, "# written by rain: the key the image was registered with\n"
			     "ssh_authorized_keys:\n  - %s\n", quoted) < 0)
			return rain_error_oom();
		r = adapt_fs_write(e->fs, "/etc/cloud/cloud.cfg.d/91_rain_ssh_key.cfg", keycfg, strlen(keycfg),
				   0644);
	}
	if (r == 0)
		rain_target_log(e->op, RAIN_TARGET_INFO, "contextualization: cloud-init, datasource_list: %s%s",
				lists[e->o->context], e->op->ssh_key ? ", the given SSH key" : "");
	return r;
}

static int contextualize(struct adapt_edit *e)
{
	int r;

	switch (e->o->context) {
	case RAIN_ADAPT_CONTEXT_NONE:
		return 0;
	case RAIN_ADAPT_CLOUD_INIT:
	case RAIN_ADAPT_ONE_CONTEXT:
	case RAIN_ADAPT_FIRSTBOOT:
		break;
	default:
		return rain_error_set(RAIN_EINVAL, "adapt: unknown contextualization %d", (int)e->o->context);
	}
	r = e->cloud_init ? cloud_init(e) :
	    firstboot(e, e->o->context == RAIN_ADAPT_ONE_CONTEXT ? "one" : "nocloud");
	return r < 0 ? rain_error_set(r, "contextualization: %s", rain_error_last()) : 0;
}

/* ---- the root's label and /etc/fstab ---- */

/* fstab with the root's line (mount point "/") naming LABEL=label, or
 * such a line first when it has none. */
static int fstab_by_label(const char *text, size_t len, const char *label, char **out)
{
	_cleanup_free_ char *res = NULL;
	const char *p = text, *end = text + len;
	size_t n = 0, cap = len + 128;
	bool done = false;

	res = malloc(cap);
	if (!res)
		return rain_error_oom();
	res[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
		const char *f0 = p, *f0e, *f1, *f1e;
		_cleanup_free_ char *line = NULL;
		int k;

		while (f0 < e && (*f0 == ' ' || *f0 == '\t'))
			f0++;
		f0e = f0;
		while (f0e < e && *f0e != ' ' && *f0e != '\t')
			f0e++;
		f1 = f0e;
		while (f1 < e && (*f1 == ' ' || *f1 == '\t'))
			f1++;
		f1e = f1;
		while (f1e < e && *f1e != ' ' && *f1e != '\t')
			f1e++;
		if (!done && f0 < e && *f0 != '#' && f1e - f1 == 1 && *f1 == '/') {
			k = asprintf(&line, "LABEL=%s%.*s%s", label, (int)(e - f0e), f0e, nl ? "\n" : "");
			done = true;
		} else {
			k = asprintf(&line, "%.*s%s", (int)(e - p), p, nl ? "\n" : "");
		}
		if (k < 0)
			return rain_error_oom();
		if (n + (size_t)k + 1 > cap) {
			char *more = realloc(res, cap = (n + (size_t)k + 1) * 2);

			if (!more)
				return rain_error_oom();
			res = more;
		}
		memcpy(res + n, line, (size_t)k + 1);
		n += (size_t)k;
		p = nl ? nl + 1 : end;
	}
	if (!done) {
		char *more = NULL;

		if (asprintf(&more, "LABEL=%s / ext4 defaults,errors=remount-ro 0 1\n%s", label, res) < 0)
			return rain_error_oom();
		free(res);
		res = more;
	}
	*out = TAKE_PTR(res);
	return 0;
}

static int label_root(struct adapt_edit *e)
{
	_cleanup_free_ char *text = NULL, *fstab = NULL;
	size_t len = 0;
	int r = adapt_fs_set_label(e->fs, RAIN_ADAPT_ROOT_LABEL);

	if (r == 0) {
		r = adapt_fs_read(e->fs, "/etc/fstab", MAX_TEXT, &text, &len);
		if (r == RAIN_ENOTFOUND) {
			rain_error_clear();
			r = 0;
		}
	}
	if (r == 0)
		r = fstab_by_label(text ? text : "", len, RAIN_ADAPT_ROOT_LABEL, &fstab);
	if (r == 0)
		r = adapt_fs_write(e->fs, "/etc/fstab", fstab, strlen(fstab), 0644);
	if (r < 0)
		return rain_error_set(r, "fstab by label: %s", rain_error_last());
	rain_target_log(e->op, RAIN_TARGET_INFO, "root file system labelled %s, /etc/fstab mounts / by LABEL=%s",
			RAIN_ADAPT_ROOT_LABEL, RAIN_ADAPT_ROOT_LABEL);
	return 0;
}

/* ---- the serial console ---- */

static int serial_console(struct adapt_edit *e)
{
	static const char *const getty_units[] = {
		"/usr/lib/systemd/system/serial-getty@.service", "/lib/systemd/system/serial-getty@.service", NULL,
	};
	_cleanup_free_ char *text = NULL, *edited = NULL, *wants = NULL;
	size_t len;
	bool changed = false, exists = false;
	int r = 0;

	if (e->boot_config) {
		r = adapt_fs_read(e->fs, e->boot_config, 1 << 20, &text, &len);
		if (r == 0)
			r = adapt_boot_add_console(e->boot_kind, text, len, e->console, &edited, &changed);
		if (r == 0 && changed)
			r = adapt_fs_write(e->fs, e->boot_config, edited, strlen(edited), 0644);
		if (r < 0)
			return rain_error_set(r, "serial console: %s", rain_error_last());
	}
	/* what update-grub will write: an image with grub in it keeps the console */
	if (e->boot_config && e->boot_kind == ADAPT_BOOT_GRUB) {
		free(text);
		free(edited);
		text = edited = NULL;
		r = adapt_fs_read(e->fs, "/etc/default/grub", 1 << 20, &text, &len);
		if (r == RAIN_ENOTFOUND) {
			rain_error_clear();
			r = 0;
		} else if (r == 0) {
			r = adapt_boot_add_console(ADAPT_BOOT_GRUB_DEFAULT, text, len, e->console, &edited, &changed);
			if (r == 0 && changed)
				r = adapt_fs_write(e->fs, "/etc/default/grub", edited, strlen(edited), 0644);
		}
		if (r < 0)
			return rain_error_set(r, "serial console: %s", rain_error_last());
	}
	if (!adapt_cmdline_has_console(*e->cmdline, e->console)) {
		char *c = NULL;

		if (asprintf(&c, "%s%sconsole=%s,115200", *e->cmdline, **e->cmdline ? " " : "", e->console) < 0)
			return rain_error_oom();
		free(*e->cmdline);
		*e->cmdline = c;
	}
	/* a getty on it (systemd starts one for the kernel's console too) */
	if (asprintf(&wants, "/etc/systemd/system/getty.target.wants/serial-getty@%s.service", e->console) < 0)
		return rain_error_oom();
	for (size_t i = 0; getty_units[i] && !exists; i++) {
		r = adapt_fs_stat(e->fs, getty_units[i], &exists, NULL);
		if (r < 0) {
			rain_error_clear();     /* /lib a link to usr/lib */
			r = 0;
		} else if (exists) {
			r = adapt_fs_mkdir(e->fs, "/etc/systemd/system/getty.target.wants");
			if (r == 0)
				r = adapt_fs_stat(e->fs, wants, &changed, NULL);
			if (r == 0 && !changed)
				r = adapt_fs_symlink(e->fs, wants, getty_units[i]);
		}
	}
	if (r < 0)
		return rain_error_set(r, "serial console: %s", rain_error_last());
	rain_target_log(e->op, RAIN_TARGET_INFO, "serial console %s on the kernel's command line%s%s%s", e->console,
			e->boot_config ? " in " : "", e->boot_config ? e->boot_config : "",
			exists ? " and a getty on it" : "");
	return 0;
}

int adapt_edit(struct adapt_edit *e)
{
	int r = 0;

	if (!e->o->no_sysprep)
		r = sysprep(e);
	if (r == 0)
		r = rain_target_check_cancel(e->op);
	if (r == 0)
		r = contextualize(e);
	if (r == 0)
		r = label_root(e);
	if (r == 0 && !e->o->no_serial_console)
		r = serial_console(e);
	return r;
}
