/* test_csvstore.c - the CSV database: create, append, reload the index, repair a torn
 * tail, refuse a second writer, fold journaled columns durably, keep unknown columns;
 * errors as values; the split rewrite (prepare, work, commit) with a frozen journal, and a
 * kill between any two of its steps. No threads: the worker's step runs inline. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "csvstore.h"
#include "journal.h"
#include "settings.h"

static char dir[] = "/tmp/ghaminer-csvstore-XXXXXX";


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
	CHECK(csvstore_open(&cs, path, NULL) == 0);
	CHECK(csvstore_append(&cs, recs, 2, NULL) == 0);
	CHECK(cs.durable == cs.size);
	csvstore_close(&cs);
	text = check_slurp(path);
	CHECK_STR(text, HEADER "o/r,11,,\"CI, \"\"x\"\"\",completed,,,,,,,,,,,\n"
			       "o/r,12,,\"line\nbreak\",in_progress,,,,,,,,,,,\n");
	free(text);

	CHECK(csvstore_open(&cs, path, NULL) == 0);
	int repo = runindex_repo(&cs.index, "o/r", false);
	CHECK(repo >= 0);
	uint64_t *f11 = runindex_get(&cs.index, (uint32_t)repo, 11);
	uint64_t *f12 = runindex_get(&cs.index, (uint32_t)repo, 12);
	CHECK(f11 && *f11 == 0);
	CHECK(f12 && *f12 == RX_INCOMPLETE);
	CHECK(runindex_get(&cs.index, (uint32_t)repo, 13) == NULL);

	/* A second writer is refused while the first holds the lock: an error value naming
	 * the file and the holder, without advice (the CLI adds it). */
	struct csvstore other;
	struct error err = {0};
	char *want = xasprintf("'%s' is in use by another ghaminer (pid %ld)", path,
			       (long)getpid());
	CHECK_INT(csvstore_open(&other, path, &err), -EBUSY);
	CHECK_INT(err.code, -EBUSY);
	CHECK_STR(err.msg, want);
	free(want);
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
	check_spit(path, HEADER "o/r,1,,CI,completed,,,,,,,,,,,\no/r,2,,\"half\nwritten");
	CHECK(csvstore_open(&cs, path, NULL) == 0);
	int repo = runindex_repo(&cs.index, "o/r", false);
	CHECK(runindex_get(&cs.index, (uint32_t)repo, 1) != NULL);
	CHECK(runindex_get(&cs.index, (uint32_t)repo, 2) == NULL);
	csvstore_close(&cs);
	text = check_slurp(path);
	CHECK_STR(text, HEADER "o/r,1,,CI,completed,,,,,,,,,,,\n");
	free(text);
	/* A torn header: the file starts again. */
	check_spit(path, "repo,id_bu");
	CHECK(csvstore_open(&cs, path, NULL) == 0);
	csvstore_close(&cs);
	text = check_slurp(path);
	CHECK_STR(text, HEADER);
	free(text);
	free(path);
}

