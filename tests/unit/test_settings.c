/* test_settings.c - settings: repository forms, durations, argv, environment and config.yaml. */
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "msg.h"

/* Looks like a GitHub token, so it must never reach stderr, whatever goes wrong. */
#define SECRET "ghp_unitTestNotARealTokenAtAll0123"
#define ENV_TOKEN "fake-env-token-0001"
#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NOARGS ((const char *const[]){ NULL })
#define TRY_HELP "Try 'ghaminer --help'."

static char captured[16384]; /* stderr of the last load() */

/* Redirect stderr to a temporary file; returns the saved descriptor. */
static int capture_begin(FILE **tmp)
{
	int saved;

	fflush(stderr);
	*tmp = tmpfile();
	saved = dup(2);
	if (!*tmp || saved < 0) {
		perror("capture");
		exit(2);
	}
	dup2(fileno(*tmp), 2);
	return saved;
}

static void capture_end(FILE *tmp, int saved)
{
	size_t n;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
}

/* settings_load on "ghaminer" + args, stderr captured; checks no secret leaked. */
static int load_at(int line, struct settings *s, const char *const *args)
{
	char *argv[64];
	int argc = 0, ret, saved;
	FILE *tmp;

	argv[argc++] = "ghaminer";
	for (size_t i = 0; args[i]; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	saved = capture_begin(&tmp);
	ret = settings_load(s, argc, argv);
	capture_end(tmp, saved);
	check_count++;
	if (strstr(captured, SECRET) || strstr(captured, "NotARealToken")) {
		check_failures++;
		fprintf(stderr, "%s:%d: a token reached stderr:\n%s", __FILE__, line, captured);
	}
	msg_forget_secrets();
	return ret;
}
#define load(s, args) load_at(__LINE__, (s), (args))

#define CHECK_HAS(hay, needle) do { const char *h_ = (hay), *n_ = (needle); check_count++; \
	if (!strstr(h_, n_)) { check_failures++; \
	fprintf(stderr, "%s:%d: output lacks \"%s\":\n%s\n", __FILE__, __LINE__, n_, h_); } } while (0)
#define CHECK_LACKS(hay, needle) do { const char *h_ = (hay), *n_ = (needle); check_count++; \
	if (strstr(h_, n_)) { check_failures++; \
	fprintf(stderr, "%s:%d: output has \"%s\":\n%s\n", __FILE__, __LINE__, n_, h_); } } while (0)
#define CHECK_NEAR(a, b) CHECK(fabs((double)(a) - (double)(b)) < 1e-9)

static void clear_env(void)
{
	unsetenv("GITHUB_TOKENS");
	unsetenv("GITHUB_TOKEN");
	unsetenv("GH_TOKEN");
	unsetenv("GITHUB_API_URL");
	unsetenv("GITHUB_GRAPHQL_URL");
}

static void check_defaults(const struct settings *s)
{
	CHECK(s->streaming_mode);
	CHECK(s->fetch_job_details);
	CHECK_INT(s->nworkflow_ids, 0);
	CHECK_STR(s->output_csv, "builds_features.csv");
	CHECK_STR(s->api_url, "https://api.github.com");
	CHECK_INT(s->max_in_flight, 16);
	CHECK_INT(s->requests_per_minute, 850);
	CHECK_INT(s->budget_reserve, 50);
	CHECK_NEAR(s->watch_interval, 0);
	CHECK_INT(s->max_retries, 5);
	CHECK_NEAR(s->request_timeout, 30);
	CHECK(!s->quiet);
	CHECK_INT(s->repo_concurrency, 0);
	CHECK(s->tokens_file == NULL);
	CHECK_INT(s->graphql_points_per_minute, 1900);
	CHECK(!s->tokens_same_user);
	CHECK_INT(s->jobs_api, JOBS_API_AUTO);
	CHECK(s->graphql_url == NULL);
	CHECK_INT(s->graphql_cross_check, 3);
}

static void test_repo_forms(void)
{
	static const struct {
		const char *url, *owner, *name;
	} good[] = {
		{ "https://github.com/octo/hello", "octo", "hello" },
		{ "http://github.com/octo/hello", "octo", "hello" },
		{ "https://github.com/octo/hello.git", "octo", "hello" },
		{ "https://github.com/octo/hello/", "octo", "hello" },
		{ "https://github.com/octo/hello.git/", "octo", "hello" },
		{ "github.com/octo/hello", "octo", "hello" },
		{ "www.github.com/octo/hello", "octo", "hello" },
		{ "octo/hello", "octo", "hello" },
		{ "octo/hello.git", "octo", "hello" },
		{ "https://ghe.example.com/octo/hello", "octo", "hello" },
		{ "https://ghe.example.com:8443/octo/hello", "octo", "hello" },
		{ "HTTPS://GitHub.com/Octo-Cat/Hello_World.js", "Octo-Cat", "Hello_World.js" },
		{ "a/b", "a", "b" },
		{ "octo/...", "octo", "..." },
	};
	static const char *const bad[] = {
		"", "octo", "octo/", "/octo/hello", "octo//hello", "octo/hello/x",
		"https://github.com/octo", "https://github.com/octo/", "https://github.com/octo/hello/tree/main",
		"https://github.com//hello", "octo/hello world", " octo/hello", "octo/hello ",
		"octo/.", "octo/..", "./hello", "../hello", "octo/hello?tab=x", "https://github.com/o/r#x",
		"ftp://github.com/octo/hello", "ghe.example.com/octo/hello", "https://u:p@github.com/o/r",
		"https:///octo/hello", "octo/hé", "https://github.com/octo/hello//", "https://:1/o/r",
	};
	struct repo_ref r;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char full[128];
		int ret = repo_ref_parse(good[i].url, &r);
		CHECK_INT(ret, 0);
		if (ret) {
			fprintf(stderr, "  rejected: '%s'\n", good[i].url);
			continue;
		}
		snprintf(full, sizeof(full), "%s/%s", good[i].owner, good[i].name);
		CHECK_STR(r.owner, good[i].owner);
		CHECK_STR(r.name, good[i].name);
		CHECK_STR(r.full_name, full);
		repo_ref_release(&r);
		CHECK(!r.owner && !r.name && !r.full_name);
		repo_ref_release(&r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = repo_ref_parse(bad[i], &r);
		CHECK_INT(ret, -1);
		if (ret != -1)
			fprintf(stderr, "  accepted: '%s'\n", bad[i]);
		CHECK(!r.owner && !r.name && !r.full_name);
	}
	CHECK_INT(repo_ref_parse(NULL, &r), -1);
}

