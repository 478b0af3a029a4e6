/* bench_fold.c - how long a fold of the journal into a 250 MB CSV holds the loop back:
 * the synchronous fold (journal_sync + csvstore_rewrite + journal_clear, all on the loop)
 * against the split one (freeze + prepare and commit + drop on the loop, the work in
 * libuv's thread pool). A 1 ms timer measures the loop's longest stall in each, while a
 * 10 ms timer appends a row and journals an entry, as a mining loop would.
 *
 * Built by nothing; from the repository's root, after a build into build-D:
 *   cc -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -o /tmp/bench_fold scripts/bench_fold.c \
 *      build-D/libghacore.a $(pkg-config --cflags --libs libuv libcurl jansson yaml-0.1) \
 *      -lcsv -lm
 *   /tmp/bench_fold [folder] [MB]      (default: a new folder under /tmp, 250 MB)
 * It writes about 3 × MB in the folder and removes it at the end. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "csvstore.h"
#include "journal.h"

#define DETAILS_BYTES 5000 /* job_details of a run: a few jobs with their steps */

static char *details_text(int64_t id)
{
	struct buf b;
	buf_init(&b, 0);
	buf_printf(&b, "[{\"job_name\":\"build %" PRId64 "\",\"job_result\":\"success\",\"steps\":[",
		   id);
	for (int s = 0; b.len < DETAILS_BYTES; s++)
		buf_printf(&b, "%s{\"step_name\":\"step %d\",\"step_conclusion\":\"success\","
			   "\"step_start\":\"2024-01-02T17:32:32Z\",\"step_end\":\"2024-01-02T17:33:"
			   "40Z\",\"step_duration\":68}", s ? "," : "", s);
	buf_appends(&b, "]}]");
	return b.data;
}

static void fill_record(struct record *r, int64_t id, bool jobs)
{
	char num[32];
	memset(r, 0, sizeof(*r));
	record_set(r, COL_REPO, "octo/hello");
	snprintf(num, sizeof(num), "%" PRId64, id);
	record_set(r, COL_ID_BUILD, num);
	record_set(r, COL_WORKFLOW_ID, "50906000");
	record_set(r, COL_WORKFLOW_NAME, "CI");
	record_set(r, COL_STATUS, "completed");
	record_set(r, COL_CONCLUSION, "success");
	record_set(r, COL_CREATED_AT, "2024-01-02T17:32:32Z");
	record_set(r, COL_UPDATED_AT, "2024-01-02T17:40:32Z");
	record_set(r, COL_BRANCH, "main");
	record_set(r, COL_COMMIT_SHA, "29f370d726dc645863c91a90f29431bf7197dd35");
	record_set(r, COL_EVENT, "push");
	record_set(r, COL_ISSUER_NAME, "octocat");
	record_set(r, COL_RUN_NUMBER, num);
	record_set(r, COL_BUILD_DURATION, "480");
	if (jobs) {
		record_set(r, COL_TOTAL_JOBS, "1");
		record_take(r, COL_JOB_DETAILS, details_text(id));
	}
}

static void journal_jobs(struct journal *j, int64_t id)
{
	char *text = details_text(id);
	json_t *set = json_pack("{s:s}", "total_jobs", "1");
	journal_add(j, "octo/hello", id, set, "job_details", text);
	json_decref(set);
	free(text);
}

