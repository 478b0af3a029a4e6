/* repo_ref.c - repository references: their forms, and the -s and -p lists of them. */
#include "repo_ref.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "msg.h"
#include "settings.h"
#include "settings_table.h"
#include "util.h"

#define REPO_FORMS "expected https://github.com/OWNER/REPO or OWNER/REPO"

static bool valid_name(const char *p, size_t len)
{
	if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '_' && p[i] != '.')
			return false;
	return true;
}

/* GitHub's account names: letters, digits, hyphens (underscores for managed users), at
 * most 39, not starting with a hyphen, which a command line would also take for an option. */
static bool valid_owner(const char *p, size_t len)
{
	return valid_name(p, len) && len <= 39 && p[0] != '-' && !memchr(p, '.', len);
}

/* host or host:port */
static bool valid_host(const char *p, size_t len)
{
	size_t colon = len;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == ':' && colon == len) {
			colon = i;
			continue;
		}
		if (colon < len ? !isdigit((unsigned char)p[i])
				: !isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '.')
			return false;
	}
	return colon > 0 && colon != len - 1;
}

static bool is_github_host(const char *p, size_t len)
{
	return (len == 10 && strncasecmp(p, "github.com", 10) == 0) ||
	       (len == 14 && strncasecmp(p, "www.github.com", 14) == 0);
}

/* Split "[scheme://][host/]owner/name[/]" into at most 3 segments; -1 when it is not. */
static int split_url(const char *url, const char *seg[3], size_t seglen[3], bool *scheme)
{
	const char *p = url;
	size_t len, n = 0;

	*scheme = false;
	if (strncasecmp(p, "https://", 8) == 0)
		p += 8, *scheme = true;
	else if (strncasecmp(p, "http://", 7) == 0)
		p += 7, *scheme = true;
	len = strlen(p);
	if (len && p[len - 1] == '/')
		len--;
	for (size_t start = 0;;) {
		size_t end = start;
		while (end < len && p[end] != '/')
			end++;
		if (n == 3 || end == start)
			return -1;
		seg[n] = p + start;
		seglen[n++] = end - start;
		if (end == len)
			return (int)n;
		start = end + 1;
	}
}

/* repo_ref_parse, also telling where the host is (*host NULL for the "o/r" form). */
static int repo_parse(const char *url, struct repo_ref *out, const char **host, size_t *host_len)
{
	const char *seg[3];
	size_t seglen[3];
	bool scheme;
	int n;

	memset(out, 0, sizeof(*out));
	*host = NULL;
	*host_len = 0;
	n = url ? split_url(url, seg, seglen, &scheme) : -1;
	if (n == 3) {
		if (!valid_host(seg[0], seglen[0]) || (!scheme && !is_github_host(seg[0], seglen[0])))
			return -1;
		*host = seg[0];
		*host_len = seglen[0];
		seg[0] = seg[1], seglen[0] = seglen[1];
		seg[1] = seg[2], seglen[1] = seglen[2];
	} else if (n != 2 || scheme) {
		return -1;
	}
	if (seglen[1] > 4 && strncmp(seg[1] + seglen[1] - 4, ".git", 4) == 0)
		seglen[1] -= 4;
	if (!valid_owner(seg[0], seglen[0]) || !valid_name(seg[1], seglen[1]) || seglen[1] > 100)
		return -1;
	out->owner = xstrndup(seg[0], seglen[0]);
	out->name = xstrndup(seg[1], seglen[1]);
	out->full_name = xasprintf("%s/%s", out->owner, out->name);
	return 0;
}

int repo_ref_parse(const char *url, struct repo_ref *out)
{
	const char *host;
	size_t host_len;

	return repo_parse(url, out, &host, &host_len);
}

void repo_ref_release(struct repo_ref *r)
{
	if (!r)
		return;
	free(r->owner);
	free(r->name);
	free(r->full_name);
	r->owner = r->name = r->full_name = NULL;
}

