/* test_syncstate.c - proven ranges, gap finding, the state file round trip. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "syncstate.h"
#include "util.h"

/* Remove a scratch folder without ending the test (check_done_rmdir ends it). */
static void check_done_rmdir_keep(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

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

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char text[65536];
	size_t n = 0;
	text[0] = '\0';
	if (f) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	return text;
}

static void spill(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_file_roundtrip(void)
{
	char dir[] = "/tmp/ghaminer-sync-XXXXXX";
	struct syncstate st, back;
	char id[17], t[32];
	CHECK(mkdtemp(dir) != NULL);
	char *csv = xasprintf("%s/b.csv", dir);
	char *statepath = xasprintf("%s.state", csv), *tmppath = xasprintf("%s.tmp", statepath);
	CHECK(syncstate_load(&st, csv) == 0); /* absent: empty */
	CHECK_STR(st.path, statepath);
	struct sync_listing *l = syncstate_listing(&st, "o/r|wf=0|from=-|to=-");
	sync_cover(l, SYNC_MIN, 1704067200);
	sync_cover(l, 1704153600, 1704240000);
	l->last_sync = 1795432894;
	/* A key with spaces and quotes, and a listing with nothing proven yet. */
	syncstate_listing(&st, "o/r \"x\"|wf=42|from=2024-01-01|to=-");
	CHECK(syncstate_token_id(&st, "ghp_secret", id) == 0);
	CHECK_INT(strlen(id), 16);
	CHECK_INT(strlen(st.salt), SYNCSTATE_SALT_HEX);
	syncstate_set_etag(&st, id, "http://x/runs?per_page=100", "W/\"abc\"", NULL);
	syncstate_set_etag(&st, id, "http://x/runs?d=1", "W/\"p1\"", "http://x/runs?d=1&page=2");
	/* What the text format dropped: spaces in an ETag, a URL or a next URL. */
	syncstate_set_etag(&st, id, "http://x/runs?q=a b", "W/\"with space\"", "http://x/n?q=a b");
	/* Not UTF-8: not kept, and the rest is saved all the same. */
	syncstate_set_etag(&st, id, "http://x/runs?bad", "W/\"\xff\xfe\"", NULL);
	CHECK_INT(st.ne, 4);
	CHECK(syncstate_save(&st) == 0);
	CHECK(access(tmppath, F_OK) != 0); /* the temp file is gone */
	CHECK(syncstate_load(&back, csv) == 0);
	CHECK_INT(back.nl, 2);
	struct sync_listing *b = syncstate_listing(&back, "o/r|wf=0|from=-|to=-");
	CHECK_INT(b->nr, 2);
	CHECK(b->r[0].lo == SYNC_MIN && b->r[0].hi == 1704067200);
	CHECK(b->r[1].lo == 1704153600 && b->r[1].hi == 1704240000);
	CHECK(b->last_sync == 1795432894);
	b = syncstate_listing(&back, "o/r \"x\"|wf=42|from=2024-01-01|to=-");
	CHECK_INT(b->nr, 0);
	CHECK(b->last_sync == 0);
	CHECK_INT(back.nl, 2); /* found, not added */
	const char *next = "unset";
	CHECK_STR(syncstate_etag(&back, id, "http://x/runs?per_page=100", &next), "W/\"abc\"");
	CHECK(next == NULL);
	CHECK_STR(syncstate_etag(&back, id, "http://x/runs?d=1", &next), "W/\"p1\"");
	CHECK_STR(next, "http://x/runs?d=1&page=2");
	CHECK_STR(syncstate_etag(&back, id, "http://x/runs?q=a b", &next), "W/\"with space\"");
	CHECK_STR(next, "http://x/n?q=a b");
	/* The salt came back with the file: the same token has the same id. */
	CHECK_STR(back.salt, st.salt);
	CHECK(syncstate_token_id(&back, "ghp_secret", t) == 0);
	CHECK_STR(t, id);
	/* ETags are per token. */
	CHECK(syncstate_token_id(&back, "ghp_other", t) == 0);
	CHECK(strcmp(t, id) != 0);
	CHECK(syncstate_etag(&back, t, "http://x/runs?per_page=100", NULL) == NULL);
	CHECK(syncstate_etag(&back, id, "http://x/runs?bad", NULL) == NULL);
	CHECK_INT(back.ne, 3);
	syncstate_release(&back);
	/* The file: JSON, one fact a line, and the token itself never written. */
	const char *text = slurp(statepath);
	CHECK(strstr(text, "ghp_secret") == NULL);
	CHECK(strncmp(text, "{\"ghaminer_state\": 2,\n", 22) == 0);
	CHECK(strstr(text, "\n  {\"key\": \"o/r|wf=0|from=-|to=-\", \"last_sync\": 1795432894, "
			   "\"covered\": [[\"*\", \"2024-01-01T00:00:00+00:00\"], "
			   "[\"2024-01-02T00:00:00+00:00\", \"2024-01-03T00:00:00+00:00\"]]}") != NULL);
	char *line = xasprintf("\n  {\"token_id\": \"%s\", \"url\": \"http://x/runs?per_page=100\", "
			       "\"etag\": \"W/\\\"abc\\\"\"}", id);
	CHECK(strstr(text, line) != NULL);
	free(line);
	/* Not the unsalted FNV-1a of earlier versions, which confirmed a guess offline. */
	CHECK(strstr(text, "93ef8136a310be63") == NULL);
	line = xasprintf("\n \"salt\": \"%s\",\n", st.salt);
	CHECK(strstr(text, line) != NULL);
	free(line);
	/* Another state file: another salt, an unrelated id for the same token. */
	struct syncstate other = {0};
	CHECK(syncstate_token_id(&other, "ghp_secret", t) == 0);
	CHECK(strcmp(other.salt, st.salt) != 0 && strcmp(t, id) != 0);
	syncstate_release(&other);
	json_error_t err;
	json_t *root = json_loads(text, 0, &err);
	CHECK(root != NULL);
	CHECK_INT(json_array_size(json_object_get(root, "etags")), 3);
	json_decref(root);
	/* An empty state saves and loads. */
	struct syncstate empty;
	char *csv2 = xasprintf("%s/empty.csv", dir);
	CHECK(syncstate_load(&empty, csv2) == 0);
	CHECK(syncstate_save(&empty) == 0);
	syncstate_release(&empty);
	CHECK(syncstate_load(&empty, csv2) == 0);
	CHECK(empty.nl == 0 && empty.ne == 0);
	syncstate_release(&empty);
	free(csv2);
	/* A save that cannot write reports why and leaves no temp file. */
	struct syncstate nowhere = {0};
	nowhere.path = xasprintf("%s/no-such-folder/b.csv.state", dir);
	CHECK_INT(syncstate_save(&nowhere), -ENOENT);
	syncstate_release(&nowhere);
	syncstate_release(&st);
	free(statepath);
	free(tmppath);
	free(csv);
	check_done_rmdir_keep(dir);
	sync_format_time(0, t);
	CHECK_STR(t, "1970-01-01T00:00:00+00:00");
}

/* Exactly what version 1 (the text format) wrote for the state built above, minus the
 * ETag with spaces it could not hold. */
static const char old_format[] =
	"# ghaminer sync state: what completed passes proved about the CSV beside it.\n"
	"# Safe to delete: the next run then lists everything again.\n"
	"listing o/r|wf=0|from=-|to=- last_sync=1795432894 covered=*..2024-01-01T00:00:00+00:00,"
	"2024-01-02T00:00:00+00:00..2024-01-03T00:00:00+00:00\n"
	"listing o/r|wf=42|from=2024-01-01|to=- last_sync=0 covered=\n"
	"etag 93ef8136a310be63 W/\"abc\" http://x/runs?per_page=100\n"
	"etag 93ef8136a310be63 W/\"p1\" http://x/runs?d=1 http://x/runs?d=1&page=2\n";

/* Its listings load; its ETags, keyed by the unsalted hash of that version, are dropped. */
static void check_old_sample(struct syncstate *st)
{
	CHECK_INT(st->nl, 2);
	CHECK_INT(st->ne, 0);
	struct sync_listing *l = syncstate_listing(st, "o/r|wf=0|from=-|to=-");
	CHECK_INT(l->nr, 2);
	CHECK(l->r[0].lo == SYNC_MIN && l->r[0].hi == 1704067200);
	CHECK(l->r[1].lo == 1704153600 && l->r[1].hi == 1704240000);
	CHECK(l->last_sync == 1795432894);
	l = syncstate_listing(st, "o/r|wf=42|from=2024-01-01|to=-");
	CHECK(l->nr == 0 && l->last_sync == 0);
	CHECK_INT(st->nl, 2);
	CHECK(syncstate_etag(st, "93ef8136a310be63", "http://x/runs?per_page=100", NULL) == NULL);
}

static void test_old_format(void)
{
	char dir[] = "/tmp/ghaminer-sync-XXXXXX";
	struct syncstate st;
	CHECK(mkdtemp(dir) != NULL);
	char *csv = xasprintf("%s/b.csv", dir), *statepath = xasprintf("%s.state", csv);
	spill(statepath, old_format);
	CHECK(syncstate_load(&st, csv) == 0);
	check_old_sample(&st);
	/* Saved again, it becomes JSON with the same facts. */
	CHECK(syncstate_save(&st) == 0);
	syncstate_release(&st);
	CHECK(slurp(statepath)[0] == '{');
	CHECK(syncstate_load(&st, csv) == 0);
	check_old_sample(&st);
	syncstate_release(&st);
	free(statepath);
	free(csv);
	check_done_rmdir_keep(dir);
}

/* A damaged file is ignored with a warning, never trusted: the state is empty. */
static void test_damaged(void)
{
	static const char *const bad[] = {
		"listing o/r covered=garbage\n",                   /* text: a range without .. */
		"listing o/r covered=*..2024-01-01T00:00:00Z\nfoo\n", /* text: an unknown line */
		"etag onlyid\n",                                     /* text: an ETag line cut short */
		"{\"ghaminer_state\": 2, \"listings\": [",           /* JSON cut short */
		"{\"listings\": []}",                                /* no version */
		"{\"ghaminer_state\": 3, \"listings\": []}",         /* a later version */
		"{\"ghaminer_state\": 2, \"listings\": {}}",
		"{\"ghaminer_state\": 2, \"listings\": [{\"key\": \"k\", \"covered\": [[\"*\"]]}]}",
		"{\"ghaminer_state\": 2, \"listings\": [{\"key\": \"k\", \"covered\": [[\"*\", "
		"\"yesterday\"]]}]}",
		"{\"ghaminer_state\": 2, \"listings\": [{\"covered\": []}]}",
		"{\"ghaminer_state\": 2, \"etags\": [{\"token_id\": \"t\", \"url\": \"u\"}]}",
		"{\"ghaminer_state\": 2, \"salt\": \"short\"}",
		"{\"ghaminer_state\": 2, \"salt\": \"0011223344556677889XAABBCCDDEEFF\"}",
		"{\"ghaminer_state\": 2, \"etags\": [{\"token_id\": \"t\", \"url\": \"u\", "
		"\"etag\": \"e\", \"next\": 5}]}",
	};
	char dir[] = "/tmp/ghaminer-sync-XXXXXX";
	struct syncstate st;
	CHECK(mkdtemp(dir) != NULL);
	char *csv = xasprintf("%s/b.csv", dir), *statepath = xasprintf("%s.state", csv);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		/* A good listing first: nothing of a damaged file is kept. */
		char *text = xasprintf("%s", bad[i]);
		if (text[0] == '{') {
			spill(statepath, text);
		} else {
			char *both = xasprintf("listing o/r|wf=0 last_sync=5 covered=*..1970-01-02T00:"
					       "00:00Z\n%s", text);
			spill(statepath, both);
			free(both);
		}
		free(text);
		int rc = syncstate_load(&st, csv);
		if (rc != -EINVAL)
			fprintf(stderr, "damaged sample %zu loaded: %d\n", i, rc);
		CHECK_INT(rc, -EINVAL);
		CHECK(st.nl == 0 && st.ne == 0);
		CHECK_STR(st.path, statepath);
		syncstate_release(&st);
	}
	/* Empty and blank files are an empty state. */
	spill(statepath, "");
	CHECK(syncstate_load(&st, csv) == 0 && st.nl == 0);
	syncstate_release(&st);
	spill(statepath, "\n# nothing yet\n");
	CHECK(syncstate_load(&st, csv) == 0 && st.nl == 0);
	syncstate_release(&st);
	/* "next": null is no next. */
	spill(statepath, "{\"ghaminer_state\": 2, \"salt\": \"00112233445566778899aabbccddeeff\", "
			 "\"etags\": [{\"token_id\": \"t\", \"url\": \"u\", \"etag\": \"e\", "
			 "\"next\": null}]}");
	const char *next = "unset";
	CHECK(syncstate_load(&st, csv) == 0);
	CHECK_STR(syncstate_etag(&st, "t", "u", &next), "e");
	CHECK(next == NULL);
	syncstate_release(&st);
	free(statepath);
	free(csv);
	check_done_rmdir_keep(dir);
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
	test_old_format();
	test_damaged();
	test_prune_days();
	return CHECK_DONE();
}
