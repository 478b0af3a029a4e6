/* gql.c - GitHub GraphQL for job details: query texts and bodies, GitHub's cost formula,
 * answers turned into REST-shaped jobs. */
#include "gql.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RATE_LIMIT "rateLimit { cost remaining resetAt limit used nodeCount } "
#define STEP_FIELDS "nodes { name status conclusion number startedAt completedAt }"
#define STEPS_CONN "totalCount pageInfo { hasNextPage endCursor } " STEP_FIELDS
#define RUNS_CONN                                                                          \
	"totalCount pageInfo { hasNextPage endCursor } "                                   \
	"nodes { id databaseId name status conclusion startedAt completedAt "              \
	"steps(first: $steps) { " STEPS_CONN " } }"

static const char *const texts[GQL_NQUERIES] = {
	[GQL_SUITES] =
		"query($ids: [ID!]!, $first: Int!, $steps: Int!) { " RATE_LIMIT
		"nodes(ids: $ids) { ... on CheckSuite { id "
		"checkRuns(first: $first, filterBy: {checkType: LATEST}) { " RUNS_CONN " } } } }",
	[GQL_SUITE_PAGE] =
		"query($id: ID!, $first: Int!, $after: String, $steps: Int!) { " RATE_LIMIT
		"node(id: $id) { ... on CheckSuite { "
		"checkRuns(first: $first, after: $after, filterBy: {checkType: LATEST}) { "
		RUNS_CONN " } } } }",
	[GQL_STEPS_PAGE] =
		"query($id: ID!, $first: Int!, $after: String) { " RATE_LIMIT
		"node(id: $id) { ... on CheckRun { steps(first: $first, after: $after) { "
		STEPS_CONN " } } } }",
};

const char *gql_query_text(enum gql_query q)
{
	return q < GQL_NQUERIES ? texts[q] : NULL;
}

static int clamp_first(int n)
{
	return n < 1 ? 1 : n > GQL_MAX_FIRST ? GQL_MAX_FIRST : n;
}

static char *body(enum gql_query q, json_t *vars)
{
	json_t *b = json_pack("{s:s, s:o}", "query", texts[q], "variables", vars);
	char *text = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	return text;
}

char *gql_suites_body(const char *const *ids, size_t n, int first, int steps)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(ids[i]));
	return body(GQL_SUITES, json_pack("{s:o, s:i, s:i}", "ids", a, "first",
					  clamp_first(first), "steps", clamp_first(steps)));
}

char *gql_suite_page_body(const char *suite_id, int first, const char *after, int steps)
{
	return body(GQL_SUITE_PAGE, json_pack("{s:s, s:i, s:s?, s:i}", "id", suite_id, "first",
					      clamp_first(first), "after", after, "steps",
					      clamp_first(steps)));
}

char *gql_steps_page_body(const char *check_run_id, int first, const char *after)
{
	return body(GQL_STEPS_PAGE, json_pack("{s:s, s:i, s:s?}", "id", check_run_id, "first",
					      clamp_first(first), "after", after));
}

int gql_cost(size_t n, int first, bool with_steps)
{
	/* One request per checkRuns connection (one per suite), plus one per steps
	 * connection (one per check run that may come back). */
	double requests = (double)n;
	if (with_steps)
		requests += (double)n * clamp_first(first);
	long points = lround(requests / 100.0);
	return points < 1 ? 1 : (int)points;
}

static const json_t *first_error(const json_t *answer)
{
	return json_array_get(json_object_get(answer, "errors"), 0);
}

const char *gql_error_message(const json_t *answer)
{
	return json_string_value(json_object_get(first_error(answer), "message"));
}

/* Whether any error has this type. */
static bool has_error_type(const json_t *answer, const char *type)
{
	size_t i;
	const json_t *e;
	json_array_foreach(json_object_get(answer, "errors"), i, e) {
		const char *t = json_string_value(json_object_get(e, "type"));
		if (t && !strcmp(t, type))
			return true;
	}
	return false;
}

enum gql_outcome gql_classify(const json_t *answer)
{
	const char *msg = gql_error_message(answer);
	if (!json_is_object(answer))
		return GQL_FAILED;
	if (has_error_type(answer, "RATE_LIMITED"))
		return GQL_RATE_LIMITED;
	if (has_error_type(answer, "FORBIDDEN") ||
	    (msg && strstr(msg, "Resource not accessible")))
		return GQL_FORBIDDEN;
	if (msg && strstr(msg, "timeout"))
		return GQL_TIMEOUT;
	if (!json_is_object(json_object_get(answer, "data")))
		return GQL_FAILED;
	return GQL_OK;
}

const json_t *gql_suite(const json_t *answer, size_t i)
{
	const json_t *n = json_array_get(json_object_get(json_object_get(answer, "data"), "nodes"), i);
	return json_is_object(n) ? n : NULL;
}

const json_t *gql_check_runs(const json_t *answer_or_suite)
{
	const json_t *node = json_object_get(json_object_get(answer_or_suite, "data"), "node");
	return json_object_get(node ? node : answer_or_suite, "checkRuns");
}

const json_t *gql_steps(const json_t *answer)
{
	return json_object_get(json_object_get(json_object_get(answer, "data"), "node"), "steps");
}