static void test_durations(void)
{
	static const struct {
		const char *text;
		double seconds;
	} cases[] = {
		{ "90", 90 }, { "90s", 90 }, { "5m", 300 }, { "2h", 7200 }, { "1.5m", 90 },
		{ "0", 0 }, { "0s", 0 }, { "0.25", 0.25 }, { "007", 7 }, { "1.5h", 5400 },
		{ "", -1 }, { "s", -1 }, { "m", -1 }, { "-5", -1 }, { "+5", -1 }, { "5x", -1 },
		{ "5 m", -1 }, { " 5", -1 }, { "5s ", -1 }, { "5M", -1 }, { "1e3", -1 },
		{ ".5m", -1 }, { "5.m", -1 }, { "5ms", -1 }, { "nan", -1 }, { "inf", -1 },
		{ "0x10", -1 }, { "1,5m", -1 }, { "1h30m", 5400 }, { "5h30m", 19800 },
		{ "1h0m15s", 3615 }, { "2m30s", 150 }, { "0.5h30m", 3600 }, { "30m1h", -1 },
		{ "1h1h", -1 }, { "1h30", -1 }, { "1hm", -1 }, { "1h ", -1 }, { "h1", -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double got = settings_parse_duration(cases[i].text);
		CHECK_NEAR(got, cases[i].seconds);
		if (fabs(got - cases[i].seconds) >= 1e-9)
			fprintf(stderr, "  '%s' -> %g\n", cases[i].text, got);
	}
	CHECK_NEAR(settings_parse_duration(NULL), -1);
}

static void test_argv(void)
{
	struct settings s;

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);

	CHECK_INT(load(&s, ARGS("-s", "octo/hello", "-fd", "2024-01-01", "-td", "2024-12-31",
				"-o", "x.csv", "--api-url", "https://api.example.com//", "--watch",
				"5m", "--quiet")), 0);
	CHECK_STR(captured, "");
	CHECK_INT(s.nrepos, 1);
	CHECK_STR(s.repos[0].full_name, "octo/hello");
	CHECK_STR(s.from_date, "2024-01-01");
	CHECK_STR(s.to_date, "2024-12-31");
	CHECK_STR(s.output_csv, "x.csv");
	CHECK_STR(s.api_url, "https://api.example.com");
	CHECK_NEAR(s.watch_interval, 300);
	CHECK(s.quiet);
	CHECK(!s.show_help && !s.show_version);
	CHECK(s.config_path == NULL);
	CHECK_INT(s.ntokens, 1);
	CHECK_STR(s.tokens[0], ENV_TOKEN);
	settings_release(&s);

	/* --opt=value, -fd=value, a leap day, a long-option prefix */
	CHECK_INT(load(&s, ARGS("--single=https://github.com/o/r", "-fd=2024-02-29",
				"--to_date=2024-02-29", "--out=y.csv", "--watch=90")), 0);
	CHECK_STR(s.repos[0].full_name, "o/r");
	CHECK_STR(s.from_date, "2024-02-29");
	CHECK_STR(s.to_date, "2024-02-29");
	CHECK_STR(s.output_csv, "y.csv");
	CHECK_NEAR(s.watch_interval, 90);
	CHECK(s.from_date && s.to_date);
	settings_release(&s);

	CHECK_INT(load(&s, ARGS("--from-date", "2000-02-29", "--single-project", "o/r")), 0);
	CHECK_STR(s.from_date, "2000-02-29");
	CHECK(s.to_date == NULL);
	CHECK(strstr(captured, "future") == NULL);
	settings_release(&s);

	/* a start date in the future: accepted, with a warning */
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--from-date", "9999-12-31")), 0);
	CHECK_HAS(captured, "warning: --from-date 9999-12-31 is in the future (today is ");
	settings_release(&s);

	/* repeated -t: a pool, duplicates dropped, the environment ignored, a warning */
	CHECK_INT(load(&s, ARGS("-t", "fake-cli-token-1", "--token=fake-cli-token-2", "-t",
				"fake-cli-token-1", "-s", "o/r")), 0);
	CHECK_INT(s.ntokens, 2);
	CHECK_STR(s.tokens[0], "fake-cli-token-1");
	CHECK_STR(s.tokens[1], "fake-cli-token-2");
	CHECK_HAS(captured, "ghaminer: warning: a token given with -t can be read by other users "
		  "in the process list; prefer GITHUB_TOKEN");
	CHECK_LACKS(captured, "fake-cli-token");
	settings_release(&s);

	/* -s and -p together: order kept, duplicates dropped case-insensitively */
	CHECK_INT(load(&s, ARGS("-s", "octo/two", "-p", "data/projects.txt", "-s", "Octo/One",
				"-p", "data/projects_bom.txt")), 0);
	CHECK_INT(s.nrepos, 4);
	if (s.nrepos == 4) {
		CHECK_STR(s.repos[0].full_name, "octo/two");
		CHECK_STR(s.repos[1].full_name, "octo/one");
		CHECK_STR(s.repos[2].full_name, "octo/three");
		CHECK_STR(s.repos[3].full_name, "octo/bom");
		CHECK_STR(s.repos[1].owner, "octo");
		CHECK_STR(s.repos[1].name, "one");
		/* where each came from: 0 for -s, else its line in the projects file */
		CHECK_INT(s.repo_lines[0], 0);
		CHECK_INT(s.repo_lines[1], 3);
		CHECK_INT(s.repo_lines[2], 6);
		CHECK_INT(s.repo_lines[3], 1);
	}
	settings_release(&s);
	CHECK(s.repo_lines == NULL);

	/* an empty projects file is worth a warning, not an error, when -s gives a repository */
	CHECK_INT(load(&s, ARGS("-p", "data/projects_empty.txt", "-s", "o/r")), 0);
	CHECK_HAS(captured, "ghaminer: warning: 'data/projects_empty.txt' lists no repository");
	settings_release(&s);

	/* help and version need neither repository nor token, and win over mistakes */
	clear_env();
	CHECK_INT(load(&s, ARGS("-h")), 0);
	CHECK(s.show_help && !s.show_version);
	CHECK_STR(captured, "");
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("--version")), 0);
	CHECK(s.show_version && !s.show_help);
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("--bogus", "-s", "not a repo", "--help")), 0);
	CHECK(s.show_help);
	CHECK_STR(captured, "");
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("--he")), 0);
	CHECK(s.show_help);
	settings_release(&s);

	/* http:// away from this machine: the token would travel in clear, refused */
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--api-url", "http://127.0.0.1:8080")), 0);
	CHECK_STR(captured, "");
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--api-url", "http://localhost:8080")), 0);
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--api-url", "http://ghe.example.com/api/v3")),
		  -EINVAL);
	CHECK_STR(captured, "ghaminer: error: refusing to send the token to "
		  "'http://ghe.example.com/api/v3' unencrypted: use an https:// URL (plain http:// is "
		  "for a server on this machine only)\n");
	CHECK(s.tokens == NULL);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--api-url", "http://127.evil.com")), -EINVAL);

	/* a GitHub Enterprise repository is not looked up on api.github.com (a namesake) */
	CHECK_INT(load(&s, ARGS("-s", "https://ghe.example.com/o/r")), -EINVAL);
	CHECK_HAS(captured, "error: a repository on 'ghe.example.com' cannot be read through "
		  "https://api.github.com: for GitHub Enterprise pass --api-url "
		  "https://ghe.example.com/api/v3");
	CHECK(s.tokens == NULL);
	CHECK_INT(load(&s, ARGS("-s", "https://ghe.example.com/o/r", "--api-url",
				"https://ghe.example.com/api/v3")), 0);
	CHECK_STR(captured, "");
	settings_release(&s);
	clear_env();
}

