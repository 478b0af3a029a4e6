/* test_journal.c - the journal on its own, without a CSV: errors as values, a failed write
 * cut back, and the frozen part of a fold: what a worker's view sees, which runs have newer
 * entries, dropping the frozen entries (offsets and "prev" chains rewritten), thawing after a
 * failure, and replaying the result. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "journal.h"

static char dir[] = "/tmp/ghaminer-journal-XXXXXX";


static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void add(struct journal *j, int64_t id, const char *set_json, const char *raw)
{
	json_t *set = json_loads(set_json, 0, NULL);
	journal_add(j, "o/r", id, set, raw ? "job_details" : NULL, raw);
	json_decref(set);
}

/* What patch makes of an empty row of run id: "status|conclusion|total_jobs|job_details",
 * "-" for an empty cell, or NULL when patch has nothing for the run. */
/* The shape of csvstore_patch_fn, which journal.h does not include. */
typedef bool (*patch_fn)(void *ctx, uint32_t repo, int64_t id, struct record *row);

static char *patched(patch_fn patch, void *ctx, int64_t id)
{
	struct record r = {0};
	char *out = NULL;
	record_set(&r, COL_REPO, "O/R"); /* repositories compare without case */
	if (patch(ctx, 0, id, &r)) {
		const char *v[4] = {r.v[COL_STATUS], r.v[COL_CONCLUSION], r.v[COL_TOTAL_JOBS],
				    r.v[COL_JOB_DETAILS]};
		out = xasprintf("%s|%s|%s|%s", v[0] ? v[0] : "-", v[1] ? v[1] : "-",
				v[2] ? v[2] : "-", v[3] ? v[3] : "-");
	}
	record_release(&r);
	return out;
}

static void check_patch(patch_fn patch, void *ctx, int64_t id, const char *want, int line)
{
	char *got = patched(patch, ctx, id);
	check_count++;
	if (want ? !got || strcmp(got, want) != 0 : got != NULL) {
		check_failures++;
		fprintf(stderr, "%s:%d: run %lld patched to %s, want %s\n", __FILE__, line,
			(long long)id, got ? got : "(nothing)", want ? want : "(nothing)");
	}
	free(got);
}

#define CHECK_PATCH(patch, ctx, id, want) check_patch(patch, ctx, id, want, __LINE__)

static void test_errors(void)
{
	struct journal j;
	struct error err = {0};
	CHECK_INT(journal_open(&j, "/nonexistent-ghaminer/x.csv", &err), -ENOENT);
	CHECK_STR(err.msg, "cannot open '/nonexistent-ghaminer/x.csv.journal': No such file or "
			   "directory");
	journal_close(&j);
}

/* The file size limit refuses an entry: -EFBIG, the file cut back to what was synced, and
 * the journal broken from then on (reported once by its caller). */
static void test_write_fails(void)
{
	struct journal j;
	struct error err = {0};
	struct rlimit old, lim;
	char *path = xasprintf("%s/efbig.csv", dir), *want;
	CHECK(journal_open(&j, path, &err) == 0);
	add(&j, 1, "{\"total_jobs\":\"0\"}", "[]");
	CHECK(journal_sync(&j, &err) == 0);
	off_t synced = file_size(j.path);
	add(&j, 2, "{\"total_jobs\":\"1\"}", "[\"a long enough cell to pass the limit\"]");
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)synced + 10;
	setrlimit(RLIMIT_FSIZE, &lim);
	CHECK_INT(journal_sync(&j, &err), -EFBIG);
	setrlimit(RLIMIT_FSIZE, &old);
	want = xasprintf("cannot write '%s': File too large", j.path);
	CHECK_STR(err.msg, want);
	CHECK(file_size(j.path) == synced);
	CHECK_INT(j.broken, -EFBIG);
	CHECK_INT(journal_sync(&j, &err), -EFBIG);
	CHECK_INT(journal_flush(&j, &err), -EFBIG);
	journal_close(&j);
	free(want);
	free(path);
}

/* Entries A (run 1), B (run 2) frozen; then C (run 1, crossing into the frozen part), D and
 * E (run 3, a chain among the new ones) and F (run 1 again, left pending). */