static void test_foreign_file_refused(void)
{
	struct csvstore cs;
	char *path = xasprintf("%s/foreign.csv", dir), *text;
	struct error err = {0};
	char *want = xasprintf("'%s' has no column 'repo': it was not written by ghaminer", path);
	check_spit(path, "name,age\nbob,3\n");
	CHECK_INT(csvstore_open(&cs, path, &err), -EINVAL);
	CHECK_STR(err.msg, want);
	csvstore_close(&cs);
	text = check_slurp(path);
	CHECK_STR(text, "name,age\nbob,3\n"); /* untouched */
	free(text);
	free(want);
	/* No header row (found by tests/fuzz/fuzz_csv.c): a line without its newline that is
	 * not the start of our header is someone else's file, not a torn header to cut; blank
	 * lines are no header either (they left a store of 0 columns, appending empty rows). */
	static const char *const headless[] = {"notes without a newline", "\n", "\n\r\n\nrepo,id"};
	want = xasprintf("'%s' has no header line: it is not a CSV written by ghaminer", path);
	for (size_t k = 0; k < sizeof(headless) / sizeof(*headless); k++) {
		check_spit(path, headless[k]);
		CHECK_INT(csvstore_open(&cs, path, &err), -EINVAL);
		CHECK_STR(err.msg, want);
		csvstore_close(&cs);
		text = check_slurp(path);
		CHECK_STR(text, headless[k]); /* untouched */
		free(text);
	}
	free(want);
	/* A damaged file: a row of the wrong width, and text that is not CSV. */
	check_spit(path, HEADER "o/r,1,,CI,completed,,,,,,,,,,,\no/r,2\n");
	want = xasprintf("'%s' row 3 has 2 fields, the header has 16: the file is damaged", path);
	CHECK_INT(csvstore_open(&cs, path, &err), -EINVAL);
	CHECK_STR(err.msg, want);
	csvstore_close(&cs);
	free(want);
	check_spit(path, HEADER "o/r,1,,\"C\"I,completed,,,,,,,,,,,\n");
	want = xasprintf("'%s' is not valid CSV (near row 2)", path);
	CHECK_INT(csvstore_open(&cs, path, &err), -EINVAL);
	CHECK_STR(err.msg, want);
	csvstore_close(&cs);
	free(want);
	/* Bytes that are not UTF-8 (Latin-1 'é'; a surrogate; an overlong '/'): refused. */
	const char *not_utf8[] = { "Caf\xe9", "\xed\xa0\x80", "\xc0\xaf" };
	for (size_t i = 0; i < 3; i++) {
		char *text = xasprintf(HEADER "o/r,1,,ok,completed,,,,,,,,,,,\n"
					      "o/r,2,,%s,completed,,,,,,,,,,,\n", not_utf8[i]);
		check_spit(path, text);
		want = xasprintf("'%s' row 3 (column workflow_name) is not valid UTF-8: the file "
				 "was saved by another program in another encoding, or is damaged",
				 path);
		CHECK_INT(csvstore_open(&cs, path, &err), -EINVAL);
		CHECK_STR(err.msg, want);
		csvstore_close(&cs);
		free(want);
		free(text);
	}
	check_spit(path, HEADER "o/r,1,,Nightly \xc3\xa9 \xf0\x9f\x9a\x80,completed,,,,,,,,,,,\n");
	CHECK_INT(csvstore_open(&cs, path, &err), 0);
	csvstore_close(&cs);
	free(path);
	/* A folder that does not exist: the errno of the failing call. */
	CHECK_INT(csvstore_open(&cs, "/nonexistent-ghaminer/x.csv", &err), -ENOENT);
	CHECK_STR(err.msg, "cannot write '/nonexistent-ghaminer/x.csv': its folder does not "
			   "exist; create it first");
	csvstore_close(&cs);
}

static void test_journal_fold(void)
{
	struct csvstore cs;
	struct journal j;
	char *path = xasprintf("%s/fold.csv", dir), *text;
	/* An extra column the user added is kept, in place. */
	check_spit(path, "repo,id_build,workflow_id,workflow_name,status,conclusion,created_at,"
		   "updated_at,branch,commit_sha,event,issuer_name,run_number,build_duration,"
		   "total_jobs,job_details,my_note\n"
		   "o/r,1,,CI,completed,,,,,,,,,,,,keep me\n"
		   "o/r,2,,CI,completed,,,,,,,,,,,,\"and, me\"\n");
	CHECK(csvstore_open(&cs, path, NULL) == 0);
	CHECK(journal_open(&j, path, NULL) == 0);
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
	CHECK(journal_sync(&j, NULL) == 0);
	journal_close(&j);

	/* A crash here: the journal alone holds the result. Reopen and replay it. */
	CHECK(journal_open(&j, path, NULL) == 0);
	CHECK_INT(j.entries, 3);
	CHECK(csvstore_rewrite(&cs, journal_patch, &j, NULL) == 0);
	CHECK(journal_clear(&j, NULL) == 0);
	text = check_slurp(path);
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
	CHECK(csvstore_append(&cs, &r, 1, NULL) == 0);
	freerec(r);
	text = check_slurp(path);
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
		check_spit(jpath, both);
		free(both);
		CHECK(journal_open(&j, path, NULL) == 0);
		CHECK_INT(j.entries, 1);
		journal_close(&j);
		text = check_slurp(jpath);
		CHECK(strchr(text, '\n') == text + strlen(text) - 1);
		free(text);
	}
	free(jpath);
	free(path);
}