/* An enum value as REST writes it: lower case; null stays null. */
static json_t *lower(const json_t *v)
{
	const char *s = json_string_value(v);
	if (!s)
		return json_null();
	char *l = xstrdup(s);
	for (char *c = l; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	json_t *out = json_string(l);
	free(l);
	return out;
}

static json_t *copy_or_null(const json_t *v)
{
	return v ? json_deep_copy(v) : json_null();
}

static json_t *rest_step(const json_t *s)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "name",
			 copy_or_null(json_object_get(s, "name")), "status",
			 lower(json_object_get(s, "status")), "conclusion",
			 lower(json_object_get(s, "conclusion")), "number",
			 copy_or_null(json_object_get(s, "number")), "started_at",
			 copy_or_null(json_object_get(s, "startedAt")), "completed_at",
			 copy_or_null(json_object_get(s, "completedAt")));
}

/* Next cursor of a connection that has more, or NULL. */
static char *next_cursor(const json_t *conn)
{
	const json_t *pi = json_object_get(conn, "pageInfo");
	const char *end = json_string_value(json_object_get(pi, "endCursor"));
	return json_is_true(json_object_get(pi, "hasNextPage")) && end ? xstrdup(end) : NULL;
}

char *gql_take_steps(json_t *job, const json_t *conn, int *err)
{
	const json_t *nodes = json_object_get(conn, "nodes"), *s;
	json_t *steps = json_object_get(job, "steps");
	size_t i;
	*err = 0;
	if (!json_is_array(nodes) || !json_is_array(steps)) {
		*err = -1;
		return NULL;
	}
	json_array_foreach(nodes, i, s)
		json_array_append_new(steps, rest_step(s));
	return next_cursor(conn);
}

char *gql_take_check_runs(json_t *jobs, const json_t *conn, struct gql_more_steps **more,
			  size_t *nmore, int *err)
{
	const json_t *nodes = json_object_get(conn, "nodes"), *r;
	size_t i;
	*err = 0;
	if (!json_is_array(nodes)) {
		*err = -1;
		return NULL;
	}
	json_array_foreach(nodes, i, r) {
		json_t *job = json_pack("{s:o, s:o, s:o, s:o, s:o, s:[]}", "name",
					copy_or_null(json_object_get(r, "name")), "status",
					lower(json_object_get(r, "status")), "conclusion",
					lower(json_object_get(r, "conclusion")), "started_at",
					copy_or_null(json_object_get(r, "startedAt")), "completed_at",
					copy_or_null(json_object_get(r, "completedAt")), "steps");
		int e;
		char *after = gql_take_steps(job, json_object_get(r, "steps"), &e);
		const char *id = json_string_value(json_object_get(r, "id"));
		json_array_append_new(jobs, job);
		if (e) {
			*err = -1;
			free(after);
			return NULL;
		}
		if (after && id) {
			*more = xrealloc(*more, (*nmore + 1) * sizeof(**more));
			(*more)[*nmore] = (struct gql_more_steps){json_array_size(jobs) - 1,
								  xstrdup(id), after};
			(*nmore)++;
		} else {
			free(after);
		}
	}
	return next_cursor(conn);
}

void gql_more_release(struct gql_more_steps *more, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(more[i].check_run);
		free(more[i].after);
	}
	free(more);
}

/* The first key of a (REST) whose value differs in b, or NULL. */
static const char *first_key_differing(const json_t *a, const json_t *b)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)a, k, v)
		if (!json_equal(v, json_object_get(b, k)))
			return k;
	json_object_foreach((json_t *)b, k, v)
		if (!json_object_get(a, k))
			return k;
	return NULL;
}

bool gql_details_differ(const char *rest, const char *gql, char *where, size_t n)
{
	json_t *a = json_loads(rest, 0, NULL), *b = json_loads(gql, 0, NULL);
	bool differ = true;
	size_t i;
	const json_t *ja;
	snprintf(where, n, "job_details");
	if (!json_is_array(a) || !json_is_array(b))
		goto out;
	if (json_array_size(a) != json_array_size(b)) {
		snprintf(where, n, "total_jobs (REST %zu, GraphQL %zu)", json_array_size(a),
			 json_array_size(b));
		goto out;
	}
	differ = false;
	json_array_foreach(a, i, ja) {
		const json_t *jb = json_array_get(b, i);
		const char *k = first_key_differing(ja, jb);
		if (!k)
			continue;
		differ = true;
		const json_t *sa = json_object_get(ja, "steps"), *sb = json_object_get(jb, "steps");
		if (strcmp(k, "steps") == 0 && json_array_size(sa) == json_array_size(sb)) {
			for (size_t j = 0; j < json_array_size(sa); j++) {
				const char *sk = first_key_differing(json_array_get(sa, j),
								     json_array_get(sb, j));
				if (sk) {
					snprintf(where, n, "job_details[%zu].steps[%zu].%s", i, j, sk);
					goto out;
				}
			}
		}
		snprintf(where, n, "job_details[%zu].%s", i, k);
		goto out;
	}
out:
	json_decref(a);
	json_decref(b);
	return differ;
}

char *gql_endpoint(const char *api_url)
{
	size_t n = strlen(api_url);
	while (n && api_url[n - 1] == '/')
		n--;
	if (n >= 7 && !strncmp(api_url + n - 7, "/api/v3", 7))
		return xasprintf("%.*s/api/graphql", (int)(n - 7), api_url);
	return xasprintf("%.*s/graphql", (int)n, api_url);
}
