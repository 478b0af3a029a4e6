/* cli.c - the command line: argv → values of the settings table, and --help from that table. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "repo_ref.h"
#include "util.h"

#define HELP_WIDTH 80  /* no --help line is longer */
#define HELP_COLUMN 31 /* where the help of an option or config.yaml key starts */
#define HELP_NBSP '\x1f'  /* a space the help text is not wrapped at */

void cli_usage_error(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	msg_error("%s", buf);
	fputs("Try 'ghaminer --help'.\n", stderr);
	fflush(stderr);
}

/* 1 found, 0 unknown, -1 ambiguous prefix. Long options may be shortened, like argparse. */
static int find_option(const char *name, size_t len, const struct setting_def **found)
{
	const struct setting_def *match = NULL;
	bool ambiguous = false;

	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		const char *names[] = { d->short_opt, d->long_opt, d->alias };
		for (size_t k = 0; k < 3; k++) {
			if (names[k] && strlen(names[k]) == len && !strncmp(name, names[k], len)) {
				*found = d;
				return 1;
			}
		}
	}
	if (len < 3 || strncmp(name, "--", 2) != 0)
		return 0;
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		if ((!d->long_opt || strncmp(name, d->long_opt, len) != 0) &&
		    (!d->alias || strncmp(name, d->alias, len) != 0))
			continue;
		if (match && match != d)
			ambiguous = true;
		match = d;
	}
	if (ambiguous)
		return -1;
	*found = match;
	return match ? 1 : 0;
}

static bool is_option(const char *arg)
{
	const struct setting_def *d;

	return arg[0] == '-' && arg[1] && find_option(arg, strcspn(arg, "="), &d) == 1;
}

/* Something that is not an option: a mistake, maybe a repository without its -s. */
static void unexpected_argument(const char *arg, char *err, size_t n)
{
	char buf[SHOWN_SIZE];
	struct repo_ref r;

	if (repo_ref_parse(arg, &r) == 0) {
		snprintf(err, n, "unexpected argument '%s': to mine that repository, pass -s %s",
			 settings_shown(arg, buf, sizeof(buf)), buf);
		repo_ref_release(&r);
	} else {
		snprintf(err, n, "unexpected argument '%s'", settings_shown(arg, buf, sizeof(buf)));
	}
}

/* The first pass: options and their values as text, into c->args. First mistake in err. */
static void split_argv(struct cli *c, int argc, char **argv, char *err, size_t n)
{
	char buf[SHOWN_SIZE], name[SHOWN_SIZE];

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *value = NULL;
		const struct setting_def *d = NULL;
		int namelen, found;

		if (arg[0] != '-' || arg[1] == '\0') {
			if (!err[0])
				unexpected_argument(arg, err, n);
			continue;
		}
		eq = strchr(arg, '=');
		namelen = eq ? (int)(eq - arg) : (int)strlen(arg);
		found = find_option(arg, namelen, &d);
		if (found <= 0) {
			snprintf(name, sizeof(name), "%.*s", namelen, arg);
			if (!err[0])
				snprintf(err, n, found ? "ambiguous option '%s'" : "unknown option '%s'",
					 settings_shown(name, buf, sizeof(buf)));
			continue;
		}
		if (!d->metavar) {
			if (eq && !err[0])
				snprintf(err, n, "option '%.*s' takes no value", namelen, arg);
			c->help |= d->type == SET_HELP;
			c->version |= d->type == SET_VERSION;
		} else if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc && !is_option(argv[i + 1])) {
			value = argv[++i];
		} else {
			if (!err[0])
				snprintf(err, n, "option '%.*s' needs a value (%s)", namelen, arg,
					 d->metavar);
			continue;
		}
		/* Before anything can be printed about the line: it may quote the token. */
		if (d->type == SET_TOKEN && value)
			msg_add_secret(value);
		c->args[c->nargs++] = (struct cli_arg){ d, value, arg, namelen };
	}
}

/* The second pass: each value read as its row's type, into c->values. */
static int convert_values(struct cli *c)
{
	char buf[SHOWN_SIZE], expected[96];

	for (size_t i = 0; i < c->nargs; i++) {
		const struct cli_arg *a = &c->args[i];
		const struct setting_def *d = a->def;
		bool file = d->type == SET_PATH || d->type == SET_PROJECTS || d->type == SET_CONFIG;

		if (file && a->value && !a->value[0]) {
			cli_usage_error("empty file name for %.*s", a->optlen, a->opt);
			return -EINVAL;
		}
		c->given[d - settings_table] = a;
		if (!setting_is_plain(d) || setting_parse(d, a->value ? a->value : "true",
							  &c->values) == 0)
			continue;
		cli_usage_error("invalid %s '%s' for %.*s: expected %s", setting_noun(d),
				settings_shown(a->value, buf, sizeof(buf)), a->optlen, a->opt,
				setting_expected(d, expected, sizeof(expected)));
		return -EINVAL;
	}
	return 0;
}

int cli_parse(struct cli *c, int argc, char **argv)
{
	char err[512] = "";

	memset(c, 0, sizeof(*c));
	c->args = xcalloc(argc > 0 ? argc : 1, sizeof(*c->args));
	split_argv(c, argc, argv, err, sizeof(err));
	if (c->help || c->version)
		return 0;
	if (err[0]) {
		cli_usage_error("%s", err);
		return -EINVAL;
	}
	return convert_values(c);
}

void cli_release(struct cli *c)
{
	free(c->args);
	c->args = NULL;
	c->nargs = 0;
	for (size_t i = 0; i < settings_count; i++)
		setting_clear(&settings_table[i], &c->values);
	memset(c->given, 0, sizeof(c->given));
}

