/* ghapi.c - GitHub REST: URLs, Link pagination, JSON → records and job details,
 * answer classification. Pure: no I/O. */
#include "ghapi.h"

#include <ctype.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Percent-encode what the created filter may contain (':', '+', '<', '>', '=', '*'). */
static char *urlencode(const char *s)
{
	struct buf b;
	buf_init(&b, 0);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			buf_append(&b, s, 1);
		else
			buf_printf(&b, "%%%02X", c);
	}
	buf_append(&b, "", 0);
	return b.data;
}

char *ghapi_runs_url(const char *api, const char *full_name, int64_t workflow_id,
		     const char *created)
{
	struct buf b;
	buf_init(&b, 0);
	buf_printf(&b, "%s/repos/%s/actions/", api, full_name);
	if (workflow_id > 0)
		buf_printf(&b, "workflows/%" PRId64 "/", workflow_id);
	buf_appends(&b, "runs?per_page=100&exclude_pull_requests=true");
	if (created) {
		char *enc = urlencode(created);
		buf_printf(&b, "&created=%s", enc);
		free(enc);
	}
	return b.data;
}

char *ghapi_jobs_url(const char *api, const char *full_name, int64_t run_id)
{
	return xasprintf("%s/repos/%s/actions/runs/%" PRId64 "/jobs?per_page=100&filter=latest",
			 api, full_name, run_id);
}

char *ghapi_run_url(const char *api, const char *full_name, int64_t run_id)
{
	return xasprintf("%s/repos/%s/actions/runs/%" PRId64, api, full_name, run_id);
}

/* The parts of url that make its origin: scheme and host lower-cased, the port as a
 * number (the scheme's default when absent). 0, or -1 when url is not an absolute URL or
 * carries userinfo ("https://api.github.com@evil.com/" is evil.com with a user name: a
 * token never goes to a URL written to look like another). */
struct origin {
	char *scheme, *host;
	long port;
};

static int origin_parse(const char *url, struct origin *o)
{
	CURLU *u = curl_url();
	char *port = NULL, *user = NULL, *password = NULL, *end;
	int rc = -1;
	o->scheme = o->host = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER ||
	    curl_url_get(u, CURLUPART_PASSWORD, &password, 0) != CURLUE_NO_PASSWORD)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &o->scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &o->host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	o->port = strtol(port, &end, 10);
	if (*end || o->port <= 0 || !*o->host)
		goto out;
	rc = 0;
out:
	curl_free(port);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(u);
	if (rc) {
		curl_free(o->scheme);
		curl_free(o->host);
		o->scheme = o->host = NULL;
	}
	return rc;
}

bool ghapi_same_origin(const char *api, const char *url)
{
	struct origin a, b;
	bool same;
	if (!api || !url || origin_parse(api, &a) != 0)
		return false;
	if (origin_parse(url, &b) != 0) {
		curl_free(a.scheme);
		curl_free(a.host);
		return false;
	}
	/* Host names compare without case (RFC 3986 §3.2.2); curl keeps them as written. */
	same = strcasecmp(a.scheme, b.scheme) == 0 && strcasecmp(a.host, b.host) == 0 &&
	       a.port == b.port;
	curl_free(a.scheme);
	curl_free(a.host);
	curl_free(b.scheme);
	curl_free(b.host);
	return same;
}

