/* http.c - libcurl multi driven by libuv: uv_poll per socket, one uv_timer, completion
 * callbacks. The shape of curl's docs/examples/multi-uv.c, with its known bugs avoided:
 * finished transfers are read after every socket action, 0 ms timeouts become 1 ms, and the
 * curl timer callback never calls back into libcurl. Headers are read with curl_easy_header
 * once a transfer ends, so they are those of the final answer after any redirect. */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy.h"

#if !CURL_AT_LEAST_VERSION(7, 83, 0)
#error "libcurl 7.83 or later is needed for curl_easy_header"
#endif


struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	char *user_agent;
	long timeout_ms;
	struct http_stats stats;
	TAILQ_HEAD(, http_req) active; /* requests in flight */
	int closing;
	int open_handles; /* uv handles not yet closed: the timer and the socket polls */
	bool added;       /* a transfer was added since curl last ran its timers */
};

struct sock_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *h;
};

static void check_done(struct http *h);

/* Completions often add the next transfers. Start them now rather than on the 1 ms timer a
 * loop iteration later (after the journal's fsync): at 50 ms per request that wait was a
 * few percent of every request slot. Outside any curl callback, so not re-entrant. */
static void run_added(struct http *h)
{
	int running;
	for (int round = 0; h->added && round < 4; round++) {
		h->added = false;
		curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		check_done(h);
	}
}

static void free_when_closed(struct http *h)
{
	if (h->closing && h->open_handles == 0) {
		free(h->user_agent);
		free(h);
	}
}

static void on_sock_closed(uv_handle_t *handle)
{
	struct sock_ctx *sc = handle->data;
	struct http *h = sc->h;
	free(sc);
	h->open_handles--;
	free_when_closed(h);
}

static void on_uv_socket(uv_poll_t *poll, int status, int events)
{
	struct sock_ctx *sc = poll->data;
	int flags = 0, running;
	/* An error on the socket (a reset): let curl read it, so that it names the cause
	 * ("Connection reset by peer") instead of "select/poll returned error". */
	if (status < 0)
		flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(sc->h->multi, sc->fd, flags, &running);
	check_done(sc->h);
	run_added(sc->h);
}

static void on_uv_timeout(uv_timer_t *timer)
{
	struct http *h = timer->data;
	int running;
	h->added = false;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
	run_added(h);
}

/* CURLMOPT_TIMERFUNCTION: only arm or stop the uv timer. */
static int cb_timeout(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;
	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_uv_timeout, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch or forget a socket. */
static int cb_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sock_ctx *sc = socketp;
	(void)easy;
	if (action == CURL_POLL_REMOVE) {
		if (sc) {
			uv_poll_stop(&sc->poll);
			if (!h->closing)
				curl_multi_assign(h->multi, s, NULL);
			uv_close((uv_handle_t *)&sc->poll, on_sock_closed);
		}
		return 0;
	}
	if (!sc) {
		sc = xcalloc(1, sizeof(*sc));
		sc->fd = s;
		sc->h = h;
		if (uv_poll_init_socket(h->loop, &sc->poll, s) != 0) {
			free(sc);
			return -1;
		}
		sc->poll.data = sc;
		h->open_handles++;
		curl_multi_assign(h->multi, s, sc);
	}
	int events = 0;
	if (action != CURL_POLL_OUT)
		events |= UV_READABLE;
	if (action != CURL_POLL_IN)
		events |= UV_WRITABLE;
	uv_poll_start(&sc->poll, events, on_uv_socket);
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *userp)
{
	struct http_req *r = userp;
	if (buf_append(&r->body, p, size * n) != 0)
		return 0; /* over the cap: curl fails the transfer with CURLE_WRITE_ERROR */
	return size * n;
}

static void clear_outputs(struct http_req *r)
{
	free(r->link);
	free(r->etag);
	free(r->rl_resource);
	free(r->location);
	r->link = r->etag = r->rl_resource = r->location = NULL;
	r->rl_remaining = -1;
	r->rl_limit = -1;
	r->rl_reset = 0;
	r->retry_after = -1;
	buf_reset(&r->body);
}

