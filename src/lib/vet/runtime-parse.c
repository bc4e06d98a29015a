/* The runtime check's collector output, parsed on the host
 * (rain_vet_runtime_parse() in rain/vet-runtime.h). The output comes from
 * the guest: every line is cleaned of control characters, every field
 * checked, every list bounded. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/vet-runtime.h"
#include "lib/vet/runtime-internal.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"

/* More sockets, units or processes than this are not listed. */
#define MAX_ITEMS 10000
#define MAX_LINE 4096

enum section {
	SEC_NONE, SEC_KERNEL, SEC_TCP, SEC_TCP6, SEC_UDP, SEC_UDP6, SEC_SS, SEC_FDS, SEC_COMM,
	SEC_ENABLED, SEC_FAILED, SEC_END,
};

static const char *const section_names[] = {
	[SEC_NONE] = "(before the first)", [SEC_KERNEL] = "kernel", [SEC_TCP] = "tcp",
	[SEC_TCP6] = "tcp6", [SEC_UDP] = "udp", [SEC_UDP6] = "udp6", [SEC_SS] = "ss",
	[SEC_FDS] = "fds", [SEC_COMM] = "comm", [SEC_ENABLED] = "enabled", [SEC_FAILED] = "failed",
	[SEC_END] = "end",
};

struct sock {
	const char *proto;              /* "tcp" or "udp" (static) */
	char addr[INET6_ADDRSTRLEN];
	unsigned port;
	unsigned long inode;
};

struct inode_pid {
	unsigned long inode;
	long pid;
};

struct pid_comm {
	long pid;
	char comm[32];
};

struct ss_entry {
	const char *proto;
	char addr[INET6_ADDRSTRLEN];
	unsigned port;
	char process[64];
};

struct parse {
	enum section sec;
	char kernel[128];
	struct sock *socks;
	size_t n_socks, cap_socks;
	struct inode_pid *fds;
	size_t n_fds, cap_fds;
	long fd_pid;                    /* the /proc/PID/fd: being listed */
	struct pid_comm *comms;
	size_t n_comms, cap_comms;
	long comm_pid;                  /* the /proc/PID/comm whose line comes next */
	struct ss_entry *ss;
	size_t n_ss, cap_ss;
	json_t *enabled, *failed;
};

void vet_runtime_line_clean(char *s)
{
	bool high = false;      /* the last byte was past ASCII */
	char *w = s;

	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == 0x1b) {
			/* an escape sequence: ESC [ parameters final byte */
			if (p[1] == '[') {
				p += 2;
				while (*p && !((unsigned char)*p >= 0x40 && (unsigned char)*p <= 0x7e))
					p++;
				if (!*p)
					break;
			}
			continue;
		}
		if (c == '\t')
			c = ' ';
		if (c < 0x20 || c == 0x7f)
			continue;
		/* the report is JSON: ASCII only, one '?' for each character
		 * past it (a UTF-8 sequence's continuation bytes dropped) */
		if (c >= 0x80 && c <= 0xbf && high)
			continue;
		high = c >= 0x80;
		*w++ = c < 0x80 ? (char)c : '?';
	}
	*w = '\0';
}

/* A name fit for the report: printable ASCII, no blanks, not too long. */
static bool word_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* The first blank-separated word of line, in buf (empty when it has none
 * or it does not fit). */
static const char *first_word(const char *line, char *buf, size_t size)
{
	size_t n;

	line += strspn(line, " ");
	n = strcspn(line, " ");
	if (n >= size)
		n = 0;
	memcpy(buf, line, n);
	buf[n] = '\0';
	return buf;
}

/* /proc/net's hex address (the kernel prints the address's 32-bit words
 * as the guest's host order: x86, little-endian) as text. */
static bool hex_addr(const char *hex, char *out, size_t size)
{
	size_t n = strlen(hex);
	unsigned char b[16];

	if (n != 8 && n != 32)
		return false;
	for (size_t w = 0; w < n / 8; w++) {
		char word[9];
		char *end;
		unsigned long v;

		memcpy(word, hex + w * 8, 8);
		word[8] = '\0';
		v = strtoul(word, &end, 16);
		if (*end)
			return false;
		for (int i = 0; i < 4; i++)
			b[w * 4 + i] = (unsigned char)(v >> (8 * i));
	}
	return inet_ntop(n == 8 ? AF_INET : AF_INET6, b, out, (socklen_t)size) != NULL;
}

/* One line of /proc/net/{tcp,tcp6,udp,udp6}: a listening TCP socket
 * (state 0A) or a bound, unconnected UDP socket (state 07, no peer). */
