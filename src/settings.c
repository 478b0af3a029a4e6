/* settings.c - the table of settings, their value types and defaults, and the merge:
 * command line > environment > config.yaml > defaults.
 * size: the table is data, a row per setting (a quarter of the file); the code is not. */
#include "settings.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "msg.h"
#include "repo_ref.h"
#include "settings_table.h"
#include "tokens.h"
#include "util.h"

#define DEFAULT_CONFIG "config.yaml"
#define F(field) offsetof(struct settings, field)

/*
 * Every setting, once. A plain row (a field) is read from the command line by cli.c, from the
 * environment and merged here, from config.yaml by config.c, and listed by --help in table
 * order: adding a setting is adding its field and its row.
 */
const struct setting_def settings_table[] = {
	{ .key = "single_project", .short_opt = "-s", .long_opt = "--single-project",
	  .type = SET_REPO, .metavar = "REPO", .section = SEC_REPOS,
	  .help = "mine REPO: https://github.com/OWNER/REPO or OWNER/REPO" },
	{ .key = "projects", .short_opt = "-p", .long_opt = "--projects", .type = SET_PROJECTS,
	  .metavar = "FILE", .section = SEC_REPOS,
	  .help = "mine every repository in FILE, one URL per line; blank lines and # comments "
		  "are ignored" },
	{ .key = "from_date", .short_opt = "-fd", .long_opt = "--from_date", .alias = "--from-date",
	  .type = SET_DATE, .offset = F(from_date), .metavar = "YYYY-MM-DD",
	  .section = SEC_SELECTION, .help = "only runs created on or after that date" },
	{ .key = "to_date", .short_opt = "-td", .long_opt = "--to_date", .alias = "--to-date",
	  .type = SET_DATE, .offset = F(to_date), .metavar = "YYYY-MM-DD",
	  .section = SEC_SELECTION, .help = "only runs created on or before that date" },
	{ .key = "streaming_mode", .yaml_key = "streaming_mode", .type = SET_BOOL, .def = "true",
	  .offset = F(streaming_mode),
	  .help = "NDJSON on stdout as runs arrive (false: CSV only)" },
	{ .key = "workflow_ids", .yaml_key = "workflow_ids", .type = SET_IDS,
	  .offset = F(workflow_ids), .count_offset = F(nworkflow_ids), .flags = SF_NULLABLE,
	  .help = "only these workflow ids (empty: every workflow)" },
	{ .key = "fetch_job_details", .yaml_key = "fetch_job_details", .type = SET_BOOL,
	  .def = "true", .offset = F(fetch_job_details),
	  .help = "also fetch the jobs and steps of each run" },
	{ .key = "output_csv", .short_opt = "-o", .long_opt = "--output", .yaml_key = "output_csv",
	  .type = SET_PATH, .def = "builds_features.csv", .offset = F(output_csv),
	  .metavar = "FILE", .section = SEC_SELECTION, .flags = SF_SHOW_DEFAULT,
	  .help = "CSV file to write or resume" },
	{ .key = "watch_interval", .long_opt = "--watch", .yaml_key = "watch_interval",
	  .type = SET_DURATION, .def = "0", .offset = F(watch_interval), .metavar = "DURATION",
	  .section = SEC_SELECTION,
	  .help = "keep running, polling for new runs every DURATION (90 or 90s, 5m, 1h30m; "
		  "0: mine once and exit)" },
	{ .key = "deadline", .long_opt = "--deadline", .yaml_key = "deadline",
	  .type = SET_DURATION, .def = "0", .offset = F(deadline), .metavar = "DURATION",
	  .section = SEC_SELECTION,
	  .help = "stop cleanly after DURATION (like 5h30m), saving what was collected, and "
		  "exit 0 saying the collection is partial: the next run resumes (0: none)" },
	{ .key = "quiet", .long_opt = "--quiet", .yaml_key = "quiet", .type = SET_BOOL,
	  .def = "false", .offset = F(quiet), .section = SEC_SELECTION,
	  .help = "no progress messages on stderr" },
	{ .key = "token", .short_opt = "-t", .long_opt = "--token", .type = SET_TOKEN,
	  .metavar = "TOKEN", .section = SEC_CONNECTION,
	  .help = "GitHub token; repeat it for a pool of tokens. Other users can read it in the "
		  "process list: prefer the environment variables below" },
	/* The environment's tokens, in the order tokens.c tries them: the first set wins. */
	{ .key = "tokens", .env = "GITHUB_TOKENS", .type = SET_TOKEN_POOL,
	  .help = "several tokens, comma separated, used as a pool" },
	{ .key = "github_token", .env = "GITHUB_TOKEN", .type = SET_TOKEN,
	  .help = "the token, when GITHUB_TOKENS is unset" },
	{ .key = "gh_token", .env = "GH_TOKEN", .type = SET_TOKEN,
	  .help = "the token, when neither of the above is set" },
	{ .key = "api_url", .long_opt = "--api-url", .env = "GITHUB_API_URL", .yaml_key = "api_url",
	  .type = SET_URL, .def = "https://api.github.com", .offset = F(api_url),
	  .metavar = "URL", .section = SEC_CONNECTION, .flags = SF_SHOW_DEFAULT,
	  .help = "API base URL; GitHub Enterprise: https://HOST/api/v3" },
	/* No GITHUB_GRAPHQL_URL: Actions sets it for github.com whatever --api-url says. */
	{ .key = "graphql_url", .yaml_key = "graphql_url",
	  .type = SET_URL, .offset = F(graphql_url), .metavar = "URL", .flags = SF_NULLABLE,
	  .help = "GraphQL endpoint (default: derived from the API URL)" },
	{ .key = "jobs_api", .long_opt = "--jobs-api", .yaml_key = "jobs_api", .type = SET_CHOICE,
	  .choices = (const char *const[]){ "auto", "rest", "graphql", NULL }, .def = "auto",
	  .offset = F(jobs_api), .metavar = "API", .section = SEC_CONNECTION,
	  .flags = SF_SHOW_DEFAULT, .help = "where jobs come from: rest, graphql, or auto "
	  "(the API whose budget serves more runs)" },
	{ .key = "graphql_cross_check", .yaml_key = "graphql_cross_check", .type = SET_INT,
	  .min = 0, .max = 100, .def = "3", .offset = F(graphql_cross_check),
	  .help = "runs whose jobs are fetched both ways at the start, to compare" },
	{ .key = "tokens_file", .yaml_key = "tokens_file", .type = SET_PATH,
	  .offset = F(tokens_file), .metavar = "FILE", .flags = SF_NULLABLE | SF_RELATIVE,
	  .help = "more tokens, one per line (a relative path is relative to the config file)" },
	{ .key = "max_in_flight", .yaml_key = "max_in_flight", .type = SET_INT, .min = 1,
	  .max = 100, .def = "16", .offset = F(max_in_flight), .help = "concurrent API requests" },
	{ .key = "requests_per_minute", .yaml_key = "requests_per_minute", .type = SET_INT,
	  .min = 1, .max = 100000, .def = "850", .offset = F(requests_per_minute),
	  .help = "REST requests in any 60 s, per token" },
	{ .key = "graphql_points_per_minute", .yaml_key = "graphql_points_per_minute",
	  .type = SET_INT, .min = 1, .max = 100000, .def = "1900",
	  .offset = F(graphql_points_per_minute), .help = "GraphQL points in any 60 s, per token" },
	{ .key = "csv_formula_guard", .yaml_key = "csv_formula_guard", .type = SET_BOOL,
	  .def = "false", .offset = F(csv_formula_guard),
	  .help = "true: text cells starting with = + - @ get a leading ' so that spreadsheets "
		  "do not run them (the CSV then differs from GitHub's values)" },
	/* GitHub's secondary limits are per user: each token has its own allowance unless
	 * they are known to be one user's. */
	{ .key = "tokens_same_user", .yaml_key = "tokens_same_user", .type = SET_BOOL,
	  .def = "false", .offset = F(tokens_same_user),
	  .help = "true: the tokens are one user's and share the per-minute ceilings (false: "
		  "each has its own, as GitHub counts them per user)" },
	{ .key = "budget_reserve", .yaml_key = "budget_reserve", .type = SET_INT, .min = 0,
	  .max = INT_MAX, .def = "50", .offset = F(budget_reserve),
	  .help = "rate-limit requests left unspent on each token" },
	{ .key = "max_retries", .yaml_key = "max_retries", .type = SET_INT, .min = 0, .max = 20,
	  .def = "5", .offset = F(max_retries), .help = "retries of a failed request" },
	{ .key = "request_timeout", .yaml_key = "request_timeout", .type = SET_SECONDS,
	  .max = 86400, .def = "30", .offset = F(request_timeout),
	  .help = "seconds before a request is abandoned" },
	{ .key = "repo_concurrency", .long_opt = "--repo-concurrency", .yaml_key = "repo_concurrency",
	  .type = SET_INT, .min = 0, .max = 1000, .def = "0", .offset = F(repo_concurrency),
	  .metavar = "N", .section = SEC_REPOS,
	  .help = "repositories mined at the same time (0: all)" },
	{ .key = "listen", .long_opt = "--listen", .yaml_key = "listen", .type = SET_PATH,
	  .def = "127.0.0.1:3000", .offset = F(listen), .metavar = "HOST:PORT",
	  .section = SEC_SERVE, .flags = SF_SHOW_DEFAULT,
	  .help = "the address to listen on" },
	{ .key = "allow_remote", .long_opt = "--allow-remote", .yaml_key = "allow_remote",
	  .type = SET_BOOL, .def = "false", .offset = F(allow_remote), .section = SEC_SERVE,
	  .help = "allow an address other than the loopback (needs serve_token)" },
	{ .key = "serve_token", .env = "GHAMINER_SERVE_TOKEN", .yaml_key = "serve_token",
	  .type = SET_PATH, .offset = F(serve_token), .flags = SF_NULLABLE,
	  .help = "ghaminer serve: a secret every request must carry (Authorization: Bearer, or "
		  "?key= for a browser)" },
	{ .key = "allowed_origins", .yaml_key = "allowed_origins", .type = SET_PATH,
	  .offset = F(allowed_origins), .flags = SF_NULLABLE,
	  .help = "ghaminer serve: WebSocket origins allowed, comma separated (default: the "
		  "server's own)" },
	{ .key = "serve_max_clients", .yaml_key = "serve_max_clients", .type = SET_INT, .min = 1,
	  .max = 100000, .def = "256", .offset = F(serve_max_clients),
	  .help = "ghaminer serve: connections at once" },
	{ .key = "serve_queue_kb", .yaml_key = "serve_queue_kb", .type = SET_INT, .min = 1,
	  .max = 1048576, .def = "8192", .offset = F(serve_queue_kb),
	  .help = "ghaminer serve: KiB of messages a client may leave unread before it is closed" },
	{ .key = "config", .short_opt = "-c", .long_opt = "--config", .type = SET_CONFIG,
	  .metavar = "FILE", .section = SEC_OTHER,
	  .help = "read settings from FILE (default: ./" DEFAULT_CONFIG " when it exists)" },
	{ .key = "help", .short_opt = "-h", .long_opt = "--help", .type = SET_HELP,
	  .section = SEC_OTHER, .help = "show this help and exit" },
	{ .key = "version", .long_opt = "--version", .type = SET_VERSION, .section = SEC_OTHER,
	  .help = "show the version and exit" },
};
const size_t settings_count = sizeof(settings_table) / sizeof(settings_table[0]);
_Static_assert(sizeof(settings_table) / sizeof(settings_table[0]) <= SETTINGS_MAX_ROWS,
	       "raise SETTINGS_MAX_ROWS");