/* The value of the last `name` header of the final answer (after redirects), copied, or
 * NULL. curl has already trimmed the surrounding whitespace. */
static char *header_last(CURL *e, const char *name)
{
	struct curl_header *hd;
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	if (hd->amount > 1 &&
	    curl_easy_header(e, name, hd->amount - 1, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	return xstrdup(hd->value);
}

/* Every `name` header joined with ", ": several Link headers mean the same as one with
 * the links comma-separated (RFC 8288 §3). Copied, or NULL. */
static char *header_joined(CURL *e, const char *name)
{
	struct curl_header *hd;
	struct buf b;
	size_t amount;
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	amount = hd->amount;
	buf_init(&b, 0);
	buf_appends(&b, hd->value); /* copy now: the next call reuses hd */
	for (size_t i = 1; i < amount; i++) {
		if (curl_easy_header(e, name, i, CURLH_HEADER, -1, &hd) != CURLHE_OK)
			break;
		buf_appends(&b, ", ");
		buf_appends(&b, hd->value);
	}
	return b.data;
}

/* A header's whole value as a number, or `absent` when missing or not a number: a
 * garbled X-RateLimit-Remaining must not read as 0 (the budget spent). */
static double header_number(CURL *e, const char *name, double absent)
{
	char *v = header_last(e, name), *end;
	double d = absent;
	if (v && *v) {
		d = strtod(v, &end);
		if (*end || !isfinite(d))
			d = absent;
	}
	free(v);
	return d;
}

/* Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. A date counts from the
 * answer's own Date header when it has one, so a skewed local clock does not stretch or
 * cut the wait; else from the local clock. A date in the past is 0. A value that is
 * neither is taken as GitHub's documented default for a secondary limit: 60 s. */
static double retry_after(CURL *e)
{
	char *v = header_last(e, "Retry-After"), *date, *end;
	double s;
	time_t t, now;
	if (!v)
		return -1;
	s = strtod(v, &end);
	if (end != v && !*end && isfinite(s)) {
		free(v);
		return s > 0 ? s : 0;
	}
	t = curl_getdate(v, NULL);
	free(v);
	if (t == -1)
		return 60;
	date = header_last(e, "Date");
	now = date ? curl_getdate(date, NULL) : -1;
	free(date);
	if (now == -1)
		now = time(NULL);
	return t > now ? difftime(t, now) : 0;
}

static void read_headers(struct http_req *r)
{
	CURL *e = r->easy;
	r->link = header_joined(e, "Link");
	r->etag = header_last(e, "ETag");
	r->rl_resource = header_last(e, "X-RateLimit-Resource");
	r->rl_remaining = (long)header_number(e, "X-RateLimit-Remaining", -1);
	r->rl_limit = (long)header_number(e, "X-RateLimit-Limit", -1);
	r->rl_reset = header_number(e, "X-RateLimit-Reset", 0);
	r->retry_after = retry_after(e);
}

static void finish(struct http *h, CURL *easy, CURLcode result)
{
	struct http_req *r = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	read_headers(r);
	curl_multi_remove_handle(h->multi, easy);
	TAILQ_REMOVE(&h->active, r, in_flight);
	r->result = result;
	if (result == CURLE_OK) {
		char *to = NULL;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
		/* Resolved against the request's URL by curl, which does not follow it. */
		if (r->status >= 300 && r->status < 400 &&
		    curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &to) == CURLE_OK && to)
			r->location = xstrdup(to);
	} else {
		/* Whatever arrived is not the answer: a body cut short of its Content-Length
		 * must not pass for a whole one. */
		r->status = 0;
		buf_reset(&r->body);
		if (!r->errbuf[0])
			snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(result));
	}
	h->stats.in_flight--;
	r->done(r, r->arg);
}

