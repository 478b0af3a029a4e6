/* settings.h - what the user asked for: command line, environment and config.yaml, merged. */
#ifndef GHAMINER_SETTINGS_H
#define GHAMINER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct repo_ref {
	char *owner;     /* owned */
	char *name;      /* owned */
	char *full_name; /* owned, "owner/name" */
};

struct settings {
	/* tokens: -t (repeatable), else GITHUB_TOKENS (comma separated), GITHUB_TOKEN, GH_TOKEN,
	 * plus tokens_file lines. Owned; wiped with explicit_bzero on release. */
	char **tokens;
	size_t ntokens;

	struct repo_ref *repos; /* from -s and/or -p, in order, duplicates removed */
	size_t nrepos;

	char *from_date; /* "YYYY-MM-DD" or NULL */
	char *to_date;   /* "YYYY-MM-DD" or NULL */

	char *config_path; /* the file actually loaded, or NULL */
	char *output_csv;  /* -o, else output_csv, else "builds_features.csv" */
	char *api_url;     /* --api-url, else GITHUB_API_URL, else api_url, else https://api.github.com;
	                      no trailing slash */

	bool streaming_mode;    /* default true */
	bool fetch_job_details; /* default true */
	int64_t *workflow_ids;  /* empty = all workflows */
	size_t nworkflow_ids;

	int max_in_flight;       /* default 16, 1..100 */
	int requests_per_minute; /* default 600, 1..100000 */
	int budget_reserve;      /* primary budget kept back, default 50 */
	double watch_interval;   /* seconds; 0 = no watch. --watch 5m / watch_interval: 5m */
	int max_retries;         /* default 5 */
	double request_timeout;  /* seconds, default 30 */
	bool quiet;              /* --quiet: no progress on stderr */
	int repo_concurrency;    /* repositories mined at once; 0 = all */
	unsigned *repo_lines;    /* parallel to repos: projects-file line, 0 for -s; or NULL */

	bool show_help;
	bool show_version;
};

/* Parse argv and the environment, then load the config file (-c FILE, or ./config.yaml when
 * present) and merge: command line > environment > config.yaml > defaults.
 * Returns 0, or EXIT_USAGE after printing one clear error on stderr (what was wrong, what to
 * do). On error *s is released. Warnings (unknown config keys) go to stderr. */
int settings_load(struct settings *s, int argc, char **argv);
void settings_release(struct settings *s);
void settings_usage(FILE *out);

/* "https://github.com/o/r", with ".git" or a trailing slash, "github.com/o/r", "o/r".
 * Returns 0 and fills *out, or -1 when the value is not a repository reference. */
int repo_ref_parse(const char *url, struct repo_ref *out);
void repo_ref_release(struct repo_ref *r);

/* "90", "90s", "5m", "2h" → seconds; -1 when malformed. */
double settings_parse_duration(const char *text);

#endif
