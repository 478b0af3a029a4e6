/* fuzz_projects.c - a projects file (-p) as repo_ref_collect reads it: lines, comments,
 * BOM, repository forms, duplicates. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "fuzz.h"
#include "repo_ref.h"
#include "settings.h"
#include "settings_table.h"

static const struct setting_def *projects_def(void)
{
	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].type == SET_PROJECTS)
			return &settings_table[i];
	abort();
}

/* What was collected is what a session may use: names of their own form, each once. */
static void check_repos(const struct settings *s)
{
	for (size_t i = 0; i < s->nrepos; i++) {
		const struct repo_ref *r = &s->repos[i];
		struct repo_ref again;
		FUZZ_ASSERT(r->owner && r->name && r->full_name, "a repository without a name");
		FUZZ_ASSERT(strlen(r->full_name) == strlen(r->owner) + 1 + strlen(r->name) &&
				    strchr(r->full_name, '/') == r->full_name + strlen(r->owner),
			    "full_name is not owner/name");
		FUZZ_ASSERT(repo_ref_parse(r->full_name, &again) == 0 &&
				    strcmp(again.full_name, r->full_name) == 0,
			    "a collected name does not parse as itself");
		repo_ref_release(&again);
		FUZZ_ASSERT(s->repo_lines[i] > 0, "a repository without its line");
		for (size_t k = 0; k < i; k++)
			FUZZ_ASSERT(strcasecmp(s->repos[k].full_name, r->full_name) != 0,
				    "a repository listed twice");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_arg arg = {.def = projects_def(), .opt = "-p", .optlen = 2};
	struct cli c = {.args = &arg, .nargs = 1};
	struct settings s = {0};
	char *other_host = NULL;
	arg.value = fuzz_write("projects.txt", data, size);
	if (repo_ref_collect(&s, &c, &other_host) == 0)
		check_repos(&s);
	free(other_host);
	repo_ref_release_all(&s);
	return 0;
}
