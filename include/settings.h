/* settings.h - what the user asked for: command line, environment and config.yaml, merged. */
#ifndef GHAMINER_SETTINGS_H
#define GHAMINER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "repo_ref.h"

/* Which API the jobs come from (--jobs-api): values in the order of the table's choices. */
enum jobs_api { JOBS_API_AUTO, JOBS_API_REST, JOBS_API_GRAPHQL };

/* Every plain field below is one row of the table in settings.c: its option, environment
 * variable, config.yaml key, type, range, default and help line are written there only. */
struct settings {
	/* tokens: -t (repeatable), else GITHUB_TOKENS (comma separated), GITHUB_TOKEN, GH_TOKEN,
	 * plus tokens_file lines. Owned; wiped with explicit_bzero on release. */
	char **tokens;
	size_t ntokens;

	struct repo_ref *repos; /* from -s and/or -p, in order, duplicates removed */
	size_t nrepos;
	unsigned *repo_lines;   /* parallel to repos: its line in the projects file, 0 for -s */
	/* Projects-file lines that name no repository: skipped with a warning, each kept as
	 * "FILE:LINE: invalid repository '…'" for the summary (the run is then partial). */
	char **bad_lines;
	size_t nbad_lines;

	char *from_date; /* "YYYY-MM-DD" or NULL */
	char *to_date;   /* "YYYY-MM-DD" or NULL */

	char *config_path; /* the file actually loaded, or NULL */
	char *output_csv;  /* -o, else output_csv, else "builds_features.csv" */
	char *api_url;     /* --api-url, else GITHUB_API_URL, else api_url, else https://api.github.com;
	                      no trailing slash */
	char *tokens_file; /* config.yaml tokens_file, relative to the config file's folder, or NULL;
	                      its tokens are already in tokens */

	bool streaming_mode;    /* default true */
	bool fetch_job_details; /* default true */
	int64_t *workflow_ids;  /* empty = all workflows */
	size_t nworkflow_ids;

	int max_in_flight;       /* default 16, 1..100 */
	int requests_per_minute; /* default 850, 1..100000: REST requests in any 60 s, per token */
	int graphql_points_per_minute; /* default 1900, 1..100000: GraphQL points in any 60 s */
	bool csv_formula_guard;  /* default false: prefix formula-like text cells with ' */
	bool tokens_same_user;   /* default false: the tokens are one user's, whose per-minute
				    allowance they share (GitHub counts secondary limits per user) */
	enum jobs_api jobs_api;  /* default JOBS_API_AUTO */
	char *graphql_url;       /* config.yaml graphql_url; NULL: derived from api_url */
	int graphql_cross_check; /* default 3, 0..100: runs fetched both ways at the start */
	int budget_reserve;      /* primary budget kept back, default 50 */
	double watch_interval;   /* seconds; 0 = no watch. --watch 5m / watch_interval: 5m */
	double deadline;         /* seconds after the start to stop cleanly; 0 = none */
	int max_retries;         /* default 5, 0..20 */
	double request_timeout;  /* seconds, default 30 */
	bool quiet;              /* --quiet: no progress on stderr */
	int repo_concurrency;    /* repositories mined at the same time; 0 (default) = all */

	/* ghaminer serve: repositories come from the clients, and so may the token */
	bool serve;              /* the serve subcommand (argv[1]) */
	char *listen;            /* --listen HOST:PORT, default 127.0.0.1:3000 */
	bool allow_remote;       /* --allow-remote: a non-loopback address is allowed */
	char *serve_token;       /* serve_token / GHAMINER_SERVE_TOKEN: every request carries it */
	char *allowed_origins;   /* comma-separated WebSocket origins; NULL: the server's own */
	int serve_max_clients;   /* connections at once, default 256 */
	int serve_queue_kb;      /* a client's unsent messages before it is closed, default 8192 */

	bool show_help;
	bool show_version;
};

/* Parse argv and the environment, then load the config file (-c FILE, or ./config.yaml when
 * present) and merge: command line > environment > config.yaml > defaults.
 * Returns 0, or a negative errno after printing one clear error on stderr (what was wrong,
 * what to do): -EINVAL for a bad command line, environment or config.yaml, or the error of
 * a file that cannot be read (-ENOENT, -EISDIR, -EACCES...). On error *s is released.
 * Warnings (unknown config keys) go to stderr. With -h or --version only show_help or
 * show_version (and the defaults) are set. Release *s with settings_release either way. */
int settings_load(struct settings *s, int argc, char **argv);
/* Free what *s owns (tokens wiped first) and leave it empty; safe to call twice. */
void settings_release(struct settings *s);
/* The --help text, generated from the table of settings. */
void settings_usage(FILE *out);

/* "90", "90s", "5m", "2h", "5h30m" (units from the largest down) → seconds; -1 when
 * malformed. */
double settings_parse_duration(const char *text);

#endif
