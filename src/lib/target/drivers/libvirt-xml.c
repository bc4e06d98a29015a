/* The libvirt site driver's documents (libvirt-internal.h): the domain
 * XML, written with libxml2's writer, and the cloud-init NoCloud seed, an
 * ISO 9660 image written by libarchive. Apart from drivers/libvirt.c so
 * that the unit tests and fuzz-libvirt-xml reach them without libvirt.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <libxml/chvalid.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "rain/error.h"
#include "lib/target/drivers/libvirt-internal.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* ---- the domain XML ---------------------------------------------------- */

/* The virtio-serial port name qemu-ga opens (/dev/virtio-ports/NAME). */
#define QGA_CHANNEL "org.qemu.guest_agent.0"

/* A writer that remembers its first failure, so that building the
 * document reads as the document. */
struct xw {
	xmlTextWriterPtr w;
	bool failed;
};

static void xw_start(struct xw *x, const char *name)
{
	if (!x->failed && xmlTextWriterStartElement(x->w, BAD_CAST name) < 0)
		x->failed = true;
}

static void xw_attr(struct xw *x, const char *name, const char *value)
{
	if (!x->failed && xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value) < 0)
		x->failed = true;
}

static void xw_end(struct xw *x)
{
	if (!x->failed && xmlTextWriterEndElement(x->w) < 0)
		x->failed = true;
}

static void xw_text(struct xw *x, const char *name, const char *text)
{
	xw_start(x, name);
	if (!x->failed && xmlTextWriterWriteString(x->w, BAD_CAST text) < 0)
		x->failed = true;
	xw_end(x);
}

/* <name attr='value'/> */
static void xw_empty(struct xw *x, const char *name, const char *attr, const char *value)
{
	xw_start(x, name);
	if (attr)
		xw_attr(x, attr, value);
	xw_end(x);
}

/* <name unit='unit'>text</name> */
static void xw_amount(struct xw *x, const char *name, const char *unit, const char *text)
{
	xw_start(x, name);
	xw_attr(x, "unit", unit);
	if (!x->failed && xmlTextWriterWriteString(x->w, BAD_CAST text) < 0)
		x->failed = true;
	xw_end(x);
}

/* A writer into a new buffer (*buf), indented; RAIN_ENOMEM. */
static int xw_open(struct xw *x, xmlBufferPtr *buf)
{
	xmlInitParser();
	*buf = xmlBufferCreate();
	if (!*buf)
		return rain_error_oom();
	x->failed = false;
	x->w = xmlNewTextWriterMemory(*buf, 0);
	if (!x->w) {
		xmlBufferFree(*buf);
		return rain_error_oom();
	}
	xmlTextWriterSetIndent(x->w, 1);
	xmlTextWriterSetIndentString(x->w, BAD_CAST "  ");
	return 0;
}

/* End the document and hand its text out in *out (new), freeing the
 * writer and buf; what names the document for the error. */
static int xw_close(struct xw *x, xmlBufferPtr buf, const char *what, char **out)
{
	int r = 0;

	if (!x->failed && xmlTextWriterEndDocument(x->w) < 0)
		x->failed = true;
	xmlFreeTextWriter(x->w);
	if (x->failed) {
		r = rain_error_set(RAIN_EINVAL, "libvirt: cannot write the definition of %s (a value "
				   "that is not UTF-8?)", what);
	} else {
		*out = strdup((const char *)xmlBufferContent(buf));
		if (!*out)
			r = rain_error_oom();
	}
	xmlBufferFree(buf);
	return r;
}

/* <disk type='volume'>: a volume of pool as device (disk, cdrom) */
static void xw_disk(struct xw *x, const char *device, const char *format, const char *pool,
		    const char *volume, const char *dev, const char *bus)
{
	xw_start(x, "disk");
	xw_attr(x, "type", "volume");
	xw_attr(x, "device", device);
	xw_start(x, "driver");
	xw_attr(x, "name", "qemu");
	xw_attr(x, "type", format);
	xw_end(x);
	xw_start(x, "source");
	xw_attr(x, "pool", pool);
	xw_attr(x, "volume", volume);
	xw_end(x);
	xw_start(x, "target");
	xw_attr(x, "dev", dev);
	xw_attr(x, "bus", bus);
	xw_end(x);
	if (strcmp(device, "cdrom") == 0)
		xw_empty(x, "readonly", NULL, NULL);
	xw_end(x);
}

