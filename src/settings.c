/* settings.c - what the user asked for: command line, environment and config.yaml, merged. */
#include "miner.h" /* EXIT_USAGE: until settings_load returns -EINVAL */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "msg.h"

#define DEFAULT_OUTPUT_CSV "builds_features.csv"
#define DEFAULT_API_URL "https://api.github.com"
#define DEFAULT_CONFIG "config.yaml"
#define MAX_TOKEN_LEN 1024
#define MAX_SHOWN 100 /* longest value quoted back in a message */
#define REPO_FORMS "expected https://github.com/OWNER/REPO or OWNER/REPO"
#define TRY_HELP "Try 'ghaminer --help'.\n"

static const char usage_text[] =
"Usage: ghaminer [OPTIONS] -s REPO\n"
"       ghaminer [OPTIONS] -p FILE\n"
"\n"
"Mine the GitHub Actions history of repositories into a CSV file, one row per\n"
"workflow run, written as the runs are collected. Running the same command\n"
"again resumes where the previous run stopped.\n"
"\n"
"Repositories (at least one; -s and -p can be repeated and combined):\n"
"  -s, --single-project REPO  mine REPO: https://github.com/OWNER/REPO or\n"
"                             OWNER/REPO\n"
"  -p, --projects FILE        mine every repository in FILE, one URL per line;\n"
"                             blank lines and # comments are ignored\n"
"\n"
"Selection and output:\n"
"  -fd, --from_date DATE      only runs created on or after DATE (YYYY-MM-DD)\n"
"  -td, --to_date DATE        only runs created on or before DATE (YYYY-MM-DD)\n"
"  -o, --output FILE          CSV file to write or resume\n"
"                             (default: builds_features.csv)\n"
"      --watch DURATION       keep running, polling for new runs every DURATION\n"
"                             (90 or 90s, 5m, 2h)\n"
"      --quiet                no progress messages on stderr\n"
"\n"
"Connection:\n"
"  -t, --token TOKEN          GitHub token; repeat it for a pool of tokens.\n"
"                             Other users can read it in the process list:\n"
"                             prefer the environment variables below\n"
"      --api-url URL          API base URL, https://api.github.com by default;\n"
"                             GitHub Enterprise: https://HOST/api/v3\n"
"\n"
"Other:\n"
"  -c, --config FILE          read settings from FILE\n"
"                             (default: ./config.yaml when it exists)\n"
"  -h, --help                 show this help and exit\n"
"      --version              show the version and exit\n"
"\n"
"Options that take a value accept '--opt value' and '--opt=value'.\n"
"\n"
"Environment:\n"
"  GITHUB_TOKEN     the token (GH_TOKEN is read when GITHUB_TOKEN is unset)\n"
"  GITHUB_TOKENS    several tokens, comma separated, used as a pool\n"
"  GITHUB_API_URL   API base URL when --api-url is not given\n"
"  Tokens given with -t replace the environment ones. Public repositories need\n"
"  a token with no scope; private ones need the repo scope (classic token) or\n"
"  Actions: read (fine-grained token).\n"
"\n"
"config.yaml keys (command line > environment > config.yaml > defaults):\n"
"  streaming_mode: true       NDJSON on stdout as runs arrive (false: CSV only)\n"
"  workflow_ids: []           only these workflow ids (empty: every workflow)\n"
"  fetch_job_details: true    also fetch the jobs and steps of each run\n"
"  output_csv: builds_features.csv   like -o\n"
"  api_url: https://api.github.com   like --api-url\n"
"  max_in_flight: 16          concurrent API requests (1-100)\n"
"  requests_per_minute: 850   request rate ceiling (1-100000)\n"
"  budget_reserve: 50         rate-limit requests left unspent on each token\n"
"  watch_interval: 0          like --watch (0: mine once and exit)\n"
"  max_retries: 5             retries of a failed request (0-20)\n"
"  request_timeout: 30        seconds before a request is abandoned\n"
"  tokens_file: FILE          more tokens, one per line (a relative path is\n"
"                             relative to the config file)\n"
"  quiet: false               like --quiet\n"
"\n"
"Exit status:\n"
"  0    all runs collected\n"
"  1    partial: some runs could not be collected; re-run to resume\n"
"  2    usage or config error\n"
"  3    authentication failed or repository not found\n"
"  4    network unreachable\n"
"  5    local file error (disk full, read-only, CSV locked by another ghaminer)\n"
"  130  interrupted by SIGINT (re-run to resume)\n"
"  143  interrupted by SIGTERM (re-run to resume)\n";

void settings_usage(FILE *out)
{
	fputs(usage_text, out);
}

/* ---------------------------------------------------------------- messages */

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	msg_error("%s", buf);
	fputs(TRY_HELP, stderr);
	fflush(stderr);
}

static void out_of_memory(void)
{
	msg_error("out of memory");
}

static bool looks_like_token(const char *text)
{
	static const char *const prefixes[] = { "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strstr(text, prefixes[i]))
			return true;
	return false;
}

/*
 * Copy a user-supplied value into buf for quoting in a message: anything that looks like a
 * GitHub token becomes "***", credentials in a URL become "***@", control characters '?', and
 * long values are cut. Registered tokens are masked again by msg.c. Returns buf.
 */
static const char *shown(const char *text, char *buf, size_t n)
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

/* ---------------------------------------------------------------- repository references */

static bool valid_name(const char *p, size_t len)
{
	if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '_' && p[i] != '.')
			return false;
	return true;
}

static bool valid_host(const char *p, size_t len)
{
	size_t colon = len;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == ':' && colon == len) {
			colon = i;
			continue;
		}
		if (colon < len ? !isdigit((unsigned char)p[i])
				: !isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '.')
			return false;
	}
	return colon > 0 && colon != len - 1;
}

