/* OpenStack clouds as the standard clouds.yaml describes them (the file
 * openstacksdk, the openstack CLI and Ansible read), and logging in to one:
 * Keystone v3 password authentication scoped to a project, then the image
 * service's endpoint from the token's catalog; or, for a cloud with
 * `auth_type: none` (a Glance without Keystone), the endpoint it names.
 *
 *   clouds:
 *     NAME:
 *       auth_type: password        (default; also v3password) or none
 *       auth:
 *         auth_url: https://keystone:5000/v3
 *         username: ...            (or user_id)
 *         password: ...
 *         project_name: ...        (or project_id)
 *         user_domain_name: ...    (or user_domain_id; domain_name, domain_id
 *         project_domain_name: ...  stand for both; default: id "default")
 *       region_name: RegionOne
 *       interface: public          (the catalog endpoint's interface)
 *       image_endpoint_override: http://glance:9292
 *       cacert: /path/ca.pem
 *       verify: false              (do not check TLS certificates)
 *
 * Other keys are ignored, as openstacksdk's consumers ignore what they do
 * not use. The file is parsed with libyaml into JSON first (bounded: 1 MiB,
 * 64 levels, 100,000 nodes, aliases counted where used), so a crafted file
 * costs no more than that.
 *
 * Functions return 0 or a negative RAIN_E* code with a message naming the
 * file and the cloud (rain/error.h); nothing prints. Passwords are wiped
 * when freed and never put into a message.
 */
#ifndef RAIN_CLOUDS_H
#define RAIN_CLOUDS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct rain_client;

enum rain_cloud_auth { RAIN_CLOUD_AUTH_PASSWORD, RAIN_CLOUD_AUTH_NONE };

/* One cloud's entry. Every string may be NULL when the file does not set
 * it (but name and file). */
struct rain_cloud {
	char *name;
	char *file;                     /* the clouds.yaml it was read from */
	enum rain_cloud_auth auth_type;
	char *auth_url;
	char *username, *user_id;
	char *password;                 /* secret */
	char *project_name, *project_id;
	char *user_domain_name, *user_domain_id;
	char *project_domain_name, *project_domain_id;
	char *region_name;
	char *interface;                /* "public" when unset */
	char *image_endpoint;           /* image_endpoint_override */
	char *cacert;
	bool insecure;                  /* verify: false */
};

/* The clouds.yaml to read: path itself when not NULL, else the first that
 * exists of $OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
 * $XDG_CONFIG_HOME/openstack/clouds.yaml (default ~/.config/openstack),
 * /etc/openstack/clouds.yaml. *out is a new string (free()).
 * RAIN_ENOTFOUND naming the places looked at. */
int rain_cloud_find_file(const char *path, char **out);

/* Parse clouds.yaml text (len bytes, need not be NUL-terminated; where
 * names it in messages) and take cloud name's entry into *out (free with
 * rain_cloud_free). RAIN_EFORMAT for YAML that does not parse or has no
 * "clouds" mapping (with the line), RAIN_ENOTFOUND for a missing cloud
 * (naming those there are), RAIN_EINVAL for an entry that cannot be used
 * (a missing auth_url, username or password for password logins, an
 * unsupported auth_type or identity_api_version, a value that is not a
 * string). */
int rain_cloud_parse(const char *text, size_t len, const char *where, const char *name,
		     struct rain_cloud **out);

/* rain_cloud_find_file(path), then read (at most 1 MiB) and parse it. */
int rain_cloud_load(const char *path, const char *name, struct rain_cloud **out);

void rain_cloud_free(struct rain_cloud *c);

/* Parse YAML text into JSON (scalars as strings, mappings as objects
 * with scalar keys, sequences as arrays), within the bounds above. *out
 * is a new reference (json_null() for an empty document). RAIN_EFORMAT
 * with the line for text that is not YAML or past the bounds. */
int rain_yaml_to_json(const char *text, size_t len, const char *where, json_t **out);

/* The Keystone v3 request body that logs c in with its password, scoped
 * to its project when it names one (a new reference; it holds the
 * password: wipe its dump). RAIN_EINVAL when c uses no password. */
int rain_cloud_auth_body(const struct rain_cloud *c, json_t **out);

/* The image service's URL in a Keystone v3 token body ("token" ->
 * "catalog"): the endpoint of type "image" with c's interface and, when c
 * names one, its region (region or region_id); a trailing version ("/v2")
 * is dropped. *out is a new string (free()). RAIN_ENOTFOUND saying what
 * was looked for. */
int rain_cloud_image_url(const struct rain_cloud *c, json_t *token_body, char **out);

/* Log in to c's Keystone with its password (scoped to its project): the
 * token into token (RAIN_CLIENT_TOKEN_MAX + 1 bytes; wipe it after use)
 * and, when body is not NULL, the token document (its catalog) into
 * *body. For services other than the image service (Ironic), whose
 * clients need more than rain_cloud_connect sets. RAIN_EINVAL when c
 * uses no password; Keystone's refusal RAIN_EAUTH, an unreachable one
 * RAIN_ENET, messages naming the cloud and Keystone's URL. */
int rain_cloud_login(const struct rain_cloud *c, long connect_timeout, char *token, json_t **body);

/* A client for c's image service (Glance v2) in *out (rain_client_free):
 * with a password, POST auth_url/v3/auth/tokens and take the endpoint
 * from the catalog (endpoint, when not NULL, or c's
 * image_endpoint_override, replaces it), the client carrying the token;
 * with auth_type none, a client of endpoint (or the override) without a
 * token: RAIN_EINVAL when there is none. Keystone's refusal is RAIN_EAUTH
 * (401), an unreachable Keystone RAIN_ENET; messages name the cloud and
 * the URL. connect_timeout in seconds (0: the client's default). */
int rain_cloud_connect(const struct rain_cloud *c, const char *endpoint, long connect_timeout,
		       struct rain_client **out);

#endif