static void test_argv_errors(void)
{
	const struct { /* not static: the ARGS compound literals live on the stack */
		const char *const *args;
		const char *want;
		int try_help;
	} cases[] = {
		{ ARGS("--bogus", "-s", "o/r"), "ghaminer: error: unknown option '--bogus'\n", 1 },
		{ ARGS("-x"), "unknown option '-x'", 1 },
		{ ARGS("-f", "2024-01-01", "-s", "o/r"), "unknown option '-f'", 1 },
		{ ARGS("-s"), "ghaminer: error: option '-s' needs a value (REPO)\n", 1 },
		{ ARGS("-s", "o/r", "-fd"), "option '-fd' needs a value (YYYY-MM-DD)", 1 },
		{ ARGS("-t", "-s", "o/r"), "option '-t' needs a value (TOKEN)", 1 },
		{ ARGS("--to", "2024-01-01", "-s", "o/r"), "ambiguous option '--to'", 1 },
		{ ARGS("-s", "o/r", "--quiet=yes"), "option '--quiet' takes no value", 1 },
		{ ARGS("-s", "foo"), "ghaminer: error: invalid repository 'foo' for -s: expected "
		  "https://github.com/OWNER/REPO or OWNER/REPO\n", 1 },
		{ ARGS("--single-project=o/r/x"), "invalid repository 'o/r/x' for --single-project", 1 },
		{ ARGS("-s", "o/r", "-fd", "2024-02-30"),
		  "invalid date '2024-02-30' for -fd: expected a real date as YYYY-MM-DD", 1 },
		{ ARGS("-s", "o/r", "-fd", "2023-02-29"), "invalid date '2023-02-29' for -fd", 1 },
		{ ARGS("-s", "o/r", "--to_date=2023-13-01"), "invalid date '2023-13-01' for --to_date", 1 },
		{ ARGS("-s", "o/r", "-td", "2024-1-01"), "invalid date '2024-1-01' for -td", 1 },
		{ ARGS("-s", "o/r", "-td", "24-01-01"), "invalid date '24-01-01'", 1 },
		{ ARGS("-s", "o/r", "-td", "2024-01-00"), "invalid date '2024-01-00'", 1 },
		{ ARGS("-s", "o/r", "-fd", "2024-05-01", "-td", "2024-04-01"),
		  "invalid date range: -fd 2024-05-01 is after -td 2024-04-01", 1 },
		{ ARGS("-s", "o/r", "--api-url", "ftp://x"), "invalid URL 'ftp://x' for --api-url", 1 },
		{ ARGS("-s", "o/r", "--api-url", "api.github.com"), "invalid URL 'api.github.com'", 1 },
		{ ARGS("-s", "o/r", "--api-url", "https://"), "invalid URL 'https://'", 1 },
		{ ARGS("-s", "o/r", "--watch", "5 min"), "invalid duration '5 min' for --watch", 1 },
		{ ARGS("-s", "o/r", "-o", ""), "empty file name for -o", 1 },
		{ ARGS("-s", "o/r", "extra"), "unexpected argument 'extra'", 1 },
		{ ARGS("octo/hello"), "unexpected argument 'octo/hello': to mine that repository, "
		  "pass -s octo/hello", 1 },
		{ NOARGS, "ghaminer: error: no repository given: pass -s OWNER/REPO or -p FILE\n", 1 },
		{ ARGS("-p", "data/projects_empty.txt"), "no repository given", 1 },
		{ ARGS("-s", "o/r", "-c", ""), "empty file name for -c", 1 },
		/* tokens never shown, even when they are the mistake */
		{ ARGS("-s", "o/r", SECRET), "unexpected argument '***'", 1 },
		{ ARGS("-t", SECRET, "-s", "o/r", "--bogus"), "unknown option '--bogus'", 1 },
		{ ARGS("-t", SECRET " x", "-s", "o/r"), "invalid token given with -t: it contains "
		  "spaces, control or non-ASCII characters (value not shown)", 1 },
		{ ARGS("--token=", "-s", "o/r"), "invalid token given with --token: it is empty", 1 },
		{ ARGS("-t", "t", "-s", "o/r"), "invalid token given with -t: it is too short to be "
		  "a GitHub token (fewer than 8 characters) (value not shown)", 1 },
		{ ARGS("-s", "https://x-access-token:" SECRET "@github.com/o/r"),
		  "invalid repository '***'", 1 },
		{ ARGS("-s", "https://user:hunter2@github.com/o/r"),
		  "invalid repository 'https://***@github.com/o/r'", 1 },
		{ ARGS("-t", SECRET, "-s", "o/r", "-fd", SECRET), "invalid date '***' for -fd", 1 },
	};
	struct settings s;

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = load(&s, cases[i].args);
		CHECK_INT(ret, -EINVAL);
		CHECK_HAS(captured, cases[i].want);
		if (cases[i].try_help)
			CHECK_HAS(captured, TRY_HELP);
		else
			CHECK_LACKS(captured, TRY_HELP);
		CHECK_LACKS(captured, "hunter2");
		/* released on error: a second release is harmless */
		CHECK(s.tokens == NULL && s.repos == NULL && s.output_csv == NULL);
		settings_release(&s);
	}

	/* a file that cannot be read: its errno, and no hint to try --help */
	const struct {
		const char *const *args;
		const char *want;
		int err;
	} unreadable[] = {
		{ ARGS("-p", "data/nope.txt"),
		  "ghaminer: error: cannot open 'data/nope.txt': No such file or directory\n", -ENOENT },
		{ ARGS("-p", "data"), "cannot read 'data': it is a directory", -EISDIR },
		{ ARGS("-s", "o/r", "-c", "data/missing.yaml"),
		  "cannot open 'data/missing.yaml': No such file or directory", -ENOENT },
	};
	for (size_t i = 0; i < sizeof(unreadable) / sizeof(unreadable[0]); i++) {
		CHECK_INT(load(&s, unreadable[i].args), unreadable[i].err);
		CHECK_HAS(captured, unreadable[i].want);
		CHECK_LACKS(captured, TRY_HELP);
		CHECK(s.tokens == NULL && s.repos == NULL && s.output_csv == NULL);
		settings_release(&s);
	}
	clear_env();
}

