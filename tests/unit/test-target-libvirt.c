/* Unit tests for the libvirt site driver's parts that need no libvirtd
 * (src/lib/target/drivers/libvirt.c): the domain XML, read back with
 * libxml2 and checked by libvirt itself (its in-process test driver
 * validates it against libvirt's schema), user text escaped; the NoCloud
 * seed read back with libarchive's ISO 9660 reader; the site settings and
 * their refusals; a run's instance made from a registration's domain (rain's
 * own and one as libvirt gives it back, with addresses, MAC, NVRAM and a
 * backing chain). The daemon side is t0152's and t0161's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "lib/target/drivers/libvirt-internal.h"
#include "rain/error.h"
#include "rain/sys/target.h"

static char tmpdir[] = "/tmp/rain-test-libvirt.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(tmpdir);
	return 0;
}

/* The string value of an XPath expression over doc ("" when none). */
static char *xp(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o;
	char *s;

	assert_non_null(ctx);
	xmlXPathRegisterNs(ctx, BAD_CAST "rain", BAD_CAST "urn:x-rain:registration:1");
	xmlXPathRegisterNs(ctx, BAD_CAST "run", BAD_CAST "urn:x-rain:run:1");
	xmlXPathRegisterNs(ctx, BAD_CAST "q", BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0");
	o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	assert_non_null(o);
	s = (char *)xmlXPathCastToString(o);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return s;
}

static void assert_xp(xmlDocPtr doc, const char *expr, const char *want)
{
	char *got = xp(doc, expr);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", expr, got, want);
	xmlFree(got);
}

static xmlDocPtr parse(const char *xml)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);

	assert_non_null(doc);
	return doc;
}

static void quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

/* libvirt's own parser and schema take it (the test driver, in process). */
static void assert_libvirt_takes(const char *xml)
{
	virConnectPtr c;
	virDomainPtr d;

	virSetErrorFunc(NULL, quiet);
	c = virConnectOpen("test:///default");
	assert_non_null(c);
	d = virDomainDefineXMLFlags(c, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	if (!d)
		fail_msg("libvirt refuses the domain: %s\n%s", virGetLastErrorMessage(), xml);
	virDomainUndefine(d);
	virDomainFree(d);
	virConnectClose(c);
}

static const struct libvirt_domain base = {
	.name = "rain-r1",
	.title = "a<b>&'\"\nc\x01\xc3\xa9\xff",
	.description = "registered by rain",
	.type = "qemu",
	.arch = "x86_64",
	.memory_mib = 1024,
	.vcpus = 2,
	.pool = "default",
	.disk_volume = "rain-r1.qcow2",
	.disk_format = "qcow2",
	.seed_volume = "rain-r1-seed.iso",
	.network = "user",
	.console_log = "/var/log/x/rain-r1.log",
	.reg_id = "r1",
	.image_id = "img-1",
};

static void test_domain_xml_bios(void **state)
{
	char *xml = NULL;
	xmlDocPtr doc;

	(void)state;
	assert_int_equal(libvirt_domain_xml(&base, &xml), 0);
	doc = parse(xml);
	assert_xp(doc, "string(/domain/@type)", "qemu");
	assert_xp(doc, "string(/domain/name)", "rain-r1");
	/* user text: markup escaped, control characters as spaces, a byte
	 * that is not UTF-8 as '?' */
	assert_xp(doc, "string(/domain/title)", "a<b>&'\" c \xc3\xa9?");
	assert_xp(doc, "string(/domain/metadata/rain:registration/@id)", "r1");
	assert_xp(doc, "string(/domain/metadata/rain:registration/@image)", "img-1");
	assert_xp(doc, "string(/domain/memory)", "1024");
	assert_xp(doc, "string(/domain/memory/@unit)", "MiB");
	assert_xp(doc, "string(/domain/vcpu)", "2");
	assert_xp(doc, "string(/domain/os/type/@arch)", "x86_64");
	assert_xp(doc, "count(/domain/os/@firmware)", "0");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/source/@pool)", "default");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/source/@volume)", "rain-r1.qcow2");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/driver/@type)", "qcow2");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/target/@bus)", "virtio");
	assert_xp(doc, "string(/domain/devices/disk[@device='cdrom']/source/@volume)", "rain-r1-seed.iso");
	assert_xp(doc, "count(/domain/devices/disk[@device='cdrom']/readonly)", "1");
	assert_xp(doc, "string(/domain/devices/interface/@type)", "user");
	assert_xp(doc, "string(/domain/devices/interface/model/@type)", "virtio");
	assert_xp(doc, "string(/domain/devices/serial/@type)", "pty");
	assert_xp(doc, "string(/domain/devices/serial/log/@file)", "/var/log/x/rain-r1.log");
	assert_xp(doc, "string(/domain/devices/console/target/@type)", "serial");
	/* no USB controller, no balloon (libvirt adds both unless told) */
	assert_xp(doc, "string(/domain/devices/controller[@type='usb']/@model)", "none");
	assert_xp(doc, "string(/domain/devices/memballoon/@model)", "none");
	xmlFreeDoc(doc);
	assert_libvirt_takes(xml);
	free(xml);
}