static int net_line(struct parse *ps, const char *line)
{
	bool tcp = ps->sec == SEC_TCP || ps->sec == SEC_TCP6;
	char local[40], remote[40];
	unsigned lport, rport, st;
	unsigned long inode;
	struct sock *s;
	int r;

	if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x %*s %*s %*s %*s %*s %lu",
		   local, &lport, remote, &rport, &st, &inode) != 6)
		return 0;               /* the header, or not a socket line */
	if (lport > 65535 || (tcp && st != 0x0A) || (!tcp && (st != 0x07 || rport != 0)))
		return 0;
	if (ps->n_socks >= MAX_ITEMS)
		return 0;
	if ((r = ARRAY_GROW(ps->socks, ps->n_socks, ps->cap_socks)) < 0)
		return r;
	s = &ps->socks[ps->n_socks];
	if (!hex_addr(local, s->addr, sizeof(s->addr)))
		return 0;
	s->proto = tcp ? "tcp" : "udp";
	s->port = lport;
	s->inode = inode;
	ps->n_socks++;
	return 0;
}

/* ls -l /proc/[0-9]*\/fd: "/proc/PID/fd:" heads each process's list,
 * "... N -> socket:[INODE]" names its sockets. */
static int fds_line(struct parse *ps, const char *line)
{
	const char *p;
	long pid;
	unsigned long inode;
	char close;
	int r;

	if (sscanf(line, "/proc/%ld/fd:", &pid) == 1 && str_has_suffix(line, "/fd:")) {
		ps->fd_pid = pid;
		return 0;
	}
	p = strstr(line, "socket:[");
	if (!p || ps->fd_pid <= 0 || sscanf(p, "socket:[%lu%c", &inode, &close) != 2 || close != ']' ||
	    ps->n_fds >= MAX_ITEMS)
		return 0;
	if ((r = ARRAY_GROW(ps->fds, ps->n_fds, ps->cap_fds)) < 0)
		return r;
	ps->fds[ps->n_fds++] = (struct inode_pid){ inode, ps->fd_pid };
	return 0;
}

/* head -n 1 /proc/[0-9]*\/comm: "==> /proc/PID/comm <==", then the name. */
static int comm_line(struct parse *ps, const char *line)
{
	long pid;
	int r;

	if (sscanf(line, "==> /proc/%ld/comm <==", &pid) == 1) {
		ps->comm_pid = pid;
		return 0;
	}
	if (ps->comm_pid <= 0 || !*line || ps->n_comms >= MAX_ITEMS)
		return 0;
	if ((r = ARRAY_GROW(ps->comms, ps->n_comms, ps->cap_comms)) < 0)
		return r;
	ps->comms[ps->n_comms].pid = ps->comm_pid;
	snprintf(ps->comms[ps->n_comms].comm, sizeof(ps->comms[0].comm), "%.*s",
		 (int)sizeof(ps->comms[0].comm) - 1, line);
	ps->n_comms++;
	ps->comm_pid = 0;
	return 0;
}

/* ss -Hltunp: "tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=269,fd=3))";
 * the local address may be "[::]", "*" or "127.0.0.53%lo". */
static int ss_line(struct parse *ps, const char *line)
{
	char netid[8], state[16], local[96], users[512] = "";
	struct ss_entry *e;
	char *colon, *a, *pct;
	const char *q;
	unsigned long port;
	int r;

	if (sscanf(line, "%7s %15s %*s %*s %95s %*s %511s", netid, state, local, users) < 3)
		return 0;
	if (strcmp(netid, "tcp") != 0 && strcmp(netid, "udp") != 0)
		return 0;
	colon = strrchr(local, ':');
	if (!colon || ps->n_ss >= MAX_ITEMS)
		return 0;
	*colon = '\0';
	port = strtoul(colon + 1, &pct, 10);
	if (*pct || port > 65535)
		return 0;
	a = local;
	if (*a == '[') {
		a++;
		a[strcspn(a, "]")] = '\0';
	}
	if ((pct = strchr(a, '%')))
		*pct = '\0';
	if ((r = ARRAY_GROW(ps->ss, ps->n_ss, ps->cap_ss)) < 0)
		return r;
	e = &ps->ss[ps->n_ss++];
	e->proto = netid[0] == 't' ? "tcp" : "udp";
	e->port = (unsigned)port;
	snprintf(e->addr, sizeof(e->addr), "%.*s", (int)sizeof(e->addr) - 1, a);
	e->process[0] = '\0';
	if ((q = strstr(users, "((\""))) {
		q += 3;
		snprintf(e->process, sizeof(e->process), "%.*s", (int)strcspn(q, "\""), q);
	}
	return 0;
}

/* Whether name ends as a unit's name does. */
static bool unit_name_ok(const char *name)
{
	static const char *const types[] = {
		".service", ".socket", ".target", ".timer", ".mount", ".automount", ".path",
		".swap", ".slice", ".scope", ".device",
	};

	if (!word_ok(name, 256) || strchr(name, '/'))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (str_has_suffix(name, types[i]) && strlen(name) > strlen(types[i]))
			return true;
	return false;
}

/* systemctl's lists: the unit is the first word (after a bullet, when
 * there is one). */
static int unit_line(json_t *list, const char *line)
{
	char unit[257];

	first_word(line, unit, sizeof(unit));
	/* the bullet: "*", or U+25CF made "?" by vet_runtime_line_clean() */
	if (strcmp(unit, "*") == 0 || strcmp(unit, "?") == 0)
		first_word(strstr(line, unit) + strlen(unit), unit, sizeof(unit));
	if (!unit_name_ok(unit) || json_array_size(list) >= MAX_ITEMS)
		return 0;
	if (json_array_append_new(list, json_string(unit)) < 0)
		return rain_error_oom();
	return 0;
}

