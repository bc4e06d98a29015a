/* Image recipes: what `rain generate` builds.
 *
 * A recipe is an INI file (see rain-recipe(5)):
 *
 *   [image]     name, description, distribution, release, architecture,
 *               mirror, keyring, key_fingerprint,
 *               base (scratch | image:ID | image:NAME)
 *   [packages]  install (repeatable, comma or space separated), kernel
 *   [system]    hostname, timezone, locale, services (repeatable)
 *   [user NAME] ssh_key (repeatable), sudo, shell, uid
 *   [files]     copy = SRC:DEST (repeatable; SRC relative to the recipe)
 *   [scripts]   run = PATH (repeatable; relative to the recipe),
 *               isolation = sandbox | vm
 *   [output]    formats, size, boot_check, firmware (bios | uefi)
 *   [metadata]  any key = value, attached to the stored image
 *
 * Parsing validates everything that can be checked without the network
 * and names the file, line and key of the first problem:
 *   "web.recipe:7: [packages] install: 'foo;rm' is not a package name".
 * The recipe owns all its strings (rain_recipe_free).
 */
#ifndef RAIN_RECIPE_H
#define RAIN_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rain/image.h"

enum rain_output_format {
	RAIN_OUT_DIR = 1 << 0,       /* a root tree */
	RAIN_OUT_TAR = 1 << 1,
	RAIN_OUT_TAR_ZST = 1 << 2,
	RAIN_OUT_EXT4 = 1 << 3,      /* a raw ext4 filesystem */
	RAIN_OUT_DISK = 1 << 4,      /* a partitioned, bootable raw disk (see rain_firmware) */
	RAIN_OUT_QCOW2 = 1 << 5,     /* the disk as qcow2 */
	RAIN_OUT_SQUASHFS = 1 << 6,
};

/* What boots the disk and qcow2 formats. */
enum rain_firmware {
	RAIN_FIRMWARE_BIOS = 0,      /* MBR, GRUB for i386-pc (amd64, i386) */
	RAIN_FIRMWARE_UEFI,          /* GPT with an EFI system partition holding GRUB
				      * at the removable path (amd64, arm64) */
};

struct rain_recipe_user {
	char *name;
	char **ssh_keys;
	size_t nssh_keys;
	bool sudo;
	char *shell;          /* NULL: /bin/bash */
	int64_t uid;          /* -1: the next free one */
};

struct rain_recipe_file {
	char *src;            /* as written (relative to dir, or absolute) */
	char *dest;           /* absolute path inside the image */
};

struct rain_recipe {
	char *file;           /* where it was read from, for messages */
	char *dir;            /* directory relative paths start from */
	char *name;
	char *description;
	char *distribution;   /* debian, ubuntu, rocky, alma, fedora, rpm (a
			       * signed RPM repository of one's own) */
	char *release;
	char *architecture;   /* Debian names: amd64, arm64, ... */
	char *mirror;
	char *keyring;        /* the archive's or repository's signing keys (an
			       * OpenPGP file, relative to dir); NULL: the
			       * distribution's own (none for ubuntu and rpm) */
	char *key_fingerprint; /* a key the keyring must hold (40 upper-case
				* hex digits); NULL: for ubuntu, one of
				* rain_recipe_ubuntu_keys, else none */
	char *base;           /* NULL: from scratch; else "ID" or "NAME" */
	char **packages;
	size_t npackages;
	bool kernel;
	char *hostname;
	char *timezone;
	char *locale;
	char **services;
	size_t nservices;
	struct rain_recipe_user *users;
	size_t nusers;
	struct rain_recipe_file *files;
	size_t nfiles;
	char **scripts;
	size_t nscripts;
	bool scripts_in_vm;    /* [scripts] isolation = vm: in a qemu VM, not namespaces */
	unsigned int formats;  /* enum rain_output_format bits */
	int64_t size;          /* bytes of the filesystem / disk */
	bool boot_check;
	enum rain_firmware firmware;
	struct rain_property *metadata;
	size_t nmetadata;
};

/* Parse text; file names it in messages and dir is where relative paths
 * start. Missing settings get defaults (mirror per distribution, formats
 * "disk", size 2 GiB, kernel yes when a bootable format is asked). */
int rain_recipe_parse(const char *text, const char *file, const char *dir,
		      struct rain_recipe **out);
int rain_recipe_parse_file(const char *path, struct rain_recipe **out);
void rain_recipe_free(struct rain_recipe *r);

/* The recipe back as INI text in canonical form (a new string), so that it
 * can be stored with the image and parsed again to regenerate it. */
int rain_recipe_format(const struct rain_recipe *r, char **out);

/* Default mirror of a distribution, or NULL when unknown. */
const char *rain_recipe_default_mirror(const char *distribution);
/* The package manager family: "deb" or "rpm", or NULL when unknown. */
const char *rain_recipe_family(const char *distribution);
/* Whether a recipe's architecture can be booted with firmware: BIOS for
 * amd64 and i386, UEFI for amd64 and arm64. */
bool rain_recipe_firmware_known(const char *architecture, enum rain_firmware firmware);
/* "bios" or "uefi". */
const char *rain_firmware_name(enum rain_firmware firmware);
/* Names of format bits ("disk", "qcow2", ...): one name, or NULL. */
const char *rain_output_format_name(enum rain_output_format f);

/* An OpenPGP v4 key fingerprint: 40 hexadecimal digits. */
#define RAIN_FINGERPRINT_LEN 40
/* s, a fingerprint in hex (any case, spaces allowed), into out as 40
 * upper-case digits; RAIN_EINVAL (no message) when it is not one. */
int rain_recipe_fingerprint_parse(const char *s, char out[RAIN_FINGERPRINT_LEN + 1]);

/* An archive signing key rain pins for a distribution whose keyring the
 * build host does not ship. */
struct rain_archive_key {
	const char *distribution;
	const char *fingerprint;    /* 40 upper-case hex digits */
	const char *name;           /* its user id */
};
/* Ubuntu's archive signing keys (2018: signs jammy and noble; 2012: older
 * releases), as ubuntu-keyring's ubuntu-archive-keyring.gpg holds them and
 * the archive's Release.gpg names them; ends with a NULL distribution. */
extern const struct rain_archive_key rain_recipe_archive_keys[];

/* A size such as 2G, 512M, 1.5GiB or 4096 (bytes; K, M, G, T are powers of
 * 1024) into *out; RAIN_EINVAL (no message) when it is not one. */
int rain_recipe_parse_size(const char *s, int64_t *out);

#endif