const struct cli_arg *cli_given(const struct cli *c, const struct setting_def *d)
{
	return c->given[d - settings_table];
}

/* ---------------------------------------------------------------- --help */

static const char intro[] =
"Usage: ghaminer [OPTIONS] -s REPO\n"
"       ghaminer [OPTIONS] -p FILE\n"
"       ghaminer serve [--listen HOST:PORT] [OPTIONS]\n"
"       ghaminer merge -o OUT.csv IN.csv...  (merge shards; see merge --help)\n"
"       ghaminer shard -p FILE -n N -i I     (split FILE; see shard --help)\n"
"\n"
"Mine the GitHub Actions history of repositories into a CSV file, one row per\n"
"workflow run, written as the runs are collected. Running the same command\n"
"again resumes where the previous run stopped.\n";

static const char *const section_titles[SEC_COUNT] = {
	[SEC_REPOS] = "Repositories (at least one; -s and -p can be repeated and combined):",
	[SEC_SELECTION] = "Selection and output:",
	[SEC_CONNECTION] = "Connection:",
	[SEC_SERVE] = "ghaminer serve (WebSocket stream, HTTP API and live page; see the README):",
	[SEC_OTHER] = "Other:",
};

static const char token_note[] =
"  Tokens given with -t replace the environment ones. Public repositories need\n"
"  a token with no scope; private ones need the repo scope (classic token) or\n"
"  Actions: read (fine-grained token).\n";

/* The codes of enum exit_code (miner.h), which main.c returns. */
static const char exit_status[] =
"Exit status:\n"
"  0    all runs collected, or --deadline reached (re-run to resume)\n"
"  1    partial: some runs could not be collected; re-run to resume\n"
"  2    usage or config error\n"
"  3    authentication failed or repository not found\n"
"  4    network unreachable\n"
"  5    local file error (disk full, read-only, CSV locked by another ghaminer)\n"
"  129  interrupted by SIGHUP, e.g. the terminal closed (re-run to resume)\n"
"  130  interrupted by SIGINT (re-run to resume)\n"
"  143  interrupted by SIGTERM (re-run to resume)\n";

static void spaces(FILE *out, size_t n)
{
	while (n--)
		fputc(' ', out);
}

/* left, then text from column on (two spaces further when left is longer), wrapped. */
static void help_entry(FILE *out, const char *left, const char *text, size_t column)
{
	size_t col = strlen(left), w;
	bool first = true;

	fputs(left, out);
	spaces(out, col + 2 <= column ? column - col : 2);
	col = col + 2 <= column ? column : col + 2;
	for (const char *p = text; *p; first = false) {
		w = strcspn(p, " ");
		if (!first && col + 1 + w > HELP_WIDTH) {
			fputc('\n', out);
			spaces(out, column);
			col = column;
			first = true;
		}
		if (!first)
			fputc(' ', out), col++;
		for (size_t k = 0; k < w; k++)
			fputc(p[k] == HELP_NBSP ? ' ' : p[k], out);
		col += w;
		for (p += w; *p == ' '; p++)
			;
	}
	fputc('\n', out);
}

static void usage_options(FILE *out, enum setting_section sec)
{
	char left[96], text[512];

	fprintf(out, "\n%s\n", section_titles[sec]);
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		if (d->section != sec)
			continue;
		snprintf(left, sizeof(left), "  %s%s%s%s%s", d->short_opt ? d->short_opt : "    ",
			 d->short_opt ? ", " : "", d->long_opt, d->metavar ? " " : "",
			 d->metavar ? d->metavar : "");
		if ((d->flags & SF_SHOW_DEFAULT) && d->def)
			snprintf(text, sizeof(text), "%s (default:%c%s)", d->help, HELP_NBSP, d->def);
		else
			snprintf(text, sizeof(text), "%s", d->help);
		help_entry(out, left, text, HELP_COLUMN);
	}
}

static void usage_environment(FILE *out)
{
	size_t width = 0;
	char text[512];

	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].env && strlen(settings_table[i].env) > width)
			width = strlen(settings_table[i].env);
	fputs("\nEnvironment:\n", out);
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		char left[64];
		if (!d->env)
			continue;
		snprintf(left, sizeof(left), "  %s", d->env);
		if (d->long_opt)
			snprintf(text, sizeof(text), "like %s (the option wins)", d->long_opt);
		else
			snprintf(text, sizeof(text), "%s", d->help);
		help_entry(out, left, text, width + 5);
	}
	fputs(token_note, out);
}

static void usage_config(FILE *out)
{
	char left[96], text[512];

	fputs("\nconfig.yaml keys (command line > environment > config.yaml > defaults):\n", out);
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		const char *def = d->def ? d->def : d->type == SET_IDS ? "[]" : d->metavar;
		if (!d->yaml_key)
			continue;
		snprintf(left, sizeof(left), "  %s: %s", d->yaml_key, def ? def : "null");
		if (d->long_opt)
			snprintf(text, sizeof(text), "like %s",
				 d->short_opt ? d->short_opt : d->long_opt);
		else if (d->type == SET_INT && d->max != INT_MAX)
			snprintf(text, sizeof(text), "%s (%d-%d)", d->help, d->min, d->max);
		else
			snprintf(text, sizeof(text), "%s", d->help);
		help_entry(out, left, text, HELP_COLUMN);
	}
}

void settings_usage(FILE *out)
{
	fputs(intro, out);
	for (int sec = SEC_NONE + 1; sec < SEC_COUNT; sec++)
		usage_options(out, sec);
	fputs("\nOptions that take a value accept '--opt value' and '--opt=value'.\n", out);
	usage_environment(out);
	usage_config(out);
	fputc('\n', out);
	fputs(exit_status, out);
}
