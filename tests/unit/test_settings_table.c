/* test_settings_table.c - the table of settings is whole: names unique, defaults valid, every
 * row in --help, value types read and refuse what they should. */
#include "settings_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NROWS settings_count
#define CHECK_ROW(cond, d) do { CHECK(cond); if (!(cond)) fprintf(stderr, "  row '%s'\n", \
	(d)->key); } while (0)

static char help[16384];

static void capture_help(void)
{
	FILE *f = tmpfile();
	size_t n = 0;

	CHECK(f != NULL);
	if (!f)
		return;
	settings_usage(f);
	rewind(f);
	n = fread(help, 1, sizeof(help) - 1, f);
	help[n] = '\0';
	fclose(f);
}

/* No two rows answer to the same option, variable or key. */
static void test_unique_names(void)
{
	for (size_t i = 0; i < NROWS; i++) {
		const struct setting_def *a = &settings_table[i];
		const char *an[] = { a->short_opt, a->long_opt, a->alias, a->env, a->yaml_key };

		CHECK_ROW(a->key && a->help && *a->help, a);
		for (size_t j = i + 1; j < NROWS; j++) {
			const struct setting_def *b = &settings_table[j];
			const char *bn[] = { b->short_opt, b->long_opt, b->alias, b->env, b->yaml_key };

			CHECK_ROW(strcmp(a->key, b->key) != 0, b);
			for (size_t k = 0; k < 5; k++)
				for (size_t m = 0; m < 5; m++)
					CHECK_ROW(!an[k] || !bn[m] || strcmp(an[k], bn[m]) != 0, b);
			if (setting_is_plain(a) && setting_is_plain(b))
				CHECK_ROW(a->offset != b->offset, b);
		}
	}
}

/* Each row is something its readers can use. */
static void test_rows_well_formed(void)
{
	for (size_t i = 0; i < NROWS; i++) {
		const struct setting_def *d = &settings_table[i];
		bool flag = !d->metavar;

		CHECK_ROW(!d->short_opt || d->long_opt, d);
		CHECK_ROW(!d->alias || d->long_opt, d);
		CHECK_ROW((d->long_opt != NULL) == (d->section != SEC_NONE), d);
		/* a flag sets a bool, shows the help or the version; all else takes a value */
		if (d->long_opt)
			CHECK_ROW(flag == (d->type == SET_BOOL || d->type == SET_HELP ||
					   d->type == SET_VERSION), d);
		if (setting_is_plain(d))
			CHECK_ROW(d->long_opt || d->env || d->yaml_key, d);
		else
			CHECK_ROW(!d->yaml_key, d); /* config.c reads plain rows only */
		if (d->type == SET_INT)
			CHECK_ROW(d->min <= d->max, d);
	}
}

/* Every default is a value its own type accepts; settings_usage lists every name. */
static void test_defaults_and_help(void)
{
	struct settings s;

	memset(&s, 0, sizeof(s));
	capture_help();
	for (size_t i = 0; i < NROWS; i++) {
		const struct setting_def *d = &settings_table[i];
		char want[128];

		if (d->def)
			CHECK_ROW(setting_is_plain(d) && setting_parse(d, d->def, &s) == 0, d);
		if (d->long_opt) {
			snprintf(want, sizeof(want), "%s%s%s", d->long_opt, d->metavar ? " " : "",
				 d->metavar ? d->metavar : "");
			CHECK_ROW(strstr(help, want) != NULL, d);
		}
		if (d->short_opt) {
			snprintf(want, sizeof(want), "  %s, %s", d->short_opt, d->long_opt);
			CHECK_ROW(strstr(help, want) != NULL, d);
		}
		if (d->env) {
			snprintf(want, sizeof(want), "\n  %s ", d->env);
			CHECK_ROW(strstr(help, want) != NULL, d);
		}
		if (d->yaml_key) {
			snprintf(want, sizeof(want), "\n  %s: ", d->yaml_key);
			CHECK_ROW(strstr(help, want) != NULL, d);
		}
	}
	for (size_t i = 0; i < NROWS; i++)
		setting_clear(&settings_table[i], &s);
}