_Static_assert(sizeof(enum jobs_api) == sizeof(int), "SET_CHOICE fields are int-sized");

/* ---------------------------------------------------------------- messages */

/* A value can be a token pasted in the wrong place: it is never quoted back. */
static bool looks_like_token(const char *text)
{
	static const char *const prefixes[] = { "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strstr(text, prefixes[i]))
			return true;
	return false;
}

/* Registered tokens are masked again by msg.c; this catches the ones nobody registered. */
const char *settings_shown(const char *text, char *buf, size_t n)
{
	const char *p = text, *scheme = strstr(text, "://"), *at = NULL;
	size_t o = 0;

	if (looks_like_token(text)) {
		snprintf(buf, n, "***");
		return buf;
	}
	if (scheme)
		at = memchr(scheme + 3, '@', strcspn(scheme + 3, "/"));
	for (; *p && o + 8 < n && o < MAX_SHOWN; p++) {
		if (at && p == scheme + 3) {
			memcpy(buf + o, "***", 3);
			o += 3;
			p = at;
		}
		buf[o++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
	}
	if (*p && o + 4 <= n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ---------------------------------------------------------------- value types */

/* One number, with its fraction. */
static const char *duration_number(const char *p, double *value)
{
	double scale = 1;
	size_t digits = 0;
	*value = 0;
	for (; isdigit((unsigned char)*p); p++, digits++)
		*value = *value * 10 + (*p - '0');
	if (!digits)
		return NULL;
	if (*p == '.') {
		size_t frac = 0;
		for (p++; isdigit((unsigned char)*p); p++, frac++)
			*value += (*p - '0') * (scale /= 10);
		if (!frac)
			return NULL;
	}
	return p;
}

double settings_parse_duration(const char *text)
{
	/* "90" alone, or parts with units from the largest down, each once: "5h30m", "2m30s". */
	static const char units[] = "hms";
	static const double unit_s[] = {3600, 60, 1};
	const char *p = text;
	double total = 0, value;
	size_t next = 0;
	if (!p || !*p)
		return -1;
	while (*p) {
		if (!(p = duration_number(p, &value)))
			return -1;
		const char *u = *p ? strchr(units + next, *p) : NULL;
		if (!*p && next == 0) {
			total = value; /* plain seconds */
			break;
		}
		if (!u)
			return -1;
		total += value * unit_s[u - units];
		next = (size_t)(u - units) + 1;
		p++;
	}
	return isfinite(total) ? total : -1;
}

/* A real calendar date written YYYY-MM-DD. */
static bool valid_date(const char *s)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d, dim;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return false;
	y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	dim = days[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	return d <= dim;
}

int api_url_parse(const char *text, char **out)
{
	size_t skip = 0, len, host_len;

	if (strncasecmp(text, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(text, "http://", 7) == 0)
		skip = 7;
	for (const char *p = text; skip && *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '?' || *p == '#')
			skip = 0;
	host_len = skip ? strcspn(text + skip, "/") : 0;
	if (host_len == 0 || memchr(text + skip, '@', host_len))
		return -EINVAL;
	len = strlen(text);
	while (len > skip && text[len - 1] == '/')
		len--;
	*out = xstrndup(text, len);
	return 0;
}

/* http:// to anything but this machine sends the token in clear. Loopback is localhost,
 * 127.0.0.0/8 written as an address (not a name such as 127.evil.com), or [::1]. */
static bool api_url_cleartext(const char *url)
{
	const char *host = url + 7;
	char name[64];
	struct in_addr a;
	size_t len;

	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	if (strncmp(host, "[::1]", 5) == 0 && strchr(":/", host[5]))
		return false;
	len = strcspn(host, ":/");
	if (len >= sizeof(name))
		return true;
	memcpy(name, host, len);
	name[len] = '\0';
	if (strcasecmp(name, "localhost") == 0)
		return false;
	return !(inet_pton(AF_INET, name, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127);
}

static bool parse_long_long(const char *t, long long *out)
{
	char *end;

	if (!*t || isspace((unsigned char)*t))
		return false;
	errno = 0;
	*out = strtoll(t, &end, 10);
	return errno == 0 && *end == '\0';
}

/* YAML 1.1 spellings, as the Python GHAminer's PyYAML reads them. */
static int parse_bool(const char *t, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };

	for (int i = 0; i < 3; i++) {
		if (!strcasecmp(t, yes[i]) || !strcasecmp(t, no[i])) {
			*out = !strcasecmp(t, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

static void add_id(const struct setting_def *d, struct settings *s, int64_t id)
{
	int64_t **ids = (int64_t **)((char *)s + d->offset);
	size_t *n = (size_t *)((char *)s + d->count_offset);

	for (size_t i = 0; i < *n; i++)
		if ((*ids)[i] == id)
			return;
	*ids = xrealloc(*ids, (*n + 1) * sizeof(**ids));
	(*ids)[(*n)++] = id;
}

static void replace_string(char **field, char *value)
{
	free(*field);
	*field = value;
}

int setting_parse(const struct setting_def *d, const char *text, struct settings *s)
{
	void *field = (char *)s + d->offset;
	long long ll;
	double sec;
	char *url;

	switch (d->type) {
	case SET_BOOL:
		return parse_bool(text, field);
	case SET_INT:
		if (!parse_long_long(text, &ll) || ll < d->min || ll > d->max)
			return -EINVAL;
		*(int *)field = (int)ll;
		return 0;
	case SET_CHOICE:
		for (int i = 0; d->choices[i]; i++) {
			if (!strcasecmp(text, d->choices[i])) {
				*(int *)field = i;
				return 0;
			}
		}
		return -EINVAL;
	case SET_DURATION:
	case SET_SECONDS:
		sec = settings_parse_duration(text);
		if (sec < 0 || (d->type == SET_SECONDS && (sec <= 0 || sec > d->max)))
			return -EINVAL;
		*(double *)field = sec;
		return 0;
	case SET_PATH:
	case SET_DATE:
		if (!*text || (d->type == SET_DATE && !valid_date(text)))
			return -EINVAL;
		replace_string(field, xstrdup(text));
		return 0;
	case SET_URL:
		if (api_url_parse(text, &url) < 0)
			return -EINVAL;
		replace_string(field, url);
		return 0;
	case SET_IDS:
		if (!parse_long_long(text, &ll) || ll <= 0)
			return -EINVAL;
		add_id(d, s, ll);
		return 0;
	default:
		return -EINVAL;
	}
}

const char *setting_expected(const struct setting_def *d, char *buf, size_t n)
{
	switch (d->type) {
	case SET_BOOL: snprintf(buf, n, "true or false"); break;
	case SET_INT:
		if (d->max == INT_MAX)
			snprintf(buf, n, "an integer of %d or more", d->min);
		else
			snprintf(buf, n, "an integer from %d to %d", d->min, d->max);
		break;
	case SET_CHOICE:
		snprintf(buf, n, "one of");
		for (int i = 0; d->choices[i]; i++)
			snprintf(buf + strlen(buf), n - strlen(buf), "%s %s", i ? "," : "",
				 d->choices[i]);
		break;
	case SET_DURATION: snprintf(buf, n, "a duration like 90, 90s, 5m or 2h (0: off)"); break;
	case SET_SECONDS:
		snprintf(buf, n, "a number of seconds above 0 and at most %d", d->max);
		break;
	case SET_PATH: snprintf(buf, n, "a file name"); break;
	case SET_URL: snprintf(buf, n, "an http:// or https:// URL with a host"); break;
	case SET_DATE: snprintf(buf, n, "a real date as YYYY-MM-DD"); break;
	case SET_IDS:
		snprintf(buf, n, "a list of workflow ids (positive integers), e.g. [1234, 5678]");
		break;
	default: snprintf(buf, n, "a value"); break;
	}
	return buf;
}

/* What each plain type is called in messages, and the size of its field. */
static const struct {
	const char *noun; /* "date" in "invalid date 'x' for -fd" */
	size_t size;
} value_types[SET_IDS + 1] = {
	[SET_BOOL] = { "value", sizeof(bool) },
	[SET_INT] = { "number", sizeof(int) },
	[SET_CHOICE] = { "value", sizeof(int) }, /* an enum: int-sized (checked below) */
	[SET_DURATION] = { "duration", sizeof(double) },
	[SET_SECONDS] = { "duration", sizeof(double) },
	[SET_PATH] = { "file name", sizeof(char *) },
	[SET_URL] = { "URL", sizeof(char *) },
	[SET_DATE] = { "date", sizeof(char *) },
	[SET_IDS] = { "workflow id", sizeof(int64_t *) },
};

const char *setting_noun(const struct setting_def *d)
{
	return setting_is_plain(d) ? value_types[d->type].noun : "value";
}

void setting_clear(const struct setting_def *d, struct settings *s)
{
	void *field = (char *)s + d->offset;

	if (!setting_is_plain(d))
		return;
	if (d->type >= SET_PATH)
		free(*(void **)field);
	memset(field, 0, value_types[d->type].size);
	if (d->type == SET_IDS)
		*(size_t *)((char *)s + d->count_offset) = 0;
}

void setting_move(const struct setting_def *d, struct settings *dst, struct settings *src)
{
	if (!setting_is_plain(d))
		return;
	setting_clear(d, dst);
	memcpy((char *)dst + d->offset, (char *)src + d->offset, value_types[d->type].size);
	if (d->type == SET_IDS)
		memcpy((char *)dst + d->count_offset, (char *)src + d->count_offset, sizeof(size_t));
	memset((char *)src + d->offset, 0, value_types[d->type].size);
	if (d->type == SET_IDS)
		*(size_t *)((char *)src + d->count_offset) = 0;
}

/* ---------------------------------------------------------------- line files */

int settings_for_each_line(const char *path, settings_line_fn fn, void *ctx)
{
	char iobuf[BUFSIZ], *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	struct stat st;
	int ret = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		msg_error("cannot open '%s': %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		msg_error("cannot read '%s': it is a directory, not a file", path);
		ret = -EISDIR;
		goto close_file;
	}
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	while (getline(&line, &cap, f) >= 0) {
		char *t = line, *end;

		lineno++;
		if (lineno == 1 && strncmp(t, "\xef\xbb\xbf", 3) == 0)
			t += 3;
		for (char *h = t; (h = strchr(h, '#')); h++) {
			if (h == t || isspace((unsigned char)h[-1])) {
				*h = '\0';
				break;
			}
		}
		while (isspace((unsigned char)*t))
			t++;
		end = t + strlen(t);
		while (end > t && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*t && (ret = fn(ctx, path, lineno, t)) < 0)
			goto free_line;
	}
	if (ferror(f)) {
		ret = -errno;
		msg_error("cannot read '%s': %s", path, strerror(errno));
	}
free_line:
	if (line)
		explicit_bzero(line, cap);
	free(line);
close_file:
	fclose(f);
	explicit_bzero(iobuf, sizeof(iobuf));
	return ret;
}

/* ---------------------------------------------------------------- merging */

static const struct setting_def *setting_at(size_t offset)
{
	for (size_t i = 0; i < settings_count; i++)
		if (setting_is_plain(&settings_table[i]) && settings_table[i].offset == offset)
			return &settings_table[i];
	abort(); /* a field without a row: a bug in the table */
}

static const struct setting_def *setting_of_type(enum setting_type type)
{
	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].type == type)
			return &settings_table[i];
	abort();
}

void settings_release(struct settings *s)
{
	if (!s)
		return;
	tokens_release(s);
	repo_ref_release_all(s);
	for (size_t i = 0; i < settings_count; i++)
		setting_clear(&settings_table[i], s);
	free(s->config_path);
	s->config_path = NULL;
}

static void settings_defaults(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		if (setting_is_plain(d) && d->def && setting_parse(d, d->def, s) < 0)
			abort(); /* a default its own type rejects: a bug in the table */
	}
}

/* -c FILE, else ./config.yaml when it exists (or exists but cannot be read: say so). */
static int load_config(struct settings *s, const struct cli *c)
{
	const struct cli_arg *a = cli_given(c, setting_of_type(SET_CONFIG));
	const char *path = a ? a->value : NULL;
	struct stat st;
	int ret;

	if (!path && (stat(DEFAULT_CONFIG, &st) == 0 || errno != ENOENT))
		path = DEFAULT_CONFIG;
	if (!path)
		return 0;
	ret = config_load(s, path);
	if (ret == 0)
		s->config_path = xstrdup(path);
	return ret;
}

/* Plain settings from their environment variables, over config.yaml. */
static int read_environment(struct settings *s)
{
	char buf[SHOWN_SIZE], expected[96];

	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		const char *v = d->env && setting_is_plain(d) ? getenv(d->env) : NULL;

		if (!v || !*v || setting_parse(d, v, s) == 0)
			continue;
		msg_error("invalid %s '%s': expected %s; fix or unset it", d->env,
			  settings_shown(v, buf, sizeof(buf)), setting_expected(d, expected,
										 sizeof(expected)));
		return -EINVAL;
	}
	return 0;
}

/* How the user named d's value: the option as typed, else the setting's name. */
static const char *origin(const struct cli *c, const struct setting_def *d, char *buf, size_t n)
{
	const struct cli_arg *a = cli_given(c, d);

	if (a)
		snprintf(buf, n, "%.*s", a->optlen, a->opt);
	else
		snprintf(buf, n, "%s", d->key);
	return buf;
}

/* A start date after today selects nothing yet: legal (a watch may wait for it), but
 * more likely a typo. */
static void warn_future(const struct settings *s, const struct cli *c)
{
	char today[16], from[SHOWN_SIZE];
	time_t now = time(NULL);
	struct tm tm;

	if (!s->from_date || !gmtime_r(&now, &tm) || !strftime(today, sizeof(today), "%Y-%m-%d", &tm))
		return;
	if (strcmp(s->from_date, today) > 0)
		msg_warn("%s %s is in the future (today is %s, UTC): no run matches yet",
			 origin(c, setting_at(F(from_date)), from, sizeof(from)), s->from_date, today);
}

/* Checks across settings, once every source is merged. */
static int check_merged(const struct settings *s, const struct cli *c)
{
	char from[SHOWN_SIZE], to[SHOWN_SIZE];

	if (s->from_date && s->to_date && strcmp(s->from_date, s->to_date) > 0) {
		cli_usage_error("invalid date range: %s %s is after %s %s",
				origin(c, setting_at(F(from_date)), from, sizeof(from)), s->from_date,
				origin(c, setting_at(F(to_date)), to, sizeof(to)), s->to_date);
		return -EINVAL;
	}
	if (!s->ntokens && !s->serve) {
		const char *blank = tokens_blank_env();
		if (blank)
			msg_error("no GitHub token: %s is set but empty; set it to your token (or "
				  "pass -t TOKEN)", blank);
		else
			msg_error("no GitHub token: set GITHUB_TOKEN (or pass -t TOKEN)");
		return -EINVAL;
	}
	warn_future(s, c);
	return 0;
}

/* -EINVAL after the error when the token would cross the network in clear; warnings. */
static int check_api_url(const struct settings *s, const char *other_host)
{
	if (api_url_cleartext(s->api_url)) {
		msg_error("refusing to send the token to '%s' unencrypted: use an https:// URL "
			  "(plain http:// is for a server on this machine only)", s->api_url);
		return -EINVAL;
	}
	/* github.com's API would mine a namesake of the repository, not the repository. */
	if (other_host && !strcmp(s->api_url, setting_at(F(api_url))->def)) {
		msg_error("a repository on '%s' cannot be read through %s: for GitHub Enterprise "
			  "pass --api-url https://%s/api/v3", other_host, s->api_url, other_host);
		return -EINVAL;
	}
	return 0;
}

int settings_load(struct settings *s, int argc, char **argv)
{
	char *other_host = NULL;
	struct cli cli;
	int ret;

	settings_defaults(s);
	/* "ghaminer serve ...": the subcommand, then the same options. */
	if (argc > 1 && !strcmp(argv[1], "serve")) {
		s->serve = true;
		argc--;
		argv++;
	}
	ret = cli_parse(&cli, argc, argv);
	if (ret == 0 && (cli.help || cli.version)) {
		s->show_help = cli.help;
		s->show_version = cli.version;
		cli_release(&cli);
		return 0;
	}
	if (ret == 0)
		ret = tokens_collect(s, &cli);
	if (ret == 0)
		ret = repo_ref_collect(s, &cli, &other_host);
	if (ret == 0)
		ret = load_config(s, &cli);
	if (ret == 0)
		ret = read_environment(s);
	if (ret == 0) {
		for (size_t i = 0; i < settings_count; i++)
			if (cli.given[i])
				setting_move(&settings_table[i], s, &cli.values);
		if (s->tokens_file)
			ret = tokens_read_file(s, s->tokens_file);
	}
	if (ret == 0)
		ret = check_merged(s, &cli);
	if (ret == 0)
		ret = check_api_url(s, other_host);
	free(other_host);
	cli_release(&cli);
	if (ret < 0)
		settings_release(s);
	return ret;
}
