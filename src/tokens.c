/* tokens.c - GitHub tokens from -t, the environment and tokens_file: checked, registered as
 * secrets so no message can show them, and wiped when released. */
#include "tokens.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "msg.h"
#include "settings_table.h"
#include "util.h"

#define MAX_TOKEN_LEN 1024
/* GitHub's tokens are 40 characters or more. A shorter one is a mistake, and masking it
 * would mask words in every message (a token "t" hides every t). */
#define MIN_TOKEN_LEN 8

/* Why a token cannot be used, or NULL when it can. Never quotes the token. */
static const char *token_problem(const char *t)
{
	size_t len = strlen(t);

	if (len == 0)
		return "it is empty";
	if (len > MAX_TOKEN_LEN)
		return "it is longer than 1024 characters";
	if (len < MIN_TOKEN_LEN)
		return "it is too short to be a GitHub token (fewer than 8 characters)";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return "it contains spaces, control or non-ASCII characters";
	return NULL;
}

/* Add a copy of token, once; the copy is registered as a secret too. */
static void add_token(struct settings *s, const char *token)
{
	for (size_t i = 0; i < s->ntokens; i++)
		if (strcmp(s->tokens[i], token) == 0)
			return;
	s->tokens = xrealloc(s->tokens, (s->ntokens + 1) * sizeof(*s->tokens));
	s->tokens[s->ntokens] = xstrdup(token);
	msg_add_secret(s->tokens[s->ntokens++]);
}

/* Trim blanks in place (a token pasted with its newline); returns the start. */
static char *trim(char *t)
{
	char *end;

	while (isspace((unsigned char)*t))
		t++;
	end = t + strlen(t);
	while (end > t && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return t;
}

static bool is_env_token_row(const struct setting_def *d)
{
	return d->env && (d->type == SET_TOKEN || d->type == SET_TOKEN_POOL);
}

static int collect_cli(struct settings *s, const struct cli *c)
{
	bool any = false;

	for (size_t i = 0; i < c->nargs; i++) {
		const struct cli_arg *a = &c->args[i];
		const char *problem;

		if (a->def->type != SET_TOKEN)
			continue;
		problem = token_problem(a->value);
		if (problem) {
			cli_usage_error("invalid token given with %.*s: %s (value not shown)",
					a->optlen, a->opt, problem);
			return -EINVAL;
		}
		add_token(s, a->value);
		any = true;
	}
	if (any)
		msg_warn("a token given with -t can be read by other users in the process list; "
			 "prefer GITHUB_TOKEN (or GITHUB_TOKENS for a pool)");
	return 0;
}

/* GITHUB_TOKENS: comma-separated, blanks around each ignored, empty items skipped. */
static int collect_pool(struct settings *s, const char *name, const char *pool)
{
	char *copy = xstrdup(pool), *save = NULL;
	const char *problem;
	size_t n = 0;
	int ret = 0;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		n++;
		t = trim(t);
		if (!*t)
			continue;
		msg_add_secret(t);
		problem = token_problem(t);
		if (problem) {
			msg_error("%s: token %zu cannot be used: %s (value not shown)", name, n,
				  problem);
			ret = -EINVAL;
			break;
		}
		add_token(s, t);
	}
	explicit_bzero(copy, strlen(pool));
	free(copy);
	return ret;
}

static int collect_single(struct settings *s, const char *name, const char *value)
{
	char *copy = xstrdup(value), *t = trim(copy);
	const char *problem = token_problem(t);

	if (problem)
		msg_error("%s cannot be used as a token: %s (value not shown)", name, problem);
	else
		add_token(s, t);
	explicit_bzero(copy, strlen(value));
	free(copy);
	return problem ? -EINVAL : 0;
}

int tokens_collect(struct settings *s, const struct cli *c)
{
	/* Register every environment token first, so no later message can show one. */
	for (size_t i = 0; i < settings_count; i++) {
		const char *v = is_env_token_row(&settings_table[i]) ? getenv(settings_table[i].env)
								    : NULL;
		if (v)
			msg_add_secret(v);
	}
	for (size_t i = 0; i < c->nargs; i++)
		if (c->args[i].def->type == SET_TOKEN)
			return collect_cli(s, c);

	/* The first variable that is set wins; a pool of nothing but blanks does not count. */
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		const char *v = is_env_token_row(d) ? getenv(d->env) : NULL;
		int ret;

		if (!v || !*v)
			continue;
		ret = d->type == SET_TOKEN_POOL ? collect_pool(s, d->env, v)
						: collect_single(s, d->env, v);
		if (ret < 0 || s->ntokens)
			return ret;
	}
	return 0;
}

const char *tokens_blank_env(void)
{
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		const char *v = is_env_token_row(d) ? getenv(d->env) : NULL;

		if (v && !v[strspn(v, " \t\r\n,")])
			return d->env;
	}
	return NULL;
}

static int tokens_file_line(void *ctx, const char *path, unsigned lineno, char *text)
{
	const char *problem;

	msg_add_secret(text);
	problem = token_problem(text);
	if (problem) {
		msg_error("%s:%u: invalid token: %s (value not shown)", path, lineno, problem);
		return -EINVAL;
	}
	add_token(ctx, text);
	return 0;
}

int tokens_read_file(struct settings *s, const char *path)
{
	return settings_for_each_line(path, tokens_file_line, s);
}

void tokens_release(struct settings *s)
{
	for (size_t i = 0; s->tokens && i < s->ntokens; i++) {
		explicit_bzero(s->tokens[i], strlen(s->tokens[i]));
		free(s->tokens[i]);
	}
	free(s->tokens);
	s->tokens = NULL;
	s->ntokens = 0;
}