static void test_environment(void)
{
	struct settings s;

	clear_env();
	CHECK_INT(load(&s, ARGS("-s", "o/r")), -EINVAL);
	CHECK_STR(captured, "ghaminer: error: no GitHub token: set GITHUB_TOKEN (or pass -t TOKEN)\n");
	/* set but empty: named */
	setenv("GITHUB_TOKEN", "", 1);
	setenv("GITHUB_TOKENS", " , ", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), -EINVAL);
	CHECK_STR(captured, "ghaminer: error: no GitHub token: GITHUB_TOKENS is set but empty; set "
		  "it to your token (or pass -t TOKEN)\n");
	clear_env();

	setenv("GH_TOKEN", "fake-gh-token", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
	CHECK_INT(s.ntokens, 1);
	CHECK_STR(s.tokens[0], "fake-gh-token");
	settings_release(&s);

	setenv("GITHUB_TOKEN", " " ENV_TOKEN "\n", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
	CHECK_INT(s.ntokens, 1);
	CHECK_STR(s.tokens[0], ENV_TOKEN);
	settings_release(&s);

	setenv("GITHUB_TOKENS", " fake-pool-1 , fake-pool-2,,fake-pool-1,", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
	CHECK_INT(s.ntokens, 2);
	if (s.ntokens == 2) {
		CHECK_STR(s.tokens[0], "fake-pool-1");
		CHECK_STR(s.tokens[1], "fake-pool-2");
	}
	CHECK_STR(captured, "");
	settings_release(&s);

	/* -t replaces the environment */
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-t", "fake-cli-token")), 0);
	CHECK_INT(s.ntokens, 1);
	CHECK_STR(s.tokens[0], "fake-cli-token");
	settings_release(&s);

	/* an empty or blank GITHUB_TOKENS falls through to GITHUB_TOKEN */
	setenv("GITHUB_TOKENS", " , ", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
	CHECK_INT(s.ntokens, 1);
	CHECK_STR(s.tokens[0], ENV_TOKEN);
	settings_release(&s);

	setenv("GITHUB_TOKENS", "fake-pool-1," SECRET " tail", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), -EINVAL);
	CHECK_HAS(captured, "GITHUB_TOKENS: token 2 cannot be used: it contains spaces");
	unsetenv("GITHUB_TOKENS");

	setenv("GITHUB_TOKEN", SECRET "\tx", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), -EINVAL);
	CHECK_HAS(captured, "GITHUB_TOKEN cannot be used as a token");
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);

	/* api_url: command line > GITHUB_API_URL > config.yaml > default */
	CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
	CHECK_STR(s.api_url, "https://api.github.com");
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/full.yaml")), 0);
	CHECK_STR(s.api_url, "https://ghe.example.com/api/v3");
	settings_release(&s);
	setenv("GITHUB_API_URL", "https://env.example.com/api/v3/", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/full.yaml")), 0);
	CHECK_STR(s.api_url, "https://env.example.com/api/v3");
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/full.yaml", "--api-url",
				"https://cli.example.com")), 0);
	CHECK_STR(s.api_url, "https://cli.example.com");
	settings_release(&s);
	setenv("GITHUB_API_URL", "api.github.com", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), -EINVAL);
	CHECK_HAS(captured, "invalid GITHUB_API_URL 'api.github.com'");
	setenv("GITHUB_API_URL", "", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
	CHECK_STR(s.api_url, "https://api.github.com");
	settings_release(&s);
	clear_env();
}