static void test_domain_xml_uefi_arm(void **state)
{
	struct libvirt_domain d = base;
	char *xml = NULL;
	xmlDocPtr doc;

	(void)state;
	d.uefi = true;
	d.seed_volume = NULL;
	d.console_log = NULL;
	d.network = "network:default";
	assert_int_equal(libvirt_domain_xml(&d, &xml), 0);
	doc = parse(xml);
	assert_xp(doc, "string(/domain/os/@firmware)", "efi");
	assert_xp(doc, "string(/domain/os/type/@machine)", "q35");
	assert_xp(doc, "string(/domain/os/firmware/feature[@name='secure-boot']/@enabled)", "no");
	assert_xp(doc, "count(/domain/devices/disk[@device='cdrom'])", "0");
	assert_xp(doc, "count(/domain/devices/serial/log)", "0");
	assert_xp(doc, "string(/domain/devices/interface/@type)", "network");
	assert_xp(doc, "string(/domain/devices/interface/source/@network)", "default");
	xmlFreeDoc(doc);
	assert_libvirt_takes(xml);
	free(xml);

	/* aarch64: UEFI whatever the image says, the virt machine, a CPU
	 * model for emulation */
	d.uefi = false;
	d.arch = "aarch64";
	d.network = "none";
	assert_int_equal(libvirt_domain_xml(&d, &xml), 0);
	doc = parse(xml);
	assert_xp(doc, "string(/domain/os/@firmware)", "efi");
	assert_xp(doc, "string(/domain/os/type/@machine)", "virt");
	assert_xp(doc, "string(/domain/cpu/@mode)", "maximum");
	assert_xp(doc, "count(/domain/devices/interface)", "0");
	xmlFreeDoc(doc);
	assert_libvirt_takes(xml);
	free(xml);
}

/* bytes libxml2's own UTF-8 reader takes but no XML parser reads back:
 * U+FFFE, an overlong '/', a surrogate, a stray continuation byte */
static void test_domain_xml_bad_utf8(void **state)
{
	struct libvirt_domain d = base;
	char *xml = NULL;
	xmlDocPtr doc;

	(void)state;
	d.title = "x\xef\xbf\xbe\xc0\xaf\xed\xa0\x80\xbf\xbey\xf0\x9f\x98\x80";
	assert_int_equal(libvirt_domain_xml(&d, &xml), 0);
	doc = parse(xml);
	assert_xp(doc, "string(/domain/title)", "x??????????y\xf0\x9f\x98\x80");
	xmlFreeDoc(doc);
	free(xml);
}

static void test_domain_xml_refused(void **state)
{
	struct libvirt_domain d = base;
	char *xml = NULL;

	(void)state;
	d.arch = "mips";
	assert_int_equal(libvirt_domain_xml(&d, &xml), RAIN_EINVAL);
	assert_error_contains("architecture 'mips'");
	assert_null(xml);
	d.arch = "x86_64";
	d.network = "vde:x";
	assert_int_equal(libvirt_domain_xml(&d, &xml), RAIN_EINVAL);
	assert_error_contains("network 'vde:x'");
}

static const struct libvirt_instance inst = {
	.name = "rain-run7-2",
	.run_id = "run7",
	.pool = "p2",
	.disk_volume = "rain-run7-2.qcow2",
	.seed_volume = "rain-run7-2-seed.iso",
	.ssh_port = 40022,
};