/* Appends without fsync count in size, not in durable, until a sync round covers them; a
 * round that began before a rewrite covers another file and records nothing. */
static void test_append_nosync(void)
{
	struct csvstore cs;
	struct csvstore_sync sy;
	struct error err = {0};
	char *path = xasprintf("%s/nosync.csv", dir), *text;
	struct record *r = mkrec("o/r", "1", "completed", "CI");
	CHECK(csvstore_open(&cs, path, NULL) == 0);
	off_t start = cs.size;
	CHECK(cs.durable == start);
	CHECK(csvstore_append_nosync(&cs, &r, 1, &err) == 0);
	CHECK(cs.size > start && cs.durable == start);
	CHECK(csvstore_sync_prepare(&cs, &sy, &err) == 0);
	CHECK(csvstore_append_nosync(&cs, &r, 1, &err) == 0); /* after the round began */
	CHECK(csvstore_sync_work(&sy, &err) == 0);
	csvstore_sync_done(&cs, &sy);
	CHECK(cs.durable > start && cs.durable < cs.size);
	CHECK(sy.fd == -1);
	/* A round, then a rewrite before it is done: the rewrite made everything durable. */
	CHECK(csvstore_sync_prepare(&cs, &sy, &err) == 0);
	CHECK(csvstore_rewrite(&cs, journal_patch, &(struct journal){0}, &err) == 0);
	CHECK(cs.durable == cs.size);
	CHECK(csvstore_append_nosync(&cs, &r, 1, &err) == 0);
	off_t before = cs.durable;
	CHECK(csvstore_sync_work(&sy, &err) == 0);
	csvstore_sync_done(&cs, &sy);
	CHECK(cs.durable == before);
	csvstore_close(&cs);
	text = check_slurp(path);
	CHECK_STR(text, HEADER "o/r,1,,CI,completed,,,,,,,,,,,\no/r,1,,CI,completed,,,,,,,,,,,\n"
			       "o/r,1,,CI,completed,,,,,,,,,,,\n");
	free(text);
	freerec(r);
	free(path);
}

/* A write the file size limit refuses: -EFBIG, the file cut back, then it works again. */
static void test_append_efbig(void)
{
	struct csvstore cs;
	struct error err = {0};
	struct rlimit old, lim;
	char *path = xasprintf("%s/efbig.csv", dir), *text, *want;
	struct record *r = mkrec("o/r", "1", "completed", "a name long enough to pass the limit");
	CHECK(csvstore_open(&cs, path, NULL) == 0);
	off_t size = cs.size;
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 10;
	setrlimit(RLIMIT_FSIZE, &lim);
	CHECK_INT(csvstore_append(&cs, &r, 1, &err), -EFBIG);
	CHECK_INT(csvstore_append_nosync(&cs, &r, 1, &err), -EFBIG);
	setrlimit(RLIMIT_FSIZE, &old);
	want = xasprintf("cannot append to '%s': File too large (the file is kept as it was)", path);
	CHECK_STR(err.msg, want);
	CHECK(cs.size == size);
	text = check_slurp(path);
	CHECK_STR(text, HEADER);
	free(text);
	CHECK(csvstore_append(&cs, &r, 1, &err) == 0);
	csvstore_close(&cs);
	freerec(r);
	free(want);
	free(path);
}

static void test_advice(void)
{
	CHECK_STR(csvstore_advice(-EBUSY, CSVSTORE_OPENING),
		  "wait for it to finish or write to another file with -o");
	CHECK_STR(csvstore_advice(-ENOSPC, CSVSTORE_OPENING),
		  "free some space or choose another file with -o");
	CHECK_STR(csvstore_advice(-EFBIG, CSVSTORE_MINING), "free some space and run again to resume");
	CHECK_STR(csvstore_advice(-EROFS, CSVSTORE_OPENING),
		  "check the path and that its folder is writable");
	CHECK(strstr(csvstore_advice(-EINVAL, CSVSTORE_OPENING), "will not overwrite it") != NULL);
	CHECK(csvstore_advice(-EIO, CSVSTORE_MINING) != NULL);
}