static void test_config_files(void)
{
	struct settings s;

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);

	/* no -c and no ./config.yaml here: the defaults */
	CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
	CHECK(s.config_path == NULL);
	check_defaults(&s);
	settings_release(&s);

	/* the shipped config.yaml says exactly the defaults, without a warning */
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "../../config.yaml")), 0);
	CHECK_STR(captured, "");
	CHECK_STR(s.config_path, "../../config.yaml");
	check_defaults(&s);
	CHECK_INT(s.ntokens, 1);
	settings_release(&s);

	/* every key set; tokens_file relative to the config file, after the environment token */
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/full.yaml")), 0);
	CHECK_STR(captured, "");
	CHECK_STR(s.config_path, "data/full.yaml");
	CHECK(!s.streaming_mode);
	CHECK(!s.fetch_job_details);
	CHECK_INT(s.nworkflow_ids, 2);
	if (s.nworkflow_ids == 2) {
		CHECK_INT(s.workflow_ids[0], 9020027);
		CHECK_INT(s.workflow_ids[1], 12345);
	}
	CHECK_STR(s.output_csv, "out/runs.csv");
	CHECK_STR(s.api_url, "https://ghe.example.com/api/v3");
	CHECK_INT(s.max_in_flight, 100);
	CHECK_INT(s.requests_per_minute, 1200);
	CHECK_INT(s.budget_reserve, 0);
	CHECK_NEAR(s.watch_interval, 90);
	CHECK_INT(s.max_retries, 0);
	CHECK_NEAR(s.request_timeout, 2.5);
	CHECK(s.quiet);
	CHECK_STR(s.tokens_file, "data/tokens.txt");
	CHECK_INT(s.graphql_points_per_minute, 1000);
	CHECK(s.tokens_same_user);
	CHECK_INT(s.jobs_api, JOBS_API_GRAPHQL);
	CHECK_STR(s.graphql_url, "https://ghe.example.com/api/graphql");
	CHECK_INT(s.graphql_cross_check, 0);
	CHECK_INT(s.ntokens, 3);
	if (s.ntokens == 3) {
		CHECK_STR(s.tokens[0], ENV_TOKEN);
		CHECK_STR(s.tokens[1], "fake-file-token-1");
		CHECK_STR(s.tokens[2], "fake-file-token-2");
	}
	settings_release(&s);

	/* the command line wins over config.yaml */
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--config=data/full.yaml", "-o", "cli.csv", "--watch",
				"2h")), 0);
	CHECK_STR(s.output_csv, "cli.csv");
	CHECK_NEAR(s.watch_interval, 7200);
	settings_release(&s);

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/unknown_key.yaml")), 0);
	CHECK_HAS(captured, "ghaminer: warning: data/unknown_key.yaml:7: unknown key 'foo' (ignored)\n");
	CHECK_HAS(captured, "ghaminer: warning: data/unknown_key.yaml:3: unknown key 'fetch_sloc'");
	CHECK_INT(s.max_retries, 3);
	CHECK(s.quiet);
	settings_release(&s);

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/bad_type.yaml")), -EINVAL);
	CHECK_STR(captured, "ghaminer: error: data/bad_type.yaml:3:19: 'max_in_flight' must be an "
		  "integer from 1 to 100, got 'many'\n");

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/malformed.yaml")), -EINVAL);
	CHECK_HAS(captured, "ghaminer: error: data/malformed.yaml:3:");
	CHECK_HAS(captured, "invalid YAML: did not find expected ',' or ']'");
	CHECK_HAS(captured, "line 2");

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/not_mapping.yaml")), -EINVAL);
	CHECK_HAS(captured, "ghaminer: error: data/not_mapping.yaml:1:1: expected 'key: value' lines");

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data")), -EISDIR);
	CHECK_HAS(captured, "cannot read 'data': it is a directory");

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/empty.yaml")), 0);
	CHECK_STR(captured, "");
	CHECK_STR(s.config_path, "data/empty.yaml");
	check_defaults(&s);
	settings_release(&s);

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/comments_only.yaml")), 0);
	check_defaults(&s);
	settings_release(&s);

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/tokens_bad.yaml")), -EINVAL);
	CHECK_HAS(captured, "ghaminer: error: data/tokens_bad.txt:2: invalid token: it contains "
		  "spaces, control or non-ASCII characters (value not shown)");
	CHECK_LACKS(captured, "fake bad token");

	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", "data/token_key.yaml")), 0);
	CHECK_HAS(captured, "data/token_key.yaml:1: unknown key 'token' (ignored): tokens do not "
		  "belong in data/token_key.yaml");
	CHECK_LACKS(captured, "fake-config-token-value");
	settings_release(&s);

	/* ./config.yaml is read when present */
	if (chdir("data/autoload") == 0) {
		CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
		CHECK_STR(s.config_path, "config.yaml");
		CHECK_INT(s.max_retries, 7);
		settings_release(&s);
		CHECK(chdir("../..") == 0);
	} else {
		CHECK(!"chdir data/autoload");
	}
	clear_env();
}