/* The checks every instance made from a registration's domain passes. */
static void assert_instance(xmlDocPtr doc)
{
	assert_xp(doc, "string(/domain/name)", "rain-run7-2");
	assert_xp(doc, "count(/domain/uuid)", "0");
	assert_xp(doc, "count(/domain/devices/disk[@device='disk'])", "1");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/@type)", "volume");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/source/@pool)", "p2");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/source/@volume)", "rain-run7-2.qcow2");
	assert_xp(doc, "count(/domain/devices/disk[@device='disk']/source)", "1");
	assert_xp(doc, "count(//backingStore)", "0");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/driver/@type)", "qcow2");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/target/@dev)", "vda");
	assert_xp(doc, "string(/domain/devices/disk[@device='cdrom']/source/@volume)",
		  "rain-run7-2-seed.iso");
	assert_xp(doc, "string(/domain/devices/disk[@device='cdrom']/driver/@type)", "raw");
	assert_xp(doc, "count(/domain/devices/disk[@device='cdrom']/readonly)", "1");
	assert_xp(doc, "count(/domain/devices/interface)", "0");
	assert_xp(doc, "count(/domain/devices/serial/log)", "0");
	assert_xp(doc, "string(/domain/devices/serial/@type)", "pty");
	assert_xp(doc, "count(/domain/devices/controller[@type='usb'])", "1");
	assert_xp(doc, "string(/domain/devices/controller[@type='usb']/@model)", "none");
	assert_xp(doc, "count(/domain/devices/controller[@type='usb']/*)", "0");
	assert_xp(doc, "count(/domain/devices/memballoon)", "1");
	assert_xp(doc, "string(/domain/devices/memballoon/@model)", "none");
	assert_xp(doc, "count(/domain/devices/input[@bus='usb'])", "0");
	assert_xp(doc, "string(/domain/metadata/run:run/@id)", "run7");
	assert_xp(doc, "string(/domain/metadata/run:run/@instance)", "rain-run7-2");
	assert_xp(doc, "count(/domain/q:commandline/q:arg[@value='-netdev'])", "1");
	assert_xp(doc, "string(//q:arg[@value='-netdev']/following-sibling::q:arg[1]/@value)",
		  "user,id=rainnet0,hostfwd=tcp:127.0.0.1:40022-:22");
	assert_xp(doc, "string(//q:arg[@value='-netdev']/following-sibling::q:arg[2]/@value)",
		  "-device");
	assert_xp(doc, "string(//q:arg[@value='-netdev']/following-sibling::q:arg[3]/@value)",
		  "{\"driver\":\"virtio-net-pci\",\"netdev\":\"rainnet0\"}");
}

/* From rain's own registration domain: what changes, and what stays. */
static void test_instance_xml(void **state)
{
	char *reg = NULL, *xml = NULL;
	xmlDocPtr doc;

	(void)state;
	assert_int_equal(libvirt_domain_xml(&base, &reg), 0);
	assert_int_equal(libvirt_instance_xml(reg, &inst, &xml), 0);
	doc = parse(xml);
	assert_instance(doc);
	assert_xp(doc, "count(/domain/q:commandline/q:arg)", "4");
	assert_xp(doc, "string(/domain/metadata/rain:registration/@id)", "r1");
	assert_xp(doc, "string(/domain/title)", "a<b>&'\" c \xc3\xa9?");
	assert_xp(doc, "string(/domain/memory)", "1024");
	assert_xp(doc, "string(/domain/vcpu)", "2");
	assert_xp(doc, "string(/domain/@type)", "qemu");
	xmlFreeDoc(doc);
	assert_libvirt_takes(xml);
	free(xml);

	/* no seed: no cdrom; no port: the interfaces stay, without a MAC */
	{
		struct libvirt_instance in = inst;

		in.seed_volume = NULL;
		in.ssh_port = 0;
		assert_int_equal(libvirt_instance_xml(reg, &in, &xml), 0);
		doc = parse(xml);
		assert_xp(doc, "count(/domain/devices/disk[@device='cdrom'])", "0");
		assert_xp(doc, "string(/domain/devices/interface/@type)", "user");
		assert_xp(doc, "count(/domain/devices/interface/mac)", "0");
		assert_xp(doc, "count(/domain/q:commandline)", "0");
		xmlFreeDoc(doc);
		free(xml);
	}
	free(reg);
}

/* reach = agent: the registration's domain gets the guest agent's
 * channel; an instance has no network at all and exactly that channel,
 * whatever channels its registration had. */
