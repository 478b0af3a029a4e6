/* fetch_answer.c - what an HTTP answer means for a request: final, retried after a backoff,
 * held for a limit, moved to another token or followed on a redirect. */
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "fetch_int.h"
#include "msg.h"
#include "policy.h"
#include "util.h"

/* In a thread-pool thread: touches only this request's body and result. */
static void decode_body(uv_work_t *w)
{
	struct fetch_req *r = w->data;
	r->decode(r, r->arg);
}

static void schedule_retry(struct fetch *f, struct fetch_req *r, const char *why);

/* A 2xx body that is not what was asked for is transient like a 5xx: retried within the
 * same bound, then final as GA_RETRY. */
static void retry_malformed(struct fetch *f, struct fetch_req *r)
{
	r->malformed = false;
	json_decref(r->json);
	r->json = NULL;
	r->answer = GA_RETRY;
	snprintf(r->http.errbuf, sizeof(r->http.errbuf), "malformed answer (HTTP %ld)%s",
		 r->http.status, ghapi_is_html(r->http.body.data, r->http.body.len) ? ": an HTML "
		 "page, not JSON; if it persists, check that --api-url is the API "
		 "(https://api.github.com, or https://HOST/api/v3)" : "");
	if (r->attempts > f->max_retries) {
		fetch_decide(f, r, FETCH_ANSWERED);
		return;
	}
	schedule_retry(f, r, r->http.errbuf);
	fetch_pump(f);
}

static void after_decode(uv_work_t *w, int status)
{
	struct fetch_req *r = w->data;
	struct fetch *f = r->f;
	f->decoding--;
	if (f->freed) {
		/* Stopped and closed while decoding: nobody is left to hand it to. */
		fetch_req_free(r);
		fetch_free_if_done(f);
		return;
	}
	if (status != 0 || f->stopping || r->owner->cancelled)
		fetch_decide(f, r, FETCH_CANCELLED);
	else if (r->malformed)
		retry_malformed(f, r);
	else
		fetch_decide(f, r, FETCH_ANSWERED);
}

/* A 401 in a pool drops the token (said once) and the request goes to another; only when
 * none is left is the answer final. Returns true when the request was queued again. */
static bool retry_other_token(struct fetch *f, struct fetch_req *r)
{
	if (f->ntokens <= 1)
		return false;
	int live = governor_drop_token(&f->gov, -1);
	if (!f->gov.tok[r->token].dead) {
		live = governor_drop_token(&f->gov, r->token);
		msg_warn("token #%d of %d was rejected (401 Bad credentials): dropped, %d left",
			 r->token + 1, f->ntokens, live);
	}
	if (live == 0)
		return false;
	r->attempts--;
	fetch_requeue_front(f, r);
	return true;
}

/* Queue a failed attempt again after its backoff, and say so (no token in the URL). */
static void schedule_retry(struct fetch *f, struct fetch_req *r, const char *why)
{
	uint64_t now = time_mono_ms();
	r->not_before = now + governor_backoff_ms(r->attempts, fetch_jitter(f));
	msg_info("retrying %s in %.1f s (attempt %d of %d): %s", r->url,
		 (double)(r->not_before - now) / 1000.0, r->attempts + 1, f->max_retries + 1, why);
	fetch_enqueue(f, r);
}

/* A 3xx: asked again at once where it points when that is on the API's origin (a renamed
 * repository's 301 stays on api.github.com), else the final answer, GA_FATAL, so that the
 * token never goes to another host. true when r was handled. */
static bool take_redirect(struct fetch *f, struct fetch_req *r, const struct http_req *hr)
{
	const char *to = hr->location;
	if (hr->status != 301 && hr->status != 302 && hr->status != 303 && hr->status != 307 &&
	    hr->status != 308)
		return false;
	if (!to || (f->origin && !ghapi_same_origin(f->origin, to))) {
		msg_error("%s redirected to '%s', which is not on %s: not followed, so that the "
			  "token stays on the API's host; check --api-url", r->url,
			  to ? to : "(no Location)", f->origin ? f->origin : "the API");
		snprintf(r->http.errbuf, sizeof(r->http.errbuf), "redirected off the API");
	} else if (r->redirects >= POLICY_FETCH_MAX_REDIRECTS) {
		msg_error("%s: more than %d redirects; check --api-url", r->url,
			  POLICY_FETCH_MAX_REDIRECTS);
		snprintf(r->http.errbuf, sizeof(r->http.errbuf), "too many redirects");
	} else {
		r->redirects++;
		free(r->moved_to);
		r->moved_to = xstrdup(to);
		fetch_requeue_front(f, r);
		return true;
	}
	r->attempts++;
	r->answer = GA_FATAL;
	fetch_decide(f, r, FETCH_ANSWERED);
	return true;
}

