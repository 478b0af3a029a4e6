/* fuzz_journal.c - a <csv>.journal as an earlier process left it: replay (torn-entry
 * repair, index), every indexed run's chain of entries applied to a row, a second open. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "journal.h"

/* Apply every run's entries to an empty row, as a fold does. */
static void patch_all(struct journal *j)
{
	const struct runindex_slot *s;
	for (size_t pos = 0; runindex_next(&j->map, &pos, &s);) {
		struct record row = {0};
		record_set(&row, COL_REPO, j->map.repos[s->repo]);
		FUZZ_ASSERT(journal_patch(j, s->repo, s->run_id, &row), "an indexed run not found");
		record_release(&row);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal j;
	struct error err = {0};
	char *jpath = NULL, *csv;
	fuzz_write("b.csv.journal", data, size);
	csv = strdup(fuzz_path("b.csv")); /* fuzz_path's buffer is reused */
	int rc = journal_open(&j, csv, &err);
	FUZZ_ASSERT(rc == 0, err.msg);
	jpath = strdup(j.path);
	size_t len, entries = j.entries;
	char *after = fuzz_slurp(jpath, &len);
	FUZZ_ASSERT(after && len <= size && memcmp(after, data, len) == 0,
		    "replay changed the journal beyond cutting a torn entry");
	FUZZ_ASSERT((off_t)len == j.size, "the journal's size is not the file's");
	patch_all(&j);
	journal_close(&j);
	/* What replay kept is whole: a second open cuts nothing and finds the same entries. */
	rc = journal_open(&j, csv, &err);
	FUZZ_ASSERT(rc == 0, err.msg);
	FUZZ_ASSERT((off_t)len == j.size && j.entries == entries, "a second replay differs");
	journal_close(&j);
	free(after);
	free(jpath);
	free(csv);
	return 0;
}
