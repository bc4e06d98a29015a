/* clouds.yaml (libyaml, turned into JSON first) and logging in to a cloud
 * (Keystone v3, the image endpoint from the catalog); see
 * include/rain/clouds.h. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "client-internal.h"
#include "rain/clouds.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/fsutil.h"
#include "util/strutil.h"

#define CLOUDS_MAX (1024 * 1024)
#define YAML_DEPTH_MAX 64
#define YAML_NODES_MAX 100000

/* ---- YAML into JSON ----------------------------------------------------- */

struct yconv {
	yaml_document_t *doc;
	const char *where;
	long nodes;
};

static int yconv_node(struct yconv *y, yaml_node_t *n, int depth, json_t **out)
{
	json_t *j = NULL;

	*out = NULL;
	if (!n)
		return rain_error_set(RAIN_EFORMAT, "%s: a node refers to nothing", y->where);
	if (depth > YAML_DEPTH_MAX)
		return rain_error_set(RAIN_EFORMAT, "%s: nested deeper than %d levels (line %zu)",
				      y->where, YAML_DEPTH_MAX, n->start_mark.line + 1);
	if (++y->nodes > YAML_NODES_MAX)
		return rain_error_set(RAIN_EFORMAT, "%s: more than %d values, counting those aliases repeat (line %zu)",
				      y->where, YAML_NODES_MAX, n->start_mark.line + 1);
	switch (n->type) {
	case YAML_SCALAR_NODE:
		j = json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
		if (!j)
			return rain_error_set(RAIN_EFORMAT, "%s: a value that is not UTF-8 text (line %zu)",
					      y->where, n->start_mark.line + 1);
		break;
	case YAML_SEQUENCE_NODE:
		j = json_array();
		if (!j)
			return rain_error_oom();
		for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
			json_t *v;
			int r = yconv_node(y, yaml_document_get_node(y->doc, *i), depth + 1, &v);

			if (r < 0 || json_array_append_new(j, v) < 0) {
				json_decref(j);
				return r < 0 ? r : rain_error_oom();
			}
		}
		break;
	case YAML_MAPPING_NODE:
		j = json_object();
		if (!j)
			return rain_error_oom();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
			_cleanup_free_ char *key = NULL;
			json_t *v;
			int r;

			if (!k || k->type != YAML_SCALAR_NODE) {
				json_decref(j);
				return rain_error_set(RAIN_EFORMAT, "%s: a key that is not a plain value (line %zu)",
						      y->where, n->start_mark.line + 1);
			}
			key = strndup((const char *)k->data.scalar.value, k->data.scalar.length);
			if (!key) {
				json_decref(j);
				return rain_error_oom();
			}
			r = yconv_node(y, yaml_document_get_node(y->doc, p->value), depth + 1, &v);
			if (r == 0 && json_object_set_new(j, key, v) < 0)
				r = rain_error_set(RAIN_EFORMAT, "%s: a key that is not UTF-8 text (line %zu)",
						   y->where, k->start_mark.line + 1);
			if (r < 0) {
				json_decref(j);
				return r;
			}
		}
		break;
	default:
		return rain_error_set(RAIN_EFORMAT, "%s: an empty node (line %zu)", y->where,
				      n->start_mark.line + 1);
	}
	*out = j;
	return 0;
}