void repo_ref_release_all(struct settings *s)
{
	for (size_t i = 0; s->repos && i < s->nrepos; i++)
		repo_ref_release(&s->repos[i]);
	free(s->repos);
	free(s->repo_lines);
	for (size_t i = 0; i < s->nbad_lines; i++)
		free(s->bad_lines[i]);
	free(s->bad_lines);
	s->bad_lines = NULL;
	s->nbad_lines = 0;
	s->repos = NULL;
	s->repo_lines = NULL;
	s->nrepos = 0;
}

/* ---------------------------------------------------------------- the -s and -p lists */

struct repo_ctx {
	struct settings *s;
	size_t added;     /* by the current -s or -p */
	char *other_host; /* owned: the first host that is not github.com */
};

/* Takes ownership of *r; dropped when it names a repository already listed (any case). */
static void add_repo(struct settings *s, struct repo_ref *r, unsigned lineno)
{
	for (size_t i = 0; i < s->nrepos; i++) {
		if (strcasecmp(s->repos[i].full_name, r->full_name) == 0) {
			repo_ref_release(r);
			return;
		}
	}
	s->repos = xrealloc(s->repos, (s->nrepos + 1) * sizeof(*s->repos));
	s->repo_lines = xrealloc(s->repo_lines, (s->nrepos + 1) * sizeof(*s->repo_lines));
	s->repos[s->nrepos] = *r;
	s->repo_lines[s->nrepos++] = lineno;
	memset(r, 0, sizeof(*r));
}

/* A projects-file line that names no repository: the others are still mined, so it is a
 * warning, and the summary names it again. */
static int bad_line(struct settings *s, const char *path, unsigned lineno, const char *shown)
{
	char *what = xasprintf("%s:%u: invalid repository '%s'", path, lineno, shown);
	msg_warn("%s: " REPO_FORMS "; line skipped, the others are mined", what);
	s->bad_lines = xrealloc(s->bad_lines, (s->nbad_lines + 1) * sizeof(*s->bad_lines));
	s->bad_lines[s->nbad_lines++] = what;
	return 0;
}

/* One repository from -s (a != NULL) or from line lineno of the projects file path. */
static int repo_add_text(struct repo_ctx *rc, const char *text, const char *path, unsigned lineno,
			 const struct cli_arg *a)
{
	char buf[SHOWN_SIZE];
	struct repo_ref r;
	const char *host;
	size_t host_len;

	if (repo_parse(text, &r, &host, &host_len) < 0) {
		if (a)
			cli_usage_error("invalid repository '%s' for %.*s: " REPO_FORMS,
					settings_shown(text, buf, sizeof(buf)), a->optlen, a->opt);
		else
			return bad_line(rc->s, path, lineno, settings_shown(text, buf, sizeof(buf)));
		return -EINVAL;
	}
	if (host && !is_github_host(host, host_len) && !rc->other_host)
		rc->other_host = xstrndup(host, host_len);
	rc->added++;
	add_repo(rc->s, &r, lineno);
	return 0;
}

static int projects_file_line(void *ctx, const char *path, unsigned lineno, char *text)
{
	return repo_add_text(ctx, text, path, lineno, NULL);
}

int repo_ref_collect(struct settings *s, const struct cli *c, char **other_host)
{
	struct repo_ctx rc = { .s = s };
	int ret = 0;

	for (size_t i = 0; i < c->nargs && ret == 0; i++) {
		const struct cli_arg *a = &c->args[i];

		if (a->def->type == SET_REPO) {
			ret = repo_add_text(&rc, a->value, NULL, 0, a);
		} else if (a->def->type == SET_PROJECTS) {
			rc.added = 0;
			ret = settings_for_each_line(a->value, projects_file_line, &rc);
			if (ret == 0 && !rc.added)
				msg_warn("'%s' lists no repository", a->value);
		}
	}
	if (ret == 0 && !s->nrepos && !s->serve) {
		cli_usage_error("no repository given: pass -s OWNER/REPO or -p FILE");
		ret = -EINVAL;
	}
	*other_host = rc.other_host;
	return ret;
}
