/* test_progress.c - the progress line: both phases, unknowns, waits, ETA, repository
 * counts. */
#include <string.h>

#include "check.h"
#include "progress.h"

static const char *line(const struct progress_view *v)
{
	static char buf[256];
	memset(buf, 'Z', sizeof(buf));
	progress_format(buf, sizeof(buf), v);
	return buf;
}

static void test_phases(void)
{
	struct progress_view v = {.repo = "octo/hello", .what = "pages", .done = 3, .total = 3,
				  .rate = 15.94, .budget = 4996};
	CHECK_STR(line(&v), "octo/hello: pages 3/3, 15.9/s, ETA 0s, budget 4996");
	v = (struct progress_view){.repo = "octo/hello", .what = "runs", .done = 68, .total = 250,
				   .rate = 13.8, .budget = 4928};
	CHECK_STR(line(&v), "octo/hello: runs 68/250, 13.8/s, ETA 13s, budget 4928");
	/* A listing whose size is not known yet. */
	v = (struct progress_view){.repo = "o/r", .what = "listed", .done = 500, .total = -1,
				   .rate = 12, .budget = 10};
	CHECK_STR(line(&v), "o/r: listed 500, 12.0/s, ETA ?, budget 10");
}

static void test_eta_and_unknowns(void)
{
	struct progress_view v = {.repo = "o/r", .what = "runs", .done = 0, .total = 100000,
				  .rate = 10, .budget = -1};
	/* 10,000 s; the budget not reported yet. */
	CHECK_STR(line(&v), "o/r: runs 0/100000, 10.0/s, ETA 2h46m, budget ?");
	v.total = 1000; /* 100 s */
	CHECK_STR(line(&v), "o/r: runs 0/1000, 10.0/s, ETA 1m40s, budget ?");
	/* No rate yet: no ETA. */
	v.rate = 0;
	CHECK_STR(line(&v), "o/r: runs 0/1000, 0.0/s, ETA ?, budget ?");
	/* More done than the total said (runs added meanwhile): no negative ETA. */
	v = (struct progress_view){.repo = "o/r", .what = "runs", .done = 12, .total = 10,
				   .rate = 1, .budget = 0};
	CHECK_STR(line(&v), "o/r: runs 12/10, 1.0/s, ETA ?, budget 0");
}

static void test_wait(void)
{
	struct progress_view v = {.repo = "o/r", .what = "runs", .done = 5, .total = 9,
				  .rate = 3, .budget = 0, .wait_s = 125};
	CHECK_STR(line(&v), "o/r: runs 5/9, waiting for the rate limit: 2m05s, budget 0");
	v.wait_s = 3599.6;
	v.budget = -1;
	CHECK_STR(line(&v), "o/r: runs 5/9, waiting for the rate limit: 59m59s, budget ?");
	v.wait_s = 7;
	CHECK_STR(line(&v), "o/r: runs 5/9, waiting for the rate limit: 7s, budget ?");
}

static void test_repos(void)
{
	struct progress_view v = {.repo = "octo/hello", .repos_done = 3, .repos_total = 200,
				  .what = "runs", .done = 68, .total = 250, .rate = 13.8,
				  .budget = 4928};
	CHECK_STR(line(&v), "octo/hello (repos 3/200): runs 68/250, 13.8/s, ETA 13s, budget 4928");
	/* Many in flight: no repository in view, only the count. */
	v.repo = NULL;
	CHECK_STR(line(&v), "repos 3/200: runs 68/250, 13.8/s, ETA 13s, budget 4928");
	v.repo = "";
	CHECK_STR(line(&v), "repos 3/200: runs 68/250, 13.8/s, ETA 13s, budget 4928");
	/* One repository: no count. */
	v = (struct progress_view){.repo = "o/r", .repos_done = 0, .repos_total = 1,
				   .what = "listed", .done = 1, .total = -1, .budget = 1};
	CHECK_STR(line(&v), "o/r: listed 1, 0.0/s, ETA ?, budget 1");
	v.repo = NULL;
	v.repos_total = 0;
	CHECK_STR(line(&v), "listed 1, 0.0/s, ETA ?, budget 1");
}

static void test_small_buffer(void)
{
	struct progress_view v = {.repo = "octo/hello", .what = "runs", .done = 68, .total = 250,
				  .rate = 13.8, .budget = 4928};
	char buf[16];
	memset(buf, 'Z', sizeof(buf));
	progress_format(buf, 12, &v);
	CHECK_STR(buf, "octo/hello:");
	CHECK(buf[12] == 'Z'); /* nothing written past n */
	progress_format(buf, 16, &v);
	CHECK_STR(buf, "octo/hello: run");
}

int main(void)
{
	test_phases();
	test_eta_and_unknowns();
	test_wait();
	test_repos();
	test_small_buffer();
	return CHECK_DONE();
}