static bool is_github_host(const char *p, size_t len)
{
	return (len == 10 && strncasecmp(p, "github.com", 10) == 0) ||
	       (len == 14 && strncasecmp(p, "www.github.com", 14) == 0);
}

/* repo_ref_parse, also telling where the host is (*host NULL for the "o/r" form). */
static int repo_parse(const char *url, struct repo_ref *out, const char **host, size_t *host_len)
{
	const char *seg[3], *p = url;
	size_t seglen[3], len, n = 0;
	bool scheme = false;

	memset(out, 0, sizeof(*out));
	errno = EINVAL;
	*host = NULL;
	*host_len = 0;
	if (!url)
		return -1;
	if (strncasecmp(p, "https://", 8) == 0)
		p += 8, scheme = true;
	else if (strncasecmp(p, "http://", 7) == 0)
		p += 7, scheme = true;
	len = strlen(p);
	if (len && p[len - 1] == '/')
		len--;
	for (size_t start = 0;;) {
		size_t end = start;
		while (end < len && p[end] != '/')
			end++;
		if (n == 3 || end == start)
			return -1;
		seg[n] = p + start;
		seglen[n++] = end - start;
		if (end == len)
			break;
		start = end + 1;
	}
	if (n == 3) {
		if (!valid_host(seg[0], seglen[0]) || (!scheme && !is_github_host(seg[0], seglen[0])))
			return -1;
		*host = seg[0];
		*host_len = seglen[0];
		seg[0] = seg[1], seglen[0] = seglen[1];
		seg[1] = seg[2], seglen[1] = seglen[2];
	} else if (n != 2 || scheme) {
		return -1;
	}
	if (seglen[1] > 4 && strncmp(seg[1] + seglen[1] - 4, ".git", 4) == 0)
		seglen[1] -= 4;
	if (!valid_name(seg[0], seglen[0]) || !valid_name(seg[1], seglen[1]))
		return -1;

	out->owner = strndup(seg[0], seglen[0]);
	out->name = strndup(seg[1], seglen[1]);
	if (out->owner && out->name &&
	    asprintf(&out->full_name, "%s/%s", out->owner, out->name) >= 0)
		return 0;
	out->full_name = NULL;
	repo_ref_release(out);
	errno = ENOMEM;
	return -1;
}

int repo_ref_parse(const char *url, struct repo_ref *out)
{
	const char *host;
	size_t host_len;

	return repo_parse(url, out, &host, &host_len);
}

void repo_ref_release(struct repo_ref *r)
{
	if (!r)
		return;
	free(r->owner);
	free(r->name);
	free(r->full_name);
	r->owner = r->name = r->full_name = NULL;
}

/* ---------------------------------------------------------------- small parsers */

double settings_parse_duration(const char *text)
{
	const char *p = text;
	double value = 0, scale = 1, unit;
	size_t digits = 0;

	if (!p)
		return -1;
	for (; isdigit((unsigned char)*p); p++, digits++)
		value = value * 10 + (*p - '0');
	if (!digits)
		return -1;
	if (*p == '.') {
		size_t frac = 0;
		for (p++; isdigit((unsigned char)*p); p++, frac++)
			value += (*p - '0') * (scale /= 10);
		if (!frac)
			return -1;
	}
	switch (*p) {
	case '\0': unit = 1; break;
	case 's': unit = 1; p++; break;
	case 'm': unit = 60; p++; break;
	case 'h': unit = 3600; p++; break;
	default: return -1;
	}
	if (*p || !isfinite(value * unit))
		return -1;
	return value * unit;
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

/* Why a token cannot be used, or NULL when it can. Never quotes the token. */
static const char *token_problem(const char *t)
{
	size_t len = strlen(t);

	if (len == 0)
		return "it is empty";
	if (len > MAX_TOKEN_LEN)
		return "it is longer than 1024 characters";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return "it contains spaces, control or non-ASCII characters";
	return NULL;
}

/*
 * Check an API base URL: http:// or https://, a host, no credentials, query, fragment or
 * blanks. Returns a copy without trailing slashes (caller frees), or NULL with errno EINVAL
 * (not such a URL) or ENOMEM.
 */
static char *api_url_normalize(const char *url)
{
	size_t skip = 0, len, host_len;
	char *copy;

	if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	for (const char *p = url; skip && *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '?' || *p == '#')
			skip = 0;
	host_len = skip ? strcspn(url + skip, "/") : 0;
	if (host_len == 0 || memchr(url + skip, '@', host_len)) {
		errno = EINVAL;
		return NULL;
	}
	len = strlen(url);
	while (len > skip && url[len - 1] == '/')
		len--;
	copy = strndup(url, len);
	if (!copy)
		errno = ENOMEM;
	return copy;
}

/* http:// to anything but this machine sends the token in clear. */
static bool api_url_cleartext(const char *url)
{
	const char *host = url + 7;
	size_t len = strcspn(host, "/");

	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	if (len > 0 && host[0] != '[')
		len = strcspn(host, ":/");
	if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) || strncmp(host, "127.", 4) == 0 ||
	    strncmp(host, "[::1]", 5) == 0)
		return false;
	return true;
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

/* ---------------------------------------------------------------- growing the lists */

static int add_token(struct settings *s, const char *token)
{
	char **grown, *copy;

	for (size_t i = 0; i < s->ntokens; i++)
		if (strcmp(s->tokens[i], token) == 0)
			return 0;
	grown = realloc(s->tokens, (s->ntokens + 1) * sizeof(*grown));
	if (grown)
		s->tokens = grown;
	copy = grown ? strdup(token) : NULL;
	if (!copy) {
		out_of_memory();
		return -1;
	}
	msg_add_secret(copy);
	s->tokens[s->ntokens++] = copy;
	return 0;
}

