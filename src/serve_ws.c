/* serve_ws.c - WebSocket clients of a repository: what the CSV holds first
 * (serve_snapshot.c), then the live messages, one JSON object per text frame, each client
 * with a bounded queue. */
#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <h2o/websocket.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy.h"
#include "record.h"
#include "serve_int.h"
#include "util.h"

static size_t bound(const struct serve *sv)
{
	return (size_t)sv->s.serve_queue_kb * 1024;
}

static void detach(struct serve_client *c)
{
	if (!c->repo)
		return;
	serve_snapshot_drop(c);
	TAILQ_REMOVE(&c->repo->clients, c, link);
	c->repo->nclients--;
	c->repo = NULL;
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Gone: the peer closed, the socket failed, or our close was answered. */
static void client_gone(struct serve_client *c)
{
	if (c->repo)
		msg_info("client #%u (%s) left %s", c->id, c->peer, c->repo->ref.full_name);
	detach(c);
	if (c->ws) {
		h2o_websocket_close(c->ws);
		c->ws = NULL;
	}
	uv_timer_stop(&c->timer);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

static void on_ws_message(h2o_websocket_conn_t *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
	struct serve_client *c = ws->data;
	if (!arg) {
		client_gone(c);
		return;
	}
	/* Anything a client sends is ignored (the stream goes one way), but it is alive. */
	c->heard_ms = time_mono_ms();
}

static void on_close_timeout(uv_timer_t *t)
{
	struct serve_client *c = t->data;
	/* Not upgraded yet: H2O still holds the connection and will call on_ws_message
	 * (NULL on failure); freeing it under H2O's feet would be a use after free. */
	if (c->ws && !c->ws->sock) {
		uv_timer_start(t, on_close_timeout, POLICY_WS_CLOSE_WAIT_MS, 0);
		return;
	}
	client_gone(c);
}

/* Send what is queued. Until the 101 is out (H2O then sets sock and proceeds by itself),
 * frames only wait in the queue. */
static void proceed(struct serve_client *c)
{
	if (c->ws && c->ws->sock)
		h2o_websocket_proceed(c->ws);
}

static void send_close(struct serve_client *c)
{
	wslay_event_queue_close(c->ws->ws_ctx, (uint16_t)c->close_code,
				(const uint8_t *)c->close_reason, strlen(c->close_reason));
	uv_timer_start(&c->timer, on_close_timeout, POLICY_WS_CLOSE_WAIT_MS, 0);
	proceed(c);
}

/* A close after the queue: wslay sends a close frame ahead of queued messages, so the last
 * messages (an error, the end of a pass) wait until they are written, for a while. */
static void on_drain_tick(uv_timer_t *t)
{
	struct serve_client *c = t->data;
	if (!c->ws)
		return;
	c->drain_ticks++;
	if (wslay_event_get_queued_msg_count(c->ws->ws_ctx) == 0 ||
	    c->drain_ticks * POLICY_WS_DRAIN_TICK_MS >= POLICY_WS_CLOSE_WAIT_MS) {
		uv_timer_stop(t);
		send_close(c);
	}
}

/* Close with code and reason: at once (drop what is queued), or after the queue. */
void serve_ws_close(struct serve_client *c, int code, const char *reason, bool drain)
{
	if (c->closing || !c->ws)
		return;
	c->closing = true;
	detach(c);
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	if (drain && wslay_event_get_queued_msg_count(c->ws->ws_ctx) > 0)
		uv_timer_start(&c->timer, on_drain_tick, POLICY_WS_DRAIN_TICK_MS,
			       POLICY_WS_DRAIN_TICK_MS);
	else
		send_close(c);
}

bool serve_ws_send(struct serve_client *c, const char *type, const char *data, bool live)
{
	struct buf frame;
	size_t queued, len;
	if (c->closing || !c->ws)
		return false;
	queued = wslay_event_get_queued_msg_length(c->ws->ws_ctx);
	if (queued <= bound(c->sv))
		c->allowance = bound(c->sv);
	buf_init(&frame, 0);
	buf_appends(&frame, "{\"type\":\"");
	buf_appends(&frame, type);
	buf_appends(&frame, "\",\"data\":");
	buf_appends(&frame, data);
	buf_appends(&frame, "}");
	len = frame.len;
	if (live && queued + len > c->allowance) {
		char reason[96];
		msg_warn("client #%u (%s) on %s closed: %zu KiB of messages unread, over the bound "
			 "of %d KiB (serve_queue_kb)", c->id, c->peer,
			 c->repo ? c->repo->ref.full_name : "?", queued / 1024, c->sv->s.serve_queue_kb);
		snprintf(reason, sizeof(reason), "client too slow: %zu KiB unread", queued / 1024);
		buf_release(&frame);
		serve_ws_close(c, 1013, reason, false);
		return false;
	}
	struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)frame.data, len};
	wslay_event_queue_msg(c->ws->ws_ctx, &m);
	buf_release(&frame);
	if (!live)
		c->allowance += len;
	proceed(c);
	return true;
}