int rain_yaml_to_json(const char *text, size_t len, const char *where, json_t **out)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	struct yconv y = { .doc = &doc, .where = where };
	int r;

	*out = NULL;
	if (len > CLOUDS_MAX)
		return rain_error_set(RAIN_ETOOBIG, "%s is larger than %d KiB", where, CLOUDS_MAX >> 10);
	if (!yaml_parser_initialize(&parser))
		return rain_error_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = parser.error == YAML_MEMORY_ERROR ? rain_error_oom() :
			rain_error_set(RAIN_EFORMAT, "%s: not YAML: %s%s%s (line %zu, column %zu)", where,
				       parser.problem ? parser.problem : "a syntax error",
				       parser.context ? " " : "", parser.context ? parser.context : "",
				       parser.problem_mark.line + 1, parser.problem_mark.column + 1);
		yaml_parser_delete(&parser);
		return r;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		*out = json_null();
		r = 0;
	} else {
		r = yconv_node(&y, root, 0, out);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

/* ---- clouds.yaml ------------------------------------------------------ */

void rain_cloud_free(struct rain_cloud *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->file);
	free(c->auth_url);
	free(c->username);
	free(c->user_id);
	str_free_secret(c->password);
	free(c->project_name);
	free(c->project_id);
	free(c->user_domain_name);
	free(c->user_domain_id);
	free(c->project_domain_name);
	free(c->project_domain_id);
	free(c->region_name);
	free(c->interface);
	free(c->image_endpoint);
	free(c->cacert);
	free(c);
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int rain_cloud_find_file(const char *path, char **out)
{
	const char *env = getenv("OS_CLIENT_CONFIG_FILE");
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	_cleanup_free_ char *user = NULL;
	const char *places[4];
	size_t n = 0;

	*out = NULL;
	if (path) {
		*out = strdup(path);
		return *out ? 0 : rain_error_oom();
	}
	if (env && *env)
		places[n++] = env;
	places[n++] = "clouds.yaml";
	if ((xdg && *xdg && asprintf(&user, "%s/openstack/clouds.yaml", xdg) < 0) ||
	    (!(xdg && *xdg) && home && *home && asprintf(&user, "%s/.config/openstack/clouds.yaml", home) < 0))
		return rain_error_oom();
	if (user)
		places[n++] = user;
	places[n++] = "/etc/openstack/clouds.yaml";
	for (size_t i = 0; i < n; i++)
		if (exists(places[i])) {
			*out = strdup(places[i]);
			return *out ? 0 : rain_error_oom();
		}
	return rain_error_set(RAIN_ENOTFOUND, "no clouds.yaml: looked at %s%s%s%s%s%s%s "
			      "(set clouds_yaml = PATH or $OS_CLIENT_CONFIG_FILE)",
			      places[0], n > 1 ? ", " : "", n > 1 ? places[1] : "",
			      n > 2 ? ", " : "", n > 2 ? places[2] : "",
			      n > 3 ? ", " : "", n > 3 ? places[3] : "");
}

/* obj[key] as a new string in *dst, when it is there; what names the key
 * in messages ("auth.username"). */
static int take_string(json_t *obj, const char *key, const char *where, const char *cloud,
		       const char *what, char **dst)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return rain_error_set(RAIN_EINVAL, "%s: cloud '%s': %s must be a single value",
				      where, cloud, what);
	*dst = strdup(json_string_value(v));
	return *dst ? 0 : rain_error_oom();
}

/* *dst = a copy of value, when there is one */
static int dup_opt(char **dst, const char *value)
{
	if (value && !(*dst = strdup(value)))
		return rain_error_oom();
	return 0;
}

/* Wipe a string value in place (the password) before its JSON is freed. */
static void wipe_string(json_t *v)
{
	if (json_is_string(v))
		explicit_bzero((char *)json_string_value(v), json_string_length(v));
}

static int cloud_names(json_t *clouds, char *buf, size_t len)
{
	const char *k;
	json_t *v;
	size_t o = 0;

	buf[0] = '\0';
	json_object_foreach(clouds, k, v) {
		int w = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", k);

		if (w < 0 || (size_t)w >= len - o)
			break;
		o += (size_t)w;
	}
	return (int)o;
}

static int cloud_from_json(json_t *entry, const char *where, const char *name,
			   struct rain_cloud *c)
{
	json_t *auth = json_object_get(entry, "auth");
	_cleanup_free_ char *auth_type = NULL, *verify = NULL, *api = NULL;
	_cleanup_free_ char *domain_name = NULL, *domain_id = NULL;
	static const struct {
		const char *key;
		size_t off;
	} auth_keys[] = {
		{ "auth_url", offsetof(struct rain_cloud, auth_url) },
		{ "username", offsetof(struct rain_cloud, username) },
		{ "user_id", offsetof(struct rain_cloud, user_id) },
		{ "password", offsetof(struct rain_cloud, password) },
		{ "project_name", offsetof(struct rain_cloud, project_name) },
		{ "project_id", offsetof(struct rain_cloud, project_id) },
		{ "user_domain_name", offsetof(struct rain_cloud, user_domain_name) },
		{ "user_domain_id", offsetof(struct rain_cloud, user_domain_id) },
		{ "project_domain_name", offsetof(struct rain_cloud, project_domain_name) },
		{ "project_domain_id", offsetof(struct rain_cloud, project_domain_id) },
	}, keys[] = {
		{ "region_name", offsetof(struct rain_cloud, region_name) },
		{ "interface", offsetof(struct rain_cloud, interface) },
		{ "image_endpoint_override", offsetof(struct rain_cloud, image_endpoint) },
		{ "cacert", offsetof(struct rain_cloud, cacert) },
	};
	char what[64];
	int r;

