/* serve_http.c - H2O on the engine's libuv loop: the listener and its connection cap, the
 * routes, and the checks every request passes (serve token, WebSocket origin, GitHub
 * token). */
#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <h2o/websocket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy.h"
#include "record.h"
#include "serve_int.h"
#include "serve_rules.h"
#include "util.h"

struct serve_conn {
	uv_tcp_t tcp; /* first: h2o's close callback gets this handle */
	struct serve_http *h;
};

struct serve_http {
	struct serve *sv;
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept;
	uv_tcp_t listener;
	bool listening, ctx_ready, config_ready;
	bool dispose_pending; /* disposed once the last connection is closed */
	int conns;
	uint64_t refused_warned_ms;
	char origin[96]; /* http://HOST:PORT as the server sees itself */
};

struct serve_handler {
	h2o_handler_t super;
	struct serve *sv;
};

/* ---- replies ------------------------------------------------------------------------- */

void serve_reply(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
	req->res.status = status;
	req->res.reason = status == 200 ? "OK" : status == 202 ? "Accepted"
		: status == 400 ? "Bad Request" : status == 401 ? "Unauthorized"
		: status == 403 ? "Forbidden" : status == 404 ? "Not Found"
		: status == 405 ? "Method Not Allowed" : status == 409 ? "Conflict"
		: status == 503 ? "Service Unavailable" : "Error";
	req->res.content_length = len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
		       strlen(ctype));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store"));
	h2o_send_inline(req, body, len);
}

void serve_reply_json(h2o_req_t *req, int status, json_t *j)
{
	char *text = json_dumps(j, RECORD_JSON_FLAGS);
	json_decref(j);
	serve_reply(req, status, "application/json", text ? text : "null",
		    text ? strlen(text) : 4);
	free(text);
}

void serve_reply_error(h2o_req_t *req, int status, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	msg_vformat(text, sizeof(text), fmt, ap);
	va_end(ap);
	serve_reply_json(req, status, json_pack("{s:s}", "error", text));
}

/* ---- request parts ------------------------------------------------------------------- */

/* A request header's value (not NUL-terminated: *len), or NULL. */
static const char *header(h2o_req_t *req, const char *name, size_t *len)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < req->headers.size; i++) {
		const h2o_header_t *hd = &req->headers.entries[i];
		if (hd->name->len == n && !strncasecmp(hd->name->base, name, n)) {
			*len = hd->value.len;
			return hd->value.base;
		}
	}
	return NULL;
}

char *serve_query(h2o_req_t *req, const char *name)
{
	if (req->query_at == SIZE_MAX)
		return NULL;
	return serve_query_value(req->path.base + req->query_at + 1,
				 req->path.len - req->query_at - 1, name);
}

