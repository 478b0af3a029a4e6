/* serve_snapshot.c - a new client's first part of the stream: what the CSV holds for its
 * repository, sent a few rows at a time as the client reads it, so a large CSV neither
 * holds the loop nor fills memory. Live messages meanwhile wait, or are dropped when the
 * rows still to be read will carry them: every run exactly once. */
#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <h2o/websocket.h>

#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy.h"
#include "record.h"
#include "serve_int.h"
#include "util.h"

static size_t queued(const struct serve_client *c)
{
	return wslay_event_get_queued_msg_length(c->ws->ws_ctx);
}

static void flush_page(struct serve_client *c)
{
	if (!json_array_size(c->runs))
		return;
	serve_ws_send_json(c, "runs_page", json_pack(
		"{s:i, s:O, s:[], s:I, s:b, s:s, s:b}", "page", ++c->page, "runs", c->runs,
		"updated_runs", "total_collected", (json_int_t)c->nruns, "has_more",
		c->pos < c->end, "repo", c->repo->ref.full_name, "from_csv", 1));
	json_array_clear(c->runs);
}

/* One row into the sweep under way: a run for the runs pages, or its jobs. */
static void take_row(struct serve_client *c, struct record *row)
{
	if (c->sweep == SWEEP_JOBS) {
		if (!row->v[COL_TOTAL_JOBS])
			return;
		c->njobs++;
		serve_ws_send_json(c, "run_jobs", json_pack(
			"{s:s, s:o, s:o, s:o}", "repo", c->repo->ref.full_name, "id_build",
			record_value_json(COL_ID_BUILD, row->v[COL_ID_BUILD]), "total_jobs",
			record_value_json(COL_TOTAL_JOBS, row->v[COL_TOTAL_JOBS]), "job_details",
			record_value_json(COL_JOB_DETAILS, row->v[COL_JOB_DETAILS])));
		return;
	}
	/* As the live stream lists a run: its jobs follow in run_jobs. */
	free(row->v[COL_TOTAL_JOBS]);
	free(row->v[COL_JOB_DETAILS]);
	row->v[COL_TOTAL_JOBS] = row->v[COL_JOB_DETAILS] = NULL;
	json_array_append_new(c->runs, record_to_json(row));
	c->nruns++;
	if (json_array_size(c->runs) == POLICY_SERVE_PAGE_RUNS)
		flush_page(c);
}

static void free_held(struct serve_client *c)
{
	struct serve_held *h;
	while ((h = STAILQ_FIRST(&c->held))) {
		STAILQ_REMOVE_HEAD(&c->held, link);
		free(h->type);
		free(h->data);
		free(h);
	}
	c->held_bytes = 0;
}

void serve_snapshot_drop(struct serve_client *c)
{
	if (!c->snapping)
		return;
	c->snapping = false;
	TAILQ_REMOVE(&c->sv->snapping, c, snap_link);
	json_decref(c->runs);
	c->runs = NULL;
	free_held(c);
}

/* The CSV's part is out: say so, then what was held, and go live. */
static void finish(struct serve_client *c)
{
	struct serve_held *h;
	serve_ws_send_json(c, "status", json_pack(
		"{s:o, s:s, s:I, s:I, s:b, s:i, s:f, s:s}", "message",
		json_sprintf("%ld runs and the jobs of %ld from the CSV; live from here", c->nruns,
			     c->njobs),
		"stage", "from_csv", "runs", (json_int_t)c->nruns, "jobs", (json_int_t)c->njobs,
		"mining", c->repo->s != NULL, "pass", c->repo->pass, "data_age_s",
		serve_repo_age(c->repo), "repo", c->repo->ref.full_name));
	/* Counted against the bound while held: queued now as they are. */
	STAILQ_FOREACH(h, &c->held, link)
		serve_ws_send(c, h->type, h->data, false);
	msg_info("client #%u (%s): %ld runs and the jobs of %ld from the CSV in %.2f s; %ld live "
		 "messages held meanwhile, %ld runs' news left to the CSV's part", c->id,
		 c->peer, c->nruns, c->njobs,
		 (double)(time_mono_ms() - c->snap_start_ms) / 1000, c->nheld, c->ndropped);
	serve_snapshot_drop(c);
}