/* Decide what an HTTP answer means: final, or queued again (retry, limit, other token).
 * budget: the one the rate-limit headers describe, or -1. */
static void take_answer(struct fetch *f, struct fetch_req *r, const struct http_req *hr,
			int budget)
{
	uint64_t now = time_mono_ms();
	double now_epoch = time_now();
	if (take_redirect(f, r, hr))
		return;
	r->attempts++;
	r->answer = (r->resource == FETCH_GRAPHQL ? ghapi_classify_graphql : ghapi_classify)(
		hr->status, hr->rl_remaining, hr->retry_after >= 0, hr->body.data);
	/* RATE_LIMITED with points left: the query costs more than remains. It waits for the
	 * reset, unless it costs more than a whole window (then it can never pass). */
	if (r->resource == FETCH_GRAPHQL && r->answer == GA_SECONDARY &&
	    ghapi_graphql_rate_limited(hr->body.data) && hr->rl_remaining >= 0 &&
	    r->cost > hr->rl_remaining)
		r->answer = hr->rl_limit > 0 && r->cost > hr->rl_limit ? GA_FATAL : GA_PRIMARY;
	switch (r->answer) {
	case GA_AUTH:
		if (!retry_other_token(f, r))
			fetch_decide(f, r, FETCH_ANSWERED);
		break;
	case GA_PRIMARY:
		/* Said by announce_limiting once no token has budget left; in a pool the
		 * others carry on meanwhile. */
		governor_primary(&f->gov, r->token,
				 budget < 0 ? r->resource : (enum fetch_resource)budget,
				 hr->rl_reset > 0 ? hr->rl_reset : now_epoch + POLICY_UNKNOWN_RESET_S);
		r->attempts--; /* waiting for the budget is not a failed attempt */
		fetch_requeue_front(f, r);
		break;
	case GA_SECONDARY:
		if (governor_secondary(&f->gov, now, hr->retry_after) && f->on_wait)
			f->on_wait(f->wait_arg, "secondary rate limit reached",
				   now_epoch + (double)(f->gov.pause_until - now) / 1000.0, 0);
		if (r->attempts > f->max_retries + POLICY_SECONDARY_EXTRA_ATTEMPTS)
			fetch_decide(f, r, FETCH_ANSWERED);
		else
			fetch_requeue_front(f, r);
		break;
	case GA_RETRY:
		if (r->attempts > f->max_retries)
			fetch_decide(f, r, FETCH_ANSWERED);
		else
			schedule_retry(f, r, hr->status ? "server error" : hr->errbuf);
		break;
	default:
		governor_success(&f->gov);
		if (r->decode && r->answer == GA_OK) {
			f->decoding++;
			uv_queue_work(f->loop, &r->work, decode_body, after_decode);
			break;
		}
		fetch_decide(f, r, FETCH_ANSWERED);
		break;
	}
}

/* The budget an answer's rate-limit headers describe: X-RateLimit-Resource ("core" is REST),
 * else the request's own; -1 for another one ("search" …), which the governor does not
 * keep. */
static int answer_budget(const struct fetch_req *r, const struct http_req *hr)
{
	if (!hr->rl_resource)
		return (int)r->resource;
	if (!strcmp(hr->rl_resource, "core"))
		return FETCH_REST;
	if (!strcmp(hr->rl_resource, "graphql"))
		return FETCH_GRAPHQL;
	return -1;
}

void fetch_on_http_done(struct http_req *hr, void *arg)
{
	struct fetch_req *r = arg;
	struct fetch *f = r->f;
	int budget = answer_budget(r, hr);
	governor_done(&f->gov, r->token, r->resource, r->cost);
	if (budget >= 0)
		governor_observe(&f->gov, r->token, (enum fetch_resource)budget, hr->rl_remaining,
				 hr->rl_limit, hr->rl_reset);
	if (f->stopping || r->owner->cancelled || hr->result == CURLE_ABORTED_BY_CALLBACK)
		fetch_decide(f, r, FETCH_CANCELLED);
	else
		take_answer(f, r, hr, budget);
	fetch_pump(f);
}