/* The length of the UTF-8 sequence at s (n > 0 bytes left) when it is
 * well formed (no overlong form, no surrogate) and an XML character, else
 * 0. libxml2's xmlGetUTF8Char takes some malformed sequences. */
static size_t utf8_xml_char(const unsigned char *s, size_t n)
{
	unsigned int c;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    !xmlIsCharQ(c))
		return 0;
	return len;
}

/* User text for an element: control characters (newlines too, which
 * libvirt refuses in a title) become spaces, each byte of what is not
 * well-formed UTF-8 or no XML character becomes '?' (libxml2 would write
 * it as it is, and no parser reads that back). A new string of the same
 * length, or NULL. */
static char *xml_clean(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	char *o = malloc(n + 1);

	if (!o)
		return NULL;
	while (i < n) {
		size_t len = utf8_xml_char(u + i, n - i);

		if (u[i] < 0x20 || u[i] == 0x7f) {
			o[i++] = ' ';
		} else if (len == 0) {
			o[i++] = '?';
		} else {
			memcpy(o + i, s + i, len);
			i += len;
		}
	}
	o[n] = '\0';
	return o;
}

static void xw_user_text(struct xw *x, const char *name, const char *text)
{
	_cleanup_free_ char *clean = xml_clean(text);

	if (!clean) {
		x->failed = true;
		return;
	}
	xw_text(x, name, clean);
}

/* What libvirt adds to a domain unless told not to, and rain's domains do
 * without: a USB controller (nothing is plugged in; under TCG the guest
 * spends its boot on the controller's reset quirk and the USB modules
 * and their udev events) and a memory balloon. <controller type='usb'
 * model='none'/> and <memballoon model='none'/>. */
static void trimmed_devices(struct xw *x)
{
	xw_start(x, "controller");
	xw_attr(x, "type", "usb");
	xw_attr(x, "model", "none");
	xw_end(x);
	xw_empty(x, "memballoon", "model", "none");
}

