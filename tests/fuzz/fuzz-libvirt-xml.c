/* libFuzzer harness for the user text the libvirt site driver writes into
 * a domain definition (src/lib/target/drivers/libvirt-xml.c): arbitrary
 * bytes as an image's name (the title) and description always give XML
 * that libxml2 reads back, with the title's text equal to the bytes with
 * control characters as spaces and bytes that are no XML character as
 * '?' (never markup of their own, never a second element); never a crash
 * or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "lib/target/drivers/libvirt-internal.h"
#include "rain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct libvirt_domain d = {
		.name = "rain-f", .type = "qemu", .arch = "x86_64", .memory_mib = 512,
		.vcpus = 1, .pool = "default", .disk_volume = "rain-f.qcow2",
		.disk_format = "qcow2", .seed_volume = "rain-f-seed.iso", .network = "user",
	};
	char *text = malloc(size + 1), *xml = NULL;
	xmlDocPtr doc;
	xmlNodePtr n;
	int titles = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	d.title = text;
	d.description = text;
	xmlSetGenericErrorFunc(NULL, quiet);
	if (libvirt_domain_xml(&d, &xml) < 0) {
		free(text);
		return 0;
	}
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOENT);
	if (!doc)
		__builtin_trap();
	for (n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
		xmlChar *t;

		if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, BAD_CAST "title"))
			continue;
		titles++;
		/* one text child, no markup of the user's */
		if (n->children && (n->children->next || n->children->type != XML_TEXT_NODE))
			__builtin_trap();
		t = xmlNodeGetContent(n);
		/* as long as the input up to its first NUL, no control character */
		if (!t || strlen((char *)t) != strlen(text))
			__builtin_trap();
		for (const xmlChar *p = t; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				__builtin_trap();
		xmlFree(t);
	}
	if (titles != 1)
		__builtin_trap();
	xmlFreeDoc(doc);
	free(xml);
	free(text);
	return 0;
}
