/* serve_int.h - what the parts of `ghaminer serve` share: serve.c (repositories, passes,
 * tokens, the loop), serve_http.c (H2O on the loop: listener, routing, access checks),
 * serve_ws.c (WebSocket clients), serve_api.c (the HTTP API over the CSV) and serve_page.c
 * (the live page). Not for other modules. */
#ifndef GHAMINER_SERVE_INT_H
#define GHAMINER_SERVE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "engine.h"
#include "governor.h"
#include "repo_ref.h"
#include "session.h"
#include "serve_index.h"
#include "serve_rules.h"
#include "settings.h"
#include "stopsig.h"
#include "store.h"

struct serve_http;
struct serve_client;
typedef struct st_h2o_req_t h2o_req_t;

/* A message held for a client until its snapshot is over. */
struct serve_held {
	STAILQ_ENTRY(serve_held) link;
	char *type, *data;
};

/* One WebSocket client of a repository (serve_ws.c; its snapshot: serve_snapshot.c). */
struct serve_client {
	struct serve *sv;
	struct serve_repo *repo;     /* NULL once detached */
	struct st_h2o_websocket_conn_t *ws; /* NULL once closed */
	unsigned id;
	char peer[64];
	size_t allowance;            /* bytes it may leave unread now (the bound, plus what is
				      * left of the CSV's part and of the held messages) */
	bool closing;
	int close_code;
	char close_reason[120];      /* at most 123 bytes fit in a close frame */
	int drain_ticks;
	uint64_t heard_ms;           /* when the client last sent anything (a pong included) */
	uv_timer_t timer;            /* the peer must answer a close within this */
	TAILQ_ENTRY(serve_client) link;
	/* The CSV's part, a few rows at a time as the client reads it (serve_snapshot.c) */
	bool snapping;               /* under way: live messages are held (or dropped) */
	enum serve_sweep sweep;
	size_t pos, end;             /* the next place to read; the rows at the join */
	int page;
	long nruns, njobs;
	json_t *runs;                /* the runs page being filled */
	STAILQ_HEAD(, serve_held) held;
	size_t held_bytes;
	long nheld, ndropped;        /* live messages held, and left to the snapshot */
	uint64_t snap_start_ms;
	TAILQ_ENTRY(serve_client) snap_link; /* in serve.snapping */
};

/* One repository the server has seen (a client, the API, or the CSV). */
struct serve_repo {
	struct serve *sv;
	struct repo_ref ref;          /* owned */
	struct session *s;            /* the pass under way, or NULL */
	struct session_sink sink;
	int pass;                     /* id of the last pass started (0: none yet) */
	bool done;                    /* the session said done: reaped from the loop */
	bool not_found;               /* the last pass found no such repository */
	double last_ok;               /* wall clock of the last pass that ended well, 0: none */
	double last_end;              /* ... of the last pass that ended, 0: none */
	struct session_summary sum;   /* of the last pass */
	uv_timer_t watch_timer;       /* the next pass (watch_interval) */
	TAILQ_HEAD(, serve_client) clients;
	size_t nclients;
	LIST_ENTRY(serve_repo) link;
};

struct serve {
	const struct settings *user;  /* as given */
	struct settings s;            /* a shallow copy whose tokens are the pool below */
	char *pool[GOVERNOR_MAX_TOKENS]; /* the settings' tokens (borrowed), then clients' (owned) */
	int npool, nborrowed;
	uv_loop_t loop;
	struct engine e;
	struct store st;
	struct serve_index ix;        /* where each repository's rows lie (serve_api.c) */
	LIST_HEAD(, serve_repo) repos;
	size_t nrepos;
	int passes;                   /* pass ids, over every repository */
	struct serve_http *http;
	uv_signal_t sig[STOPSIG_COUNT]; /* stopsig_signals */
	uv_timer_t kick;
	uv_timer_t ping_timer;        /* pings every client (serve_ws.c) */
	uint64_t ws_ping_ms;
	TAILQ_HEAD(, serve_client) snapping; /* clients whose snapshot is under way */
	uv_timer_t snap_timer;        /* sends them more while they run */
	size_t snap_rows;             /* rows a tick (POLICY_WS_SNAPSHOT_ROWS) */              /* ends a loop iteration: the store folds at its end */
	struct engine_call reap_call;
	int stop_signal;
	bool draining, finished;
	bool io_failed;
	bool fold_pending;            /* jobs journaled since the last fold */               /* the store failed: stopping, exit code EXIT_IO */
	bool warned_query_token;
	unsigned next_client;         /* client numbers, for the log */
};

/* serve.c */
/* The repository owner/name (already checked by repo_ref_parse), added when add is true and
 * there is room; NULL otherwise. */
