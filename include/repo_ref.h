/* repo_ref.h - a repository named on the command line or in a projects file. */
#ifndef GHAMINER_REPO_REF_H
#define GHAMINER_REPO_REF_H

struct settings;
struct cli;

struct repo_ref {
	char *owner;     /* owned */
	char *name;      /* owned */
	char *full_name; /* owned, "owner/name" */
};

/* "https://github.com/o/r", with ".git" or a trailing slash, "github.com/o/r", "o/r".
 * Returns 0 and fills *out, or -1 when the value is not a repository reference. */
int repo_ref_parse(const char *url, struct repo_ref *out);
void repo_ref_release(struct repo_ref *r);

/*
 * The repositories of -s and -p (projects files read line by line) into s->repos and
 * s->repo_lines, in command-line order, duplicates dropped. *other_host gets the first host
 * that is not github.com, for a hint (caller frees; NULL when none). Returns 0, -EINVAL
 * after printing what is wrong, or the negative errno of a projects file that cannot be read.
 */
int repo_ref_collect(struct settings *s, const struct cli *c, char **other_host);
/* Free s->repos and s->repo_lines. */
void repo_ref_release_all(struct settings *s);

#endif