static void test_agent_xml(void **state)
{
	struct libvirt_domain d = base;
	struct libvirt_instance in = inst;
	char *reg = NULL, *xml = NULL;
	xmlDocPtr doc;

	(void)state;
	d.guest_agent = true;
	assert_int_equal(libvirt_domain_xml(&d, &reg), 0);
	doc = parse(reg);
	assert_xp(doc, "count(/domain/devices/channel)", "1");
	assert_xp(doc, "string(/domain/devices/channel/@type)", "unix");
	assert_xp(doc, "string(/domain/devices/channel/target/@type)", "virtio");
	assert_xp(doc, "string(/domain/devices/channel/target/@name)", "org.qemu.guest_agent.0");
	assert_xp(doc, "count(/domain/devices/interface)", "1");
	xmlFreeDoc(doc);
	assert_libvirt_takes(reg);

	in.ssh_port = 0;
	in.agent = true;
	assert_int_equal(libvirt_instance_xml(reg, &in, &xml), 0);
	doc = parse(xml);
	assert_xp(doc, "string(/domain/name)", "rain-run7-2");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/source/@volume)", "rain-run7-2.qcow2");
	assert_xp(doc, "count(/domain/devices/interface)", "0");
	assert_xp(doc, "count(/domain/q:commandline)", "0");
	assert_xp(doc, "count(/domain/devices/channel)", "1");
	assert_xp(doc, "string(/domain/devices/channel/target/@name)", "org.qemu.guest_agent.0");
	xmlFreeDoc(doc);
	assert_libvirt_takes(xml);
	free(xml);
	free(reg);

	/* a registration made without it (and with another channel of its
	 * own, a path named): the instance still gets exactly the agent's */
	d.guest_agent = false;
	assert_int_equal(libvirt_domain_xml(&d, &reg), 0);
	{
		char *more = NULL;
		const char *at = strstr(reg, "</devices>");

		assert_non_null(at);
		assert_true(asprintf(&more, "%.*s<channel type='unix'><source mode='bind' "
				     "path='/run/x.sock'/><target type='virtio' name='org.other.0'/>"
				     "</channel>%s", (int)(at - reg), reg, at) > 0);
		assert_int_equal(libvirt_instance_xml(more, &in, &xml), 0);
		free(more);
	}
	doc = parse(xml);
	assert_xp(doc, "count(/domain/devices/channel)", "1");
	assert_xp(doc, "count(/domain/devices/channel/source)", "0");
	assert_xp(doc, "string(/domain/devices/channel/target/@name)", "org.qemu.guest_agent.0");
	assert_xp(doc, "count(/domain/devices/interface)", "0");
	xmlFreeDoc(doc);
	free(xml);

	/* both ways at once cannot be */
	in.ssh_port = 2222;
	assert_int_equal(libvirt_instance_xml(reg, &in, &xml), RAIN_EFORMAT);
	assert_error_contains("reached by agent has no network");
	assert_null(xml);
	free(reg);
}

/* A shared folder: virtio-9p, read-only unless asked; paths that cannot
 * be refused. */
static void test_share_xml(void **state)
{
	struct libvirt_instance in = inst;
	char *reg = NULL, *xml = NULL;
	xmlDocPtr doc;

	(void)state;
	assert_int_equal(libvirt_domain_xml(&base, &reg), 0);
	in.share_dir = "/home/u/my work";
	assert_int_equal(libvirt_instance_xml(reg, &in, &xml), 0);
	doc = parse(xml);
	assert_xp(doc, "count(/domain/devices/filesystem)", "1");
	assert_xp(doc, "string(/domain/devices/filesystem/@type)", "mount");
	assert_xp(doc, "string(/domain/devices/filesystem/@accessmode)", "mapped");
	assert_xp(doc, "string(/domain/devices/filesystem/source/@dir)", "/home/u/my work");
	assert_xp(doc, "string(/domain/devices/filesystem/target/@dir)", "rain-work");
	assert_xp(doc, "count(/domain/devices/filesystem/readonly)", "1");
	xmlFreeDoc(doc);
	assert_libvirt_takes(xml);
	free(xml);

	in.share_rw = true;
	assert_int_equal(libvirt_instance_xml(reg, &in, &xml), 0);
	doc = parse(xml);
	assert_xp(doc, "count(/domain/devices/filesystem/readonly)", "0");
	xmlFreeDoc(doc);
	free(xml);

	in.share_dir = "work";
	assert_int_equal(libvirt_instance_xml(reg, &in, &xml), RAIN_EINVAL);
	assert_error_contains("the shared folder 'work' must be an absolute path");
	in.share_dir = "/a/../etc";
	assert_int_equal(libvirt_instance_xml(reg, &in, &xml), RAIN_EINVAL);
	in.share_dir = "/a/\n";
	assert_int_equal(libvirt_instance_xml(reg, &in, &xml), RAIN_EINVAL);
	assert_null(xml);
	free(reg);
}