/* Takes ownership of *r (released when it duplicates an earlier repository). */
static int add_repo(struct settings *s, struct repo_ref *r)
{
	struct repo_ref *grown;

	for (size_t i = 0; i < s->nrepos; i++) {
		if (strcasecmp(s->repos[i].full_name, r->full_name) == 0) {
			repo_ref_release(r);
			return 0;
		}
	}
	grown = realloc(s->repos, (s->nrepos + 1) * sizeof(*grown));
	if (!grown) {
		repo_ref_release(r);
		out_of_memory();
		return -1;
	}
	s->repos = grown;
	s->repos[s->nrepos++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

static int add_workflow_id(struct settings *s, int64_t id)
{
	int64_t *grown;

	for (size_t i = 0; i < s->nworkflow_ids; i++)
		if (s->workflow_ids[i] == id)
			return 0;
	grown = realloc(s->workflow_ids, (s->nworkflow_ids + 1) * sizeof(*grown));
	if (!grown) {
		out_of_memory();
		return -1;
	}
	s->workflow_ids = grown;
	s->workflow_ids[s->nworkflow_ids++] = id;
	return 0;
}

/* Replace an owned string field with a copy of value. */
static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy) {
		out_of_memory();
		return -1;
	}
	free(*field);
	*field = copy;
	return 0;
}

/* ---------------------------------------------------------------- line files */

typedef int (*line_fn)(void *ctx, const char *path, unsigned lineno, char *text);

/*
 * Call fn for each meaningful line of path: trimmed, without a "# comment", blank lines
 * skipped, a UTF-8 BOM and CRLF tolerated. The buffers are wiped, as the lines may be tokens.
 */
static int for_each_line(const char *path, line_fn fn, void *ctx)
{
	char iobuf[BUFSIZ], *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	struct stat st;
	int ret = -1;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		msg_error("cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		msg_error("cannot read '%s': it is a directory, not a file", path);
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
		if (*t && fn(ctx, path, lineno, t) < 0)
			goto free_line;
	}
	if (ferror(f)) {
		msg_error("cannot read '%s': %s", path, strerror(errno));
		goto free_line;
	}
	ret = 0;
free_line:
	if (line)
		explicit_bzero(line, cap);
	free(line);
close_file:
	fclose(f);
	explicit_bzero(iobuf, sizeof(iobuf));
	return ret;
}

/* ---------------------------------------------------------------- command line */

enum opt_id {
	OPT_TOKEN, OPT_SINGLE, OPT_PROJECTS, OPT_FROM, OPT_TO, OPT_CONFIG, OPT_OUTPUT,
	OPT_API_URL, OPT_WATCH, OPT_QUIET, OPT_HELP, OPT_VERSION,
};

static const struct option_def {
	const char *shortname; /* "-t", or NULL */
	const char *longname;  /* "--token"; unambiguous prefixes are accepted, like argparse */
	enum opt_id id;
	const char *metavar;   /* what the value is; NULL for a flag */
} options[] = {
	{ "-t", "--token", OPT_TOKEN, "TOKEN" },
	{ "-s", "--single-project", OPT_SINGLE, "REPO" },
	{ "-p", "--projects", OPT_PROJECTS, "FILE" },
	{ "-fd", "--from_date", OPT_FROM, "YYYY-MM-DD" },
	{ NULL, "--from-date", OPT_FROM, "YYYY-MM-DD" },
	{ "-td", "--to_date", OPT_TO, "YYYY-MM-DD" },
	{ NULL, "--to-date", OPT_TO, "YYYY-MM-DD" },
	{ "-c", "--config", OPT_CONFIG, "FILE" },
	{ "-o", "--output", OPT_OUTPUT, "FILE" },
	{ NULL, "--api-url", OPT_API_URL, "URL" },
	{ NULL, "--watch", OPT_WATCH, "DURATION" },
	{ NULL, "--quiet", OPT_QUIET, NULL },
	{ "-h", "--help", OPT_HELP, NULL },
	{ NULL, "--version", OPT_VERSION, NULL },
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/* An option value as given: points into argv. */
struct cli_value {
	const char *value; /* NULL when not given */
	const char *opt;   /* the option as typed, for messages */
	int optlen;
	enum opt_id id;
};

struct cli {
	struct cli_value from, to, config, output, api_url, watch;
	struct cli_value *tokens; /* owned array, argc entries */
	size_t ntokens;
	struct cli_value *repos;  /* owned array: -s and -p in command-line order */
	size_t nrepos;
	bool quiet, help, version;
};

static void cli_release(struct cli *c)
{
	free(c->tokens);
	free(c->repos);
	c->tokens = c->repos = NULL;
}

/* 1 found, 0 unknown, -1 ambiguous prefix. */
static int find_option(const char *name, size_t len, const struct option_def **found)
{
	const struct option_def *match = NULL;
	bool ambiguous = false;

	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];
		if ((o->shortname && strlen(o->shortname) == len && !strncmp(name, o->shortname, len)) ||
		    (strlen(o->longname) == len && !strncmp(name, o->longname, len))) {
			*found = o;
			return 1;
		}
	}
	if (len < 3 || strncmp(name, "--", 2) != 0)
		return 0;
	for (size_t i = 0; i < NOPTIONS; i++) {
		if (strncmp(name, options[i].longname, len) != 0)
			continue;
		if (match && match->id != options[i].id)
			ambiguous = true;
		match = &options[i];
	}
	if (ambiguous)
		return -1;
	*found = match;
	return match ? 1 : 0;
}

static bool is_option(const char *arg)
{
	const struct option_def *o;

	return arg[0] == '-' && arg[1] && find_option(arg, strcspn(arg, "="), &o) == 1;
}

/*
 * Split argv into options and values. Values are not checked here, but tokens are registered
 * as secrets at once. -h and --version win over any mistake elsewhere on the line; otherwise
 * the first mistake is reported. Returns 0 or -1.
 */