/* The split fold, step by step, as the loop and a worker would run it. The mutations the
 * loop makes meanwhile come in two batches: during the work, and between work and commit. */
#define ROW(id, status, concl, total, details) \
	"o/r," #id ",,CI," status "," concl ",,,,,,,,," total "," details "\n"

static const char *const split_initial =
	HEADER ROW(1, "completed", "", "", "") ROW(2, "in_progress", "", "", "")
	ROW(3, "completed", "", "", "");

/* The CSV after the split fold: the frozen entries applied, the rows appended meanwhile
 * copied as they were. */
static const char *const split_committed =
	HEADER ROW(1, "completed", "", "1", "\"[\"\"a\"\"]\"") ROW(2, "completed", "success", "", "")
	ROW(3, "completed", "", "0", "[]") ROW(4, "queued", "", "", "")
	ROW(5, "completed", "", "", "") ROW(6, "completed", "", "", "");

/* After a second, synchronous fold: the newer entries won. */
static const char *const split_final =
	HEADER ROW(1, "completed", "cancelled", "1", "\"[\"\"a\"\"]\"")
	ROW(2, "completed", "failure", "2", "\"[\"\"b\"\",\"\"c\"\"]\"")
	ROW(3, "completed", "", "0", "[]") ROW(4, "completed", "", "1", "\"[\"\"d\"\"]\"")
	ROW(5, "completed", "", "", "") ROW(6, "completed", "", "", "");

static void add(struct journal *j, int64_t id, const char *set_json, const char *raw)
{
	json_t *set = json_loads(set_json, 0, NULL);
	journal_add(j, "o/r", id, set, raw ? "job_details" : NULL, raw);
	json_decref(set);
}

static void append_row(struct csvstore *cs, const char *id, const char *status)
{
	struct record *r = mkrec("o/r", id, status, "CI");
	CHECK(csvstore_append_nosync(cs, &r, 1, NULL) == 0);
	freerec(r);
}

/* Before the freeze: a run the CSV does not hold (ignored, then dropped) and three that it
 * does. */
static void split_frozen_entries(struct journal *j)
{
	add(j, 99, "{\"total_jobs\":\"5\"}", "[]");
	add(j, 1, "{\"total_jobs\":\"1\"}", "[\"a\"]");
	add(j, 2, "{\"status\":\"completed\",\"conclusion\":\"success\"}", NULL);
	add(j, 3, "{\"total_jobs\":\"0\"}", "[]");
	CHECK(journal_sync(j, NULL) == 0);
}

/* While the worker runs: new rows, a newer entry for a run with a frozen one, and a run
 * with two new entries (a chain inside the live part). */
static void split_during_work(struct csvstore *cs, struct journal *j)
{
	append_row(cs, "4", "queued");
	append_row(cs, "5", "completed");
	add(j, 2, "{\"conclusion\":\"failure\",\"total_jobs\":\"2\"}", "[\"b\",\"c\"]");
	add(j, 4, "{\"total_jobs\":\"1\"}", "[\"d\"]");
	add(j, 4, "{\"status\":\"completed\"}", NULL);
	CHECK(journal_sync(j, NULL) == 0);
}

/* Between work and commit: one more row, and a newer entry for run 1, left unsynced. */
static void split_before_commit(struct csvstore *cs, struct journal *j)
{
	append_row(cs, "6", "completed");
	add(j, 1, "{\"conclusion\":\"cancelled\"}", NULL);
}

static void sync_fold(struct csvstore *cs, struct journal *j)
{
	struct error err = {0};
	CHECK(journal_sync(j, &err) == 0);
	CHECK(csvstore_rewrite(cs, journal_patch, j, &err) == 0);
	CHECK(journal_clear(j, &err) == 0);
	if (err.code)
		fprintf(stderr, "sync_fold: %s\n", err.msg);
}

static uint64_t flags_of(struct csvstore *cs, int64_t id)
{
	int r = runindex_repo(&cs->index, "o/r", false);
	uint64_t *v = r >= 0 ? runindex_get(&cs->index, (uint32_t)r, id) : NULL;
	return v ? *v : ~0ull;
}