static const struct setting_def *row_of_type(enum setting_type t)
{
	for (size_t i = 0; i < NROWS; i++)
		if (settings_table[i].type == t)
			return &settings_table[i];
	return NULL;
}

/* What each plain type reads and refuses, through a real row of that type. */
static void test_value_types(void)
{
	static const struct {
		enum setting_type type;
		const char *text;
		int ret;
	} cases[] = {
		{ SET_BOOL, "yes", 0 }, { SET_BOOL, "OFF", 0 }, { SET_BOOL, "1", -EINVAL },
		{ SET_DURATION, "0", 0 }, { SET_DURATION, "5m", 0 }, { SET_DURATION, "-1", -EINVAL },
		{ SET_SECONDS, "0", -EINVAL }, { SET_SECONDS, "86400", 0 },
		{ SET_SECONDS, "86401", -EINVAL }, { SET_SECONDS, "1.5m", 0 },
		{ SET_PATH, "x.csv", 0 }, { SET_PATH, "", -EINVAL },
		{ SET_URL, "http://127.0.0.1:1/", 0 }, { SET_URL, "https://h/a?b", -EINVAL },
		{ SET_URL, "https://u@h", -EINVAL }, { SET_URL, "https://", -EINVAL },
		{ SET_DATE, "2024-02-29", 0 }, { SET_DATE, "2024-02-30", -EINVAL },
		{ SET_IDS, "7", 0 }, { SET_IDS, "0", -EINVAL }, { SET_IDS, "x", -EINVAL },
		{ SET_CHOICE, "graphql", 0 }, { SET_CHOICE, "AUTO", 0 }, { SET_CHOICE, "", -EINVAL },
		{ SET_CHOICE, "rest ", -EINVAL },
	};
	struct settings s;
	char buf[128];

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct setting_def *d = row_of_type(cases[i].type);
		int ret;

		CHECK(d != NULL);
		if (!d)
			continue;
		ret = setting_parse(d, cases[i].text, &s);
		CHECK_INT(ret, cases[i].ret);
		if (ret != cases[i].ret)
			fprintf(stderr, "  '%s' as %s\n", cases[i].text, d->key);
		CHECK(*setting_expected(d, buf, sizeof(buf)) != '\0');
		CHECK(*setting_noun(d) != '\0');
	}
	/* a list grows without duplicates; moving it leaves the source empty */
	{
		const struct setting_def *ids = row_of_type(SET_IDS);
		struct settings dst;

		memset(&dst, 0, sizeof(dst));
		CHECK_INT(s.nworkflow_ids, 1);
		CHECK_INT(setting_parse(ids, "8", &s), 0);
		CHECK_INT(setting_parse(ids, "7", &s), 0);
		CHECK_INT(s.nworkflow_ids, 2);
		setting_move(ids, &dst, &s);
		CHECK(s.workflow_ids == NULL && s.nworkflow_ids == 0);
		CHECK_INT(dst.nworkflow_ids, 2);
		setting_clear(ids, &dst);
		CHECK(dst.workflow_ids == NULL && dst.nworkflow_ids == 0);
	}
	for (size_t i = 0; i < NROWS; i++)
		setting_clear(&settings_table[i], &s);
}

static void test_api_url_parse(void)
{
	char *url = NULL;

	CHECK_INT(api_url_parse("HTTPS://ghe.example.com/api/v3///", &url), 0);
	CHECK_STR(url, "HTTPS://ghe.example.com/api/v3");
	free(url);
	CHECK_INT(api_url_parse("https://h", &url), 0);
	CHECK_STR(url, "https://h");
	free(url);
	url = NULL;
	CHECK_INT(api_url_parse("ftp://h", &url), -EINVAL);
	CHECK_INT(api_url_parse("https://h/a b", &url), -EINVAL);
	CHECK_INT(api_url_parse("https://h#x", &url), -EINVAL);
	CHECK_INT(api_url_parse("", &url), -EINVAL);
	CHECK(url == NULL);
}

int main(void)
{
	test_unique_names();
	test_rows_well_formed();
	test_defaults_and_help();
	test_value_types();
	test_api_url_parse();
	return CHECK_DONE();
}
