/* test_csvstore.c - the CSV database: create, append, reload the index, repair a torn
 * tail, refuse a second writer, fold journaled columns durably, keep unknown columns. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "miner.h"
#include "csvstore.h"
#include "journal.h"
#include "settings.h"

static char dir[] = "/tmp/ghaminer-csvstore-XXXXXX";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p = calloc(1, 1 << 20);
	if (f) {
		size_t n = fread(p, 1, (1 << 20) - 1, f);
		p[n] = 0;
		fclose(f);
	}
	return p;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	fputs(text, f);
	fclose(f);
}

static struct record *mkrec(const char *repo, const char *id, const char *status,
			    const char *name)
{
	struct record *r = calloc(1, sizeof(*r));
	record_set(r, COL_REPO, repo);
	record_set(r, COL_ID_BUILD, id);
	record_set(r, COL_STATUS, status);
	record_set(r, COL_WORKFLOW_NAME, name);
	return r;
}

static void freerec(struct record *r)
{
	record_release(r);
	free(r);
}

#define HEADER "repo,id_build,workflow_id,workflow_name,status,conclusion,created_at," \
	       "updated_at,branch,commit_sha,event,issuer_name,run_number,build_duration," \
	       "total_jobs,job_details\n"

static void test_create_append_reload(void)
{
	struct csvstore cs;
	char *path = xasprintf("%s/a.csv", dir), *text;
	struct record *recs[2] = {mkrec("o/r", "11", "completed", "CI, \"x\""),
				  mkrec("o/r", "12", "in_progress", "line\nbreak")};
	CHECK(csvstore_open(&cs, path) == 0);
	CHECK(csvstore_append(&cs, recs, 2) == 0);
	csvstore_close(&cs);
	text = slurp(path);
	CHECK_STR(text, HEADER "o/r,11,,\"CI, \"\"x\"\"\",completed,,,,,,,,,,,\n"
			       "o/r,12,,\"line\nbreak\",in_progress,,,,,,,,,,,\n");
	free(text);

	CHECK(csvstore_open(&cs, path) == 0);
	int repo = runindex_repo(&cs.index, "o/r", false);
	CHECK(repo >= 0);
	uint64_t *f11 = runindex_get(&cs.index, (uint32_t)repo, 11);
	uint64_t *f12 = runindex_get(&cs.index, (uint32_t)repo, 12);
	CHECK(f11 && *f11 == 0);
	CHECK(f12 && *f12 == RX_INCOMPLETE);
	CHECK(runindex_get(&cs.index, (uint32_t)repo, 13) == NULL);

	/* A second writer is refused while the first holds the lock. */
	struct csvstore other;
	CHECK(csvstore_open(&other, path) == EXIT_IO);
	csvstore_close(&other);
	csvstore_close(&cs);
	freerec(recs[0]);
	freerec(recs[1]);
	free(path);
}

static void test_torn_tail(void)
{
	struct csvstore cs;
	char *path = xasprintf("%s/torn.csv", dir), *text;
	/* The last row was cut inside a quoted field: a newline in quotes is not an end. */
	spit(path, HEADER "o/r,1,,CI,completed,,,,,,,,,,,\no/r,2,,\"half\nwritten");
	CHECK(csvstore_open(&cs, path) == 0);
	int repo = runindex_repo(&cs.index, "o/r", false);
	CHECK(runindex_get(&cs.index, (uint32_t)repo, 1) != NULL);
	CHECK(runindex_get(&cs.index, (uint32_t)repo, 2) == NULL);
	csvstore_close(&cs);
	text = slurp(path);
	CHECK_STR(text, HEADER "o/r,1,,CI,completed,,,,,,,,,,,\n");
	free(text);
	/* A torn header: the file starts again. */
	spit(path, "repo,id_bu");
	CHECK(csvstore_open(&cs, path) == 0);
	csvstore_close(&cs);
	text = slurp(path);
	CHECK_STR(text, HEADER);
	free(text);
	free(path);
}

static void test_foreign_file_refused(void)
{
	struct csvstore cs;
	char *path = xasprintf("%s/foreign.csv", dir), *text;
	spit(path, "name,age\nbob,3\n");
	CHECK(csvstore_open(&cs, path) == EXIT_IO);
	csvstore_close(&cs);
	text = slurp(path);
	CHECK_STR(text, "name,age\nbob,3\n"); /* untouched */
	free(text);
	free(path);
}

