/* cli.h - the command line: argv → values of the settings table; the --help text. */
#ifndef GHAMINER_CLI_H
#define GHAMINER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "settings.h"
#include "settings_table.h"

/* One option as given. Points into argv. */
struct cli_arg {
	const struct setting_def *def;
	const char *value; /* NULL for a flag */
	const char *opt;   /* the option as typed, for messages: "-fd", "--to_date"... */
	int optlen;
};

struct cli {
	struct cli_arg *args;   /* owned: every option given, in command-line order */
	size_t nargs;
	struct settings values; /* the plain settings given, already checked; owns its strings */
	const struct cli_arg *given[SETTINGS_MAX_ROWS]; /* per table row: its last option, or NULL */
	bool help, version;
};

/*
 * Split argv into options and check the values of plain settings (into c->values). Tokens
 * are registered as secrets at once. -h and --version win over any mistake elsewhere on the
 * line; otherwise the first mistake is reported, with a hint to try --help. Returns 0 or
 * -EINVAL. Release *c with cli_release either way.
 */
int cli_parse(struct cli *c, int argc, char **argv);
void cli_release(struct cli *c);

/* The last option given for row d, or NULL. */
const struct cli_arg *cli_given(const struct cli *c, const struct setting_def *d);

/* msg_error, then "Try 'ghaminer --help'.": for a mistake on the command line. */
void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* settings_usage (settings.h), the --help text, is written in cli.c from the table. */

#endif
