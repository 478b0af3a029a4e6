/* settings_table.h - the one table of settings that cli.c, config.c, settings.c and --help
 * read, the value types it uses, and the helpers the settings modules share. Internal. */
#ifndef GHAMINER_SETTINGS_TABLE_H
#define GHAMINER_SETTINGS_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "settings.h"

enum setting_type {
	/* Plain settings: a field of struct settings, read from text by setting_parse. */
	SET_BOOL,     /* bool; on the command line a flag that sets it */
	SET_INT,      /* int from min to max */
	SET_CHOICE,   /* an enum (int-sized): the index of one of choices, without case */
	SET_DURATION, /* double seconds, 0 or more: "90", "90s", "5m", "2h" */
	SET_SECONDS,  /* double seconds above 0 and at most max, same forms */
	SET_PATH,     /* char *, a non-empty file name */
	SET_URL,      /* char *, an API base URL (api_url_parse) */
	SET_DATE,     /* char *, a real date YYYY-MM-DD */
	SET_IDS,      /* int64_t * at offset, size_t count at count_offset; text adds one id */
	/* Special rows: options and variables that are not one field; their module reads them. */
	SET_TOKEN,      /* one token: -t, GITHUB_TOKEN, GH_TOKEN (tokens.c) */
	SET_TOKEN_POOL, /* comma-separated tokens: GITHUB_TOKENS (tokens.c) */
	SET_REPO,       /* -s (repo_ref.c) */
	SET_PROJECTS,   /* -p (repo_ref.c) */
	SET_CONFIG,     /* -c (settings.c) */
	SET_HELP,
	SET_VERSION,
};

/* Where --help lists the option. */
enum setting_section {
	SEC_NONE, /* no command-line option */
	SEC_REPOS,
	SEC_SELECTION,
	SEC_CONNECTION,
	SEC_SERVE,
	SEC_OTHER,
	SEC_COUNT,
};

enum setting_flags {
	SF_NULLABLE = 1 << 0,    /* config.yaml "key: null" empties it instead of failing */
	SF_RELATIVE = 1 << 1,    /* a config.yaml path is relative to the config file's folder */
	SF_SHOW_DEFAULT = 1 << 2 /* --help shows "(default: ...)" after the option */
};

struct setting_def {
	const char *key;       /* its name, for messages and the table's readers */
	const char *short_opt; /* "-o", or NULL */
	const char *long_opt;  /* "--output", or NULL: not on the command line */
	const char *alias;     /* another long option for the same row, or NULL; not in --help */
	const char *env;       /* environment variable, or NULL */
	const char *yaml_key;  /* config.yaml key, or NULL */
	enum setting_type type;
	int min, max;          /* SET_INT range; SET_SECONDS max */
	const char *def;       /* default, written as config.yaml would; NULL: empty */
	size_t offset;         /* of the field in struct settings (plain rows) */
	size_t count_offset;   /* SET_IDS: of the count */
	const char *metavar;   /* what the option's value is; NULL: a flag */
	const char *const *choices; /* SET_CHOICE: the values, NULL-terminated */
	enum setting_section section;
	unsigned flags;        /* enum setting_flags */
	const char *help;      /* one line; --help wraps it */
};

extern const struct setting_def settings_table[];
extern const size_t settings_count;
/* Bounds per-row arrays (given[], seen_line[]); settings.c checks the table fits. */
#define SETTINGS_MAX_ROWS 48

#define MAX_SHOWN 100 /* longest value quoted back in a message */
#define SHOWN_SIZE (MAX_SHOWN + 8)

/* A plain row is one field of struct settings that setting_parse can read. */
static inline bool setting_is_plain(const struct setting_def *d)
{
	return d->type <= SET_IDS;
}

/* Read text into d's field of *s. Returns 0, or -EINVAL when text is not such a value
 * (nothing printed: the caller says where the value came from, with setting_expected). */
int setting_parse(const struct setting_def *d, const char *text, struct settings *s);
/* What a value of d must be, e.g. "an integer from 1 to 100". Returns buf. */
const char *setting_expected(const struct setting_def *d, char *buf, size_t n);
/* The kind of value, e.g. "date" in "invalid date 'x' for -fd". */
const char *setting_noun(const struct setting_def *d);
/* Empty d's field (NULL string, empty list; zero otherwise). */
void setting_clear(const struct setting_def *d, struct settings *s);
/* Move d's field from src to dst; src's field is left empty. */
void setting_move(const struct setting_def *d, struct settings *dst, struct settings *src);

/* The one check of an API base URL, for --api-url, GITHUB_API_URL and api_url alike:
 * http:// or https://, a host, no credentials, query, fragment or blanks. Returns 0 and a
 * copy without trailing slashes in *out (caller frees), or -EINVAL. */
int api_url_parse(const char *text, char **out);

/* Copy a user-supplied value into buf (SHOWN_SIZE) for quoting in a message, with tokens and
 * URL credentials masked, control characters as '?' and long values cut. Returns buf. */
const char *settings_shown(const char *text, char *buf, size_t n);

/*
 * Call fn for each meaningful line of path: trimmed, without a "# comment", blank lines
 * skipped, a UTF-8 BOM and CRLF tolerated; the buffers are wiped after, as the lines may be
 * tokens. Returns 0, what fn returned when negative, or a negative errno after printing why
 * the file cannot be read.
 */
typedef int (*settings_line_fn)(void *ctx, const char *path, unsigned lineno, char *text);
int settings_for_each_line(const char *path, settings_line_fn fn, void *ctx);

#endif