void serve_peer(h2o_req_t *req, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	char host[64] = "?";
	int port = 0;
	socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
	if (len && ss.ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (len && ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	snprintf(buf, n, "%s:%d", host, port);
}

/* The bearer token of the Authorization header (malloc'ed), or NULL. */
static char *bearer(h2o_req_t *req)
{
	size_t len;
	const char *v = header(req, "authorization", &len);
	if (!v || len <= 7 || strncasecmp(v, "Bearer ", 7))
		return NULL;
	return xstrndup(v + 7, len - 7);
}

static bool same_secret(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	unsigned char diff = na != nb;
	for (size_t i = 0; i < na && i < nb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

bool serve_request_token(struct serve *sv, h2o_req_t *req)
{
	char *t = sv->s.serve_token ? NULL : bearer(req);
	if (t && *t) {
		serve_add_token(sv, t);
		explicit_bzero(t, strlen(t));
		free(t);
		return true;
	}
	free(t);
	if (serve_has_token(sv))
		return true;
	t = serve_query(req, "token");
	if (!t || !*t) {
		free(t);
		return false;
	}
	serve_add_token(sv, t);
	if (!sv->warned_query_token) {
		sv->warned_query_token = true;
		msg_warn("a client passed its token in the URL (?token=): URLs end up in logs and "
			 "browser history; send it as 'Authorization: Bearer' or give the server "
			 "its own token (GITHUB_TOKEN) instead");
	}
	explicit_bzero(t, strlen(t));
	free(t);
	return true;
}

/* The serve token, when one is set: in Authorization: Bearer or ?key=. */
static bool serve_token_ok(struct serve *sv, h2o_req_t *req)
{
	char *t;
	bool ok;
	if (!sv->s.serve_token)
		return true;
	t = bearer(req);
	if (!t)
		t = serve_query(req, "key");
	ok = t && same_secret(t, sv->s.serve_token);
	if (t)
		explicit_bzero(t, strlen(t));
	free(t);
	return ok;
}

/* A browser's WebSocket carries Origin (serve_origin_allowed); other clients send none. */
static bool origin_ok(struct serve_http *h, h2o_req_t *req)
{
	size_t len;
	const char *o = header(req, "origin", &len);
	return !o || serve_origin_allowed(h->origin, req->input.authority.base,
					  req->input.authority.len, h->sv->s.allowed_origins, o, len);
}

/* ---- routes -------------------------------------------------------------------------- */

/* /stream/OWNER/REPO: a WebSocket of the repository's messages. */
static void route_stream(struct serve *sv, h2o_req_t *req, const char *rest)
{
	const char *key = NULL;
	char full[256];
	struct serve_repo *r;
	const char *slash = strchr(rest, '/');
	if (!slash || slash == rest || !slash[1] || strchr(slash + 1, '/') ||
	    strlen(rest) >= sizeof(full)) {
		serve_reply_error(req, 404, "no such path: use /stream/OWNER/REPO");
		return;
	}
	if (h2o_is_websocket_handshake(req, &key) != 0 || !key) {
		serve_reply_error(req, 400, "a WebSocket upgrade is expected on /stream/OWNER/REPO");
		return;
	}
	if (!origin_ok(sv->http, req)) {
		size_t len = 0;
		const char *o = header(req, "origin", &len);
		msg_warn("WebSocket from origin '%.*s' refused: not in allowed_origins",
			 (int)(len > 100 ? 100 : len), o);
		serve_reply_error(req, 403, "origin not allowed: add it to allowed_origins");
		return;
	}
	if (!serve_request_token(sv, req)) {
		serve_reply_error(req, 401, "no GitHub token: send 'Authorization: Bearer TOKEN' "
				  "(or start the server with GITHUB_TOKEN)");
		return;
	}
	snprintf(full, sizeof(full), "%s", rest);
	r = serve_repo_find(sv, full, true);
	if (!r) {
		struct repo_ref probe;
		bool valid = repo_ref_parse(full, &probe) == 0;
		if (valid)
			repo_ref_release(&probe);
		serve_ws_refuse(sv, req, key, POLICY_WS_CLOSE_BAD_REPO,
				valid ? "too many repositories on this server"
				      : "invalid repository name");
		return;
	}
	serve_ws_open(sv, req, key, r);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct serve *sv = ((struct serve_handler *)self)->sv;
	char path[512];
	if (req->path_normalized.len >= sizeof(path)) {
		serve_reply_error(req, 404, "no such path");
		return 0;
	}
	/* One request per connection: nothing lingers idle, and a stopping server closes at
	 * once (a WebSocket takes its connection over). */
	req->http1_is_persistent = 0;
	memcpy(path, req->path_normalized.base, req->path_normalized.len);
	path[req->path_normalized.len] = '\0';
	if (!serve_token_ok(sv, req)) {
		serve_reply_error(req, 401, "this server needs its serve token: 'Authorization: "
				  "Bearer SERVE_TOKEN' or ?key=SERVE_TOKEN");
		return 0;
	}
	if (!strncmp(path, "/stream/", 8)) {
		route_stream(sv, req, path + 8);
	} else if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
		serve_reply(req, 200, "text/html; charset=utf-8", serve_page_html, serve_page_len);
	} else if (!serve_api_route(sv, req, path)) {
		serve_reply_error(req, 404, "no such path: see / , /stream/OWNER/REPO, /api/repos, "
				  "/api/runs/OWNER/REPO, /health");
	}
	return 0;
}

/* ---- the listener -------------------------------------------------------------------- */

static void dispose(struct serve_http *h)
{
	if (h->ctx_ready)
		h2o_context_dispose(&h->ctx);
	if (h->config_ready)
		h2o_config_dispose(&h->config);
	h->ctx_ready = h->config_ready = false;
}

static void on_conn_closed(uv_handle_t *hd)
{
	struct serve_conn *c = (struct serve_conn *)hd;
	struct serve_http *h = c->h;
	free(c);
	if (--h->conns == 0 && h->dispose_pending)
		dispose(h);
}

static void on_refused_closed(uv_handle_t *hd)
{
	free(hd);
}

static void on_accept(uv_stream_t *l, int status)
{
	struct serve_http *h = l->data;
	struct serve_conn *c;
	if (status != 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	uv_tcp_init(l->loop, &c->tcp);
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
		return;
	}
	if (h->conns >= h->sv->s.serve_max_clients) {
		/* At the cap: closed at once; said at most once a minute. */
		uint64_t now = time_mono_ms();
		if (!h->refused_warned_ms || now - h->refused_warned_ms > 60000) {
			h->refused_warned_ms = now;
			msg_warn("connection refused: %d open, the cap (serve_max_clients)", h->conns);
		}
		uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
		return;
	}
	h->conns++;
	/* The kernel's share of a slow client's backlog stays small too: what a client leaves
	 * unread is then mostly in its queue, which serve_queue_kb bounds. */
	int sndbuf = POLICY_SERVE_SNDBUF;
	uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
	h2o_accept(&h->accept, h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed));
}

static int check_exposure(const struct settings *s, const struct sockaddr *sa, struct error *err)
{
	if (serve_is_loopback(sa))
		return 0;
	if (!s->allow_remote)
		return error_set(err, -EINVAL, "refusing to listen on '%s', which other machines "
				 "can reach: pass --allow-remote (with a serve_token) to mean it, or "
				 "use 127.0.0.1", s->listen);
	if (!s->serve_token || strlen(s->serve_token) < POLICY_SERVE_TOKEN_MIN)
		return error_set(err, -EINVAL, "--allow-remote needs a serve_token of at least %d "
				 "characters (config.yaml serve_token or GHAMINER_SERVE_TOKEN): every "
				 "request must carry it", POLICY_SERVE_TOKEN_MIN);
	return 0;
}

int serve_http_start(struct serve *sv, struct error *err)
{
	struct serve_http *h = xcalloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	struct sockaddr_storage bound;
	int len = sizeof(bound), rc;
	char host[64];
	h2o_hostconf_t *host_conf;
	h2o_pathconf_t *path_conf;
	struct serve_handler *handler;
	sv->http = h;
	h->sv = sv;
	if ((rc = serve_parse_listen(sv->s.listen, &ss, err)) != 0 ||
	    (rc = check_exposure(&sv->s, (struct sockaddr *)&ss, err)) != 0)
		return rc;
	h2o_config_init(&h->config);
	h->config_ready = true;
	h->config.max_request_entity_size = POLICY_SERVE_MAX_BODY;
	h->config.http1.req_timeout = POLICY_SERVE_IDLE_MS;
	host_conf = h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")),
					     65535);
	path_conf = h2o_config_register_path(host_conf, "/", 0);
	handler = (struct serve_handler *)h2o_create_handler(path_conf, sizeof(*handler));
	handler->super.on_req = on_req;
	handler->sv = sv;
	uv_tcp_init(&sv->loop, &h->listener);
	h->listener.data = h;
	h->listening = true;
	if ((rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&h->listener, 128, on_accept)) != 0)
		return error_set(err, rc, "cannot listen on '%s': %s", sv->s.listen,
				 uv_strerror(rc));
	h2o_context_init(&h->ctx, &sv->loop, &h->config);
	h->ctx_ready = true;
	h->accept.ctx = &h->ctx;
	h->accept.hosts = h->config.hosts;
	uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &len);
	if (bound.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&bound, host, sizeof(host));
		snprintf(h->origin, sizeof(h->origin), "http://[%s]:%d", host,
			 ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
	} else {
		uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof(host));
		snprintf(h->origin, sizeof(h->origin), "http://%s:%d", host,
			 ntohs(((struct sockaddr_in *)&bound)->sin_port));
	}
	/* The tests read the port from this line (listen 127.0.0.1:0 picks one). */
	msg_info("serving on %s (WebSocket ws://%s/stream/OWNER/REPO, API %s/api/repos)",
		 h->origin, h->origin + 7, h->origin);
	return 0;
}

static void on_listener_closed(uv_handle_t *hd)
{
	struct serve_http *h = hd->data;
	h->listening = false;
}

void serve_http_stop(struct serve *sv)
{
	struct serve_http *h = sv->http;
	struct serve_repo *r;
	if (!h)
		return;
	LIST_FOREACH(r, &sv->repos, link)
		serve_ws_close_all(r, 1001, "the server is stopping");
	/* No h2o_context_request_shutdown: its graceful timer would outlive the context, and
	 * a connection serves one request anyway. */
	if (h->listening && !uv_is_closing((uv_handle_t *)&h->listener))
		uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}

void serve_http_dispose(struct serve *sv)
{
	struct serve_http *h = sv->http;
	if (!h)
		return;
	/* H2O's timeouts must be empty: a connection still open (a request under way, a
	 * client that sent nothing yet: closed within POLICY_SERVE_IDLE_MS) is waited for. */
	if (h->conns > 0)
		h->dispose_pending = true;
	else
		dispose(h);
}

void serve_http_free(struct serve *sv)
{
	free(sv->http);
	sv->http = NULL;
}