int libvirt_domain_xml(const struct libvirt_domain *d, char **out)
{
	bool x86 = strcmp(d->arch, "x86_64") == 0;
	bool uefi = d->uefi || !x86;
	xmlBufferPtr buf;
	struct xw x = { 0 };
	char num[32], what[300];
	int r = 0;

	*out = NULL;
	xmlInitParser();
	if (!x86 && strcmp(d->arch, "aarch64") != 0)
		return rain_error_set(RAIN_EINVAL, "libvirt: architecture '%s' is not supported "
				      "(x86_64 or aarch64)", d->arch);
	if (strcmp(d->network, "user") != 0 && strcmp(d->network, "none") != 0 &&
	    !str_has_prefix(d->network, "network:") && !str_has_prefix(d->network, "bridge:"))
		return rain_error_set(RAIN_EINVAL, "libvirt: network '%s': expected user, none, "
				      "network:NAME or bridge:NAME", d->network);
	r = xw_open(&x, &buf);
	if (r < 0)
		return r;

	xw_start(&x, "domain");
	xw_attr(&x, "type", d->type);
	xw_text(&x, "name", d->name);
	if (d->title)
		xw_user_text(&x, "title", d->title);
	if (d->description)
		xw_user_text(&x, "description", d->description);
	if (d->reg_id) {
		xw_start(&x, "metadata");
		if (!x.failed && xmlTextWriterStartElementNS(x.w, BAD_CAST "rain", BAD_CAST "registration",
							     BAD_CAST "urn:x-rain:registration:1") < 0)
			x.failed = true;
		xw_attr(&x, "id", d->reg_id);
		if (d->image_id)
			xw_attr(&x, "image", d->image_id);
		xw_end(&x);
		xw_end(&x);
	}
	snprintf(num, sizeof(num), "%" PRId64, d->memory_mib);
	xw_amount(&x, "memory", "MiB", num);
	snprintf(num, sizeof(num), "%d", d->vcpus);
	xw_text(&x, "vcpu", num);

	xw_start(&x, "os");
	if (uefi)
		xw_attr(&x, "firmware", "efi");
	xw_start(&x, "type");
	xw_attr(&x, "arch", d->arch);
	/* OVMF wants q35 (its secure-boot builds need SMM); aarch64 has only virt */
	if (!x86)
		xw_attr(&x, "machine", "virt");
	else if (uefi)
		xw_attr(&x, "machine", "q35");
	if (!x.failed && xmlTextWriterWriteString(x.w, BAD_CAST "hvm") < 0)
		x.failed = true;
	xw_end(&x);
	if (uefi) {
		/* images are rarely signed for the keys OVMF enrols */
		xw_start(&x, "firmware");
		xw_start(&x, "feature");
		xw_attr(&x, "enabled", "no");
		xw_attr(&x, "name", "secure-boot");
		xw_end(&x);
		xw_end(&x);
	}
	xw_empty(&x, "boot", "dev", "hd");
	xw_end(&x);

	xw_start(&x, "features");
	xw_empty(&x, "acpi", NULL, NULL);
	if (x86)
		xw_empty(&x, "apic", NULL, NULL);
	else
		xw_empty(&x, "gic", "version", "3");
	xw_end(&x);
	if (strcmp(d->type, "kvm") == 0)
		xw_empty(&x, "cpu", "mode", "host-passthrough");
	else if (!x86)
		/* TCG has no default CPU for virt */
		xw_empty(&x, "cpu", "mode", "maximum");
	xw_text(&x, "on_poweroff", "destroy");
	xw_text(&x, "on_reboot", "restart");
	xw_text(&x, "on_crash", "destroy");

	xw_start(&x, "devices");
	xw_disk(&x, "disk", d->disk_format, d->pool, d->disk_volume, "vda", "virtio");
	if (d->seed_volume) {
		/* on virtio-scsi: every arch has it, and the kernels rain
		 * builds carry its module */
		xw_disk(&x, "cdrom", "raw", d->pool, d->seed_volume, "sda", "scsi");
		xw_start(&x, "controller");
		xw_attr(&x, "type", "scsi");
		xw_attr(&x, "model", "virtio-scsi");
		xw_end(&x);
	}
	if (strcmp(d->network, "none") != 0) {
		xw_start(&x, "interface");
		if (strcmp(d->network, "user") == 0) {
			xw_attr(&x, "type", "user");
		} else if (str_has_prefix(d->network, "network:")) {
			xw_attr(&x, "type", "network");
			xw_empty(&x, "source", "network", d->network + strlen("network:"));
		} else {
			xw_attr(&x, "type", "bridge");
			xw_empty(&x, "source", "bridge", d->network + strlen("bridge:"));
		}
		xw_empty(&x, "model", "type", "virtio");
		xw_end(&x);
	}
	if (d->guest_agent) {
		/* libvirt picks the socket's path and connects to it itself */
		xw_start(&x, "channel");
		xw_attr(&x, "type", "unix");
		xw_start(&x, "target");
		xw_attr(&x, "type", "virtio");
		xw_attr(&x, "name", QGA_CHANNEL);
		xw_end(&x);
		xw_end(&x);
	}
	xw_start(&x, "serial");
	xw_attr(&x, "type", "pty");
	if (d->console_log) {
		xw_start(&x, "log");
		xw_attr(&x, "file", d->console_log);
		xw_attr(&x, "append", "off");
		xw_end(&x);
	}
	xw_empty(&x, "target", "port", "0");
	xw_end(&x);
	xw_start(&x, "console");
	xw_attr(&x, "type", "pty");
	xw_start(&x, "target");
	xw_attr(&x, "type", "serial");
	xw_attr(&x, "port", "0");
	xw_end(&x);
	xw_end(&x);
	xw_start(&x, "rng");
	xw_attr(&x, "model", "virtio");
	xw_start(&x, "backend");
	xw_attr(&x, "model", "random");
	if (!x.failed && xmlTextWriterWriteString(x.w, BAD_CAST "/dev/urandom") < 0)
		x.failed = true;
	xw_end(&x);
	xw_end(&x);
	trimmed_devices(&x);
	xw_end(&x); /* devices */
	xw_end(&x); /* domain */
	snprintf(what, sizeof(what), "domain %s", d->name);
	return xw_close(&x, buf, what, out);
}

