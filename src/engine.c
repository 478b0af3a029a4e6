/* engine.c - the loop's shared parts: fetch with its governor and token pool, and deferred
 * calls. */
#include "engine.h"

#include <errno.h>
#include <stdlib.h>

#include "gql.h"
#include "msg.h"
#include "util.h"

static void on_defer_timer(uv_timer_t *t)
{
	struct engine *e = t->data;
	struct engine_call *c;
	/* A call may queue others: they run in this same turn, in order. */
	while ((c = TAILQ_FIRST(&e->deferred))) {
		TAILQ_REMOVE(&e->deferred, c, link);
		c->queued = false;
		c->fn(c->arg);
	}
}

int engine_init(struct engine *e, uv_loop_t *loop, const struct settings *s, struct error *err)
{
	struct fetch_config cfg = {
		.tokens = (const char *const *)s->tokens,
		.ntokens = (int)s->ntokens,
		.max_in_flight = s->max_in_flight,
		.per_minute = s->requests_per_minute,
		.graphql_per_minute = s->graphql_points_per_minute,
		.same_user = s->tokens_same_user,
		.reserve = s->budget_reserve,
		.max_retries = s->max_retries,
		.timeout_s = s->request_timeout,
		.origin = s->api_url,
	};
	e->loop = loop;
	e->api_url = s->api_url;
	e->max_in_flight = s->max_in_flight;
	e->clients = 0;
	e->closed = false;
	TAILQ_INIT(&e->deferred);
	e->graphql_url = s->graphql_url ? xstrdup(s->graphql_url) : gql_endpoint(s->api_url);
	e->graphql_off = s->jobs_api == JOBS_API_REST;
	e->fetch = fetch_new(loop, &cfg);
	if (!e->fetch)
		return error_set(err, -ENOMEM, "cannot initialise libcurl");
	uv_timer_init(loop, &e->defer_timer);
	e->defer_timer.data = e;
	return 0;
}

void engine_defer(struct engine *e, struct engine_call *c, void (*fn)(void *), void *arg)
{
	if (c->queued || e->closed)
		return;
	c->fn = fn;
	c->arg = arg;
	c->queued = true;
	TAILQ_INSERT_TAIL(&e->deferred, c, link);
	uv_timer_start(&e->defer_timer, on_defer_timer, 0, 0);
}

void engine_undefer(struct engine *e, struct engine_call *c)
{
	if (!c->queued)
		return;
	TAILQ_REMOVE(&e->deferred, c, link);
	c->queued = false;
}

void engine_graphql_off(struct engine *e, const char *why)
{
	if (e->graphql_off)
		return;
	e->graphql_off = true;
	msg_warn("job details through REST from now on: %s", why);
}

void engine_stop(struct engine *e)
{
	fetch_stop(e->fetch);
}

void engine_close(struct engine *e)
{
	if (e->closed)
		return;
	e->closed = true;
	fetch_free(e->fetch);
	e->fetch = NULL;
	free(e->graphql_url);
	e->graphql_url = NULL;
	uv_close((uv_handle_t *)&e->defer_timer, NULL);
}