	if (!json_is_object(entry))
		return rain_error_set(RAIN_EINVAL, "%s: cloud '%s' is not a mapping of settings",
				      where, name);
	if (auth && !json_is_object(auth))
		return rain_error_set(RAIN_EINVAL, "%s: cloud '%s': auth is not a mapping", where, name);
	for (size_t i = 0; i < ARRAY_SIZE(auth_keys); i++) {
		snprintf(what, sizeof(what), "auth.%s", auth_keys[i].key);
		r = take_string(auth, auth_keys[i].key, where, name, what,
				(char **)((char *)c + auth_keys[i].off));
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		r = take_string(entry, keys[i].key, where, name, keys[i].key,
				(char **)((char *)c + keys[i].off));
		if (r < 0)
			return r;
	}
	if ((r = take_string(entry, "auth_type", where, name, "auth_type", &auth_type)) < 0 ||
	    (r = take_string(entry, "verify", where, name, "verify", &verify)) < 0 ||
	    (r = take_string(entry, "identity_api_version", where, name, "identity_api_version", &api)) < 0 ||
	    (r = take_string(auth, "domain_name", where, name, "auth.domain_name", &domain_name)) < 0 ||
	    (r = take_string(auth, "domain_id", where, name, "auth.domain_id", &domain_id)) < 0)
		return r;
	/* domain_name/domain_id stand for both domains when they are not named */
	if (!c->user_domain_name && !c->user_domain_id &&
	    ((r = dup_opt(&c->user_domain_name, domain_name)) < 0 ||
	     (r = dup_opt(&c->user_domain_id, domain_id)) < 0))
		return r;
	if (!c->project_domain_name && !c->project_domain_id &&
	    ((r = dup_opt(&c->project_domain_name, domain_name)) < 0 ||
	     (r = dup_opt(&c->project_domain_id, domain_id)) < 0))
		return r;
	if (!auth_type || !strcmp(auth_type, "password") || !strcmp(auth_type, "v3password"))
		c->auth_type = RAIN_CLOUD_AUTH_PASSWORD;
	else if (!strcmp(auth_type, "none") || !strcmp(auth_type, "noauth"))
		c->auth_type = RAIN_CLOUD_AUTH_NONE;
	else
		return rain_error_set(RAIN_EINVAL, "%s: cloud '%s': auth_type '%.64s' is not supported "
				      "(password or none)", where, name, auth_type);
	if (verify) {
		/* YAML 1.1's booleans */
		if (!strcasecmp(verify, "false") || !strcasecmp(verify, "no") || !strcasecmp(verify, "off"))
			c->insecure = true;
		else if (strcasecmp(verify, "true") && strcasecmp(verify, "yes") && strcasecmp(verify, "on"))
			return rain_error_set(RAIN_EINVAL, "%s: cloud '%s': verify must be true or false, not '%.64s'",
					      where, name, verify);
	}
	if (api && strcmp(api, "3") != 0 && strcmp(api, "3.0") != 0)
		return rain_error_set(RAIN_EINVAL, "%s: cloud '%s': identity_api_version %.16s is not supported "
				      "(Keystone v3 only)", where, name, api);
	if (c->auth_type == RAIN_CLOUD_AUTH_PASSWORD) {
		if (!c->auth_url || !*c->auth_url)
			return rain_error_set(RAIN_EINVAL, "%s: cloud '%s' has no auth.auth_url "
					      "(or set auth_type: none and image_endpoint_override)", where, name);
		if (!c->username && !c->user_id)
			return rain_error_set(RAIN_EINVAL, "%s: cloud '%s' has no auth.username", where, name);
		if (!c->password)
			return rain_error_set(RAIN_EINVAL, "%s: cloud '%s' has no auth.password", where, name);
	}
	if (!c->interface && !(c->interface = strdup("public")))
		return rain_error_oom();
	/* keystoneauth also takes the v2 names */
	if (str_has_suffix(c->interface, "URL"))
		c->interface[strlen(c->interface) - 3] = '\0';
	if (strcmp(c->interface, "public") != 0 && strcmp(c->interface, "internal") != 0 &&
	    strcmp(c->interface, "admin") != 0)
		return rain_error_set(RAIN_EINVAL, "%s: cloud '%s': interface '%.32s' is not public, internal or admin",
				      where, name, c->interface);
	return 0;
}