/* ---- a run's instance ---------------------------------------------------- */

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
#define RUN_NS "urn:x-rain:run:1"

/* The first child element of parent named name (no namespace), or NULL. */
static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !c->ns && xmlStrEqual(c->name, BAD_CAST name))
			return c;
	return NULL;
}

/* How many child elements of parent are named name. */
static int count_children(xmlNodePtr parent, const char *name)
{
	int n = 0;

	for (xmlNodePtr c = parent->children; c; c = c->next)
		n += c->type == XML_ELEMENT_NODE && !c->ns && xmlStrEqual(c->name, BAD_CAST name);
	return n;
}

static void drop(xmlNodePtr n)
{
	xmlUnlinkNode(n);
	xmlFreeNode(n);
}

/* Remove every child element of parent named name. */
static void drop_children(xmlNodePtr parent, const char *name)
{
	xmlNodePtr c, next;

	for (c = parent->children; c; c = next) {
		next = c->next;
		if (c->type == XML_ELEMENT_NODE && !c->ns && xmlStrEqual(c->name, BAD_CAST name))
			drop(c);
	}
}

/* A <disk> made to read volume of pool in format: type='volume', its
 * source replaced, no backing chain of the old source, the driver's
 * type set. false when out of memory. */
static bool disk_set(xmlNodePtr disk, const char *pool, const char *volume, const char *format)
{
	xmlNodePtr drv = child(disk, "driver"), src;

	drop_children(disk, "source");
	drop_children(disk, "backingStore");
	src = xmlNewChild(disk, NULL, BAD_CAST "source", NULL);
	if (!src || !xmlSetProp(disk, BAD_CAST "type", BAD_CAST "volume") ||
	    !xmlSetProp(src, BAD_CAST "pool", BAD_CAST pool) ||
	    !xmlSetProp(src, BAD_CAST "volume", BAD_CAST volume))
		return false;
	if (!drv) {
		drv = xmlNewChild(disk, NULL, BAD_CAST "driver", NULL);
		if (!drv || !xmlSetProp(drv, BAD_CAST "name", BAD_CAST "qemu"))
			return false;
	}
	return xmlSetProp(drv, BAD_CAST "type", BAD_CAST format) != NULL;
}

/* <qemu:commandline> (the root's, or a new one) with a user network
 * device forwarding 127.0.0.1:port to the guest's port 22. The device is
 * given as JSON, as libvirt gives its own: qemu makes the legacy-syntax
 * -device ones first, and such a NIC would take the first free PCI slot,
 * which libvirt may have given to a device of its own (a shared folder's
 * virtio-9p, in the slot of the interface that was dropped). As JSON it
 * comes after libvirt's, each of which has its slot. */
static bool qemu_user_net(xmlNodePtr root, int port)
{
	xmlNsPtr ns = xmlSearchNsByHref(root->doc, root, BAD_CAST QEMU_NS);
	xmlNodePtr cmd = NULL;
	char netdev[96];
	const char *args[] = {
		"-netdev", netdev, "-device", "{\"driver\":\"virtio-net-pci\",\"netdev\":\"rainnet0\"}",
	};

	if (!ns)
		ns = xmlNewNs(root, BAD_CAST QEMU_NS, BAD_CAST "qemu");
	if (!ns)
		return false;
	for (xmlNodePtr c = root->children; c && !cmd; c = c->next)
		if (c->type == XML_ELEMENT_NODE && c->ns && xmlStrEqual(c->ns->href, BAD_CAST QEMU_NS) &&
		    xmlStrEqual(c->name, BAD_CAST "commandline"))
			cmd = c;
	if (!cmd)
		cmd = xmlNewChild(root, ns, BAD_CAST "commandline", NULL);
	if (!cmd)
		return false;
	snprintf(netdev, sizeof(netdev), "user,id=rainnet0,hostfwd=tcp:127.0.0.1:%d-:22", port);
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		xmlNodePtr a = xmlNewChild(cmd, ns, BAD_CAST "arg", NULL);

		if (!a || !xmlSetProp(a, BAD_CAST "value", BAD_CAST args[i]))
			return false;
	}
	return true;
}

/* The one <channel> of devs: type='unix' to the guest agent, its socket's
 * path left to libvirt (the registration's may name another's). */