static void freeze_case(struct journal *j, struct journal_view *v, const char *path)
{
	struct error err = {0};
	CHECK(journal_open(j, path, &err) == 0);
	add(j, 1, "{\"status\":\"completed\"}", NULL);                    /* A */
	add(j, 2, "{\"total_jobs\":\"2\"}", "[\"x\",\"y\"]");              /* B */
	CHECK(journal_sync(j, &err) == 0);
	CHECK(journal_freeze(j, v, &err) == 0);
	CHECK(j->frozen && j->frozen_end == file_size(j->path));
	add(j, 1, "{\"conclusion\":\"success\"}", NULL);                   /* C */
	add(j, 3, "{\"total_jobs\":\"1\"}", "[\"d\"]");                    /* D */
	add(j, 3, "{\"status\":\"queued\"}", NULL);                        /* E */
	CHECK(journal_sync(j, &err) == 0);
	add(j, 1, "{\"total_jobs\":\"0\"}", "[]");                         /* F */
	CHECK_INT(j->entries, 6);
}

static void test_freeze_and_drop(void)
{
	struct journal j;
	struct journal_view v;
	struct error err = {0};
	char *path = xasprintf("%s/drop.csv", dir), *text;
	freeze_case(&j, &v, path);

	/* The worker's view: the frozen entries only, whatever came after. */
	CHECK_PATCH(journal_view_patch, &v, 1, "completed|-|-|-");
	CHECK_PATCH(journal_view_patch, &v, 2, "-|-|2|[\"x\",\"y\"]");
	CHECK_PATCH(journal_view_patch, &v, 3, NULL);
	/* The whole journal, oldest first along each chain (once written: patch reads the
	 * file). */
	CHECK(journal_flush(&j, &err) == 0);
	CHECK_PATCH(journal_patch, &j, 1, "completed|success|0|[]");
	CHECK_PATCH(journal_patch, &j, 3, "queued|-|1|[\"d\"]");
	/* Runs journaled since the freeze. */
	CHECK(journal_has_newer(&j, "o/r", 1));
	CHECK(!journal_has_newer(&j, "o/r", 2));
	CHECK(journal_has_newer(&j, "o/r", 3));
	journal_view_release(&v);

	/* Dropping the frozen part: the pending F is written first, then C, D, E, F are
	 * copied with their "prev" adjusted. */
	CHECK(journal_drop_frozen(&j, &err) == 0);
	CHECK(!j.frozen);
	CHECK_INT(j.entries, 4);
	CHECK(j.size == file_size(j.path) && j.synced == j.size && j.pending.len == 0);
	text = check_slurp(j.path);
	/* Offsets of the four lines. */
	size_t off[5] = {0}, n = 0;
	for (char *p = text; *p && n < 4; p = strchr(p, '\n') + 1)
		off[n++] = (size_t)(p - text);
	CHECK_INT(n, 4);
	char *want[4] = {
		xasprintf("{\"repo\":\"o/r\",\"id\":1,\"prev\":-1,\"set\":{\"conclusion\":\"success\"}}"),
		xasprintf("{\"repo\":\"o/r\",\"id\":3,\"prev\":-1,\"set\":{\"total_jobs\":\"1\"},"
			  "\"raw\":\"job_details\",\"raw_len\":5}\t[\"d\"]"),
		xasprintf("{\"repo\":\"o/r\",\"id\":3,\"prev\":%zu,\"set\":{\"status\":\"queued\"}}",
			  off[1]),
		xasprintf("{\"repo\":\"o/r\",\"id\":1,\"prev\":%zu,\"set\":{\"total_jobs\":\"0\"},"
			  "\"raw\":\"job_details\",\"raw_len\":2}\t[]", off[0]),
	};
	char *all = xasprintf("%s\n%s\n%s\n%s\n", want[0], want[1], want[2], want[3]);
	CHECK_STR(text, all);
	for (int i = 0; i < 4; i++)
		free(want[i]);
	free(all);
	free(text);
	/* The index follows: A and B are gone (folded), the rest chains as before. */
	CHECK_PATCH(journal_patch, &j, 1, "-|success|0|[]");
	CHECK_PATCH(journal_patch, &j, 2, NULL);
	CHECK_PATCH(journal_patch, &j, 3, "queued|-|1|[\"d\"]");
	/* Appends go on at the new end, chained to the moved entries. */
	add(&j, 3, "{\"conclusion\":\"failure\"}", NULL);
	CHECK(journal_sync(&j, &err) == 0);
	CHECK_PATCH(journal_patch, &j, 3, "queued|failure|1|[\"d\"]");
	journal_close(&j);

	/* And a replay of the new file agrees. */
	CHECK(journal_open(&j, path, &err) == 0);
	CHECK_INT(j.entries, 5);
	CHECK_PATCH(journal_patch, &j, 1, "-|success|0|[]");
	CHECK_PATCH(journal_patch, &j, 3, "queued|failure|1|[\"d\"]");
	journal_close(&j);
	free(path);
}