/* Small config.yaml files written on the fly: types, ranges and YAML oddities. */
static void test_config_values(void)
{
	static const struct {
		const char *yaml;
		int ret;
		const char *want; /* in stderr; NULL: stderr empty */
	} cases[] = {
		{ "max_in_flight: 0\n", -EINVAL, "config.yaml:1:16: 'max_in_flight' must be an "
		  "integer from 1 to 100, got '0'\n" },
		{ "max_in_flight: 101\n", -EINVAL, "got '101'" },
		{ "max_in_flight: 1.5\n", -EINVAL, "got '1.5'" },
		{ "max_in_flight: 0x10\n", -EINVAL, "got '0x10'" },
		{ "max_in_flight: 99999999999999999999\n", -EINVAL, "from 1 to 100" },
		{ "max_in_flight: [1]\n", -EINVAL, "got a list" },
		{ "max_in_flight:\n", -EINVAL, "got nothing" },
		{ "requests_per_minute: 100001\n", -EINVAL,
		  "'requests_per_minute' must be an integer from 1 to 100000" },
		{ "budget_reserve: -1\n", -EINVAL, "'budget_reserve' must be an integer of 0 or more" },
		{ "max_retries: 21\n", -EINVAL, "'max_retries' must be an integer from 0 to 20" },
		{ "request_timeout: 0\n", -EINVAL, "'request_timeout' must be a number of seconds above 0" },
		{ "request_timeout: -3\n", -EINVAL, "got '-3'" },
		{ "watch_interval: soon\n", -EINVAL, "config.yaml:1:17: 'watch_interval' must be a "
		  "duration like 90, 90s, 5m or 2h (0: off), got 'soon'" },
		{ "streaming_mode: maybe\n", -EINVAL, "'streaming_mode' must be true or false, got 'maybe'" },
		{ "quiet: {a: 1}\n", -EINVAL, "'quiet' must be true or false, got a mapping" },
		{ "workflow_ids: [1, two]\n", -EINVAL, "config.yaml:1:19: 'workflow_ids' must be a list "
		  "of workflow ids (positive integers), e.g. [1234, 5678], got 'two'" },
		{ "workflow_ids:\n  - 1\n  - -2\n", -EINVAL, "config.yaml:3:5:" },
		{ "workflow_ids:\n  - [1]\n", -EINVAL, "config.yaml:2:5:" },
		{ "workflow_ids: {a: 1}\n", -EINVAL, "got a mapping" },
		{ "output_csv:\n", -EINVAL, "'output_csv' must be a file name, got nothing" },
		{ "output_csv: ''\n", -EINVAL, "'output_csv' must be a file name, got ''" },
		{ "api_url: ftp://x\n", -EINVAL, "'api_url' must be an http:// or https:// URL with a "
		  "host, got 'ftp://x'" },
		{ "api_url: https://u:hunter2@x.example.com\n", -EINVAL, "got 'https://***@x.example.com'" },
		{ "tokens_file: missing-tokens.txt\n", -ENOENT, "missing-tokens.txt': No such file" },
		{ "? [a, b]\n: 1\n", -EINVAL, "config.yaml:1:3: a key must be a plain name" },
		{ "quiet: true\n---\nquiet: false\n", -EINVAL, "config.yaml:3: a second YAML document" },
		{ "quiet: true\n  bad: indent\n", -EINVAL, "config.yaml:2:6: invalid YAML: mapping "
		  "values are not allowed in this context" },
		{ "\tquiet: true\n", -EINVAL, "invalid YAML: found character that cannot start any token" },
		{ "quiet: \"\xff\"\n", -EINVAL, "invalid YAML: invalid leading UTF-8 octet" },
		{ "a: *nowhere\n", -EINVAL, "invalid YAML: found undefined alias" },
		{ "just a string\n", -EINVAL, "config.yaml:1:1: expected 'key: value' lines" },
		{ "42\n", -EINVAL, "expected 'key: value' lines" },
		{ "~\n", 0, NULL },
		{ "---\n...\n", 0, NULL },
		{ "max_retries: 2\nmax_retries: 3\n", 0,
		  "config.yaml:2: duplicate key 'max_retries' (replaces the one on line 1)" },
		{ "streaming_mode: OFF\nfetch_job_details: Yes\nquiet: on\n", 0, NULL },
		{ "workflow_ids: ~\n", 0, NULL },
		{ "workflow_ids: 42\n", 0, NULL },
		{ "workflow_ids: [ ]\n", 0, NULL },
		{ "watch_interval: 90\nrequest_timeout: \"45\"\n", 0, NULL },
		{ "ids: &x [1, 2]\nworkflow_ids: *x\n", 0, "unknown key 'ids'" },
		{ "tokens_file: ~\n", 0, NULL },
		{ "fetch_commit_details: true\n", 0, "unknown key 'fetch_commit_details' (ignored: a "
		  "GHAminer option that ghaminer does not implement)" },
	};
	char dir[] = "/tmp/ghaminer-test-settings-XXXXXX", path[256];
	struct settings s;

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");
		int ret;

		if (!f) {
			CHECK(!"write config.yaml");
			break;
		}
		fputs(cases[i].yaml, f);
		fclose(f);
		ret = load(&s, ARGS("-s", "o/r", "-c", path));
		CHECK_INT(ret, cases[i].ret);
		if (cases[i].want)
			CHECK_HAS(captured, cases[i].want);
		else
			CHECK_STR(captured, "");
		if (ret != cases[i].ret || (cases[i].want && !strstr(captured, cases[i].want)))
			fprintf(stderr, "  in config case %zu:\n%s", i, cases[i].yaml);
		CHECK_LACKS(captured, "hunter2");
		settings_release(&s);
	}

	/* a few values the table cannot see */
	{
		static const char yaml[] = "streaming_mode: OFF\nfetch_job_details: Yes\n"
			"workflow_ids: 42\nwatch_interval: 90\nrequest_timeout: \"45\"\n";
		FILE *f = fopen(path, "w");
		if (f) {
			fputs(yaml, f);
			fclose(f);
		}
		CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", path)), 0);
		CHECK(!s.streaming_mode);
		CHECK(s.fetch_job_details);
		CHECK_INT(s.nworkflow_ids, 1);
		if (s.nworkflow_ids)
			CHECK_INT(s.workflow_ids[0], 42);
		CHECK_NEAR(s.watch_interval, 90);
		CHECK_NEAR(s.request_timeout, 45);
		settings_release(&s);
	}
	unlink(path);
	rmdir(dir);
	clear_env();
}