static bool agent_channel_set(xmlNodePtr devs)
{
	xmlNodePtr ch;

	drop_children(devs, "channel");
	ch = xmlNewChild(devs, NULL, BAD_CAST "channel", NULL);
	xmlNodePtr t = ch ? xmlNewChild(ch, NULL, BAD_CAST "target", NULL) : NULL;

	return t && xmlSetProp(ch, BAD_CAST "type", BAD_CAST "unix") &&
	       xmlSetProp(t, BAD_CAST "type", BAD_CAST "virtio") &&
	       xmlSetProp(t, BAD_CAST "name", BAD_CAST QGA_CHANNEL);
}

/* A <filesystem> sharing dir into the guest over virtio-9p. */
static bool share_add(xmlNodePtr devs, const char *dir, bool rw)
{
	xmlNodePtr fs = xmlNewChild(devs, NULL, BAD_CAST "filesystem", NULL);
	xmlNodePtr src = fs ? xmlNewChild(fs, NULL, BAD_CAST "source", NULL) : NULL;
	xmlNodePtr t = src ? xmlNewChild(fs, NULL, BAD_CAST "target", NULL) : NULL;

	if (!t || !xmlSetProp(fs, BAD_CAST "type", BAD_CAST "mount") ||
	    !xmlSetProp(fs, BAD_CAST "accessmode", BAD_CAST "mapped") ||
	    !xmlSetProp(src, BAD_CAST "dir", BAD_CAST dir) ||
	    !xmlSetProp(t, BAD_CAST "dir", BAD_CAST LIBVIRT_SHARE_TAG))
		return false;
	return rw || xmlNewChild(fs, NULL, BAD_CAST "readonly", NULL) != NULL;
}

/* <rain:run id='RUNID' instance='NAME'/> in <metadata> (made if none). */
static bool run_metadata(xmlNodePtr root, const struct libvirt_instance *in)
{
	xmlNodePtr md = child(root, "metadata"), run;
	xmlNsPtr ns;

	if (!md)
		md = xmlNewChild(root, NULL, BAD_CAST "metadata", NULL);
	if (!md)
		return false;
	run = xmlNewChild(md, NULL, BAD_CAST "run", NULL);
	if (!run)
		return false;
	ns = xmlNewNs(run, BAD_CAST RUN_NS, BAD_CAST "rain");
	if (!ns)
		return false;
	xmlSetNs(run, ns);
	return xmlSetProp(run, BAD_CAST "id", BAD_CAST in->run_id) &&
	       xmlSetProp(run, BAD_CAST "instance", BAD_CAST in->name);
}

/* Whether element c is named name and its attribute attr is value. */
static bool prop_is(xmlNodePtr c, const char *name, const char *attr, const char *value)
{
	xmlChar *v;
	bool is;

	if (!xmlStrEqual(c->name, BAD_CAST name))
		return false;
	v = xmlGetProp(c, BAD_CAST attr);
	is = v && xmlStrEqual(v, BAD_CAST value);
	xmlFree(v);
	return is;
}

/* Add what trimmed_devices writes to devs (whose USB controllers, USB
 * input devices and balloon are gone): registrations made before rain
 * wrote them got libvirt's. false when out of memory. */
static bool trim_devices(xmlNodePtr devs)
{
	xmlNodePtr usb = xmlNewChild(devs, NULL, BAD_CAST "controller", NULL);
	xmlNodePtr balloon = usb ? xmlNewChild(devs, NULL, BAD_CAST "memballoon", NULL) : NULL;

	return balloon && xmlSetProp(usb, BAD_CAST "type", BAD_CAST "usb") &&
	       xmlSetProp(usb, BAD_CAST "model", BAD_CAST "none") &&
	       xmlSetProp(balloon, BAD_CAST "model", BAD_CAST "none");
}

static bool name_ok(const char *s)
{
	return s && *s && strlen(s) <= 255 &&
	       !s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")];
}

/* Apply the instance's changes to the domain's tree (see
 * libvirt_instance_xml); false when out of memory (*bad NULL) or for a
 * definition that cannot be (*bad says why). */