char *ghapi_link_next(const char *link)
{
	/* <url>; rel="next", <url>; rel="last" — parameters may be in any order and spacing. */
	const char *p = link;
	while (p && *p) {
		const char *lt = strchr(p, '<');
		if (!lt)
			return NULL;
		const char *gt = strchr(lt, '>');
		if (!gt)
			return NULL;
		const char *end = strchr(gt, ',');
		/* A comma may only end the entry outside of the <...>, which gt already passed. */
		size_t plen = end ? (size_t)(end - gt) : strlen(gt);
		char *params = xstrndup(gt + 1, plen - 1);
		int is_next = 0;
		char *save1, *save2;
		for (char *tok = strtok_r(params, ";", &save1); tok;
		     tok = strtok_r(NULL, ";", &save1)) {
			while (isspace((unsigned char)*tok))
				tok++;
			if (strncasecmp(tok, "rel=", 4) == 0) {
				char *v = tok + 4;
				if (*v == '"')
					v++;
				/* rel may hold several space-separated types. */
				for (char *w = strtok_r(v, " \"", &save2); w;
				     w = strtok_r(NULL, " \"", &save2))
					if (strcmp(w, "next") == 0)
						is_next = 1;
				break;
			}
		}
		free(params);
		if (is_next)
			return xstrndup(lt + 1, (size_t)(gt - lt - 1));
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

char *ghapi_created_filter(const char *from, const char *to)
{
	if (from && to)
		return xasprintf("%s..%s", from, to);
	if (from)
		return xasprintf(">=%s", from);
	if (to)
		return xasprintf("<=%s", to);
	return NULL;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static char *jint_text(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return NULL;
}

/* Seconds from a to b (ISO strings); 0 when both parse, else -1. */
static int seconds_between(const char *a, const char *b, double *out)
{
	double ta, tb;
	if (time_parse_iso(a, &ta) || time_parse_iso(b, &tb))
		return -1;
	/* GitHub's times carry at most milliseconds: drop the float noise of the subtraction. */
	*out = round((tb - ta) * 1000.0) / 1000.0;
	return 0;
}

int ghapi_run_to_record(const json_t *run, const char *full_name, struct record *r)
{
	char num[64];
	double dur;
	if (!json_is_integer(json_object_get(run, "id")))
		return -1;
	record_set(r, COL_REPO, full_name);
	record_take(r, COL_ID_BUILD, jint_text(run, "id"));
	record_take(r, COL_WORKFLOW_ID, jint_text(run, "workflow_id"));
	record_set(r, COL_WORKFLOW_NAME, jstr(run, "name"));
	record_set(r, COL_STATUS, jstr(run, "status"));
	record_set(r, COL_CONCLUSION, jstr(run, "conclusion"));
	record_set(r, COL_CREATED_AT, jstr(run, "created_at"));
	record_set(r, COL_UPDATED_AT, jstr(run, "updated_at"));
	record_set(r, COL_BRANCH, jstr(run, "head_branch"));
	record_set(r, COL_COMMIT_SHA, jstr(run, "head_sha"));
	record_set(r, COL_EVENT, jstr(run, "event"));
	record_set(r, COL_ISSUER_NAME, jstr(json_object_get(run, "actor"), "login"));
	record_take(r, COL_RUN_NUMBER, jint_text(run, "run_number"));
	const char *start = jstr(run, "run_started_at");
	if (!start)
		start = jstr(run, "created_at");
	if (seconds_between(start, jstr(run, "updated_at"), &dur) == 0)
		record_set(r, COL_BUILD_DURATION, record_format_seconds(num, sizeof(num), dur));
	else
		record_set(r, COL_BUILD_DURATION, NULL);
	record_set(r, COL_TOTAL_JOBS, NULL);
	record_set(r, COL_JOB_DETAILS, NULL);
	return 0;
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Duration in seconds as a JSON number, or "N/A" when a time is missing or malformed. */
static json_t *duration_json(const char *start, const char *end)
{
	double d;
	if (seconds_between(start, end, &d))
		return json_string("N/A");
	if (d == (double)(json_int_t)d)
		return json_integer((json_int_t)d);
	return json_real(d);
}

/* The end of the string whose opening quote is at p (the index after its closing quote),
 * or 0 when it is not terminated. */
static size_t string_end(const char *in, size_t len, size_t p)
{
	for (size_t i = p + 1; i < len;) {
		const char *q = memchr(in + i, '"', len - i);
		if (!q)
			return 0;
		size_t at = (size_t)(q - in), bs = 0;
		while (at - bs > p + 1 && in[at - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0)
			return at + 1;
		i = at + 1;
	}
	return 0;
}

/* The end of the object or array opening at p, or 0 when it is not closed. */
static size_t value_end(const char *in, size_t len, size_t p)
{
	size_t depth = 0;
	for (size_t i = p; i < len; i++) {
		char c = in[i];
		if (c == '"') {
			size_t e = string_end(in, len, i);
			if (!e)
				return 0;
			i = e - 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

static bool is_dropped(const char *key, size_t n, const char *const *drop)
{
	for (; *drop; drop++)
		if (strlen(*drop) == n && memcmp(*drop, key, n) == 0)
			return true;
	return false;
}

int ghapi_skim(const char *in, size_t len, const char *const *drop, struct buf *out)
{
	size_t copied = 0, i = 0;
	buf_reset(out);
	/* Only strings matter: a string followed by ':' is a member name. */
	while (i < len) {
		const char *q = memchr(in + i, '"', len - i);
		if (!q)
			break;
		size_t s = (size_t)(q - in), e = string_end(in, len, s), v;
		if (!e)
			return -1;
		i = e;
		while (i < len && strchr(" \t\r\n", in[i]) && in[i])
			i++;
		if (i >= len || in[i] != ':' || !is_dropped(in + s + 1, e - s - 2, drop))
			continue;
		for (v = i + 1; v < len && strchr(" \t\r\n", in[v]) && in[v]; v++)
			;
		if (v >= len || (in[v] != '{' && in[v] != '['))
			continue;
		size_t end = value_end(in, len, v);
		if (!end)
			return -1;
		if (buf_append(out, in + copied, v - copied) != 0 || buf_appends(out, "null") != 0)
			return -1;
		copied = i = end;
	}
	return buf_append(out, in + copied, len - copied);
}

int ghapi_jobs_append(json_t *details, const json_t *page, long long *total_count)
{
	const json_t *jobs = json_object_get(page, "jobs");
	size_t i, k;
	const json_t *job, *step;
	int n = 0;
	if (!json_is_array(jobs))
		return -1;
	if (total_count) {
		const json_t *tc = json_object_get(page, "total_count");
		*total_count = json_is_integer(tc) ? json_integer_value(tc) : -1;
	}
	json_array_foreach(jobs, i, job) {
		json_t *o = json_object(), *steps = json_array();
		const char *s = jstr(job, "started_at"), *e = jstr(job, "completed_at");
		json_object_set_new(o, "job_name", json_str_or_null(jstr(job, "name")));
		json_object_set_new(o, "job_start", json_str_or_null(s));
		json_object_set_new(o, "job_end", json_str_or_null(e));
		json_object_set_new(o, "job_duration", duration_json(s, e));
		json_object_set_new(o, "job_result", json_str_or_null(jstr(job, "conclusion")));
		json_array_foreach(json_object_get(job, "steps"), k, step) {
			json_t *so = json_object();
			const char *ss = jstr(step, "started_at"), *se = jstr(step, "completed_at");
			json_object_set_new(so, "step_name", json_str_or_null(jstr(step, "name")));
			json_object_set_new(so, "step_conclusion",
					    json_str_or_null(jstr(step, "conclusion")));
			json_object_set_new(so, "step_start", json_str_or_null(ss));
			json_object_set_new(so, "step_end", json_str_or_null(se));
			json_object_set_new(so, "step_duration", duration_json(ss, se));
			json_array_append_new(steps, so);
		}
		json_object_set_new(o, "steps", steps);
		json_array_append_new(details, o);
		n++;
	}
	return n;
}

char *ghapi_error_message(const char *body)
{
	json_t *j;
	char *msg = NULL;
	if (!body || !*body)
		return NULL;
	j = json_loads(body, 0, NULL);
	if (j && json_string_value(json_object_get(j, "message")))
		msg = xstrdup(json_string_value(json_object_get(j, "message")));
	json_decref(j);
	return msg;
}

enum ghapi_answer ghapi_classify(long status, long remaining, int has_retry_after,
				 const char *body)
{
	if (status == 0)
		return GA_RETRY;
	if (status >= 200 && status < 300)
		return GA_OK;
	if (status == 304)
		return GA_NOT_MODIFIED;
	if (status == 401)
		return GA_AUTH;
	if (status == 404)
		return GA_NOT_FOUND;
	if (status == 403 || status == 429) {
		char *msg = ghapi_error_message(body);
		int secondary = msg && (strcasestr(msg, "secondary rate limit") ||
					strcasestr(msg, "abuse"));
		int primary = msg && strcasestr(msg, "rate limit") && !secondary;
		free(msg);
		if (secondary || (has_retry_after && remaining != 0))
			return GA_SECONDARY;
		if (remaining == 0 || primary)
			return GA_PRIMARY;
		return status == 429 ? GA_SECONDARY : GA_FORBIDDEN;
	}
	if (status >= 500 || status == 408)
		return GA_RETRY;
	return GA_FATAL;
}

bool ghapi_is_html(const char *body, size_t len)
{
	size_t i = 0;
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	return i < len && body[i] == '<';
}

bool ghapi_graphql_rate_limited(const char *body)
{
	json_t *j, *e;
	size_t i;
	bool limited = false;
	if (!body || !strstr(body, "RATE_LIMITED"))
		return false;
	j = json_loads(body, 0, NULL);
	json_array_foreach(json_object_get(j, "errors"), i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		if (type && !strcmp(type, "RATE_LIMITED"))
			limited = true;
	}
	json_decref(j);
	return limited;
}

enum ghapi_answer ghapi_classify_graphql(long status, long remaining, int has_retry_after,
					 const char *body)
{
	/* GitHub gives up on a query too large as a 200, or as a 502 or 504 whose JSON says
	 * so: final, so that a smaller query is tried instead of the same one again. */
	if ((status == 502 || status == 504) && body && strstr(body, "timeout"))
		return GA_FATAL;
	/* GitHub sends it as a 200, and sometimes as a 403 or 429 with the same body. */
	if (((status >= 200 && status < 300) || status == 403 || status == 429) &&
	    ghapi_graphql_rate_limited(body))
		return remaining == 0 ? GA_PRIMARY : GA_SECONDARY;
	return ghapi_classify(status, remaining, has_retry_after, body);
}