/* A kill leaves the temporary file and frees nothing on disk: drop the memory only. */
static void forget_snapshot(struct csvstore_snapshot *snap)
{
	if (snap->in_fd >= 0)
		close(snap->in_fd);
	if (snap->tmp_fd >= 0)
		close(snap->tmp_fd);
	free(snap->tmp);
	free(snap->path);
	free(snap->map);
	for (size_t i = 0; i < snap->nrepos; i++)
		free(snap->repos[i]);
	free(snap->repos);
	free(snap->upd);
}

static size_t count_temps(const char *path)
{
	char *cmd = xasprintf("ls '%s'.tmp.* '%s'.journal.tmp.* 2>/dev/null | wc -l", path, path);
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	if (p) {
		if (fscanf(p, "%zu", &n) != 1)
			n = 0;
		pclose(p);
	}
	free(cmd);
	return n;
}

enum split_stop {
	STOP_AFTER_PREPARE, /* killed while the worker reads */
	STOP_AFTER_WORK,    /* the temporary CSV written, not renamed */
	STOP_AFTER_COMMIT,  /* the CSV renamed, the journal still whole */
	STOP_IN_DROP,       /* the same, with a temporary journal left */
	STOP_AFTER_DROP,    /* the journal rewritten */
	STOP_NEVER,
};

/* Run the split fold up to stop, "kill" the process there (close without cleaning up),
 * reopen, and fold synchronously as a start-up does: the CSV must be split_final. */
static void split_case(enum split_stop stop)
{
	struct csvstore cs;
	struct journal j;
	struct journal_view v;
	struct csvstore_snapshot snap;
	struct error err = {0};
	char *path = xasprintf("%s/split%d.csv", dir, (int)stop), *text;
	check_spit(path, split_initial);
	CHECK(csvstore_open(&cs, path, &err) == 0);
	CHECK(journal_open(&j, path, &err) == 0);
	split_frozen_entries(&j);

	/* The loop: freeze, then snapshot, in the same tick. */
	CHECK(journal_freeze(&j, &v, &err) == 0);
	CHECK(csvstore_rewrite_prepare(&cs, &snap, &err) == 0);
	CHECK_INT(csvstore_rewrite_prepare(&cs, &(struct csvstore_snapshot){0}, &err), -EALREADY);
	CHECK_INT(csvstore_rewrite(&cs, journal_patch, &j, &err), -EALREADY);
	CHECK_INT(journal_freeze(&j, &(struct journal_view){0}, &err), -EALREADY);
	CHECK_INT(journal_clear(&j, &err), -EALREADY);
	split_during_work(&cs, &j);
	if (stop == STOP_AFTER_PREPARE)
		goto kill;
	/* The worker. */
	CHECK(csvstore_rewrite_work(&snap, journal_view_patch, &v, &err) == 0);
	split_before_commit(&cs, &j);
	if (stop == STOP_AFTER_WORK) {
		CHECK_INT(count_temps(path), 1);
		goto kill;
	}
	/* The loop again. */
	CHECK(csvstore_rewrite_commit(&cs, &snap, journal_has_newer, &j, &err) == 0);
	/* The worker again: the old file's last fd. */
	CHECK(snap.in_fd >= 0);
	csvstore_rewrite_release(&snap);
	CHECK(!cs.rewriting);
	CHECK_INT(cs.rewrites, 1);
	CHECK(cs.durable == cs.size);
	text = check_slurp(path);
	CHECK_STR(text, split_committed);
	free(text);
	/* Run 3 had only frozen entries: its flags follow the fold. Runs 1 and 2 were
	 * journaled again meanwhile (the loop keeps their flags): left alone. */
	CHECK(flags_of(&cs, 3) == RX_HAS_JOBS);
	CHECK(flags_of(&cs, 1) == 0);
	CHECK(flags_of(&cs, 2) == RX_INCOMPLETE);
	if (stop == STOP_AFTER_COMMIT)
		goto kill;
	if (stop == STOP_IN_DROP) {
		char *tmp = xasprintf("%s.journal.tmp.AbC123", path);
		check_spit(tmp, "{\"repo\":\"o/r\",\"id\":1,\"pr");
		free(tmp);
		goto kill;
	}
	CHECK(journal_drop_frozen(&j, &err) == 0);
	journal_view_release(&v);
	CHECK_INT(j.entries, 4);
	CHECK(!j.frozen);
	CHECK(journal_has_newer(&j, "o/r", 4) && !journal_has_newer(&j, "o/r", 3));
	if (stop == STOP_AFTER_DROP)
		goto kill;
	sync_fold(&cs, &j);
	text = check_slurp(path);
	CHECK_STR(text, split_final);
	free(text);
	CHECK(flags_of(&cs, 1) == RX_HAS_JOBS);
	CHECK(flags_of(&cs, 2) == RX_HAS_JOBS);
	CHECK_INT(count_temps(path), 0);
	journal_close(&j);
	csvstore_close(&cs);
	free(path);
	return;
kill:
	/* Entries not yet written die with the process. */
	buf_reset(&j.pending);
	journal_view_release(&v);
	if (stop == STOP_AFTER_PREPARE || stop == STOP_AFTER_WORK)
		forget_snapshot(&snap);
	journal_close(&j);
	csvstore_close(&cs);
	/* The next start: temporary files removed, journal replayed, folded. */
	CHECK(csvstore_open(&cs, path, &err) == 0);
	CHECK(journal_open(&j, path, &err) == 0);
	CHECK_INT(count_temps(path), 0);
	sync_fold(&cs, &j);
	text = check_slurp(path);
	/* What the loop did before the kill is all there, as if the fold had never been
	 * split: run 1's last entry only once journal_drop_frozen wrote it (it was pending),
	 * and row 6 only when it was appended before the kill. */
	char *want = xstrdup(split_final), *c;
	if (stop < STOP_AFTER_DROP) {
		c = strstr(want, "cancelled");
		memmove(c, c + strlen("cancelled"), strlen(c + strlen("cancelled")) + 1);
	}
	if (stop == STOP_AFTER_PREPARE)
		*strstr(want, ROW(6, "completed", "", "", "")) = '\0';
	CHECK_STR(text, want);
	if (strcmp(text, want) != 0)
		fprintf(stderr, "  (killed at step %d)\n", (int)stop);
	free(want);
	free(text);
	journal_close(&j);
	csvstore_close(&cs);
	free(path);
}