static bool instance_edit(xmlNodePtr root, const struct libvirt_instance *in, const char **bad)
{
	xmlNodePtr devs = child(root, "devices"), name = child(root, "name"), os = child(root, "os");
	xmlNodePtr c, next;
	int disks = 0;

	*bad = NULL;
	if (!devs || !name) {
		*bad = "it has no <name> or no <devices>";
		return false;
	}
	/* one of each: the edits below go to the first, libvirt reads them all */
	if (count_children(root, "devices") > 1 || count_children(root, "name") > 1 ||
	    count_children(root, "os") > 1) {
		*bad = "it has more than one <devices>, <name> or <os>";
		return false;
	}
	xmlNodeSetContent(name, BAD_CAST in->name);
	drop_children(root, "uuid");
	if (os)
		drop_children(os, "nvram");
	for (c = devs->children; c; c = next) {
		xmlChar *device;
		bool ok = true;

		next = c->next;
		if (c->type != XML_ELEMENT_NODE || c->ns)
			continue;
		if (xmlStrEqual(c->name, BAD_CAST "disk")) {
			device = xmlGetProp(c, BAD_CAST "device");
			if (!device || xmlStrEqual(device, BAD_CAST "disk")) {
				disks++;
				ok = disk_set(c, in->pool, in->disk_volume, "qcow2");
			} else if (xmlStrEqual(device, BAD_CAST "cdrom")) {
				if (in->seed_volume)
					ok = disk_set(c, in->pool, in->seed_volume, "raw");
				else
					drop(c);
			}
			xmlFree(device);
			if (!ok)
				return false;
		} else if (xmlStrEqual(c->name, BAD_CAST "interface")) {
			if (in->ssh_port > 0 || in->agent)
				drop(c);
			else
				drop_children(c, "mac");
		} else if (xmlStrEqual(c->name, BAD_CAST "serial") ||
			   xmlStrEqual(c->name, BAD_CAST "console")) {
			drop_children(c, "log");
		} else if (xmlStrEqual(c->name, BAD_CAST "memballoon") ||
			   prop_is(c, "controller", "type", "usb") || prop_is(c, "input", "bus", "usb")) {
			/* replaced below (trimmed_devices) */
			drop(c);
		}
	}
	if (disks != 1) {
		*bad = disks ? "it has more than one disk" : "it has no disk";
		return false;
	}
	if (in->agent && in->ssh_port > 0) {
		*bad = "an instance reached by agent has no network";
		return false;
	}
	if (!trim_devices(devs))
		return false;
	if (in->ssh_port > 0 && !qemu_user_net(root, in->ssh_port))
		return false;
	if (in->agent && !agent_channel_set(devs))
		return false;
	if (in->share_dir && !share_add(devs, in->share_dir, in->share_rw))
		return false;
	return run_metadata(root, in);
}