static int cli_parse(struct cli *c, int argc, char **argv)
{
	char err[512] = "", buf[MAX_SHOWN + 8];

	memset(c, 0, sizeof(*c));
	c->tokens = calloc(argc > 0 ? argc : 1, sizeof(*c->tokens));
	c->repos = calloc(argc > 0 ? argc : 1, sizeof(*c->repos));
	if (!c->tokens || !c->repos) {
		out_of_memory();
		return -1;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *value;
		const struct option_def *o = NULL;
		struct cli_value *slot;
		int namelen, found;
		struct repo_ref r;

		if (arg[0] != '-' || arg[1] == '\0') {
			if (err[0])
				continue;
			if (repo_ref_parse(arg, &r) == 0) {
				snprintf(err, sizeof(err), "unexpected argument '%s': to mine that "
					 "repository, pass -s %s", shown(arg, buf, sizeof(buf)), buf);
				repo_ref_release(&r);
			} else {
				snprintf(err, sizeof(err), "unexpected argument '%s'",
					 shown(arg, buf, sizeof(buf)));
			}
			continue;
		}
		eq = strchr(arg, '=');
		namelen = eq ? (int)(eq - arg) : (int)strlen(arg);
		found = find_option(arg, namelen, &o);
		if (found <= 0) {
			char name[MAX_SHOWN + 8];
			snprintf(name, sizeof(name), "%.*s", namelen, arg);
			if (!err[0])
				snprintf(err, sizeof(err), found ? "ambiguous option '%s'"
					 : "unknown option '%s'", shown(name, buf, sizeof(buf)));
			continue;
		}
		if (!o->metavar) {
			if (eq && !err[0])
				snprintf(err, sizeof(err), "option '%.*s' takes no value", namelen, arg);
			c->quiet |= o->id == OPT_QUIET;
			c->help |= o->id == OPT_HELP;
			c->version |= o->id == OPT_VERSION;
			continue;
		}
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc && !is_option(argv[i + 1])) {
			value = argv[++i];
		} else {
			if (!err[0])
				snprintf(err, sizeof(err), "option '%.*s' needs a value (%s)", namelen,
					 arg, o->metavar);
			continue;
		}
		switch (o->id) {
		case OPT_TOKEN:
			msg_add_secret(value);
			slot = &c->tokens[c->ntokens++];
			break;
		case OPT_SINGLE:
		case OPT_PROJECTS: slot = &c->repos[c->nrepos++]; break;
		case OPT_FROM: slot = &c->from; break;
		case OPT_TO: slot = &c->to; break;
		case OPT_CONFIG: slot = &c->config; break;
		case OPT_OUTPUT: slot = &c->output; break;
		case OPT_API_URL: slot = &c->api_url; break;
		case OPT_WATCH: slot = &c->watch; break;
		default: continue;
		}
		slot->value = value;
		slot->opt = arg;
		slot->optlen = namelen;
		slot->id = o->id;
	}
	if (c->help || c->version || !err[0])
		return 0;
	usage_error("%s", err);
	return -1;
}