/* A definition as libvirt gives it back (virsh dumpxml --inactive of a
 * registration made by rain on libvirt 9.0, and the parts libvirt adds
 * for UEFI: a loader and an NVRAM path, a file disk with a backing chain,
 * a qemu:commandline of its own). */
static const char dumped[] =
	"<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
	"  <name>rain-reg1</name>\n"
	"  <uuid>8a4c8453-53ab-4c0c-8b45-7d84b3a8ecd2</uuid>\n"
	"  <title>t0161.raw</title>\n"
	"  <metadata>\n"
	"    <rain:registration xmlns:rain=\"urn:x-rain:registration:1\" id=\"reg1\" image=\"reg1\"/>\n"
	"  </metadata>\n"
	"  <memory unit='KiB'>1048576</memory>\n"
	"  <vcpu placement='static'>1</vcpu>\n"
	"  <os>\n"
	"    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
	"    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>\n"
	"    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/rain-reg1_VARS.fd</nvram>\n"
	"    <boot dev='hd'/>\n"
	"  </os>\n"
	"  <devices>\n"
	"    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
	"    <disk type='file' device='disk'>\n"
	"      <driver name='qemu' type='raw'/>\n"
	"      <source file='/var/lib/libvirt/images/rain-reg1.raw'/>\n"
	"      <backingStore type='file'><format type='raw'/><source file='/x'/></backingStore>\n"
	"      <target dev='vda' bus='virtio'/>\n"
	"      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>\n"
	"    </disk>\n"
	"    <disk type='volume' device='cdrom'>\n"
	"      <driver name='qemu' type='raw'/>\n"
	"      <source pool='p' volume='rain-reg1-seed.iso'/>\n"
	"      <target dev='sda' bus='scsi'/>\n"
	"      <readonly/>\n"
	"      <address type='drive' controller='0' bus='0' target='0' unit='0'/>\n"
	"    </disk>\n"
	"    <controller type='scsi' index='0' model='virtio-scsi'/>\n"
	"    <controller type='usb' index='0' model='qemu-xhci' ports='15'>\n"
	"      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>\n"
	"    </controller>\n"
	"    <input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input>\n"
	"    <input type='keyboard' bus='ps2'/>\n"
	"    <memballoon model='virtio'>\n"
	"      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>\n"
	"    </memballoon>\n"
	"    <interface type='user'>\n"
	"      <mac address='52:54:00:11:fc:f9'/>\n"
	"      <model type='virtio'/>\n"
	"    </interface>\n"
	"    <interface type='network'>\n"
	"      <mac address='52:54:00:11:fc:fa'/>\n"
	"      <source network='default'/>\n"
	"    </interface>\n"
	"    <serial type='pty'>\n"
	"      <log file='/var/log/rain/rain-reg1.log' append='off'/>\n"
	"      <target type='isa-serial' port='0'><model name='isa-serial'/></target>\n"
	"    </serial>\n"
	"    <console type='pty'><target type='serial' port='0'/></console>\n"
	"  </devices>\n"
	"  <qemu:commandline><qemu:arg value='-no-user-config'/></qemu:commandline>\n"
	"</domain>\n";