int libvirt_instance_xml(const char *reg_xml, const struct libvirt_instance *in, char **out)
{
	xmlDocPtr doc;
	xmlNodePtr root;
	xmlChar *text = NULL;
	const char *bad = NULL;
	int len = 0, r = 0;

	*out = NULL;
	if (!name_ok(in->name) || !name_ok(in->run_id) || !name_ok(in->pool) ||
	    !name_ok(in->disk_volume) || (in->seed_volume && !name_ok(in->seed_volume)))
		return rain_error_set(RAIN_EINVAL, "libvirt: instance '%s': its names must be "
				      "letters, digits, '_', '.' and '-'", in->name ? in->name : "");
	if (in->share_dir && (in->share_dir[0] != '/' || !str_is_printable(in->share_dir, 4000) ||
			      strstr(in->share_dir, "/../") || str_has_suffix(in->share_dir, "/..")))
		return rain_error_set(RAIN_EINVAL, "libvirt: instance %s: the shared folder '%s' must "
				      "be an absolute path without '..'", in->name, in->share_dir);
	if (in->ssh_port < 0 || in->ssh_port > 65535)
		return rain_error_set(RAIN_EINVAL, "libvirt: instance %s: ssh port %d", in->name,
				      in->ssh_port);
	xmlInitParser();
	if (strlen(reg_xml) > INT_MAX)
		return rain_error_set(RAIN_EFORMAT, "libvirt: the registration's domain definition "
				      "is too long");
	doc = xmlReadMemory(reg_xml, (int)strlen(reg_xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING);
	if (!doc)
		return rain_error_set(RAIN_EFORMAT, "libvirt: the registration's domain definition "
				      "is no XML");
	root = xmlDocGetRootElement(doc);
	if (!root || root->ns || !xmlStrEqual(root->name, BAD_CAST "domain")) {
		r = rain_error_set(RAIN_EFORMAT, "libvirt: the registration's definition is no "
				   "<domain>");
		goto done;
	}
	if (!instance_edit(root, in, &bad)) {
		r = bad ? rain_error_set(RAIN_EFORMAT, "libvirt: cannot make instance %s from the "
					 "registration's domain: %s", in->name, bad) :
			  rain_error_oom();
		goto done;
	}
	xmlDocDumpFormatMemoryEnc(doc, &text, &len, "UTF-8", 1);
	if (!text || len <= 0) {
		r = rain_error_oom();
		goto done;
	}
	*out = strdup((const char *)text);
	if (!*out)
		r = rain_error_oom();
done:
	xmlFree(text);
	xmlFreeDoc(doc);
	return r;
}

int libvirt_overlay_xml(const char *name, uint64_t capacity, const char *backing,
			const char *backing_format, char **out)
{
	xmlBufferPtr buf;
	struct xw x = { 0 };
	char num[32], what[300];
	int r = 0;

	*out = NULL;
	if (!name_ok(name) || !str_is_printable(backing, 4096) ||
	    (strcmp(backing_format, "qcow2") != 0 && strcmp(backing_format, "raw") != 0))
		return rain_error_set(RAIN_EINVAL, "libvirt: overlay volume '%s' of a %s volume: "
				      "expected a name of letters, digits, '_', '.', '-' over a "
				      "qcow2 or raw volume", name, backing_format);
	r = xw_open(&x, &buf);
	if (r < 0)
		return r;
	snprintf(num, sizeof(num), "%" PRIu64, capacity);
	xw_start(&x, "volume");
	xw_text(&x, "name", name);
	xw_amount(&x, "capacity", "bytes", num);
	xw_start(&x, "target");
	xw_empty(&x, "format", "type", "qcow2");
	xw_start(&x, "permissions");
	xw_text(&x, "mode", "0600");
	xw_end(&x);
	xw_end(&x);
	xw_start(&x, "backingStore");
	xw_text(&x, "path", backing);
	xw_empty(&x, "format", "type", backing_format);
	xw_end(&x);
	xw_end(&x);
	snprintf(what, sizeof(what), "volume %s", name);
	return xw_close(&x, buf, what, out);
}

int libvirt_vol_backing(const char *vol_xml, char **out)
{
	xmlNodePtr root, bs, path;
	xmlChar *text;
	xmlDocPtr doc;
	size_t len = strlen(vol_xml);
	int r = 0;

	*out = NULL;
	xmlInitParser();
	if (len > INT_MAX)
		return rain_error_set(RAIN_EFORMAT, "libvirt: a volume definition is too long");
	doc = xmlReadMemory(vol_xml, (int)len, "volume.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING);
	if (!doc)
		return rain_error_set(RAIN_EFORMAT, "libvirt: a volume definition is no XML");
	root = xmlDocGetRootElement(doc);
	if (!root || root->ns || !xmlStrEqual(root->name, BAD_CAST "volume")) {
		r = rain_error_set(RAIN_EFORMAT, "libvirt: a volume definition is no <volume>");
	} else if ((bs = child(root, "backingStore")) && (path = child(bs, "path"))) {
		text = xmlNodeGetContent(path);
		if (text && *text)
			*out = strdup((const char *)text);
		if (text && *text && !*out)
			r = rain_error_oom();
		xmlFree(text);
	}
	xmlFreeDoc(doc);
	return r;
}

/* ---- the cloud-init seed ----------------------------------------------- */

bool libvirt_hostname_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 63 || h[0] == '-' || h[n - 1] == '-')
		return false;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= '0' && *h <= '9') || *h == '-'))
			return false;
	return true;
}

void libvirt_hostname_from(const char *domain, char *out, size_t size)
{
	size_t i = 0;

	for (; *domain && i + 1 < size && i < 63; domain++) {
		char c = *domain;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		out[i++] = c;
	}
	while (i > 0 && out[i - 1] == '-')
		i--;
	out[i] = '\0';
}