static void die(const char *what, const struct error *err)
{
	fprintf(stderr, "bench_fold: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

/* The CSV (four fifths of its runs with jobs) and its journal (the jobs of the rest). */
static int64_t nruns;

static void generate(const char *path, double mb)
{
	struct csvstore cs;
	struct journal j;
	struct error err;
	struct record recs[500], *ptr[500];
	int64_t id = 1;
	unlink(path);
	if (csvstore_open(&cs, path, &err) || journal_open(&j, path, &err))
		die("open", &err);
	nruns = (int64_t)(mb * 1e6 / (DETAILS_BYTES + 250));
	while (id <= nruns) {
		size_t n = 0;
		for (; n < 500 && id <= nruns; n++, id++) {
			fill_record(&recs[n], id, id % 5 != 0);
			ptr[n] = &recs[n];
			if (id % 5 == 0)
				journal_jobs(&j, id);
		}
		if (csvstore_append(&cs, ptr, n, &err) || journal_sync(&j, &err))
			die("generate", &err);
		for (size_t i = 0; i < n; i++)
			record_release(&recs[i]);
	}
	journal_close(&j);
	csvstore_close(&cs);
}

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct stat st;
	if (in < 0 || out < 0 || fstat(in, &st) != 0)
		die(from, NULL);
	for (off_t left = st.st_size; left > 0;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
		if (n <= 0)
			die("copy", NULL);
		left -= n;
	}
	fsync(out);
	close(in);
	close(out);
}

/* One run of the loop: the mining activity, the stall meter, and the fold. */
struct bench {
	uv_loop_t loop;
	uv_timer_t meter, activity, start;
	uv_work_t work, release;
	struct csvstore cs;
	struct journal j;
	struct journal_view view;
	struct csvstore_snapshot snap;
	struct error err;
	bool split, done;
	int work_rc;
	int64_t next_id;
	uint64_t last_tick, max_stall, max_activity, t0;
	double t_sync, t_prepare, t_work, t_commit, t_drop, t_release, t_total;
};

static double ms_since(uint64_t t)
{
	return (double)(uv_hrtime() - t) / 1e6;
}

static void on_meter(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t now = uv_hrtime();
	if (b->last_tick && now - b->last_tick > b->max_stall)
		b->max_stall = now - b->last_tick;
	b->last_tick = now;
}

static void on_activity(uv_timer_t *t)
{
	struct bench *b = t->data;
	struct record r, *p = &r;
	int64_t id = b->next_id++;
	uint64_t t0 = uv_hrtime();
	fill_record(&r, id, false);
	if (csvstore_append_nosync(&b->cs, &p, 1, &b->err))
		die("append", &b->err);
	record_release(&r);
	journal_jobs(&b->j, id);
	if (journal_flush(&b->j, &b->err))
		die("journal", &b->err);
	if (uv_hrtime() - t0 > b->max_activity)
		b->max_activity = uv_hrtime() - t0;
}

static void finish(struct bench *b)
{
	b->t_total = ms_since(b->t0);
	b->done = true;
	on_meter(&b->meter); /* the stall of the callback that finishes, too */
	uv_timer_stop(&b->meter);
	uv_timer_stop(&b->activity);
}

static void do_work(uv_work_t *w)
{
	struct bench *b = w->data;
	uint64_t t = uv_hrtime();
	b->work_rc = csvstore_rewrite_work(&b->snap, journal_view_patch, &b->view, &b->err);
	b->t_work = ms_since(t);
}

/* The old CSV's and journal's last fds: their blocks are freed here. */
static void do_release(uv_work_t *w)
{
	struct bench *b = w->data;
	uint64_t t = uv_hrtime();
	csvstore_rewrite_release(&b->snap);
	journal_view_release(&b->view);
	b->t_release = ms_since(t);
}

static void after_release(uv_work_t *w, int status)
{
	(void)status;
	finish(w->data);
}

static void after_work(uv_work_t *w, int status)
{
	struct bench *b = w->data;
	uint64_t t = uv_hrtime();
	(void)status;
	if (b->work_rc)
		die("work", &b->err);
	if (csvstore_rewrite_commit(&b->cs, &b->snap, journal_has_newer, &b->j, &b->err))
		die("commit", &b->err);
	b->t_commit = ms_since(t);
	t = uv_hrtime();
	if (journal_drop_frozen(&b->j, &b->err))
		die("drop", &b->err);
	b->t_drop = ms_since(t);
	b->release.data = b;
	uv_queue_work(&b->loop, &b->release, do_release, after_release);
}

static void on_start(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t t1 = uv_hrtime();
	b->t0 = t1;
	if (!b->split) {
		if (journal_sync(&b->j, &b->err) ||
		    csvstore_rewrite(&b->cs, journal_patch, &b->j, &b->err) ||
		    journal_clear(&b->j, &b->err))
			die("sync fold", &b->err);
		b->t_sync = ms_since(t1);
		finish(b);
		return;
	}
	if (journal_freeze(&b->j, &b->view, &b->err) ||
	    csvstore_rewrite_prepare(&b->cs, &b->snap, &b->err))
		die("prepare", &b->err);
	b->t_prepare = ms_since(t1);
	b->work.data = b;
	uv_queue_work(&b->loop, &b->work, do_work, after_work);
}

static void run(struct bench *b, const char *path, bool split)
{
	memset(b, 0, sizeof(*b));
	b->split = split;
	b->next_id = nruns + 1;
	if (csvstore_open(&b->cs, path, &b->err) || journal_open(&b->j, path, &b->err))
		die("open", &b->err);
	uv_loop_init(&b->loop);
	uv_timer_init(&b->loop, &b->meter);
	uv_timer_init(&b->loop, &b->activity);
	uv_timer_init(&b->loop, &b->start);
	b->meter.data = b->activity.data = b->start.data = b;
	uv_timer_start(&b->meter, on_meter, 1, 1);
	uv_timer_start(&b->activity, on_activity, 10, 10);
	uv_timer_start(&b->start, on_start, 50, 0);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&b->meter, NULL);
	uv_close((uv_handle_t *)&b->activity, NULL);
	uv_close((uv_handle_t *)&b->start, NULL);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_loop_close(&b->loop);
	journal_close(&b->j);
	csvstore_close(&b->cs);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/bench-fold-XXXXXX";
	const char *folder = argc > 1 ? argv[1] : mkdtemp(tmpl);
	double mb = argc > 2 ? atof(argv[2]) : 250;
	char *master = xasprintf("%s/master.csv", folder), *path = xasprintf("%s/b.csv", folder);
	char *mj = xasprintf("%s.journal", master), *pj = xasprintf("%s.journal", path);
	struct stat st, sj;
	struct bench *b = xcalloc(1, sizeof(*b));
	if (!folder)
		die("mkdtemp", NULL);
	generate(master, mb);
	stat(master, &st);
	stat(mj, &sj);
	printf("CSV %.0f MB (%" PRId64 " runs), journal %.0f MB (jobs of %" PRId64 " runs); "
	       "folded CSV about %.0f MB\n", st.st_size / 1e6, nruns, sj.st_size / 1e6, nruns / 5,
	       (st.st_size + sj.st_size) / 1e6);
	for (int round = 0; round < 3; round++) {
		for (int split = 0; split < 2; split++) {
			copy_file(master, path);
			copy_file(mj, pj);
			run(b, path, split);
			stat(path, &st);
			if (!split)
				printf("sync fold:  on the loop %7.1f ms (all of it); max loop stall "
				       "%7.1f ms; CSV %.0f MB\n", b->t_sync, b->max_stall / 1e6,
				       st.st_size / 1e6);
			else
				printf("split fold: on the loop %7.1f ms (prepare %.1f + commit %.1f + "
				       "drop %.1f); in the pool: work %.1f ms, release %.1f ms; max "
				       "loop stall %.1f ms (longest append+journal write %.1f ms); "
				       "CSV %.0f MB\n",
				       b->t_prepare + b->t_commit + b->t_drop, b->t_prepare,
				       b->t_commit, b->t_drop, b->t_work, b->t_release,
				       b->max_stall / 1e6, b->max_activity / 1e6, st.st_size / 1e6);
		}
	}
	unlink(master);
	unlink(mj);
	unlink(path);
	unlink(pj);
	char *lock = xasprintf("%s.lock", master);
	unlink(lock);
	free(lock);
	lock = xasprintf("%s.lock", path);
	unlink(lock);
	free(lock);
	if (argc <= 1)
		rmdir(folder);
	free(master);
	free(path);
	free(mj);
	free(pj);
	free(b);
	return 0;
}