static void test_instance_xml_dumped(void **state)
{
	char *xml = NULL;
	xmlDocPtr doc;

	(void)state;
	assert_int_equal(libvirt_instance_xml(dumped, &inst, &xml), 0);
	doc = parse(xml);
	/* the domain's own qemu arguments first, then rain's network */
	assert_xp(doc, "count(/domain/q:commandline)", "1");
	assert_xp(doc, "string(/domain/q:commandline/q:arg[1]/@value)", "-no-user-config");
	assert_xp(doc, "string(/domain/q:commandline/q:arg[3]/@value)",
		  "user,id=rainnet0,hostfwd=tcp:127.0.0.1:40022-:22");
	assert_xp(doc, "count(/domain/q:commandline/q:arg)", "5");
	assert_xp(doc, "string(/domain/devices/disk[@device='disk']/address/@bus)", "0x04");
	assert_xp(doc, "count(/domain/devices/disk[@device='disk']/source/@file)", "0");
	assert_xp(doc, "count(/domain/os/nvram)", "0");
	assert_xp(doc, "string(/domain/os/loader)", "/usr/share/OVMF/OVMF_CODE_4M.fd");
	assert_xp(doc, "string(/domain/metadata/rain:registration/@id)", "reg1");
	/* libvirt's USB controller, its tablet and balloon gone; PS/2 stays */
	assert_xp(doc, "count(//address[@bus='0x02' or @bus='0x05' or @type='usb'])", "0");
	assert_xp(doc, "string(/domain/devices/input/@bus)", "ps2");
	assert_instance(doc);
	xmlFreeDoc(doc);
	free(xml);
	/* without a port: both interfaces, neither with the registration's MAC */
	{
		struct libvirt_instance in = inst;

		in.ssh_port = 0;
		assert_int_equal(libvirt_instance_xml(dumped, &in, &xml), 0);
		doc = parse(xml);
		assert_xp(doc, "count(/domain/devices/interface)", "2");
		assert_xp(doc, "count(//mac)", "0");
		assert_xp(doc, "count(/domain/q:commandline/q:arg)", "1");
		xmlFreeDoc(doc);
		free(xml);
	}
}

static void test_instance_xml_refused(void **state)
{
	struct libvirt_instance in = inst;
	char *xml = NULL;

	(void)state;
	assert_int_equal(libvirt_instance_xml("<domain", &inst, &xml), RAIN_EFORMAT);
	assert_error_contains("no XML");
	assert_int_equal(libvirt_instance_xml("<network><name>x</name></network>", &inst, &xml),
			 RAIN_EFORMAT);
	assert_error_contains("no <domain>");
	assert_int_equal(libvirt_instance_xml("<domain><name>x</name><devices/></domain>", &inst,
					      &xml), RAIN_EFORMAT);
	assert_error_contains("it has no disk");
	assert_int_equal(libvirt_instance_xml("<domain><name>x</name><devices><disk device='disk'/>"
					      "<disk/></devices></domain>", &inst, &xml),
			 RAIN_EFORMAT);
	assert_error_contains("more than one disk");
	assert_int_equal(libvirt_instance_xml("<domain><devices><disk/></devices></domain>", &inst,
					      &xml), RAIN_EFORMAT);
	assert_error_contains("no <name>");
	/* a second <devices> would keep its disk and network unedited
	 * (found by fuzz-libvirt-instance) */
	assert_int_equal(libvirt_instance_xml("<domain><name>x</name><devices><disk/></devices>"
					      "<devices><disk/><interface type='user'/></devices></domain>",
					      &inst, &xml), RAIN_EFORMAT);
	assert_error_contains("more than one <devices>");
	/* names rain makes only: nothing of them becomes markup or an argument */
	in.disk_volume = "a'/><b";
	assert_int_equal(libvirt_instance_xml(dumped, &in, &xml), RAIN_EINVAL);
	in = inst;
	in.ssh_port = 70000;
	assert_int_equal(libvirt_instance_xml(dumped, &in, &xml), RAIN_EINVAL);
	assert_null(xml);
}

static void test_overlay_xml(void **state)
{
	char *xml = NULL;
	xmlDocPtr doc;

	(void)state;
	assert_int_equal(libvirt_overlay_xml("rain-run7-1.qcow2", 2148532224ULL,
					     "/var/lib/a&b/rain-r1.qcow2", "qcow2", &xml), 0);
	doc = parse(xml);
	assert_xp(doc, "string(/volume/name)", "rain-run7-1.qcow2");
	assert_xp(doc, "string(/volume/capacity)", "2148532224");
	assert_xp(doc, "string(/volume/capacity/@unit)", "bytes");
	assert_xp(doc, "string(/volume/target/format/@type)", "qcow2");
	assert_xp(doc, "string(/volume/target/permissions/mode)", "0600");
	assert_xp(doc, "string(/volume/backingStore/path)", "/var/lib/a&b/rain-r1.qcow2");
	assert_xp(doc, "string(/volume/backingStore/format/@type)", "qcow2");
	xmlFreeDoc(doc);
	free(xml);
	assert_int_equal(libvirt_overlay_xml("a/b", 1, "/x", "raw", &xml), RAIN_EINVAL);
	assert_int_equal(libvirt_overlay_xml("a", 1, "/x", "vmdk", &xml), RAIN_EINVAL);
	assert_int_equal(libvirt_overlay_xml("a", 1, "/x\n", "raw", &xml), RAIN_EINVAL);
	assert_null(xml);
}