static void check_done(struct http *h)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(h->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			finish(h, msg->easy_handle, msg->data.result);
}

struct http *http_new(uv_loop_t *loop, double timeout_s, const char *user_agent)
{
	struct http *h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->user_agent = xstrdup(user_agent);
	h->timeout_ms = (long)(timeout_s * 1000);
	TAILQ_INIT(&h->active);
	h->multi = curl_multi_init();
	if (!h->multi) {
		free(h->user_agent);
		free(h);
		return NULL;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open_handles = 1;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, cb_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, cb_timeout);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	/* Keep idle connections for reuse: easy handles come and go with each request, and
	 * the default cache shrinks with them, which would reconnect for every request. */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, POLICY_HTTP_MAX_CONNECTS);
	return h;
}

/* The list holds a copy of the token: wipe it before it goes back to the allocator. */
static void free_headers(struct http_req *r)
{
	for (struct curl_slist *l = r->headers; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(r->headers);
	r->headers = NULL;
}

/* curl_slist_append returns NULL on failure and keeps the list: keep it too. */
static void add_header(struct http_req *r, const char *line)
{
	struct curl_slist *l = curl_slist_append(r->headers, line);
	if (l)
		r->headers = l;
}

int http_start(struct http *h, struct http_req *r)
{
	r->h = h;
	r->status = 0;
	r->errbuf[0] = '\0';
	if (!r->body.cap_limit)
		buf_init(&r->body, POLICY_HTTP_BODY_CAP);
	clear_outputs(r);
	if (!r->easy) {
		r->easy = curl_easy_init();
		if (!r->easy)
			return -ENOMEM;
	} else {
		curl_easy_reset(r->easy);
	}
	free_headers(r);
	add_header(r, "Accept: application/vnd.github+json");
	add_header(r, "X-GitHub-Api-Version: 2022-11-28");
	if (r->token) {
		char *auth = xasprintf("Authorization: Bearer %s", r->token);
		add_header(r, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (r->if_none_match) {
		char *inm = xasprintf("If-None-Match: %s", r->if_none_match);
		add_header(r, inm);
		free(inm);
	}
	if (r->post)
		add_header(r, "Content-Type: application/json");
	CURL *e = r->easy;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	if (r->post) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->post);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->post));
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* Waiting for a connection that may multiplex pays only where HTTP/2 can be agreed
	 * (TLS with ALPN); over plain http it would hold a request behind a slow answer. */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, strncasecmp(r->url, "https:", 6) == 0 ? 1L : 0L);
	/* Redirects are fetch's decision (it follows them only on the API's origin, where the
	 * token may go): curl reports them in location and never follows one itself. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
	/* TLS is always verified (these are libcurl's defaults; set so that no build and no
	 * environment can turn them off). */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms < POLICY_HTTP_CONNECT_TIMEOUT_MS ? h->timeout_ms
									      : POLICY_HTTP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		return -EIO;
	TAILQ_INSERT_TAIL(&h->active, r, in_flight);
	h->added = true;
	h->stats.requests++;
	if (++h->stats.in_flight > h->stats.max_in_flight)
		h->stats.max_in_flight = h->stats.in_flight;
	return 0;
}

void http_abort_all(struct http *h)
{
	struct http_req *r;
	while ((r = TAILQ_FIRST(&h->active)))
		finish(h, r->easy, CURLE_ABORTED_BY_CALLBACK);
}

void http_req_release(struct http_req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	free_headers(r);
	r->easy = NULL;
	clear_outputs(r);
	buf_release(&r->body);
}

const struct http_stats *http_stats(const struct http *h)
{
	return &h->stats;
}

static void on_timer_closed(uv_handle_t *handle)
{
	struct http *h = handle->data;
	h->open_handles--;
	free_when_closed(h);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	http_abort_all(h);
	/* curl_multi_cleanup may still call cb_socket to remove sockets: close polls there. */
	h->closing = 1;
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
