/* policy.h - every tuning number of the miner in one place, each with the reason for its
 * value. GitHub's own limits are in ../shared/GITHUB-API-FACTS.md; what is here is how
 * ghaminer chooses to live within them. */
#ifndef GHAMINER_POLICY_H
#define GHAMINER_POLICY_H

/* ---- requests (fetch.c, governor.c) ---------------------------------------------------- */

/* Retry backoff: 1 s, 2 s, 4 s … times a jitter in [0.5, 1.5), never more than this. */
#define POLICY_BACKOFF_BASE_MS 1000.0
#define POLICY_BACKOFF_CAP_MS 60000.0
/* A secondary limit without Retry-After: GitHub says wait at least a minute; doubled for
 * every consecutive one. */
#define POLICY_SECONDARY_WAIT_S 60.0
#define POLICY_SECONDARY_WAIT_CAP_S 900.0
/* Secondary limits are GitHub asking us to slow down, not failures: a request may meet a
 * few more of them than max_retries allows failures. */
#define POLICY_SECONDARY_EXTRA_ATTEMPTS 5
/* A token whose reset time is unknown is assumed to reset within this. */
#define POLICY_UNKNOWN_RESET_S 60
/* A spent budget is announced only when the wait is longer than this: spreading runs the
 * budget out just at the reset, and a wait of a second or two is the plan working. */
#define POLICY_ANNOUNCE_WAIT_S 3.0
/* A budget counts as renewed this long after its X-RateLimit-Reset: the header is a whole
 * second, clocks differ, and a request sent right at the reset may meet the old window. */
#define POLICY_RESET_SLACK_S 1.0
/* A budget never heard of counts as this many requests (points) when choosing which API
 * serves the jobs: GitHub's 5,000 an hour per user token, for REST and GraphQL alike. */
#define POLICY_ASSUMED_LIMIT 5000

/* The per-minute ceilings (requests_per_minute, graphql_points_per_minute) hold over a
 * sliding window: at most N in any 60 s, as GitHub counts its secondary limits, so a burst
 * of up to N goes at the concurrency bound. The window is kept in this many slices per
 * token and resource (bounded memory: 64 tokens x 2 resources x 62 counters). */
#define POLICY_WINDOW_SLICES 60
/* ... and counted over this many more: GitHub sees arrivals, not admissions, and a request
 * may arrive later than one admitted after it (a new connection, a reused one). A slice
 * (a second) of slack keeps two admissions a window apart at the server too. */
#define POLICY_WINDOW_SLACK_SLICES 1
/* graphql_points_per_minute when the caller gives none: GitHub's secondary limit is 2,000
 * GraphQL points a minute; 1,900 stays under it (as 850 does under REST's 900). */
#define POLICY_GRAPHQL_PER_MINUTE 1900

/* At most this much of one answer is kept in memory: a jobs page of 100 jobs with their
 * steps is well under 1 MB; anything this large is not a GitHub API answer. */
#define POLICY_HTTP_BODY_CAP (256u << 20)
/* Idle connections kept for reuse: enough for 100 in flight, GitHub's own ceiling. */
#define POLICY_HTTP_MAX_CONNECTS 128L
/* A connection that is not up within this is not coming (the whole request still has
 * request_timeout). */
#define POLICY_HTTP_CONNECT_TIMEOUT_MS 10000L

/* Redirects followed for one request, all on the API's origin (curl's default is 30; a
 * chain longer than a rename or two is a loop). */
#define POLICY_FETCH_MAX_REDIRECTS 5

/* ---- phase 1: listing (phase1.c, recheck.c) -------------------------------------------- */

/* No workflow run predates GitHub Actions (2018-01-01): the floor of a listing's first
 * window. */
#define POLICY_ACTIONS_EPOCH 1514764800
/* GitHub returns at most 1,000 runs for a filtered query: windows holding more are split. */
#define POLICY_FILTERED_CAP 1000
/* Runs a created-date window is sized for: well under the cap, so most need no split. */
#define POLICY_WINDOW_RUNS 500
/* GitHub allows re-running a run for 30 days: recent days are re-checked for re-runs. */
#define POLICY_RECHECK_DAYS 30

/* ---- phase 2: jobs (phase2.c) ---------------------------------------------------------- */

/* Jobs requests a repository keeps queued or in flight, as a multiple of max_in_flight
 * shared among the repositories being mined: enough to keep every slot busy, few enough
 * that one large repository cannot crowd the queue ahead of the small ones. */
#define POLICY_JOBS_WINDOW_FACTOR 2
/* ... and never fewer than this per repository. */
#define POLICY_JOBS_WINDOW_MIN 2
/* A job_progress line every this many runs (and at the end). */
#define POLICY_JOB_PROGRESS_EVERY 10

/* ---- phase 2 through GraphQL (phase2_gql.c) -------------------------------------------- */

/* Check runs asked for per suite before anything is learned: GitHub's own example size;
 * then the value that minimises the expected points per run (the query's share plus a
 * page query for every run with more jobs), from the runs seen. */
