/* libFuzzer harness for the libvirt provider's reading of a
 * registration's domain definition (libvirt_instance_xml in
 * src/lib/target/drivers/libvirt-xml.c): arbitrary bytes as the
 * registration's XML are refused or give a definition libxml2 reads back
 * whose name is the instance's, with no uuid, exactly one disk and that
 * one the instance's volume, no <interface> and one rain:run; never a
 * crash or a leak. The same bytes as a volume's definition
 * (libvirt_vol_backing) give a non-empty backing path, none, or an
 * error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "lib/target/drivers/libvirt-internal.h"
#include "rain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

/* The string value of expr over doc equals want. */
static int xp_is(xmlDocPtr doc, const char *expr, const char *want)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o;
	xmlChar *s;
	int eq;

	if (!ctx)
		return 0;
	xmlXPathRegisterNs(ctx, BAD_CAST "run", BAD_CAST "urn:x-rain:run:1");
	o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	s = o ? xmlXPathCastToString(o) : NULL;
	eq = s && strcmp((const char *)s, want) == 0;
	xmlFree(s);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct libvirt_instance in = {
		.name = "rain-f-1", .run_id = "f", .pool = "p", .disk_volume = "rain-f-1.qcow2",
		.seed_volume = "rain-f-1-seed.iso", .ssh_port = 2222,
	};
	char *text = malloc(size + 1), *xml = NULL;
	xmlDocPtr doc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	xmlSetGenericErrorFunc(NULL, quiet);
	/* the same bytes as a volume's definition: a backing path or none */
	if (libvirt_vol_backing(text, &xml) == 0 && xml && !*xml)
		__builtin_trap();
	free(xml);
	xml = NULL;
	if (libvirt_instance_xml(text, &in, &xml) < 0) {
		free(text);
		return 0;
	}
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
	if (!doc)
		__builtin_trap();
	if (!xp_is(doc, "string(/domain/name)", "rain-f-1") || !xp_is(doc, "count(/domain/uuid)", "0") ||
	    !xp_is(doc, "count(/domain/devices/disk[not(@device) or @device='disk'])", "1") ||
	    !xp_is(doc, "string(/domain/devices/disk[not(@device) or @device='disk']/source/@volume)",
		   "rain-f-1.qcow2") ||
	    !xp_is(doc, "count(/domain/devices/interface)", "0") ||
	    !xp_is(doc, "count(/domain/metadata/run:run)", "1"))
		__builtin_trap();
	xmlFreeDoc(doc);
	free(xml);
	free(text);
	return 0;
}