static void test_split_rewrite(void)
{
	for (int stop = STOP_AFTER_PREPARE; stop <= STOP_NEVER; stop++)
		split_case((enum split_stop)stop);
}

/* A failed work: the temporary file goes, the journal thaws, and a later fold applies
 * every entry in order. */
static void test_split_abandon(void)
{
	struct csvstore cs;
	struct journal j;
	struct journal_view v;
	struct csvstore_snapshot snap;
	struct error err = {0};
	char *path = xasprintf("%s/abandon.csv", dir), *text;
	check_spit(path, split_initial);
	CHECK(csvstore_open(&cs, path, &err) == 0);
	CHECK(journal_open(&j, path, &err) == 0);
	split_frozen_entries(&j);
	CHECK(journal_freeze(&j, &v, &err) == 0);
	CHECK(csvstore_rewrite_prepare(&cs, &snap, &err) == 0);
	split_during_work(&cs, &j);
	/* The CSV cannot be read any more: as if the disk failed under the worker. */
	free(snap.path);
	snap.path = xasprintf("%s/missing.csv", dir);
	CHECK_INT(csvstore_rewrite_work(&snap, journal_view_patch, &v, &err), -ENOENT);
	csvstore_rewrite_abandon(&cs, &snap);
	csvstore_rewrite_release(&snap);
	journal_thaw(&j);
	journal_view_release(&v);
	CHECK(!cs.rewriting && !j.frozen);
	split_before_commit(&cs, &j);
	sync_fold(&cs, &j);
	text = check_slurp(path);
	CHECK_STR(text, split_final);
	free(text);
	CHECK_INT(count_temps(path), 0);
	journal_close(&j);
	csvstore_close(&cs);
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
	test_append_nosync();
	test_append_efbig();
	test_advice();
	test_split_rewrite();
	test_split_abandon();
	return check_done_rmdir(dir);
}