static void fail(struct serve_client *c, const struct error *err)
{
	msg_error("%s", err->msg);
	serve_ws_send_json(c, "error", json_pack("{s:s, s:s}", "message", err->msg, "repo",
						  c->repo->ref.full_name));
	c->pos = c->end;
	c->sweep = SWEEP_JOBS;
	finish(c);
}

/* Send the client up to budget more rows, while its queue has room. Returns the rows
 * read. */
static size_t step(struct serve_client *c, size_t budget)
{
	struct error err = {0};
	size_t count, done = 0;
	int repo;
	if (serve_rows_open(c->sv, c->repo->ref.full_name, &repo, &count, &err) != 0) {
		fail(c, &err);
		return 0;
	}
	while (c->snapping && done < budget && queued(c) < POLICY_WS_SNAPSHOT_QUEUE) {
		struct record row;
		if (c->pos == c->end) {
			flush_page(c);
			if (c->sweep == SWEEP_JOBS) {
				finish(c);
				break;
			}
			c->sweep = SWEEP_JOBS;
			c->pos = 0;
			continue;
		}
		int rc = serve_row(c->sv, repo, c->pos, &row, &err);
		c->pos++;
		done++;
		if (rc == 0)
			take_row(c, &row);
		record_release(&row);
		if (rc != 0)
			fail(c, &err);
	}
	return done;
}

/* Every tick while snapshots are under way: the rows of a tick are shared among them, so
 * the loop is never held long. While none of them has room (clients not reading), the
 * ticks slow down. */
static void on_tick(uv_timer_t *t)
{
	struct serve *sv = t->data;
	struct serve_client *c, *next;
	size_t n = 0, share, done = 0;
	TAILQ_FOREACH(c, &sv->snapping, snap_link)
		n++;
	share = n ? sv->snap_rows / n : 0;
	if (share < POLICY_WS_SNAPSHOT_MIN_SHARE)
		share = sv->snap_rows < POLICY_WS_SNAPSHOT_MIN_SHARE ? sv->snap_rows
								   : POLICY_WS_SNAPSHOT_MIN_SHARE;
	for (c = TAILQ_FIRST(&sv->snapping); c; c = next) {
		next = TAILQ_NEXT(c, snap_link);
		done += step(c, share);
	}
	if (TAILQ_EMPTY(&sv->snapping))
		uv_timer_stop(t);
	else
		uv_timer_set_repeat(t, done ? POLICY_WS_SNAPSHOT_TICK_MS
					    : POLICY_WS_SNAPSHOT_IDLE_TICK_MS);
}

void serve_snapshot_start(struct serve_client *c)
{
	struct serve *sv = c->sv;
	struct error err = {0};
	size_t count = 0;
	int repo;
	STAILQ_INIT(&c->held);
	c->runs = json_array();
	c->snapping = true;
	c->sweep = SWEEP_RUNS;
	c->snap_start_ms = time_mono_ms();
	TAILQ_INSERT_TAIL(&sv->snapping, c, snap_link);
	/* The rows there now are the snapshot's; any written later come live. */
	if (serve_rows_open(sv, c->repo->ref.full_name, &repo, &count, &err) != 0) {
		fail(c, &err);
		return;
	}
	c->end = count;
	/* At once, even when the ticks had slowed for clients that do not read. */
	uv_timer_start(&sv->snap_timer, on_tick, 0, POLICY_WS_SNAPSHOT_TICK_MS);
}

