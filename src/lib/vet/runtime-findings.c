/* The runtime rules (rain_vet_runtime_findings() in rain/vet-runtime.h):
 * the runtime check's facts made findings of a vetting report. */
#include <stdio.h>
#include <string.h>

#include "rain/error.h"
#include "rain/vet-runtime.h"
#include "lib/vet/runtime-internal.h"
#include "lib/vet/vet-internal.h"
#include "util/cleanup-json.h"

/* Add one finding (extra: more keys, stolen; may be NULL). */
static int add(json_t *report, const struct rain_vet_policy *p, const char *rule,
	       enum rain_vet_severity sev, json_t *extra, const char *msg)
{
	_cleanup_json_ json_t *x = extra;
	json_t *f = json_pack("{s:s, s:s, s:s}", "rule", rule, "severity", rain_vet_severity_name(sev),
			      "message", msg);

	if (!f || (x && json_object_update(f, x) < 0)) {
		json_decref(f);
		return rain_error_oom();
	}
	return rain_vet_report_add(report, p, f);
}

int rain_vet_runtime_findings(json_t *report, const json_t *facts, const struct rain_vet_policy *p)
{
	const char *kernel = json_string_value(json_object_get(facts, "kernel"));
	json_t *v;
	size_t i;
	int r;

	rain_error_clear();
	if (!json_is_object(report) || !kernel)
		return rain_error_set(RAIN_EINVAL, "runtime findings: a report and the runtime check's facts "
				      "are needed");
	json_array_foreach(json_object_get(facts, "listening"), i, v) {
		const char *proto = json_string_value(json_object_get(v, "proto"));
		const char *addr = json_string_value(json_object_get(v, "address"));
		const char *proc = json_string_value(json_object_get(v, "process"));
		json_int_t port = json_integer_value(json_object_get(v, "port"));
		char msg[256];

		if (!proto || !addr || vet_runtime_loopback(addr))
			continue;
		snprintf(msg, sizeof(msg), "%s listens on %s %s port %lld, not on loopback only",
			 proc ? proc : "a process", proto, addr, (long long)port);
		if ((r = add(report, p, "runtime-listening", RAIN_VET_MEDIUM, json_deep_copy(v), msg)) < 0)
			return r;
	}
	json_array_foreach(json_object_get(facts, "failed"), i, v) {
		char msg[300];

		if (!json_is_string(v))
			continue;
		snprintf(msg, sizeof(msg), "unit %s failed while the image booted", json_string_value(v));
		if ((r = add(report, p, "runtime-failed-unit", RAIN_VET_LOW,
			     json_pack("{s:O}", "unit", v), msg)) < 0)
			return r;
	}
	if (p && p->n_allowed_kernels && !vet_glob_any(p->allowed_kernels, p->n_allowed_kernels, kernel)) {
		char msg[200];

		snprintf(msg, sizeof(msg), "the running kernel %s is not on the policy's allowed_kernels",
			 kernel);
		if ((r = add(report, p, "runtime-kernel", RAIN_VET_HIGH,
			     json_pack("{s:s}", "version", kernel), msg)) < 0)
			return r;
	}
	if (json_object_set_new(report, "runtime", json_deep_copy(facts)) < 0)
		return rain_error_oom();
	return 0;
}