/* Nothing journaled during the fold: the journal is simply emptied. */
static void test_drop_all(void)
{
	struct journal j;
	struct journal_view v;
	struct error err = {0};
	char *path = xasprintf("%s/all.csv", dir);
	CHECK(journal_open(&j, path, &err) == 0);
	add(&j, 1, "{\"status\":\"completed\"}", NULL);
	/* Pending at the freeze: written by it, so the view can read it. */
	CHECK(journal_freeze(&j, &v, &err) == 0);
	CHECK(file_size(j.path) > 0);
	CHECK_PATCH(journal_view_patch, &v, 1, "completed|-|-|-");
	journal_view_release(&v);
	CHECK(journal_drop_frozen(&j, &err) == 0);
	CHECK(file_size(j.path) == 0);
	CHECK_INT(j.entries, 0);
	CHECK_PATCH(journal_patch, &j, 1, NULL);
	/* A journal never frozen: nothing to drop. */
	CHECK(journal_drop_frozen(&j, &err) == 0);
	journal_close(&j);
	free(path);
}

/* The rewrite of the journal fails (the size limit refuses the temporary file): the
 * journal thaws and keeps every entry for a later fold; so does a thaw after a failed work. */
static void test_drop_fails(void)
{
	struct journal j;
	struct journal_view v;
	struct error err = {0};
	struct rlimit old, lim;
	char *path = xasprintf("%s/fails.csv", dir);
	freeze_case(&j, &v, path);
	journal_view_release(&v);
	CHECK(journal_flush(&j, &err) == 0);
	off_t size = file_size(j.path);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 10;
	setrlimit(RLIMIT_FSIZE, &lim);
	CHECK_INT(journal_drop_frozen(&j, &err), -EFBIG);
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK(strstr(err.msg, "cannot rewrite '") && strstr(err.msg, "File too large"));
	CHECK(!j.frozen);
	CHECK_INT(j.entries, 6);
	CHECK(file_size(j.path) == size);
	CHECK_PATCH(journal_patch, &j, 1, "completed|success|0|[]");
	CHECK_PATCH(journal_patch, &j, 2, "-|-|2|[\"x\",\"y\"]");
	CHECK(journal_has_newer(&j, "o/r", 2)); /* unfrozen: every run's entries count */
	CHECK(journal_clear(&j, &err) == 0);
	journal_close(&j);

	freeze_case(&j, &v, path);
	journal_view_release(&v);
	journal_thaw(&j);
	CHECK(!j.frozen);
	CHECK(journal_flush(&j, &err) == 0);
	CHECK_PATCH(journal_patch, &j, 1, "completed|success|0|[]");
	CHECK_PATCH(journal_patch, &j, 2, "-|-|2|[\"x\",\"y\"]");
	CHECK_PATCH(journal_patch, &j, 3, "queued|-|1|[\"d\"]");
	journal_close(&j);
	free(path);
}

/* A process killed while rewriting the journal left its temporary copy: removed on open. */
static void test_stale_temp(void)
{
	struct journal j;
	char *path = xasprintf("%s/stale.csv", dir);
	char *tmp = xasprintf("%s.journal.tmp.Xy12Zw", path);
	check_spit(tmp, "{\"repo\":\"o/r\"");
	CHECK(journal_open(&j, path, NULL) == 0);
	CHECK(access(tmp, F_OK) != 0);
	journal_close(&j);
	free(tmp);
	free(path);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_errors();
	test_write_fails();
	test_freeze_and_drop();
	test_drop_all();
	test_drop_fails();
	test_stale_temp();
	return check_done_rmdir(dir);
}