struct serve_repo *serve_repo_find(struct serve *sv, const char *full_name, bool add);
/* Start a pass now. Returns its id, -EBUSY when one is under way, -EACCES when there is no
 * token, -ECANCELED when the server is stopping. */
int serve_repo_pass(struct serve_repo *r);
/* A client's token joins the pool (registered as a secret; a duplicate is ignored). */
void serve_add_token(struct serve *sv, const char *token);
bool serve_has_token(const struct serve *sv);
/* Wall clock of the last complete sync (a pass of this process that ended well, or the
 * state file's), 0 when none; the data's age in seconds since then, or -1. */
double serve_repo_last_sync(const struct serve_repo *r);
double serve_repo_age(const struct serve_repo *r);

/* serve_http.c */
int serve_http_start(struct serve *sv, struct error *err);
/* Stop accepting and close every connection (run the loop after). */
void serve_http_stop(struct serve *sv);
/* Release H2O's context (its handles close: run the loop after), then free. */
void serve_http_dispose(struct serve *sv);
void serve_http_free(struct serve *sv);
/* Answer req with body (copied). */
void serve_reply(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len);
/* Answer req with {"error": message} and status. */
void serve_reply_error(h2o_req_t *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Answer with j (stolen), compact. */
void serve_reply_json(h2o_req_t *req, int status, json_t *j);
/* The value of query parameter name (decoded, malloc'ed), or NULL. */
char *serve_query(h2o_req_t *req, const char *name);
/* The GitHub token for a request that mines: Authorization: Bearer (unless it carries the
 * serve token), else the server's, else ?token= (warned about once). Returns false when none;
 * a client's token joins the pool. */
bool serve_request_token(struct serve *sv, h2o_req_t *req);
/* "ip:port" of the peer. */
void serve_peer(h2o_req_t *req, char *buf, size_t n);

/* serve_ws.c */
/* Upgrade req (a handshake with key) to a client of r: the CSV first, then live. */
void serve_ws_open(struct serve *sv, h2o_req_t *req, const char *key, struct serve_repo *r);
/* Upgrade and close at once with an error message and reason (a bad repository). */
void serve_ws_refuse(struct serve *sv, h2o_req_t *req, const char *key, int code,
		     const char *reason);
/* A message for every client of r: {"type": type, "data": text}; data is text parsed
 * (NULL when the sender only had the text). */
void serve_ws_broadcast(struct serve_repo *r, const char *type, const json_t *data,
			const char *text);
/* Queue one frame (live: counted against the client's bound). false when the client was
 * closed for being too slow. */
bool serve_ws_send(struct serve_client *c, const char *type, const char *data, bool live);
/* Queue {"type": type, "data": data} (stolen), not counted against the bound. */
void serve_ws_send_json(struct serve_client *c, const char *type, json_t *data);
/* Close with code and reason: at once (drop what is queued), or after the queue. */
void serve_ws_close(struct serve_client *c, int code, const char *reason, bool drain);
/* Close every client of r with code and reason. */
void serve_ws_close_all(struct serve_repo *r, int code, const char *reason);
/* The ping timer: start with the server, stop (close) at its end. */
void serve_ws_start(struct serve *sv);
void serve_ws_stop(struct serve *sv);

/* serve_snapshot.c */
/* A new client of its repository: send it what the CSV holds, a few rows at a time. */
void serve_snapshot_start(struct serve_client *c);
/* A live message while the snapshot is under way: held until it is over, unless the
 * snapshot will carry what it says (serve_snapshot_keeps_*). */
void serve_snapshot_hold(struct serve_client *c, const char *type, const json_t *data,
			 const char *text);
/* The client is leaving: forget its snapshot and held messages. */
void serve_snapshot_drop(struct serve_client *c);
void serve_snapshot_init(struct serve *sv);
void serve_snapshot_close(struct serve *sv);

/* serve_api.c */
/* Route /api/... and /health; false when the path is none of them (404 is the caller's). */
bool serve_api_route(struct serve *sv, h2o_req_t *req, const char *path);
/* Catch the index up with the CSV for a read of repo: *id its id there (-1: no row of it)
 * and *count its rows. 0, or a negative errno with err filled. */
int serve_rows_open(struct serve *sv, const char *repo, int *id, size_t *count,
		    struct error *err);
/* The repository's row at place, with its journaled values applied, into row (released by
 * the caller, also on error). 0, or a negative errno with err filled. */
int serve_row(struct serve *sv, int repo, size_t place, struct record *row,
	      struct error *err);

/* serve_page.c */
extern const char serve_page_html[];
extern const size_t serve_page_len;

#endif
