/* Vetting's report (rain/vet.h): findings, counts per severity and per
 * action, the verdict, and the readable summary made from it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "lib/vet/vet-internal.h"

/* Findings listed per rule (vulnerabilities: all a feed can give); the
 * rest are counted in one more finding. */
#define MAX_LISTED 200
#define MAX_LISTED_VULNS 100000

static int severity_of(const json_t *f, enum rain_vet_severity *out)
{
	const char *s = json_string_value(json_object_get(f, "severity"));

	return s ? rain_vet_severity_parse(s, out) : RAIN_EINVAL;
}

static int action_of(const json_t *f, enum rain_vet_action *out)
{
	const char *s = json_string_value(json_object_get(f, "action"));

	for (int a = RAIN_VET_IGNORE; s && a <= RAIN_VET_FAIL; a++)
		if (strcmp(s, rain_vet_action_name(a)) == 0) {
			*out = a;
			return 0;
		}
	return RAIN_EINVAL;
}

/* A new string made from fmt and ap (NULL: out of memory, message set). */
static char *vformat(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0) {
		rain_error_oom();
		return NULL;
	}
	return s;
}

int vet_finding(struct vet_ctx *c, enum vet_rule rule, enum rain_vet_severity sev,
		const char *path, const char *package, json_t *extra, const char *fmt, ...)
{
	_cleanup_json_ json_t *x = extra;
	_cleanup_json_ json_t *f = NULL;
	_cleanup_free_ char *msg = NULL;
	enum rain_vet_action action = vet_policy_action(c->policy, vet_rule_names[rule], sev);
	va_list ap;

	if (c->listed[rule] >= (rule == VET_VULNERABLE_PACKAGE || rule == VET_UNFIXED_VULNERABILITY ?
				MAX_LISTED_VULNS : MAX_LISTED)) {
		json_t *o = c->omitted[rule];
		enum rain_vet_severity os;
		enum rain_vet_action oa;

		if (!o) {
			o = json_pack("{s:s, s:s, s:s, s:I}", "rule", vet_rule_names[rule],
				      "severity", rain_vet_severity_name(sev),
				      "action", rain_vet_action_name(action), "count", (json_int_t)0);
			if (!o)
				return rain_error_oom();
			c->omitted[rule] = o;
		}
		if (severity_of(o, &os) == 0 && sev > os &&
		    json_object_set_new(o, "severity", json_string(rain_vet_severity_name(sev))) < 0)
			return rain_error_oom();
		if (action_of(o, &oa) == 0 && action > oa &&
		    json_object_set_new(o, "action", json_string(rain_vet_action_name(action))) < 0)
			return rain_error_oom();
		if (json_object_set_new(o, "count",
					json_integer(json_integer_value(json_object_get(o, "count")) + 1)) < 0)
			return rain_error_oom();
		return 0;
	}
	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	if (!msg)
		return RAIN_ENOMEM;
	f = json_pack("{s:s, s:s, s:s}", "rule", vet_rule_names[rule],
		      "severity", rain_vet_severity_name(sev), "action", rain_vet_action_name(action));
	if (!f)
		return rain_error_oom();
	if ((path && json_object_set_new(f, "path", json_string(path)) < 0) ||
	    (package && json_object_set_new(f, "package", json_string(package)) < 0) ||
	    json_object_set_new(f, "message", json_string(msg)) < 0 ||
	    (x && json_object_update(f, x) < 0) ||
	    json_array_append(c->findings, f) < 0)
		return rain_error_oom();
	c->listed[rule]++;
	return 0;
}

int vet_note(struct vet_ctx *c, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	if (!msg)
		return RAIN_ENOMEM;
	if (json_array_append_new(c->notes, json_string(msg)) < 0)
		return rain_error_oom();
	return 0;
}

int vet_report_count(json_t *report)
{
	json_t *findings = json_object_get(report, "findings"), *f;
	json_int_t sev[RAIN_VET_CRITICAL + 1] = { 0 }, act[RAIN_VET_FAIL + 1] = { 0 };
	_cleanup_json_ json_t *by_sev = json_object(), *by_act = json_object();
	enum rain_vet_verdict verdict;
	size_t i;

	if (!by_sev || !by_act)
		return rain_error_oom();
	json_array_foreach(findings, i, f) {
		enum rain_vet_severity s;
		enum rain_vet_action a;
		json_int_t n = json_is_integer(json_object_get(f, "count")) ?
				       json_integer_value(json_object_get(f, "count")) : 1;

		if (severity_of(f, &s) < 0 || action_of(f, &a) < 0 || n < 0)
			return rain_error_set(RAIN_EFORMAT, "vet report: finding %zu has no valid severity "
					      "or action", i);
		sev[s] += n;
		act[a] += n;
	}
	for (int s = RAIN_VET_CRITICAL; s >= RAIN_VET_INFO; s--)
		if (json_object_set_new(by_sev, rain_vet_severity_name(s), json_integer(sev[s])) < 0)
			return rain_error_oom();
	for (int a = RAIN_VET_FAIL; a >= RAIN_VET_IGNORE; a--)
		if (json_object_set_new(by_act, rain_vet_action_name(a), json_integer(act[a])) < 0)
			return rain_error_oom();
	verdict = act[RAIN_VET_FAIL] ? RAIN_VET_FAILED : act[RAIN_VET_WARN] ? RAIN_VET_WARNED : RAIN_VET_PASSED;
	if (json_object_set_new(report, "counts",
				json_pack("{s:O, s:O}", "severity", by_sev, "action", by_act)) < 0 ||
	    json_object_set_new(report, "verdict", json_string(rain_vet_verdict_name(verdict))) < 0)
		return rain_error_oom();
	return 0;
}

