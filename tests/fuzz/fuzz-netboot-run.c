/* libFuzzer harness for the netboot site's run settings
 * (src/lib/target/netboot-run.c): any text as a power program (with and
 * without a node), as an ssh setting, as a run's public key. Checked: a
 * program's vector is as long as said and NULL-terminated with a
 * non-empty program name, an ssh address is a host without blanks and a
 * port in range, a key argument is base64url only, and a failure is
 * RAIN_EINVAL (or RAIN_ENOMEM). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/netboot.h"
#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_code(int r)
{
	if (r < 0 && r != RAIN_EINVAL && r != RAIN_ENOMEM)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rain_netboot_node nodes[] = { { "n1", "52-54-00-00-00-01" },
							  { "node-2", "52-54-00-ab-cd-ef" } };
	char *text, **v = NULL, host[RAIN_NETBOOT_HOST_MAX + 1], *arg;
	size_t n = 0;
	int r, port = -1;

	if (!size)
		return 0;
	if (!(text = malloc(size)))
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		check_code(rain_netboot_command("power_on", text, NULL, NULL, NULL));
		r = rain_netboot_command("power_on", text, &nodes[data[0] / 3 % 2], &v, &n);
		check_code(r);
		if (r == 0) {
			if (!n || !v || v[n] || !v[0][0])
				abort();
			for (size_t i = 0; i < n; i++)
				if (!v[i])
					abort();
			strv_free(v, n);
		}
		break;
	case 1:
		check_code(rain_netboot_ssh_addr(text, nodes, 2, NULL, NULL, NULL));
		r = rain_netboot_ssh_addr(text, nodes, 2, "node-2", host, &port);
		check_code(r);
		if (r == 0 && (!host[0] || strpbrk(host, " \t\n") || port < 1 || port > 65535))
			abort();
		break;
	default:
		r = rain_netboot_key_arg(text, &arg);
		check_code(r);
		if (r == 0) {
			if (strncmp(arg, "rain.ssh_key=", 13) ||
			    strspn(arg + 13, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
				    strlen(arg + 13))
				abort();
			free(arg);
		}
		break;
	}
	free(text);
	return 0;
}
