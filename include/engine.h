/* engine.h - what every repository session of a process shares: the loop, fetch (with the
 * governor and the token pool) and deferred calls. Knows nothing of repositories. */
#ifndef GHAMINER_ENGINE_H
#define GHAMINER_ENGINE_H

#include <stdbool.h>
#include <sys/queue.h>
#include <uv.h>

#include "error.h"
#include "fetch.h"
#include "settings.h"

/* A call run later from the loop, never inside the callback that asked for it: where
 * teardown happens. Embedded in its caller's struct. */
struct engine_call {
	void (*fn)(void *arg);
	void *arg;
	bool queued;
	TAILQ_ENTRY(engine_call) link;
};

struct engine {
	uv_loop_t *loop;
	struct fetch *fetch;
	const char *api_url; /* borrowed from the settings */
	int max_in_flight;
	int clients;         /* request owners alive (sessions): shares the jobs window */
	char *graphql_url;   /* GraphQL endpoint (graphql_url, else derived from api_url) */
	bool graphql_off;    /* GraphQL cannot serve this process (said once, with why) */
	bool graphql_verified; /* a cross-check passed: later sessions trust GraphQL */
	uv_timer_t defer_timer;
	TAILQ_HEAD(, engine_call) deferred;
	bool closed;
};

/* 0, or a negative errno with err filled. */
int engine_init(struct engine *e, uv_loop_t *loop, const struct settings *s, struct error *err);
/* Run fn(arg) from the loop soon; c must stay valid until then. Once per c while queued. */
void engine_defer(struct engine *e, struct engine_call *c, void (*fn)(void *), void *arg);
/* Forget c if it is queued (its owner is going away). */
void engine_undefer(struct engine *e, struct engine_call *c);
/* GraphQL cannot serve: say why, once, and let REST take over everywhere. */
void engine_graphql_off(struct engine *e, const char *why);
/* Cancel every request: the process is stopping. */
void engine_stop(struct engine *e);
/* Free fetch and close the handles (run the loop to let them close). Call when no request
 * is pending. */
void engine_close(struct engine *e);

#endif