int rain_vet_report_add(json_t *report, const struct rain_vet_policy *p, json_t *finding)
{
	_cleanup_json_ json_t *f = finding;
	const char *rule = json_string_value(json_object_get(f, "rule"));
	json_t *findings = json_object_get(report, "findings");
	enum rain_vet_severity sev;
	enum rain_vet_action action;

	rain_error_clear();
	if (!json_is_array(findings))
		return rain_error_set(RAIN_EINVAL, "vet report: it has no findings array");
	if (!rule || (vet_rule_lookup(rule) < 0 && !vet_rule_is_runtime(rule)) ||
	    severity_of(f, &sev) < 0 || !json_is_string(json_object_get(f, "message")))
		return rain_error_set(RAIN_EINVAL,
				      "vet report: a finding needs a known rule (or runtime-NAME), a severity "
				      "and a message");
	action = rain_vet_policy_action(p, rule, sev);
	if (json_object_set_new(f, "action", json_string(rain_vet_action_name(action))) < 0 ||
	    json_array_append(findings, f) < 0)
		return rain_error_oom();
	return vet_report_count(report);
}

int rain_vet_report_verdict(const json_t *report, enum rain_vet_verdict *out)
{
	const char *v = json_string_value(json_object_get(report, "verdict"));

	rain_error_clear();
	for (int i = RAIN_VET_PASSED; v && i <= RAIN_VET_FAILED; i++)
		if (strcmp(v, rain_vet_verdict_name(i)) == 0) {
			*out = i;
			return 0;
		}
	return rain_error_set(RAIN_EFORMAT, "vet report: no verdict (passed, warned or failed) in it");
}

/* Append one line of summary, printf-style. */
static int out_add(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int out_add(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n < 0 ? rain_error_oom() : 0;
}

/* A string of the report for the summary: control characters, which an
 * image's file names may hold, shown as '?'. */
static char *clean(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s && s[i] && i + 1 < size; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

int rain_vet_report_text(const json_t *report, char **out)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	const json_t *counts = json_object_get(report, "counts"), *feed = json_object_get(report, "feed");
	const json_t *findings = json_object_get(report, "findings"), *x;
	enum rain_vet_verdict verdict;
	char b1[512], b2[2048];
	size_t len = 0, i;
	int r;

	*out = NULL;
	r = rain_vet_report_verdict(report, &verdict);
	if (r < 0)
		return r;
	f = open_memstream(&text, &len);
	if (!f)
		return rain_error_oom();
	r = out_add(f, "verdict: %s (policy %s)\n", rain_vet_verdict_name(verdict),
		    clean(json_string_value(json_object_get(json_object_get(report, "policy"), "name")),
			  b1, sizeof(b1)));
	x = json_object_get(report, "image");
	if (r >= 0 && x)
		r = out_add(f, "image: %s\n",
			    clean(json_string_value(json_object_get(x, "detail")), b1, sizeof(b1)));
	if (r >= 0) {
		if (json_is_object(feed))
			r = out_add(f, "feed: %s of %s\n",
				    clean(json_string_value(json_object_get(feed, "name")), b1, sizeof(b1)),
				    clean(json_string_value(json_object_get(feed, "date")), b2, sizeof(b2)));
		else
			r = out_add(f, "feed: none (vulnerabilities not checked)\n");
	}
	if (r >= 0)
		r = out_add(f, "findings:");
	for (int s = RAIN_VET_CRITICAL; r >= 0 && s >= RAIN_VET_INFO; s--)
		r = out_add(f, " %lld %s%s",
			    (long long)json_integer_value(json_object_get(json_object_get(counts, "severity"),
									  rain_vet_severity_name(s))),
			    rain_vet_severity_name(s), s > RAIN_VET_INFO ? "," : "");
	if (r >= 0)
		r = out_add(f, " (%lld fail, %lld warn, %lld ignored)\n",
			    (long long)json_integer_value(json_object_get(json_object_get(counts, "action"), "fail")),
			    (long long)json_integer_value(json_object_get(json_object_get(counts, "action"), "warn")),
			    (long long)json_integer_value(json_object_get(json_object_get(counts, "action"), "ignore")));
	/* the findings that fail, then those that warn */
	for (int a = RAIN_VET_FAIL; r >= 0 && a >= RAIN_VET_WARN; a--)
		json_array_foreach(findings, i, x) {
			enum rain_vet_action fa;
			const char *where = json_string_value(json_object_get(x, "path"));

			if (action_of(x, &fa) < 0 || fa != (enum rain_vet_action)a)
				continue;
			if (!where)
				where = json_string_value(json_object_get(x, "package"));
			r = out_add(f, "%s %-8s %-26s %s%s%s\n", a == RAIN_VET_FAIL ? "FAIL" : "WARN",
				    clean(json_string_value(json_object_get(x, "severity")), b1, 16),
				    clean(json_string_value(json_object_get(x, "rule")), b1 + 16, 64),
				    where ? clean(where, b1 + 80, sizeof(b1) - 80) : "", where ? ": " : "",
				    clean(json_string_value(json_object_get(x, "message")), b2, sizeof(b2)));
			if (r < 0)
				break;
		}
	json_array_foreach(json_object_get(report, "notes"), i, x) {
		if (r < 0)
			break;
		r = out_add(f, "note: %s\n", clean(json_string_value(x), b2, sizeof(b2)));
	}
	if (r < 0)
		return r;
	if (fflush(f) != 0)
		return rain_error_oom();
	fclose(TAKE_PTR(f));
	*out = TAKE_PTR(text);
	return 0;
}
