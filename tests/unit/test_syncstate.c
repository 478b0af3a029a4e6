/* test_syncstate.c - proven ranges, gap finding, the state file round trip. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "syncstate.h"
#include "util.h"

static void test_cover_and_gaps(void)
{
	struct sync_listing l = {0};
	int64_t lo, hi;
	/* Nothing proven: the whole target is a gap. */
	CHECK(sync_top_gap(&l, SYNC_MIN, 1000, &lo, &hi) && lo == SYNC_MIN && hi == 1000);
	sync_cover(&l, 500, 900);
	CHECK_INT(sync_covered_hi(&l), 900);
	/* Above the covered range first, then below it. */
	CHECK(sync_top_gap(&l, SYNC_MIN, 1000, &lo, &hi) && lo == 901 && hi == 1000);
	CHECK(sync_top_gap(&l, SYNC_MIN, 900, &lo, &hi) && lo == SYNC_MIN && hi == 499);
	/* An interrupted crawl leaves a hole: found between the two ranges. */
	sync_cover(&l, 100, 200);
	CHECK_INT(l.nr, 2);
	CHECK(sync_top_gap(&l, SYNC_MIN, 900, &lo, &hi) && lo == 201 && hi == 499);
	/* Adjacent ranges (one second apart) merge. */
	sync_cover(&l, 201, 499);
	CHECK_INT(l.nr, 1);
	CHECK(l.r[0].lo == 100 && l.r[0].hi == 900);
	CHECK(sync_top_gap(&l, SYNC_MIN, 900, &lo, &hi) && lo == SYNC_MIN && hi == 99);
	/* A from date bounds the target. */
	CHECK(!sync_top_gap(&l, 150, 900, &lo, &hi));
	CHECK(sync_top_gap(&l, 50, 900, &lo, &hi) && lo == 50 && hi == 99);
	sync_cover(&l, SYNC_MIN, 99);
	CHECK(!sync_top_gap(&l, SYNC_MIN, 900, &lo, &hi));
	/* Empty and reversed covers change nothing. */
	sync_cover(&l, 10, 5);
	CHECK_INT(l.nr, 1);
	sync_clear(&l);
	CHECK_INT(l.nr, 0);
}

static void test_file_roundtrip(void)
{
	char dir[] = "/tmp/ghaminer-sync-XXXXXX";
	struct syncstate st, back;
	char id[17], t[32];
	CHECK(mkdtemp(dir) != NULL);
	char *csv = xasprintf("%s/b.csv", dir);
	CHECK(syncstate_load(&st, csv) == 0); /* absent: empty */
	struct sync_listing *l = syncstate_listing(&st, "o/r|wf=0|from=-|to=-");
	sync_cover(l, SYNC_MIN, 1704067200);
	sync_cover(l, 1704153600, 1704240000);
	l->last_sync = 1795432894;
	syncstate_token_id("ghp_secret", id);
	syncstate_set_etag(&st, id, "http://x/runs?per_page=100", "W/\"abc\"", NULL);
	syncstate_set_etag(&st, id, "http://x/runs?d=1", "W/\"p1\"", "http://x/runs?d=1&page=2");
	CHECK(syncstate_save(&st) == 0);
	CHECK(syncstate_load(&back, csv) == 0);
	struct sync_listing *b = syncstate_listing(&back, "o/r|wf=0|from=-|to=-");
	CHECK_INT(b->nr, 2);
	CHECK(b->r[0].lo == SYNC_MIN && b->r[0].hi == 1704067200);
	CHECK(b->r[1].lo == 1704153600 && b->r[1].hi == 1704240000);
	CHECK(b->last_sync == 1795432894);
	const char *next = "unset";
	CHECK_STR(syncstate_etag(&back, id, "http://x/runs?per_page=100", &next), "W/\"abc\"");
	CHECK(next == NULL);
	CHECK_STR(syncstate_etag(&back, id, "http://x/runs?d=1", &next), "W/\"p1\"");
	CHECK_STR(next, "http://x/runs?d=1&page=2");
	/* ETags are per token. */
	syncstate_token_id("ghp_other", t);
	CHECK(syncstate_etag(&back, t, "http://x/runs?per_page=100", NULL) == NULL);
	/* The token itself is never written. */
	char *statepath = xasprintf("%s.state", csv);
	FILE *f = fopen(statepath, "r");
	char text[4096] = "";
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	CHECK(strstr(text, "ghp_secret") == NULL);
	CHECK(strstr(text, "covered=*..2024-01-01T00:00:00+00:00,2024-01-02T00:00:00+00:00.."
			   "2024-01-03T00:00:00+00:00") != NULL);
	syncstate_release(&back);
	/* A damaged file is ignored with a warning, never trusted. */
	f = fopen(statepath, "w");
	fputs("listing o/r covered=garbage\n", f);
	fclose(f);
	CHECK(syncstate_load(&back, csv) == -1);
	CHECK_INT(back.nl, 0);
	syncstate_release(&back);
	syncstate_release(&st);
	unlink(statepath);
	rmdir(dir);
	free(statepath);
	free(csv);
	sync_format_time(0, t);
	CHECK_STR(t, "1970-01-01T00:00:00+00:00");
}

static void test_prune_days(void)
{
	struct syncstate st = {0};
	double now = 1795400000; /* 2026-11-22 */
	syncstate_set_etag(&st, "t", "http://x/runs?per_page=100&created=2026-11-20", "W/\"a\"",
			   "http://x/runs?per_page=100&created=2026-11-20&page=2");
	syncstate_set_etag(&st, "t", "http://x/runs?per_page=100&created=2026-11-20&page=2",
			   "W/\"b\"", NULL);
	syncstate_set_etag(&st, "t", "http://x/runs?per_page=100&created=2026-09-01", "W/\"c\"",
			   NULL);
	syncstate_set_etag(&st, "t", "http://x/runs?per_page=100&created=2026-09-01&page=2",
			   "W/\"d\"", NULL);
	/* Not day windows: the top page, a range window. */
	syncstate_set_etag(&st, "t", "http://x/runs?per_page=100", "W/\"e\"", NULL);
	syncstate_set_etag(&st, "t", "http://x/runs?created=2020-01-01..2020-02-01", "W/\"f\"",
			   NULL);
	CHECK_INT(syncstate_prune_days(&st, now, 31), 2);
	CHECK_INT(st.ne, 4);
	CHECK(syncstate_etag(&st, "t", "http://x/runs?per_page=100&created=2026-11-20", NULL));
	CHECK(!syncstate_etag(&st, "t", "http://x/runs?per_page=100&created=2026-09-01", NULL));
	CHECK(syncstate_etag(&st, "t", "http://x/runs?per_page=100", NULL));
	CHECK(syncstate_etag(&st, "t", "http://x/runs?created=2020-01-01..2020-02-01", NULL));
	syncstate_release(&st);
}

int main(void)
{
	test_cover_and_gaps();
	test_file_roundtrip();
	test_prune_days();
	return CHECK_DONE();
}