/* The files of the ISO at path, through libarchive's reader: meta and
 * user get their contents (new strings). */
static void read_seed(const char *path, char **meta, char **user)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int n = 0;

	*meta = *user = NULL;
	archive_read_support_format_iso9660(a);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		la_int64_t size = archive_entry_size(e);
		char *buf;

		if (archive_entry_filetype(e) == AE_IFDIR)
			continue;
		buf = calloc(1, (size_t)size + 1);
		assert_non_null(buf);
		assert_int_equal(archive_read_data(a, buf, (size_t)size), size);
		if (strcmp(name, "meta-data") == 0)
			*meta = buf;
		else if (strcmp(name, "user-data") == 0)
			*user = buf;
		else
			fail_msg("unexpected file %s in the seed", name);
		n++;
	}
	archive_read_free(a);
	assert_int_equal(n, 2);
}

static void test_seed(void **state)
{
	char path[256], label[33] = "", *meta, *user;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/seed.iso", tmpdir);
	assert_int_equal(libvirt_seed_write(path, "rain-r1", "rain-r1",
					    "ssh-ed25519 AAAAC3Nza \"quoted\\\" me@host"), 0);
	/* the primary volume descriptor's label (sector 16, offset 40) */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, label, 32, 16 * 2048 + 40), 32);
	close(fd);
	assert_memory_equal(label, "CIDATA ", 7);
	read_seed(path, &meta, &user);
	assert_non_null(meta);
	assert_non_null(user);
	assert_string_equal(meta, "instance-id: \"rain-r1\"\nlocal-hostname: rain-r1\npublic-keys:\n"
			    "  - \"ssh-ed25519 AAAAC3Nza \\\"quoted\\\\\\\" me@host\"\n");
	assert_string_equal(user, "#cloud-config\nhostname: rain-r1\ndisable_root: false\n"
			    "ssh_authorized_keys:\n  - \"ssh-ed25519 AAAAC3Nza \\\"quoted\\\\\\\" me@host\"\n");
	free(meta);
	free(user);

	/* no key: no keys in it */
	assert_int_equal(libvirt_seed_write(path, "rain-r1", "h", NULL), 0);
	read_seed(path, &meta, &user);
	assert_null(strstr(meta, "public-keys"));
	assert_null(strstr(user, "ssh_authorized_keys"));
	free(meta);
	free(user);
}

static void test_seed_refused(void **state)
{
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/bad.iso", tmpdir);
	/* a key that would add YAML of its own */
	assert_int_equal(libvirt_seed_write(path, "i", "h", "ssh-rsa AAAA\nruncmd: [reboot]"),
			 RAIN_EINVAL);
	assert_error_contains("the ssh key is not one line");
	assert_int_equal(libvirt_seed_write(path, "i", "h", "not a key"), RAIN_EINVAL);
	assert_int_equal(libvirt_seed_write(path, "i", "Bad_Host", NULL), RAIN_EINVAL);
	assert_error_contains("host name 'Bad_Host'");
	assert_int_equal(access(path, F_OK), -1);
}

static int site(const char *const *settings, struct rain_site **s)
{
	return rain_site_new("lv", settings, "test [site.lv]", s);
}