int rain_cloud_parse(const char *text, size_t len, const char *where, const char *name,
		     struct rain_cloud **out)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *clouds, *entry;
	struct rain_cloud *c;
	int r;

	*out = NULL;
	r = rain_yaml_to_json(text, len, where, &doc);
	if (r < 0)
		return r;
	clouds = json_object_get(doc, "clouds");
	if (!json_is_object(clouds))
		return rain_error_set(RAIN_EFORMAT, "%s has no \"clouds:\" mapping", where);
	entry = json_object_get(clouds, name);
	if (!entry) {
		char names[300];

		cloud_names(clouds, names, sizeof(names));
		return rain_error_set(RAIN_ENOTFOUND, "%s has no cloud '%.100s' (it has: %s)", where, name,
				      *names ? names : "none");
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strdup(name)) || !(c->file = strdup(where))) {
		rain_cloud_free(c);
		return rain_error_oom();
	}
	r = cloud_from_json(entry, where, name, c);
	wipe_string(json_object_get(json_object_get(entry, "auth"), "password"));
	if (r < 0) {
		rain_cloud_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int rain_cloud_load(const char *path, const char *name, struct rain_cloud **out)
{
	_cleanup_free_ char *file = NULL;
	char *text = NULL;
	size_t len = 0;
	int r;

	rain_error_clear();
	*out = NULL;
	r = rain_cloud_find_file(path, &file);
	if (r < 0)
		return r;
	r = fs_read_small(file, CLOUDS_MAX, &text, &len);
	if (r < 0)
		return r;
	r = rain_cloud_parse(text, len, file, name, out);
	explicit_bzero(text, len);
	free(text);
	return r;
}

/* ---- logging in ------------------------------------------------------- */

/* {"name": N, "domain": {...}} or {"id": I}, for a user or a project */
static json_t *named(const char *name, const char *id, const char *dname, const char *did)
{
	json_t *o;

	if (id)
		return json_pack("{s:s}", "id", id);
	o = json_pack("{s:s}", "name", name);
	if (o && json_object_set_new(o, "domain", did ? json_pack("{s:s}", "id", did) :
				     dname ? json_pack("{s:s}", "name", dname) :
				     json_pack("{s:s}", "id", "default")) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int rain_cloud_auth_body(const struct rain_cloud *c, json_t **out)
{
	_cleanup_json_ json_t *user = NULL, *body = NULL;
	json_t *project = NULL;

	*out = NULL;
	if (c->auth_type != RAIN_CLOUD_AUTH_PASSWORD || !c->password || (!c->username && !c->user_id))
		return rain_error_set(RAIN_EINVAL, "cloud '%s' has no user name and password", c->name);
	user = named(c->username, c->user_id, c->user_domain_name, c->user_domain_id);
	if (!user || json_object_set_new(user, "password", json_string(c->password)) < 0)
		return rain_error_set(RAIN_EINVAL, "cloud '%s': the user name and password must be UTF-8",
				      c->name);
	body = json_pack("{s:{s:{s:[s], s:{s:O}}}}", "auth", "identity", "methods", "password",
			 "password", "user", user);
	if (!body)
		return rain_error_oom();
	if (c->project_name || c->project_id) {
		project = named(c->project_name, c->project_id, c->project_domain_name, c->project_domain_id);
		if (!project || json_object_set_new(json_object_get(body, "auth"), "scope",
						    json_pack("{s:o}", "project", project)) < 0)
			return rain_error_set(RAIN_EINVAL, "cloud '%s': the project must be UTF-8", c->name);
	}
	*out = TAKE_PTR(body);
	return 0;
}

/* url without a trailing "/" and version ("/v2", "/v2.1", "/v3") */
static int strip_version(const char *url, char **out)
{
	size_t n = strlen(url);
	char *s;

	while (n > 0 && url[n - 1] == '/')
		n--;
	s = strndup(url, n);
	if (!s)
		return rain_error_oom();
	for (size_t i = n; i > 0; i--) {
		if (s[i - 1] == '/') {
			const char *v = s + i;

			if (v[0] == 'v' && v[1] >= '0' && v[1] <= '9' &&
			    strspn(v + 1, "0123456789.") == strlen(v + 1))
				s[i - 1] = '\0';
			break;
		}
	}
	*out = s;
	return 0;
}

int rain_cloud_image_url(const struct rain_cloud *c, json_t *token_body, char **out)
{
	json_t *catalog = json_object_get(json_object_get(token_body, "token"), "catalog"), *svc;
	const char *iface = c->interface ? c->interface : "public";
	size_t i;

	*out = NULL;
	json_array_foreach(catalog, i, svc) {
		json_t *eps = json_object_get(svc, "endpoints"), *ep;
		size_t k;

		if (!json_is_string(json_object_get(svc, "type")) ||
		    strcmp(json_string_value(json_object_get(svc, "type")), "image") != 0)
			continue;
		json_array_foreach(eps, k, ep) {
			const char *in = json_string_value(json_object_get(ep, "interface"));
			const char *reg = json_string_value(json_object_get(ep, "region"));
			const char *rid = json_string_value(json_object_get(ep, "region_id"));
			const char *url = json_string_value(json_object_get(ep, "url"));

			if (!in || strcmp(in, iface) != 0 || !url)
				continue;
			if (c->region_name && !(reg && !strcmp(reg, c->region_name)) &&
			    !(rid && !strcmp(rid, c->region_name)))
				continue;
			return strip_version(url, out);
		}
	}
	return rain_error_set(RAIN_ENOTFOUND, "cloud '%s': the service catalog of %s has no image service "
			      "(type image, interface %s%s%s)", c->name, c->auth_url ? c->auth_url : "Keystone",
			      iface, c->region_name ? ", region " : "", c->region_name ? c->region_name : "");
}

static int new_client(const struct rain_cloud *c, const char *url, const char *token,
		      long connect_timeout, struct rain_client **out)
{
	struct rain_client_config cfg = {
		.url = url, .token = token, .cacert = c->cacert, .insecure = c->insecure,
		.connect_timeout = connect_timeout,
	};
	int r = rain_client_new(&cfg, out);

	if (r < 0)
		return rain_error_set(r, "cloud '%s' in %s: %s", c->name, c->file, rain_error_last());
	return 0;
}

int rain_cloud_login(const struct rain_cloud *c, long connect_timeout, char *token, json_t **body)
{
	_cleanup_free_ char *keystone = NULL;
	_cleanup_json_ json_t *req = NULL;
	struct rain_client *kc = NULL;
	int r;

	rain_error_clear();
	if (body)
		*body = NULL;
	r = rain_cloud_auth_body(c, &req);
	if (r < 0)
		return r;
	r = strip_version(c->auth_url, &keystone);
	if (r == 0)
		r = new_client(c, keystone, NULL, connect_timeout, &kc);
	if (r < 0)
		return r;
	r = rain_client_login_body(kc, req, token, body);
	rain_client_free(kc);
	if (r == RAIN_EAUTH)
		return rain_error_set(r, "cloud '%s': Keystone at %s refused the login of user '%s': %s "
				      "(check auth.username, auth.password and the domains in %s)",
				      c->name, c->auth_url, c->username ? c->username : c->user_id,
				      rain_error_last(), c->file);
	if (r < 0)
		return rain_error_set(r, "cloud '%s': Keystone at %s: %s", c->name, c->auth_url,
				      rain_error_last());
	return 0;
}

int rain_cloud_connect(const struct rain_cloud *c, const char *endpoint, long connect_timeout,
		       struct rain_client **out)
{
	_cleanup_free_ char *image = NULL;
	_cleanup_json_ json_t *resp = NULL;
	char token[RAIN_CLIENT_TOKEN_MAX + 1];
	const char *over = endpoint ? endpoint : c->image_endpoint;
	int r;

	rain_error_clear();
	*out = NULL;
	if (c->auth_type == RAIN_CLOUD_AUTH_NONE) {
		if (!over)
			return rain_error_set(RAIN_EINVAL, "cloud '%s' in %s has auth_type none but no "
					      "image_endpoint_override (or site setting image_endpoint)",
					      c->name, c->file);
		r = strip_version(over, &image);
		return r < 0 ? r : new_client(c, image, NULL, connect_timeout, out);
	}
	r = rain_cloud_login(c, connect_timeout, token, &resp);
	if (r < 0)
		return r;
	r = over ? strip_version(over, &image) : rain_cloud_image_url(c, resp, &image);
	if (r == 0)
		r = new_client(c, image, token, connect_timeout, out);
	explicit_bzero(token, sizeof(token));
	return r;
}
