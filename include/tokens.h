/* tokens.h - GitHub tokens: where they come from, what makes one unusable, and wiping them. */
#ifndef GHAMINER_TOKENS_H
#define GHAMINER_TOKENS_H

#include "settings.h"

struct cli;

/*
 * The tokens of -t; else of GITHUB_TOKENS, else GITHUB_TOKEN, else GH_TOKEN (the table's
 * token rows, in its order). Every token met, used or not, is registered with
 * msg_add_secret first. Returns 0, or -EINVAL after printing which token is unusable and why
 * (never the token).
 */
int tokens_collect(struct settings *s, const struct cli *c);
/* Add the tokens of a file, one per line. Returns 0, -EINVAL or a negative errno. */
int tokens_read_file(struct settings *s, const char *path);
/* The first token variable that is set but holds nothing (blanks, commas), or NULL: what
 * to name when no token was found. */
const char *tokens_blank_env(void);
/* Wipe and free s->tokens. */
void tokens_release(struct settings *s);

#endif