static int parse_line(struct parse *ps, const char *line)
{
	if (str_has_prefix(line, "rain-vet: ")) {
		for (size_t i = SEC_KERNEL; i < ARRAY_SIZE(section_names); i++)
			if (strcmp(line + strlen("rain-vet: "), section_names[i]) == 0) {
				/* sections come once, in order: a repeat is a forgery */
				if ((enum section)i > ps->sec)
					ps->sec = (enum section)i;
				return 0;
			}
		return 0;
	}
	switch (ps->sec) {
	case SEC_KERNEL: {
		char k[128];

		if (!ps->kernel[0] && word_ok(first_word(line, k, sizeof(k)), 127))
			snprintf(ps->kernel, sizeof(ps->kernel), "%s", k);
		return 0;
	}
	case SEC_TCP: case SEC_TCP6: case SEC_UDP: case SEC_UDP6:
		return net_line(ps, line);
	case SEC_SS:
		return ss_line(ps, line);
	case SEC_FDS:
		return fds_line(ps, line);
	case SEC_COMM:
		return comm_line(ps, line);
	case SEC_ENABLED:
		return unit_line(ps->enabled, line);
	case SEC_FAILED:
		return unit_line(ps->failed, line);
	default:
		return 0;
	}
}

/* The name of the process that holds socket s: its inode's first holder
 * in /proc, else ss's line for the same protocol, port and address. */
static const char *sock_process(const struct parse *ps, const struct sock *s)
{
	for (size_t i = 0; i < ps->n_fds; i++) {
		if (ps->fds[i].inode != s->inode || s->inode == 0)
			continue;
		for (size_t j = 0; j < ps->n_comms; j++)
			if (ps->comms[j].pid == ps->fds[i].pid)
				return ps->comms[j].comm;
	}
	for (size_t i = 0; i < ps->n_ss; i++) {
		const struct ss_entry *e = &ps->ss[i];

		if (e->proto == s->proto && e->port == s->port && e->process[0] &&
		    (strcmp(e->addr, s->addr) == 0 || strcmp(e->addr, "*") == 0))
			return e->process;
	}
	return NULL;
}

static void parse_free(struct parse *ps)
{
	free(ps->socks);
	free(ps->fds);
	free(ps->comms);
	free(ps->ss);
	json_decref(ps->enabled);
	json_decref(ps->failed);
}

int rain_vet_runtime_parse(const char *out, size_t len, json_t **facts)
{
	struct parse ps = { .sec = SEC_NONE };
	_cleanup_json_ json_t *listening = NULL, *f = NULL;
	char line[MAX_LINE];
	size_t pos = 0;
	int r = 0;

	*facts = NULL;
	if (len > RAIN_VET_RUNTIME_MAX_OUTPUT)
		return rain_error_set(RAIN_ETOOBIG, "runtime check: the collector wrote %zu bytes, more "
				      "than the %u allowed", len, RAIN_VET_RUNTIME_MAX_OUTPUT);
	ps.enabled = json_array();
	ps.failed = json_array();
	listening = json_array();
	if (!ps.enabled || !ps.failed || !listening) {
		r = rain_error_oom();
		goto done;
	}
	while (pos < len) {
		const char *nl = memchr(out + pos, '\n', len - pos);
		size_t n = (nl ? (size_t)(nl - out) : len) - pos;

		/* an overlong line is cut: no field of interest is that long */
		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1),
			 out + pos);
		pos += n + 1;
		vet_runtime_line_clean(line);
		if ((r = parse_line(&ps, line)) < 0)
			goto done;
	}
	if (ps.sec != SEC_END || !ps.kernel[0]) {
		r = rain_error_set(RAIN_EFORMAT, "runtime check: the collector's report is incomplete "
				   "(%s; last section: %s)", ps.kernel[0] ? "no end marker" : "no kernel",
				   section_names[ps.sec]);
		goto done;
	}
	for (size_t i = 0; i < ps.n_socks; i++) {
		const struct sock *s = &ps.socks[i];
		const char *proc = sock_process(&ps, s);
		json_t *o = json_pack("{s:s, s:s, s:i}", "proto", s->proto, "address", s->addr,
				      "port", (int)s->port);

		if (!o || (proc && json_object_set_new(o, "process", json_string(proc)) < 0) ||
		    json_array_append_new(listening, o) < 0) {
			r = rain_error_oom();
			goto done;
		}
	}
	f = json_pack("{s:s, s:O, s:O, s:O}", "kernel", ps.kernel, "listening", listening,
		      "enabled", ps.enabled, "failed", ps.failed);
	if (!f) {
		r = rain_error_oom();
		goto done;
	}
	*facts = TAKE_PTR(f);
done:
	parse_free(&ps);
	return r;
}

bool vet_runtime_loopback(const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}