/* A setting added through the table alone: its option, key, range and default work. */
static void test_repo_concurrency(void)
{
	char dir[] = "/tmp/ghaminer-test-settings-XXXXXX", path[256];
	struct settings s;
	FILE *f;

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--repo-concurrency", "4")), 0);
	CHECK_INT(s.repo_concurrency, 4);
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--repo-concurrency=1000")), 0);
	CHECK_INT(s.repo_concurrency, 1000);
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--repo-concurrency=0")), 0);
	CHECK_INT(s.repo_concurrency, 0);
	settings_release(&s);

	CHECK_INT(load(&s, ARGS("-s", "o/r", "--repo-concurrency", "1001")), -EINVAL);
	CHECK_STR(captured, "ghaminer: error: invalid number '1001' for --repo-concurrency: "
		  "expected an integer from 0 to 1000\n" TRY_HELP "\n");
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--repo-conc=-1")), -EINVAL);
	CHECK_HAS(captured, "invalid number '-1' for --repo-conc: expected an integer from 0");
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--repo-concurrency")), -EINVAL);
	CHECK_HAS(captured, "option '--repo-concurrency' needs a value (N)");

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	f = fopen(path, "w");
	if (f) {
		fputs("repo_concurrency: 3\n", f);
		fclose(f);
	}
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", path)), 0);
	CHECK_INT(s.repo_concurrency, 3);
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", path, "--repo-concurrency", "9")), 0);
	CHECK_INT(s.repo_concurrency, 9);
	settings_release(&s);
	f = fopen(path, "w");
	if (f) {
		fputs("repo_concurrency: many\n", f);
		fclose(f);
	}
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", path)), -EINVAL);
	CHECK_HAS(captured, "config.yaml:1:19: 'repo_concurrency' must be an integer from 0 to "
		  "1000, got 'many'\n");
	unlink(path);
	rmdir(dir);
	clear_env();
}

/* Issue 9's settings: the GraphQL ceiling, tokens of one user, which API serves the jobs
 * (an enum, without case), the GraphQL endpoint and the cross-check. */
static void test_graphql_settings(void)
{
	char dir[] = "/tmp/ghaminer-test-settings-XXXXXX", path[256];
	struct settings s;
	FILE *f;

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--jobs-api", "graphql")), 0);
	CHECK_INT(s.jobs_api, JOBS_API_GRAPHQL);
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--jobs-api=REST")), 0);
	CHECK_INT(s.jobs_api, JOBS_API_REST);
	settings_release(&s);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--jobs-api", "soap")), -EINVAL);
	CHECK_STR(captured, "ghaminer: error: invalid value 'soap' for --jobs-api: expected one "
		  "of auto, rest, graphql\n" TRY_HELP "\n");
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--jobs-api")), -EINVAL);
	CHECK_HAS(captured, "option '--jobs-api' needs a value (API)");

	/* Not from the environment: Actions sets GITHUB_GRAPHQL_URL for github.com, whatever
	 * --api-url says. */
	setenv("GITHUB_GRAPHQL_URL", "https://ghe.example.com/api/graphql/", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), 0);
	CHECK(s.graphql_url == NULL);
	settings_release(&s);
	unsetenv("GITHUB_GRAPHQL_URL");

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	f = fopen(path, "w");
	if (f) {
		fputs("graphql_points_per_minute: 100000\ntokens_same_user: yes\njobs_api: Rest\n"
		      "graphql_url: https://ghe.example.com/api/graphql/\ngraphql_cross_check: 100\n",
		      f);
		fclose(f);
	}
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", path)), 0);
	CHECK_STR(captured, "");
	CHECK_INT(s.graphql_points_per_minute, 100000);
	CHECK(s.tokens_same_user);
	CHECK_INT(s.jobs_api, JOBS_API_REST);
	CHECK_STR(s.graphql_url, "https://ghe.example.com/api/graphql");
	CHECK_INT(s.graphql_cross_check, 100);
	settings_release(&s);
	/* the command line wins over config.yaml */
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", path, "--jobs-api", "auto")), 0);
	CHECK_INT(s.jobs_api, JOBS_API_AUTO);
	settings_release(&s);
	static const struct {
		const char *yaml, *want;
	} bad[] = {
		{ "graphql_points_per_minute: 0\n", "config.yaml:1:28: 'graphql_points_per_minute' "
		  "must be an integer from 1 to 100000, got '0'" },
		{ "tokens_same_user: 2\n", "'tokens_same_user' must be true or false, got '2'" },
		{ "jobs_api: both\n", "config.yaml:1:11: 'jobs_api' must be one of auto, rest, "
		  "graphql, got 'both'" },
		{ "jobs_api: [rest]\n", "'jobs_api' must be one of auto, rest, graphql, got a list" },
		{ "graphql_url: graphql\n", "'graphql_url' must be an http:// or https:// URL" },
		{ "graphql_cross_check: 101\n", "'graphql_cross_check' must be an integer from 0 "
		  "to 100, got '101'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(path, "w");
		if (f) {
			fputs(bad[i].yaml, f);
			fclose(f);
		}
		CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", path)), -EINVAL);
		CHECK_HAS(captured, bad[i].want);
	}
	unlink(path);
	rmdir(dir);
	clear_env();
}

