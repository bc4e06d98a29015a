/* OpenNebula's XML-RPC answers and the XML documents in them, read with
 * libxml2 (no network, no entities): what the opennebula driver takes from
 * the network (target-internal.h; fuzzed by tests/fuzz/fuzz-opennebula.c). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "lib/target/target-internal.h"
#include "rain/error.h"
#include "util/strutil.h"

#define RESPONSE_MAX (16 << 20)  /* bytes of an answer (pool listings) */
#define PARSE_FLAGS (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

static xmlNode *child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
			return c;
	return NULL;
}

static xmlNode *nth_value(xmlNode *data, int k)
{
	for (xmlNode *c = data ? data->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "value") && k-- == 0)
			return c;
	return NULL;
}

/* A <value>'s scalar: its typed child's text, or its own text (a string
 * without a type); *type the type's name ("string" when none). */
static char *value_text(xmlNode *v, const char **type)
{
	xmlNode *t = NULL;

	for (xmlNode *c = v->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			t = c;
	*type = t ? (const char *)t->name : "string";
	return (char *)xmlNodeGetContent(t ? t : v);
}

int opennebula_parse_response(const char *data, size_t len, bool *ok, char **result, long *code)
{
	xmlDoc *doc = NULL;
	xmlNode *data_node;
	char *okt = NULL, *res = NULL, *codet = NULL;
	const char *t1 = "", *t2, *t3;
	int r = 0;

	*ok = false;
	*result = NULL;
	*code = 0;
	if (len > RESPONSE_MAX)
		return rain_error_set(RAIN_ETOOBIG, "the answer has %zu bytes", len);
	doc = len ? xmlReadMemory(data, (int)len, "response.xml", NULL,
				  PARSE_FLAGS) : NULL;
	data_node = doc ? child(child(child(child(child(xmlDocGetRootElement(doc), "params"),
						       "param"), "value"), "array"), "data") : NULL;
	if (!data_node || !nth_value(data_node, 0) || !nth_value(data_node, 1)) {
		r = rain_error_set(RAIN_EFORMAT, "not an XML-RPC answer of OpenNebula's ([success, "
				   "result, code])");
		goto out;
	}
	okt = value_text(nth_value(data_node, 0), &t1);
	res = value_text(nth_value(data_node, 1), &t2);
	codet = nth_value(data_node, 2) ? value_text(nth_value(data_node, 2), &t3) : NULL;
	if (strcmp(t1, "boolean") || !okt || !res) {
		r = rain_error_set(RAIN_EFORMAT, "the answer's first value is not a boolean");
		goto out;
	}
	*ok = !strcmp(okt, "1");
	*code = codet ? strtol(codet, NULL, 10) : 0;
	if (!(*result = strdup(res)))
		r = rain_error_oom();
out:
	xmlFree(okt);
	xmlFree(res);
	xmlFree(codet);
	xmlFreeDoc(doc);
	return r;
}

char *opennebula_doc_text(const char *xml, const char *const *path)
{
	xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "one.xml", NULL, PARSE_FLAGS);
	xmlNode *n = doc ? xmlDocGetRootElement(doc) : NULL;
	char *out = NULL;

	if (n && strcmp((const char *)n->name, path[0]))
		n = NULL;
	for (size_t i = 1; n && path[i]; i++)
		n = child(n, path[i]);
	if (n) {
		xmlChar *t = xmlNodeGetContent(n);

		out = t ? strdup((const char *)t) : NULL;
		xmlFree(t);
	}
	xmlFreeDoc(doc);
	return out;
}

int opennebula_pool_find(const char *xml, const char *element, const char *name, int64_t *id)
{
	xmlDoc *doc = strlen(xml) <= RESPONSE_MAX ?
		      xmlReadMemory(xml, (int)strlen(xml), "pool.xml", NULL, PARSE_FLAGS) : NULL;
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;

	*id = -1;
	for (xmlNode *n = root ? root->children : NULL; n; n = n->next) {
		xmlNode *nm = child(n, "NAME"), *idn = child(n, "ID");
		xmlChar *nt, *it;

		if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, element) || !nm || !idn)
			continue;
		nt = xmlNodeGetContent(nm);
		it = xmlNodeGetContent(idn);
		if (nt && it && !strcmp((const char *)nt, name) && str_to_i64((const char *)it, id) < 0)
			*id = -1;
		xmlFree(nt);
		xmlFree(it);
	}
	xmlFreeDoc(doc);
	return 0;
}