/* Values of the command line that need no file: dates, --api-url, --watch, -o. */
static int cli_check(const struct cli *c, struct settings *s, char **api_url, double *watch)
{
	const struct cli_value *dates[] = { &c->from, &c->to };
	char **fields[] = { &s->from_date, &s->to_date };
	char buf[MAX_SHOWN + 8];

	for (int i = 0; i < 2; i++) {
		const struct cli_value *v = dates[i];
		if (!v->value)
			continue;
		if (!valid_date(v->value)) {
			usage_error("invalid date '%s' for %.*s: expected a real date as YYYY-MM-DD",
				    shown(v->value, buf, sizeof(buf)), v->optlen, v->opt);
			return -1;
		}
		if (set_string(fields[i], v->value) < 0)
			return -1;
	}
	if (s->from_date && s->to_date && strcmp(s->from_date, s->to_date) > 0) {
		usage_error("invalid date range: %.*s %s is after %.*s %s", c->from.optlen,
			    c->from.opt, s->from_date, c->to.optlen, c->to.opt, s->to_date);
		return -1;
	}
	if (c->api_url.value) {
		*api_url = api_url_normalize(c->api_url.value);
		if (!*api_url && errno == ENOMEM) {
			out_of_memory();
			return -1;
		}
		if (!*api_url) {
			usage_error("invalid URL '%s' for %.*s: expected http:// or https:// and a "
				    "host, e.g. https://ghe.example.com/api/v3",
				    shown(c->api_url.value, buf, sizeof(buf)), c->api_url.optlen,
				    c->api_url.opt);
			return -1;
		}
	}
	if (c->watch.value) {
		*watch = settings_parse_duration(c->watch.value);
		if (*watch < 0) {
			usage_error("invalid duration '%s' for %.*s: expected seconds, or a number "
				    "followed by s, m or h (e.g. 90s, 5m, 2h)",
				    shown(c->watch.value, buf, sizeof(buf)), c->watch.optlen,
				    c->watch.opt);
			return -1;
		}
	}
	if (c->output.value && !c->output.value[0]) {
		usage_error("empty file name for %.*s", c->output.optlen, c->output.opt);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- tokens */

/* -t values; else GITHUB_TOKENS, GITHUB_TOKEN, GH_TOKEN. tokens_file is added later. */
static int collect_tokens(struct settings *s, const struct cli *c)
{
	static const char *const single[] = { "GITHUB_TOKEN", "GH_TOKEN" };
	const char *pool = getenv("GITHUB_TOKENS");
	const char *problem;
	char *copy, *save = NULL;
	int ret = -1;
	size_t n = 0;

	/* Register every environment token first, so no later message can show one. */
	for (size_t i = 0; i < 2; i++) {
		const char *v = getenv(single[i]);
		if (v)
			msg_add_secret(v);
	}
	if (pool)
		msg_add_secret(pool);

	if (c->ntokens) {
		for (size_t i = 0; i < c->ntokens; i++) {
			const struct cli_value *v = &c->tokens[i];
			problem = token_problem(v->value);
			if (problem) {
				usage_error("invalid token given with %.*s: %s (value not shown)",
					    v->optlen, v->opt, problem);
				return -1;
			}
			if (add_token(s, v->value) < 0)
				return -1;
		}
		msg_warn("a token given with -t can be read by other users in the process list; "
			 "prefer GITHUB_TOKEN (or GITHUB_TOKENS for a pool)");
		return 0;
	}

	if (pool && *pool) {
		copy = strdup(pool);
		if (!copy) {
			out_of_memory();
			return -1;
		}
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			char *end;
			n++;
			while (isspace((unsigned char)*t))
				t++;
			end = t + strlen(t);
			while (end > t && isspace((unsigned char)end[-1]))
				*--end = '\0';
			if (!*t)
				continue;
			msg_add_secret(t);
			problem = token_problem(t);
			if (problem) {
				msg_error("GITHUB_TOKENS: token %zu cannot be used: %s (value not shown)",
					  n, problem);
				goto wipe_copy;
			}
			if (add_token(s, t) < 0)
				goto wipe_copy;
		}
		ret = 0;
wipe_copy:
		explicit_bzero(copy, strlen(pool));
		free(copy);
		if (ret < 0 || s->ntokens)
			return ret;
	}

	for (size_t i = 0; i < 2; i++) {
		const char *v = getenv(single[i]);
		char *t, *end;

		if (!v || !*v)
			continue;
		copy = strdup(v);
		if (!copy) {
			out_of_memory();
			return -1;
		}
		for (t = copy; isspace((unsigned char)*t); t++)
			;
		end = t + strlen(t);
		while (end > t && isspace((unsigned char)end[-1]))
			*--end = '\0';
		problem = token_problem(t);
		if (problem)
			msg_error("%s cannot be used as a token: %s (value not shown)", single[i],
				  problem);
		ret = problem ? -1 : add_token(s, t);
		explicit_bzero(copy, strlen(copy));
		free(copy);
		return ret;
	}
	return 0;
}

static int tokens_file_line(void *ctx, const char *path, unsigned lineno, char *text)
{
	struct settings *s = ctx;
	const char *problem;

	msg_add_secret(text);
	problem = token_problem(text);
	if (problem) {
		msg_error("%s:%u: invalid token: %s (value not shown)", path, lineno, problem);
		return -1;
	}
	return add_token(s, text);
}

/* ---------------------------------------------------------------- repositories */

struct repo_ctx {
	struct settings *s;
	size_t added;
	char other_host[256]; /* first host that is not github.com, for a hint */
};

static int repo_add_text(struct repo_ctx *rc, const char *text, const char *path, unsigned lineno,
			 const struct cli_value *v)
{
	char buf[MAX_SHOWN + 8];
	struct repo_ref r;
	const char *host;
	size_t host_len;

	if (repo_parse(text, &r, &host, &host_len) < 0) {
		if (errno == ENOMEM)
			out_of_memory();
		else if (path)
			msg_error("%s:%u: invalid repository '%s': " REPO_FORMS, path, lineno,
				  shown(text, buf, sizeof(buf)));
		else
			usage_error("invalid repository '%s' for %.*s: " REPO_FORMS,
				    shown(text, buf, sizeof(buf)), v->optlen, v->opt);
		return -1;
	}
	if (host && !is_github_host(host, host_len) && !rc->other_host[0] &&
	    host_len < sizeof(rc->other_host))
		memcpy(rc->other_host, host, host_len);
	rc->added++;
	return add_repo(rc->s, &r);
}

static int projects_file_line(void *ctx, const char *path, unsigned lineno, char *text)
{
	return repo_add_text(ctx, text, path, lineno, NULL);
}

static int collect_repos(struct repo_ctx *rc, const struct cli *c)
{
	for (size_t i = 0; i < c->nrepos; i++) {
		const struct cli_value *v = &c->repos[i];

		if (v->id == OPT_SINGLE) {
			if (repo_add_text(rc, v->value, NULL, 0, v) < 0)
				return -1;
			continue;
		}
		if (!v->value[0]) {
			usage_error("empty file name for %.*s", v->optlen, v->opt);
			return -1;
		}
		rc->added = 0;
		if (for_each_line(v->value, projects_file_line, rc) < 0)
			return -1;
		if (!rc->added)
			msg_warn("'%s' lists no repository", v->value);
	}
	if (!rc->s->nrepos) {
		usage_error("no repository given: pass -s OWNER/REPO or -p FILE");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- config.yaml */

enum key_type {
	KEY_BOOL,      /* bool */
	KEY_INT,       /* int, min..max */
	KEY_DURATION,  /* double seconds >= 0, "90", "90s", "5m", "2h" */
	KEY_TIMEOUT,   /* double seconds > 0 and <= max */
	KEY_STRING,    /* char *, non-empty */
	KEY_URL,       /* char *, api_url_normalize */
	KEY_IDS,       /* workflow_ids */
	KEY_TOKENS_FILE,
};

static const struct config_key {
	const char *name;
	enum key_type type;
	size_t offset; /* into struct settings */
	int min, max;
} config_keys[] = {
	{ "streaming_mode", KEY_BOOL, offsetof(struct settings, streaming_mode), 0, 0 },
	{ "workflow_ids", KEY_IDS, 0, 0, 0 },
	{ "fetch_job_details", KEY_BOOL, offsetof(struct settings, fetch_job_details), 0, 0 },
	{ "output_csv", KEY_STRING, offsetof(struct settings, output_csv), 0, 0 },
	{ "api_url", KEY_URL, offsetof(struct settings, api_url), 0, 0 },
	{ "max_in_flight", KEY_INT, offsetof(struct settings, max_in_flight), 1, 100 },
	{ "requests_per_minute", KEY_INT, offsetof(struct settings, requests_per_minute), 1,
	  100000 },
	{ "budget_reserve", KEY_INT, offsetof(struct settings, budget_reserve), 0, INT_MAX },
	{ "watch_interval", KEY_DURATION, offsetof(struct settings, watch_interval), 0, 0 },
	{ "max_retries", KEY_INT, offsetof(struct settings, max_retries), 0, 20 },
	{ "request_timeout", KEY_TIMEOUT, offsetof(struct settings, request_timeout), 0, 86400 },
	{ "tokens_file", KEY_TOKENS_FILE, 0, 0, 0 },
	{ "quiet", KEY_BOOL, offsetof(struct settings, quiet), 0, 0 },
};
#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* Options of the Python GHAminer that ghaminer does not implement. */
static const char *const python_only_keys[] = {
	"fetch_test_parsing_results", "fetch_commit_details", "fetch_pull_request_details",
	"fetch_sloc",
};

struct config_ctx {
	struct settings *s;
	const char *path;
	yaml_document_t *doc;
	char *tokens_file; /* owned, resolved against the config file's directory */
	size_t seen_line[NKEYS];
};

static size_t line_of(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

static size_t column_of(const yaml_node_t *n)
{
	return n->start_mark.column + 1;
}

static const char *scalar_text(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool scalar_has_nul(const yaml_node_t *n)
{
	return strlen((const char *)n->data.scalar.value) != n->data.scalar.length;
}

static bool is_null(const yaml_node_t *n)
{
	const char *t = scalar_text(n);

	return t && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") ||
		!strcmp(t, "NULL"));
}

static int bad_value(const struct config_ctx *cx, const struct config_key *k,
		     const yaml_node_t *n, const char *expected)
{
	char got[MAX_SHOWN + 16], buf[MAX_SHOWN + 8];

	if (n->type == YAML_SEQUENCE_NODE)
		snprintf(got, sizeof(got), "a list");
	else if (n->type == YAML_MAPPING_NODE)
		snprintf(got, sizeof(got), "a mapping");
	else if (is_null(n))
		snprintf(got, sizeof(got), "nothing");
	else
		snprintf(got, sizeof(got), "'%s'", shown(scalar_text(n), buf, sizeof(buf)));
	msg_error("%s:%zu:%zu: '%s' must be %s, got %s", cx->path, line_of(n), column_of(n),
		  k->name, expected, got);
	return -1;
}

static int parse_bool(const char *t, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };

	for (int i = 0; i < 3; i++) {
		if (!strcasecmp(t, yes[i]) || !strcasecmp(t, no[i])) {
			*out = !strcasecmp(t, yes[i]);
			return 0;
		}
	}
	return -1;
}

static int config_ids(struct config_ctx *cx, const struct config_key *k, yaml_node_t *n)
{
	static const char expected[] = "a list of workflow ids (positive integers), e.g. [1234, 5678]";
	yaml_node_item_t *item;
	long long id;

	cx->s->nworkflow_ids = 0;
	if (is_null(n))
		return 0;
	if (n->type == YAML_SCALAR_NODE) {
		if (!parse_long_long(scalar_text(n), &id) || id <= 0)
			return bad_value(cx, k, n, expected);
		return add_workflow_id(cx->s, id);
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return bad_value(cx, k, n, expected);
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *v = yaml_document_get_node(cx->doc, *item);
		if (!v || v->type != YAML_SCALAR_NODE || !parse_long_long(scalar_text(v), &id) ||
		    id <= 0)
			return bad_value(cx, k, v ? v : n, expected);
		if (add_workflow_id(cx->s, id) < 0)
			return -1;
	}
	return 0;
}

/* tokens_file relative to the config file's directory; "~/" is the home directory. */
static int config_tokens_file(struct config_ctx *cx, const char *t)
{
	const char *home = getenv("HOME"), *slash = strrchr(cx->path, '/');
	int r;

	free(cx->tokens_file);
	if (t[0] == '/' || !slash)
		r = asprintf(&cx->tokens_file, "%s", t);
	else
		r = asprintf(&cx->tokens_file, "%.*s/%s", (int)(slash - cx->path), cx->path, t);
	if (r >= 0 && strncmp(t, "~/", 2) == 0 && home && *home) {
		free(cx->tokens_file);
		r = asprintf(&cx->tokens_file, "%s/%s", home, t + 2);
	}
	if (r < 0) {
		cx->tokens_file = NULL;
		out_of_memory();
		return -1;
	}
	return 0;
}

static int config_value(struct config_ctx *cx, const struct config_key *k, yaml_node_t *n)
{
	void *field = (char *)cx->s + k->offset;
	const char *t = scalar_text(n);
	char expected[96];
	long long ll;
	double d;
	bool b;

	if (k->type == KEY_IDS)
		return config_ids(cx, k, n);
	if (k->type == KEY_TOKENS_FILE && is_null(n)) {
		free(cx->tokens_file);
		cx->tokens_file = NULL;
		return 0;
	}
	switch (k->type) {
	case KEY_BOOL:
		if (!t || parse_bool(t, &b) < 0)
			return bad_value(cx, k, n, "true or false");
		*(bool *)field = b;
		return 0;
	case KEY_INT:
		if (k->max == INT_MAX)
			snprintf(expected, sizeof(expected), "an integer of %d or more", k->min);
		else
			snprintf(expected, sizeof(expected), "an integer from %d to %d", k->min,
				 k->max);
		if (!t || !parse_long_long(t, &ll) || ll < k->min || ll > k->max)
			return bad_value(cx, k, n, expected);
		*(int *)field = (int)ll;
		return 0;
	case KEY_DURATION:
		d = t ? settings_parse_duration(t) : -1;
		if (d < 0)
			return bad_value(cx, k, n, "a duration like 90, 90s, 5m or 2h (0: off)");
		*(double *)field = d;
		return 0;
	case KEY_TIMEOUT:
		d = t ? settings_parse_duration(t) : -1;
		snprintf(expected, sizeof(expected), "a number of seconds above 0 and at most %d",
			 k->max);
		if (d <= 0 || d > k->max)
			return bad_value(cx, k, n, expected);
		*(double *)field = d;
		return 0;
	case KEY_STRING:
	case KEY_TOKENS_FILE:
		if (!t || is_null(n) || !*t || scalar_has_nul(n))
			return bad_value(cx, k, n, "a file name");
		if (k->type == KEY_TOKENS_FILE)
			return config_tokens_file(cx, t);
		return set_string(field, t);
	case KEY_URL: {
		char *url;
		if (!t || scalar_has_nul(n) || !(url = api_url_normalize(t))) {
			if (errno == ENOMEM) {
				out_of_memory();
				return -1;
			}
			return bad_value(cx, k, n, "an http:// or https:// URL with a host");
		}
		free(*(char **)field);
		*(char **)field = url;
		return 0;
	}
	case KEY_IDS:
		break;
	}
	return 0;
}

static void unknown_key(const struct config_ctx *cx, const char *key, const yaml_node_t *kn,
			const yaml_node_t *vn)
{
	char buf[MAX_SHOWN + 8];

	shown(key, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(python_only_keys) / sizeof(python_only_keys[0]); i++) {
		if (!strcmp(key, python_only_keys[i])) {
			msg_warn("%s:%zu: unknown key '%s' (ignored: a GHAminer option that ghaminer "
				 "does not implement)", cx->path, line_of(kn), buf);
			return;
		}
	}
	if (strcasestr(key, "token")) {
		if (vn->type == YAML_SCALAR_NODE)
			msg_add_secret(scalar_text(vn));
		msg_warn("%s:%zu: unknown key '%s' (ignored): tokens do not belong in %s; set "
			 "GITHUB_TOKEN or list them in a tokens_file", cx->path, line_of(kn), buf,
			 cx->path);
		return;
	}
	msg_warn("%s:%zu: unknown key '%s' (ignored)", cx->path, line_of(kn), buf);
}

static int config_mapping(struct config_ctx *cx, yaml_node_t *root)
{
	for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(cx->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(cx->doc, pair->value);
		const struct config_key *k = NULL;
		const char *key;

		if (!kn || !vn)
			continue;
		key = scalar_text(kn);
		if (!key) {
			msg_error("%s:%zu:%zu: a key must be a plain name such as 'max_retries'",
				  cx->path, line_of(kn), column_of(kn));
			return -1;
		}
		for (size_t i = 0; i < NKEYS; i++)
			if (!strcmp(key, config_keys[i].name))
				k = &config_keys[i];
		if (!k) {
			unknown_key(cx, key, kn, vn);
			continue;
		}
		if (cx->seen_line[k - config_keys])
			msg_warn("%s:%zu: duplicate key '%s' (replaces the one on line %zu)",
				 cx->path, line_of(kn), key, cx->seen_line[k - config_keys]);
		cx->seen_line[k - config_keys] = line_of(kn);
		if (config_value(cx, k, vn) < 0)
			return -1;
	}
	return 0;
}

static void yaml_failure(const yaml_parser_t *p, const char *path)
{
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		msg_error("%s: out of memory while reading YAML", path);
		break;
	case YAML_READER_ERROR:
		if (p->problem_value != -1)
			msg_error("%s: invalid YAML: %s (#%X at byte %zu)", path, p->problem,
				  (unsigned)p->problem_value, p->problem_offset);
		else
			msg_error("%s: invalid YAML: %s (at byte %zu)", path, p->problem,
				  p->problem_offset);
		break;
	default:
		if (p->context)
			msg_error("%s:%zu:%zu: invalid YAML: %s (%s at line %zu, column %zu)", path,
				  p->problem_mark.line + 1, p->problem_mark.column + 1,
				  p->problem ? p->problem : "syntax error", p->context,
				  p->context_mark.line + 1, p->context_mark.column + 1);
		else
			msg_error("%s:%zu:%zu: invalid YAML: %s", path, p->problem_mark.line + 1,
				  p->problem_mark.column + 1, p->problem ? p->problem : "syntax error");
		break;
	}
}

/* Load path into s; *tokens_file gets the resolved tokens_file (caller frees). */
static int config_load(struct settings *s, const char *path, char **tokens_file)
{
	struct config_ctx cx = { .s = s, .path = path };
	yaml_document_t doc, extra;
	yaml_parser_t parser;
	yaml_node_t *root;
	struct stat st;
	int ret = -1;
	FILE *f;

	f = fopen(path, "rb");
	if (!f) {
		msg_error("cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		msg_error("cannot read '%s': it is a directory, not a config file", path);
		goto close_file;
	}
	if (!yaml_parser_initialize(&parser)) {
		out_of_memory();
		goto close_file;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_failure(&parser, path);
		goto delete_parser;
	}
	cx.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE) {
		if (config_mapping(&cx, root) < 0)
			goto delete_doc;
	} else if (root && !is_null(root)) {
		msg_error("%s:%zu:%zu: expected 'key: value' lines (a YAML mapping) at the top "
			  "level; see the config.yaml shipped with ghaminer", path, line_of(root),
			  column_of(root));
		goto delete_doc;
	}
	if (root) {
		if (!yaml_parser_load(&parser, &extra)) {
			yaml_failure(&parser, path);
			goto delete_doc;
		}
		root = yaml_document_get_root_node(&extra);
		if (root)
			msg_error("%s:%zu: a second YAML document ('---'): put every key in one "
				  "document", path, line_of(root));
		yaml_document_delete(&extra);
		if (root)
			goto delete_doc;
	}
	*tokens_file = cx.tokens_file;
	cx.tokens_file = NULL;
	ret = 0;
delete_doc:
	free(cx.tokens_file);
	yaml_document_delete(&doc);
delete_parser:
	yaml_parser_delete(&parser);
close_file:
	fclose(f);
	return ret;
}

/* -c FILE, else ./config.yaml when it exists. *path NULL: no config file. */
static int find_config(const struct cli *c, const char **path)
{
	struct stat st;

	*path = NULL;
	if (c->config.value) {
		if (!c->config.value[0]) {
			usage_error("empty file name for %.*s", c->config.optlen, c->config.opt);
			return -1;
		}
		*path = c->config.value;
		return 0;
	}
	if (stat(DEFAULT_CONFIG, &st) == 0 || errno != ENOENT)
		*path = DEFAULT_CONFIG;
	return 0;
}

/* ---------------------------------------------------------------- all together */

void settings_release(struct settings *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->tokens && i < s->ntokens; i++) {
		if (s->tokens[i])
			explicit_bzero(s->tokens[i], strlen(s->tokens[i]));
		free(s->tokens[i]);
	}
	free(s->tokens);
	s->tokens = NULL;
	s->ntokens = 0;
	for (size_t i = 0; s->repos && i < s->nrepos; i++)
		repo_ref_release(&s->repos[i]);
	free(s->repos);
	s->repos = NULL;
	s->nrepos = 0;
	free(s->workflow_ids);
	s->workflow_ids = NULL;
	s->nworkflow_ids = 0;
	free(s->from_date);
	free(s->to_date);
	free(s->config_path);
	free(s->output_csv);
	free(s->api_url);
	s->from_date = s->to_date = s->config_path = s->output_csv = s->api_url = NULL;
}

static int set_defaults(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	s->streaming_mode = true;
	s->fetch_job_details = true;
	s->max_in_flight = 16;
	s->requests_per_minute = 850;
	s->budget_reserve = 50;
	s->watch_interval = 0;
	s->max_retries = 5;
	s->request_timeout = 30;
	if (set_string(&s->output_csv, DEFAULT_OUTPUT_CSV) < 0 ||
	    set_string(&s->api_url, DEFAULT_API_URL) < 0)
		return -1;
	return 0;
}

/* Environment and command line over config.yaml. Always takes ownership of cli_api_url. */
static int apply_overrides(struct settings *s, const struct cli *c, char *cli_api_url,
			   double cli_watch)
{
	const char *env_url = getenv("GITHUB_API_URL");
	char buf[MAX_SHOWN + 8];

	if (cli_api_url) {
		free(s->api_url);
		s->api_url = cli_api_url;
	} else if (env_url && *env_url) {
		char *url = api_url_normalize(env_url);
		if (!url) {
			if (errno == ENOMEM)
				out_of_memory();
			else
				msg_error("invalid GITHUB_API_URL '%s': expected http:// or https:// "
					  "and a host; fix or unset it", shown(env_url, buf, sizeof(buf)));
			return -1;
		}
		free(s->api_url);
		s->api_url = url;
	}
	if (c->output.value && set_string(&s->output_csv, c->output.value) < 0)
		return -1;
	if (cli_watch >= 0)
		s->watch_interval = cli_watch;
	if (c->quiet)
		s->quiet = true;
	return 0;
}

int settings_load(struct settings *s, int argc, char **argv)
{
	struct repo_ctx rc = { .s = s };
	char *cli_api_url = NULL, *tokens_file = NULL;
	const char *path;
	double cli_watch = -1;
	struct cli cli;
	int overridden;

	if (set_defaults(s) < 0)
		goto release_settings;
	if (cli_parse(&cli, argc, argv) < 0)
		goto release_cli;
	if (cli.help || cli.version) {
		s->show_help = cli.help;
		s->show_version = cli.version;
		cli_release(&cli);
		return 0;
	}
	if (cli_check(&cli, s, &cli_api_url, &cli_watch) < 0 || collect_tokens(s, &cli) < 0 ||
	    collect_repos(&rc, &cli) < 0 || find_config(&cli, &path) < 0)
		goto free_api_url;
	if (path && (config_load(s, path, &tokens_file) < 0 || set_string(&s->config_path, path) < 0))
		goto free_tokens_file;
	overridden = apply_overrides(s, &cli, cli_api_url, cli_watch);
	cli_api_url = NULL; /* owned by *s now, even on failure */
	if (overridden < 0)
		goto free_tokens_file;
	if (tokens_file && for_each_line(tokens_file, tokens_file_line, s) < 0)
		goto free_tokens_file;
	if (!s->ntokens) {
		msg_error("no GitHub token: set GITHUB_TOKEN (or pass -t TOKEN)");
		goto free_tokens_file;
	}
	if (api_url_cleartext(s->api_url))
		msg_warn("the API URL '%s' is not https: tokens would cross the network "
			 "unencrypted", s->api_url);
	if (rc.other_host[0] && !strcmp(s->api_url, DEFAULT_API_URL))
		msg_warn("repositories on '%s' are read through %s; for GitHub Enterprise pass "
			 "--api-url https://%s/api/v3", rc.other_host, s->api_url, rc.other_host);
	free(tokens_file);
	cli_release(&cli);
	return 0;

free_tokens_file:
	free(tokens_file);
free_api_url:
	free(cli_api_url);
release_cli:
	cli_release(&cli);
release_settings:
	settings_release(s);
	return EXIT_USAGE;
}