static void test_journal_fold(void)
{
	struct csvstore cs;
	struct journal j;
	char *path = xasprintf("%s/fold.csv", dir), *text;
	/* An extra column the user added is kept, in place. */
	spit(path, "repo,id_build,workflow_id,workflow_name,status,conclusion,created_at,"
		   "updated_at,branch,commit_sha,event,issuer_name,run_number,build_duration,"
		   "total_jobs,job_details,my_note\n"
		   "o/r,1,,CI,completed,,,,,,,,,,,,keep me\n"
		   "o/r,2,,CI,completed,,,,,,,,,,,,\"and, me\"\n");
	CHECK(csvstore_open(&cs, path) == 0);
	CHECK(journal_open(&j, path) == 0);
	json_t *set = json_loads("{\"total_jobs\":\"1\",\"job_details\":[{\"job_name\":\"a,b\"}]}",
				 0, NULL);
	journal_add(&j, "o/r", 2, set, NULL, NULL);
	json_decref(set);
	/* a second entry for the same run: applied after the first, with a raw cell (as
	 * phase 2 writes job details), and one whose newline keeps it out of the raw form */
	set = json_loads("{\"status\":\"completed\",\"conclusion\":\"success\"}", 0, NULL);
	journal_add(&j, "o/r", 2, set, "job_details", "[{\"job_name\":\"a\\tb\"}]");
	json_decref(set);
	set = json_loads("{\"total_jobs\":\"1\"}", 0, NULL);
	journal_add(&j, "o/r", 1, set, "job_details", "[\"line\nbreak\"]");
	json_decref(set);
	CHECK(journal_sync(&j) == 0);
	journal_close(&j);

	/* A crash here: the journal alone holds the result. Reopen and replay it. */
	CHECK(journal_open(&j, path) == 0);
	CHECK_INT(j.entries, 3);
	CHECK(csvstore_rewrite(&cs, journal_patch, &j) == 0);
	CHECK(journal_clear(&j) == 0);
	text = slurp(path);
	CHECK_STR(text, "repo,id_build,workflow_id,workflow_name,status,conclusion,created_at,"
			"updated_at,branch,commit_sha,event,issuer_name,run_number,build_duration,"
			"total_jobs,job_details,my_note\n"
			"o/r,1,,CI,completed,,,,,,,,,,1,\"[\"\"line\nbreak\"\"]\",keep me\n"
			"o/r,2,,CI,completed,success,,,,,,,,,1,\"[{\"\"job_name\"\":\"\"a\\tb\"\"}]\","
			"\"and, me\"\n");
	free(text);
	int repo = runindex_repo(&cs.index, "o/r", false);
	uint64_t *f2 = runindex_get(&cs.index, (uint32_t)repo, 2);
	CHECK(f2 && (*f2 & RX_HAS_JOBS));
	/* Appends after a rewrite go to the new file. */
	struct record *r = mkrec("o/r", "3", "completed", "CI");
	CHECK(csvstore_append(&cs, &r, 1) == 0);
	freerec(r);
	text = slurp(path);
	CHECK(strstr(text, "\"and, me\"\no/r,3,,CI,completed,,,,,,,,,,,,\n") != NULL);
	free(text);
	journal_close(&j);
	csvstore_close(&cs);

	/* A torn journal entry is cut, the complete ones kept: a header cut short, and a raw
	 * cell shorter than its raw_len (the newline of a complete line is its last byte). */
	char *jpath = xasprintf("%s.journal", path);
	static const char *const torn[] = {
		"{\"repo\":\"o/r\",\"id\":3,\"pre",
		"{\"repo\":\"o/r\",\"id\":3,\"prev\":-1,\"set\":{},\"raw\":\"job_details\","
		"\"raw_len\":9}\t[1,2,3]\n",
		"{\"repo\":\"o/r\",\"id\":3,\"prev\":-1,\"set\":{},\"raw\":\"job_details\","
		"\"raw_len\":7}\n",
	};
	for (size_t k = 0; k < sizeof(torn) / sizeof(*torn); k++) {
		char *both = xasprintf("{\"repo\":\"o/r\",\"id\":1,\"prev\":-1,\"set\":{\"total_jobs\":"
				       "\"0\"},\"raw\":\"job_details\",\"raw_len\":2}\t[]\n%s", torn[k]);
		spit(jpath, both);
		free(both);
		CHECK(journal_open(&j, path) == 0);
		CHECK_INT(j.entries, 1);
		journal_close(&j);
		text = slurp(jpath);
		CHECK(strchr(text, '\n') == text + strlen(text) - 1);
		free(text);
	}
	free(jpath);
	free(path);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_create_append_reload();
	test_torn_tail();
	test_foreign_file_refused();
	test_journal_fold();
	return check_done_rmdir(dir);
}