/* A projects-file line that names no repository is skipped with a warning naming its file
 * and line; the other lines are mined. */
static void test_projects_bad_line(void)
{
	struct settings s;

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);
	CHECK_INT(load(&s, ARGS("-p", "data/projects_bad.txt")), 0);
	CHECK_HAS(captured, "ghaminer: warning: data/projects_bad.txt:3: invalid repository "
		  "'https://github.com/octo/fine/tree/main': expected "
		  "https://github.com/OWNER/REPO or OWNER/REPO; line skipped, the others are mined\n");
	CHECK_INT(s.nrepos, 1);
	CHECK_STR(s.repos[0].full_name, "octo/fine");
	CHECK_INT(s.repo_lines[0], 2);
	CHECK_INT(s.nbad_lines, 1);
	CHECK_STR(s.bad_lines[0], "data/projects_bad.txt:3: invalid repository "
		  "'https://github.com/octo/fine/tree/main'");
	settings_release(&s);
	CHECK(s.bad_lines == NULL && s.nbad_lines == 0);
	clear_env();
}

/* --api-url, GITHUB_API_URL and api_url: one check, one account of what is expected. */
static void test_api_url_one_check(void)
{
	static const char expected[] = "an http:// or https:// URL with a host";
	char dir[] = "/tmp/ghaminer-test-settings-XXXXXX", path[256];
	struct settings s;
	FILE *f;

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "--api-url", "https://u:p@x")), -EINVAL);
	CHECK_HAS(captured, expected);
	setenv("GITHUB_API_URL", "https://u:p@x", 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r")), -EINVAL);
	CHECK_HAS(captured, expected);
	unsetenv("GITHUB_API_URL");
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	f = fopen(path, "w");
	if (f) {
		fputs("api_url: https://u:p@x\n", f);
		fclose(f);
	}
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-c", path)), -EINVAL);
	CHECK_HAS(captured, expected);
	unlink(path);
	rmdir(dir);
	clear_env();
}

static void test_usage(void)
{
	static const char *const mentions[] = {
		"-t, --token", "-s, --single-project", "-p, --projects", "-fd, --from_date",
		"-td, --to_date", "-c, --config", "-o, --output", "--api-url", "--watch", "--quiet",
		"-h, --help", "--version", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKENS",
		"GITHUB_API_URL", "streaming_mode", "workflow_ids", "fetch_job_details", "output_csv",
		"api_url", "max_in_flight", "requests_per_minute", "budget_reserve", "watch_interval",
		"max_retries", "request_timeout", "tokens_file", "quiet:", "--repo-concurrency N",
		"repo_concurrency: 0", "--jobs-api API", "jobs_api: auto", "graphql_url: URL",
		"graphql_points_per_minute: 1900", "tokens_same_user: false",
		"graphql_cross_check: 3", "\n  0    ", "\n  1    ",
		"\n  2    ", "\n  3    ", "\n  4    ", "\n  5    ", "\n  130  ", "\n  143  ",
	};
	char doc[sizeof(captured)];
	size_t n = 0;
	FILE *tmp, *f;
	int saved;

	saved = capture_begin(&tmp);
	settings_usage(stderr);
	capture_end(tmp, saved);
	for (size_t i = 0; i < sizeof(mentions) / sizeof(mentions[0]); i++)
		CHECK_HAS(captured, mentions[i]);
	for (const char *line = captured; *line; ) {
		size_t len = strcspn(line, "\n");
		CHECK(len <= 80);
		line += len + (line[len] == '\n');
	}

	/* docs/usage.txt is the same text, for the README */
	f = fopen("../../docs/usage.txt", "r");
	CHECK(f != NULL);
	if (f) {
		n = fread(doc, 1, sizeof(doc) - 1, f);
		fclose(f);
	}
	doc[n] = '\0';
	CHECK(strcmp(doc, captured) == 0);
	if (strcmp(doc, captured) != 0)
		fprintf(stderr, "  docs/usage.txt differs from settings_usage(); regenerate it\n");
}

static void test_release(void)
{
	struct settings s;

	memset(&s, 0, sizeof(s));
	settings_release(&s);
	settings_release(&s);
	settings_release(NULL);
	repo_ref_release(NULL);

	clear_env();
	setenv("GITHUB_TOKEN", ENV_TOKEN, 1);
	CHECK_INT(load(&s, ARGS("-s", "o/r", "-fd", "2024-01-01", "-c", "data/full.yaml")), 0);
	settings_release(&s);
	CHECK(s.tokens == NULL && s.ntokens == 0 && s.repos == NULL && s.nrepos == 0);
	CHECK(s.workflow_ids == NULL && s.from_date == NULL && s.config_path == NULL);
	CHECK(s.output_csv == NULL && s.api_url == NULL);
	settings_release(&s);
	clear_env();
}

int main(void)
{
	test_repo_forms();
	test_durations();
	test_argv();
	test_argv_errors();
	test_environment();
	test_config_files();
	test_config_values();
	test_repo_concurrency();
	test_graphql_settings();
	test_projects_bad_line();
	test_api_url_one_check();
	test_usage();
	test_release();
	return CHECK_DONE();
}