#define POLICY_GQL_FIRST 20
/* Steps asked for per check run: they cost no points (only their connections do), so
 * enough for nearly every job; GitHub's node limit (500,000) allows 100 x 100 x 50. */
#define POLICY_GQL_STEPS 50
/* Runs seen before the check-run count is tuned. */
#define POLICY_GQL_LEARN_RUNS 10
/* Suites queries queued or in flight per repository: runs join a batch only while fewer
 * are out, so each batch is routed (REST or GraphQL) and sized (the learned check-run
 * count) when it is built, not all at once. */
#define POLICY_GQL_QUERIES 2
/* Page queries one run may need: a run of 1,000 jobs of 100 steps with pages of 100 needs
 * about 1,000; past this the server keeps saying "more" (the run goes to REST). */
#define POLICY_GQL_MAX_PAGES 5000

/* ---- the progress line (progress.c) ---------------------------------------------------- */

/* Redrawn every second on a terminal; a plain line every 5 s otherwise (a log file). */
#define POLICY_PROGRESS_TTY_S 1.0
#define POLICY_PROGRESS_PLAIN_S 5.0

/* ---- the store (store.c) --------------------------------------------------------------- */

/* Below this, a journal is folded only at the end of a pass or during a long rate-limit
 * wait: a fold rewrites the whole CSV, and a small journal costs nothing to keep.
 * GHAMINER_FOLD_MIN lowers it for the tests that exercise intermediate folds. */
#define POLICY_FOLD_FLOOR_BYTES (32u << 20)
/* Geometric batching: the next fold waits until the journal holds this many times the
 * CSV, so all the rewrites of a pass add up to about 1.25 times the final size. */
#define POLICY_FOLD_GROWTH 4
/* A rate-limit wait at least this long is a good moment to fold: nothing is in flight. */
#define POLICY_FOLD_ON_WAIT_MS 5000
/* The sync state is saved at most this often while listing (and at every listing's end):
 * three fsyncs per page would stall the transfers, and a state a second old only costs a
 * few pages listed again. */
#define POLICY_STATE_SAVE_MS 1000

/* ---- ghaminer serve (serve*.c) ----------------------------------------------------------- */

/* Repositories one server keeps (each a few hundred bytes, plus its clients). */
#define POLICY_SERVE_MAX_REPOS 1000
/* Runs per runs_page message of what the CSV holds (the API's page, as GitHub's). */
#define POLICY_SERVE_PAGE_RUNS 100
/* The API's page of runs: by default and at most. */
#define POLICY_API_LIMIT 100
#define POLICY_API_LIMIT_MAX 1000
/* Rows one GET /api/runs may read: a filter few rows pass gives a short page (and a cursor
 * to go on from) rather than holding the loop through the whole CSV.
 * GHAMINER_API_SCAN_ROWS lowers it for the tests. */
#define POLICY_API_SCAN_ROWS 10000
/* A request body (nothing we take has one), a client's frame (nothing is read from it),
 * and an HTTP connection idle or slow to send its request. Headers are bounded by H2O's
 * build (100 headers, H2O_MAX_REQLEN: about 400 KiB; past it a 400). */
#define POLICY_SERVE_MAX_BODY (64u << 10)
#define POLICY_WS_MAX_FRAME 4096
#define POLICY_SERVE_IDLE_MS 10000
/* A connection's kernel send buffer (Linux doubles it): a slow client's backlog is then
 * mostly in its queue, which serve_queue_kb bounds. */
#define POLICY_SERVE_SNDBUF (64 << 10)
/* A closed client must answer the close frame within this, or its socket is closed. */
#define POLICY_WS_CLOSE_WAIT_MS 2000
/* Every client is pinged this often; one that sent nothing (no pong) for two intervals
 * is closed (GHAMINER_WS_PING_MS sets it for the tests). */
#define POLICY_WS_PING_MS 30000
/* A close that waits for the client's queue to drain checks it this often. */
#define POLICY_WS_DRAIN_TICK_MS 10
/* A new client's snapshot of the CSV: every tick, this many rows over all the clients
 * whose snapshot is under way (at least the share), each topped up to this many queued
 * bytes. A tick holds the loop for a few ms; a client gets rows as fast as it reads. */
#define POLICY_WS_SNAPSHOT_TICK_MS 1
#define POLICY_WS_SNAPSHOT_IDLE_TICK_MS 20 /* no snapshot had room in the last tick */
#define POLICY_WS_SNAPSHOT_ROWS 500
#define POLICY_WS_SNAPSHOT_MIN_SHARE 20
#define POLICY_WS_SNAPSHOT_QUEUE (256u << 10)
/* A serve token shorter than this is refused with --allow-remote. */
#define POLICY_SERVE_TOKEN_MIN 16
/* WebSocket close codes of our own (4000-4999 are the application's). */
#define POLICY_WS_CLOSE_BAD_REPO 4400
#define POLICY_WS_CLOSE_AUTH 4401
#define POLICY_WS_CLOSE_NOT_FOUND 4404

#endif