/* One line of printable ASCII that starts like a key type. */
static bool ssh_key_ok(const char *k)
{
	if (!str_is_printable(k, 16384))
		return false;
	for (const char *p = k; *p; p++)
		if ((unsigned char)*p >= 0x80)
			return false;
	return str_has_prefix(k, "ssh-") || str_has_prefix(k, "ecdsa-") ||
	       str_has_prefix(k, "sk-");
}

/* k as a YAML double-quoted scalar (k is printable ASCII). */
static char *yaml_quote(const char *k)
{
	size_t n = strlen(k);
	char *o = malloc(2 * n + 3), *p = o;

	if (!o)
		return NULL;
	*p++ = '"';
	for (; *k; k++) {
		if (*k == '"' || *k == '\\')
			*p++ = '\\';
		*p++ = *k;
	}
	*p++ = '"';
	*p = '\0';
	return o;
}

static int iso_add(struct archive *a, const char *name, const char *data, const char *path)
{
	struct archive_entry *e = archive_entry_new();
	size_t n = strlen(data);
	int r = 0;

	if (!e)
		return rain_error_oom();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    archive_write_data(a, data, n) != (la_ssize_t)n)
		r = rain_error_set(RAIN_EIO, "libvirt: writing the seed %s (%s): %s", path, name,
				   archive_error_string(a));
	archive_entry_free(e);
	return r;
}

int libvirt_seed_write(const char *path, const char *instance_id, const char *hostname,
		       const char *ssh_key)
{
	_cleanup_free_ char *key = NULL, *meta = NULL, *user = NULL;
	_cleanup_close_ int fd = -1;
	struct archive *a;
	int r;

	if (!libvirt_hostname_ok(hostname))
		return rain_error_set(RAIN_EINVAL, "libvirt: host name '%s': use 1-63 of a-z, 0-9 "
				      "and '-'", hostname);
	if (!str_is_printable(instance_id, 255))
		return rain_error_set(RAIN_EINVAL, "libvirt: instance id is empty or not printable");
	if (ssh_key) {
		if (!ssh_key_ok(ssh_key))
			return rain_error_set(RAIN_EINVAL, "libvirt: the ssh key is not one line of "
					      "an authorized_keys file (\"ssh-ed25519 AAAA... "
					      "comment\")");
		key = yaml_quote(ssh_key);
		if (!key)
			return rain_error_oom();
	}
	/* instance_id is printable: quoted it cannot break the YAML */
	_cleanup_free_ char *iid = yaml_quote(instance_id);

	if (!iid)
		return rain_error_oom();
	if (asprintf(&meta, "instance-id: %s\nlocal-hostname: %s\n%s%s%s", iid, hostname,
		     key ? "public-keys:\n  - " : "", key ? key : "", key ? "\n" : "") < 0) {
		meta = NULL;
		return rain_error_oom();
	}
	/* keys for the default user and, with disable_root false, for root
	 * without the "please log in as" prefix */
	if (asprintf(&user, "#cloud-config\nhostname: %s\ndisable_root: false\n%s%s%s", hostname,
		     key ? "ssh_authorized_keys:\n  - " : "", key ? key : "", key ? "\n" : "") < 0) {
		user = NULL;
		return rain_error_oom();
	}

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "libvirt: cannot create the seed %s", path);
	a = archive_write_new();
	if (!a)
		return rain_error_oom();
	if (archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "volume-id", "CIDATA") != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "rockridge", "1") != ARCHIVE_OK ||
	    archive_write_set_option(a, "iso9660", "joliet", "1") != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		r = rain_error_set(RAIN_EIO, "libvirt: cannot start the seed %s: %s", path,
				   archive_error_string(a));
		goto done;
	}
	r = iso_add(a, "meta-data", meta, path);
	if (r == 0)
		r = iso_add(a, "user-data", user, path);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = rain_error_set(RAIN_EIO, "libvirt: cannot finish the seed %s: %s", path,
				   archive_error_string(a));
	if (r == 0 && fsync(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "libvirt: writing the seed %s", path);
done:
	archive_write_free(a);
	if (r < 0)
		(void)unlink(path);
	return r;
}