static void test_settings(void **state)
{
	struct rain_site *s = NULL;
	json_t *j = NULL;

	(void)state;
	assert_int_equal(site((const char *const[]){ "uri=libvirt:qemu:///system", "pool=images",
						    "memory=2G", "vcpus=2", "network=bridge:br0",
						    "domain_type=qemu", "define_domain=no",
						    "console_log=/var/log/rain", "hostname=web-1",
						    "policy=strict", NULL }, &s), 0);
	assert_string_equal(s->driver->scheme, "libvirt");
	assert_string_equal(s->location, "qemu:///system");
	assert_int_equal(rain_site_to_json(s, &j), 0);
	json_decref(j);
	rain_site_free(s);

	/* defaults */
	assert_int_equal(site((const char *const[]){ "uri=libvirt:test:///default", NULL }, &s), 0);
	rain_site_free(s);

#define REFUSED(needle, ...)                                                                     \
	do {                                                                                     \
		s = NULL;                                                                        \
		assert_int_equal(site((const char *const[]){ "uri=libvirt:qemu:///system",       \
							    __VA_ARGS__, NULL }, &s), RAIN_EINVAL); \
		assert_null(s);                                                                  \
		assert_error_contains(needle);                                                   \
	} while (0)
	REFUSED("unknown setting 'disk_bus'", "disk_bus=ide");
	REFUSED("memory", "memory=64M");
	REFUSED("memory", "memory=lots");
	REFUSED("vcpus", "vcpus=0");
	REFUSED("network: 'bridge:'", "network=bridge:");
	REFUSED("network: 'network:a'b'", "network=network:a'b");
	REFUSED("domain_type: 'xen'", "domain_type=xen");
	REFUSED("define_domain", "define_domain=perhaps");
	REFUSED("console_log: 'logs'", "console_log=logs");
	REFUSED("console_log: '/a/../b'", "console_log=/a/../b");
	REFUSED("pool: 'a/b'", "pool=a/b");
	REFUSED("hostname: 'Web_1'", "hostname=Web_1");
	REFUSED("reach: 'telnet'", "reach=telnet");
	REFUSED("reach: 'AGENT'", "reach=AGENT");
#undef REFUSED
	assert_int_equal(site((const char *const[]){ "uri=libvirt:qemu:///system", "reach=agent",
						    NULL }, &s), 0);
	rain_site_free(s);
	assert_int_equal(site((const char *const[]){ "uri=libvirt:qemu:///system", "reach=ssh",
						    NULL }, &s), 0);
	rain_site_free(s);
	assert_int_equal(site((const char *const[]){ "uri=libvirt:", NULL }, &s), RAIN_EINVAL);
	assert_error_contains("expected libvirt:URI");
}

static void test_accepts(void **state)
{
	struct rain_site *s = NULL;
	json_t *props = json_pack("{s:s}", "architecture", "ppc64le");
	struct rain_target_image img = { .id = "i1", .name = "x", .disk_format = "qcow2",
					 .properties = props };

	(void)state;
	assert_int_equal(site((const char *const[]){ "uri=libvirt:qemu:///system", NULL }, &s), 0);
	assert_int_equal(rain_target_accepts(s, &img), RAIN_EINVAL);
	assert_error_contains("architecture 'ppc64le'");
	json_object_set_new(props, "architecture", json_string("arm64"));
	assert_int_equal(rain_target_accepts(s, &img), 0);
	json_object_del(props, "architecture");
	assert_int_equal(rain_target_accepts(s, &img), 0);
	img.disk_format = "vmdk";
	assert_int_equal(rain_target_accepts(s, &img), RAIN_EINVAL);
	assert_error_contains("raw or qcow2");
	json_decref(props);
	rain_site_free(s);
}

/* An unreachable daemon: a clear error naming the URI, and nothing in
 * the state (nothing was named, nothing made). */
static void test_unreachable(void **state)
{
	char uri[512], *loc;
	struct rain_site *s = NULL;
	json_t *st = json_object();
	struct rain_target_op op = { .reg_id = "r1", .workdir = tmpdir, .state = st };
	struct rain_target_image img = { .id = "i1", .name = "x", .disk_format = "raw" };
	struct rain_target_artifacts a = { .disk = (char *)"/dev/null", .disk_format = (char *)"raw" };

	(void)state;
	snprintf(uri, sizeof(uri), "uri=libvirt:qemu:///session?socket=%s/no-such-sock", tmpdir);
	assert_int_equal(site((const char *const[]){ uri, NULL }, &s), 0);
	op.site = s;
	assert_int_equal(rain_target_publish(&op, &img, &a), RAIN_ENET);
	loc = uri + strlen("uri=libvirt:");
	assert_error_contains(loc);
	assert_error_contains("cannot connect");
	assert_int_equal(json_object_size(st), 0);
	assert_int_equal(rain_target_unpublish(&op), RAIN_ENET);
	json_decref(st);
	rain_site_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_xml_bios),
		cmocka_unit_test(test_domain_xml_uefi_arm),
		cmocka_unit_test(test_domain_xml_bad_utf8),
		cmocka_unit_test(test_domain_xml_refused),
		cmocka_unit_test(test_instance_xml),
		cmocka_unit_test(test_instance_xml_dumped),
		cmocka_unit_test(test_agent_xml),
		cmocka_unit_test(test_share_xml),
		cmocka_unit_test(test_instance_xml_refused),
		cmocka_unit_test(test_overlay_xml),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_seed_refused),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_unreachable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