/* The places of a message's run (run_jobs: "id_build") in the index. */
static long place_of(struct serve_client *c, const json_t *id)
{
	struct serve_index *ix = &c->sv->ix;
	json_int_t v = json_is_string(id) ? strtoll(json_string_value(id), NULL, 10)
					  : json_integer_value(id);
	return v > 0 ? serve_index_place(ix, serve_index_repo(ix, c->repo->ref.full_name), v)
		     : -1;
}

/* A runs_page without the changed runs the sweeps have yet to read: NULL when nothing is
 * left of it, else the text to hold (malloc'ed). */
static char *trim_runs_page(struct serve_client *c, const json_t *data, const char *text)
{
	json_t *updated = json_object_get(data, "updated_runs"), *run;
	json_t *keep = json_array(), *copy;
	size_t i;
	char *out;
	json_array_foreach(updated, i, run) {
		long place = place_of(c, json_object_get(run, "id_build"));
		if (serve_snapshot_keeps_run(c->sweep, c->pos, c->end, place))
			json_array_append(keep, run);
	}
	c->ndropped += (long)(json_array_size(updated) - json_array_size(keep));
	if (json_array_size(keep) == json_array_size(updated)) {
		json_decref(keep);
		return xstrdup(text);
	}
	if (!json_array_size(keep) && !json_array_size(json_object_get(data, "runs"))) {
		json_decref(keep);
		return NULL;
	}
	copy = json_copy((json_t *)data);
	json_object_set_new(copy, "updated_runs", keep);
	out = json_dumps(copy, RECORD_JSON_FLAGS);
	json_decref(copy);
	return out;
}

void serve_snapshot_hold(struct serve_client *c, const char *type, const json_t *data,
			 const char *text)
{
	char *kept = NULL;
	if (!strcmp(type, "runs_page") && data) {
		kept = trim_runs_page(c, data, text);
	} else if (!strcmp(type, "run_jobs")) {
		json_t *j = json_loads(text, 0, NULL);
		long place = place_of(c, json_object_get(j, "id_build"));
		json_decref(j);
		if (serve_snapshot_keeps_jobs(c->sweep, c->pos, c->end, place))
			kept = xstrdup(text);
		else
			c->ndropped++;
	} else {
		kept = xstrdup(text);
	}
	if (!kept)
		return;
	size_t len = strlen(kept) + strlen(type);
	if (c->held_bytes + len > (size_t)c->sv->s.serve_queue_kb * 1024) {
		char reason[96];
		msg_warn("client #%u (%s) on %s closed: %zu KiB of live messages waiting behind "
			 "what the CSV holds, over the bound of %d KiB (serve_queue_kb)", c->id,
			 c->peer, c->repo->ref.full_name, c->held_bytes / 1024,
			 c->sv->s.serve_queue_kb);
		snprintf(reason, sizeof(reason), "client too slow: %zu KiB unread",
			 c->held_bytes / 1024);
		free(kept);
		serve_ws_close(c, 1013, reason, false);
		return;
	}
	struct serve_held *h = xcalloc(1, sizeof(*h));
	h->type = xstrdup(type);
	h->data = kept;
	c->held_bytes += len;
	c->nheld++;
	STAILQ_INSERT_TAIL(&c->held, h, link);
}

void serve_snapshot_init(struct serve *sv)
{
	const char *env = getenv("GHAMINER_SNAPSHOT_ROWS"); /* the tests' slower snapshots */
	sv->snap_rows = env && atol(env) > 0 ? (size_t)atol(env) : POLICY_WS_SNAPSHOT_ROWS;
	TAILQ_INIT(&sv->snapping);
	uv_timer_init(&sv->loop, &sv->snap_timer);
	sv->snap_timer.data = sv;
	uv_unref((uv_handle_t *)&sv->snap_timer);
}

void serve_snapshot_close(struct serve *sv)
{
	uv_close((uv_handle_t *)&sv->snap_timer, NULL);
}