void serve_ws_broadcast(struct serve_repo *r, const char *type, const json_t *data,
			const char *text)
{
	struct serve_client *c, *next;
	for (c = TAILQ_FIRST(&r->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->snapping)
			serve_snapshot_hold(c, type, data, text);
		else
			serve_ws_send(c, type, text, true);
	}
}

void serve_ws_close_all(struct serve_repo *r, int code, const char *reason)
{
	struct serve_client *c;
	while ((c = TAILQ_FIRST(&r->clients)))
		serve_ws_close(c, code, reason, true);
}

/* ---- opening --------------------------------------------------------------------------- */

void serve_ws_send_json(struct serve_client *c, const char *type, json_t *data)
{
	char *text = json_dumps(data, RECORD_JSON_FLAGS);
	json_decref(data);
	if (text)
		serve_ws_send(c, type, text, false);
	free(text);
}

static struct serve_client *upgrade(struct serve *sv, h2o_req_t *req, const char *key)
{
	struct serve_client *c = xcalloc(1, sizeof(*c));
	c->sv = sv;
	c->id = ++sv->next_client;
	c->allowance = bound(sv);
	c->heard_ms = time_mono_ms();
	serve_peer(req, c->peer, sizeof(c->peer));
	uv_timer_init(&sv->loop, &c->timer);
	c->timer.data = c;
	c->ws = h2o_upgrade_to_websocket(req, key, c, on_ws_message);
	wslay_event_config_set_max_recv_msg_length(c->ws->ws_ctx, POLICY_WS_MAX_FRAME);
	return c;
}

void serve_ws_open(struct serve *sv, h2o_req_t *req, const char *key, struct serve_repo *r)
{
	struct serve_client *c = upgrade(sv, req, key);
	int pass;
	c->repo = r;
	TAILQ_INSERT_TAIL(&r->clients, c, link);
	r->nclients++;
	msg_info("client #%u (%s) joined %s", c->id, c->peer, r->ref.full_name);
	serve_snapshot_start(c);
	if (!r->s && (pass = serve_repo_pass(r)) < 0 && pass != -EBUSY)
		serve_ws_close(c, 1011, "cannot start mining: the server is stopping", true);
}

void serve_ws_refuse(struct serve *sv, h2o_req_t *req, const char *key, int code,
		     const char *reason)
{
	struct serve_client *c = upgrade(sv, req, key);
	msg_info("client #%u (%s) refused: %s", c->id, c->peer, reason);
	serve_ws_send_json(c, "error", json_pack("{s:s}", "message", reason));
	serve_ws_close(c, code, reason, true);
}

/* ---- idle clients -------------------------------------------------------------------- */

/* Every interval: ping each client; one that sent nothing (no pong) for two intervals is
 * gone without a word (a dropped network) and is closed. */
static void on_ping_timer(uv_timer_t *t)
{
	struct serve *sv = t->data;
	uint64_t now = time_mono_ms(), every = sv->ws_ping_ms;
	struct serve_repo *r;
	struct serve_client *c, *next;
	LIST_FOREACH(r, &sv->repos, link) {
		for (c = TAILQ_FIRST(&r->clients); c; c = next) {
			next = TAILQ_NEXT(c, link);
			if (now - c->heard_ms > 2 * every) {
				msg_warn("client #%u (%s) on %s closed: no answer to pings for %.0f s",
					 c->id, c->peer, r->ref.full_name,
					 (double)(now - c->heard_ms) / 1000);
				serve_ws_close(c, 1001, "idle: no answer to pings", false);
				continue;
			}
			struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"", 0};
			wslay_event_queue_msg(c->ws->ws_ctx, &ping);
			proceed(c);
		}
	}
}

void serve_ws_start(struct serve *sv)
{
	const char *env = getenv("GHAMINER_WS_PING_MS"); /* the tests' shorter interval */
	sv->ws_ping_ms = env ? strtoull(env, NULL, 10) : POLICY_WS_PING_MS;
	if (sv->ws_ping_ms < 10)
		sv->ws_ping_ms = 10;
	serve_snapshot_init(sv);
	uv_timer_init(&sv->loop, &sv->ping_timer);
	sv->ping_timer.data = sv;
	uv_timer_start(&sv->ping_timer, on_ping_timer, sv->ws_ping_ms, sv->ws_ping_ms);
	/* Pings alone must not keep a stopping server's loop alive. */
	uv_unref((uv_handle_t *)&sv->ping_timer);
}

void serve_ws_stop(struct serve *sv)
{
	serve_snapshot_close(sv);
	uv_close((uv_handle_t *)&sv->ping_timer, NULL);
}
