/* testserver.c - a scripted HTTP/1.1 server on 127.0.0.1 in its own thread. Included by the
 * tests that use it, not built on its own (tests/CMakeLists.txt builds test_*.c). */
#include "testserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Read a request head (up to the blank line) within two seconds. Caller frees. */
static char *ts_read_head(int fd)
{
	size_t cap = 8192, len = 0;
	char *head = malloc(cap);
	if (!head)
		return NULL;
	while (len + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (poll(&p, 1, 2000) <= 0)
			break;
		n = read(fd, head + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		head[len] = '\0';
		if (strstr(head, "\r\n\r\n"))
			return head;
	}
	free(head);
	return NULL;
}

static void ts_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* The first route matching the path that has answers left; counts the answer. Under lock. */
static const struct testserver_route *ts_route(struct testserver *ts, const char *head)
{
	/* "GET /path HTTP/1.1" */
	const char *path = strchr(head, ' ');
	if (!path)
		return NULL;
	path++;
	for (size_t i = 0; i < ts->nroutes; i++) {
		if (strncmp(path, ts->routes[i].prefix, strlen(ts->routes[i].prefix)) != 0)
			continue;
		if (i < TESTSERVER_MAX_ROUTES) {
			if (ts->times[i] > 0 && ts->hits[i] >= ts->times[i])
				continue;
			ts->hits[i]++;
		}
		return &ts->routes[i];
	}
	return NULL;
}

static uint64_t ts_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void ts_serve(struct testserver *ts, int fd)
{
	static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
					"Connection: close\r\n\r\n";
	char *head = ts_read_head(fd);
	const struct testserver_route *r;
	if (!head) {
		close(fd);
		return;
	}
	uint64_t now = ts_now_ms();
	pthread_mutex_lock(&ts->lock);
	char **grown = realloc(ts->requests, (ts->nrequests + 1) * sizeof(*grown));
	if (grown)
		ts->requests = grown;
	uint64_t *when = grown ? realloc(ts->arrived_ms, (ts->nrequests + 1) * sizeof(*when))
			       : NULL;
	if (when) {
		ts->arrived_ms = when;
		ts->arrived_ms[ts->nrequests] = now;
		ts->requests[ts->nrequests++] = head;
	} else {
		free(head);
		head = NULL;
	}
	r = head ? ts_route(ts, head) : NULL;
	pthread_mutex_unlock(&ts->lock);
	if (!r) {
		ts_write_all(fd, not_found, sizeof(not_found) - 1);
	} else if (r->action == TS_ANSWER) {
		ts_write_all(fd, r->answer, r->len ? r->len : strlen(r->answer));
	} else if (r->action == TS_RESET) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else if (ts->nheld < TESTSERVER_MAX_HELD) {
		ts->held[ts->nheld++] = fd;
		return;
	}
	if (r && r->action == TS_ANSWER)
		shutdown(fd, SHUT_WR); /* the answer ends here: a body cut short stays short */
	close(fd);
}

static void *ts_main(void *arg)
{
	struct testserver *ts = arg;
	while (!ts->stop) {
		struct pollfd p = {.fd = ts->fd, .events = POLLIN};
		if (poll(&p, 1, 20) <= 0)
			continue;
		int c = accept(ts->fd, NULL, NULL);
		if (c >= 0)
			ts_serve(ts, c);
	}
	return NULL;
}

int testserver_start(struct testserver *ts, const struct testserver_route *routes,
		     size_t nroutes)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int one = 1, rc;
	memset(ts, 0, sizeof(*ts));
	ts->routes = routes;
	ts->nroutes = nroutes;
	ts->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ts->fd < 0)
		return -errno;
	setsockopt(ts->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ts->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ts->fd, 512) != 0 ||
	    getsockname(ts->fd, (struct sockaddr *)&a, &alen) != 0) {
		rc = -errno;
		close(ts->fd);
		return rc;
	}
	ts->port = ntohs(a.sin_port);
	pthread_mutex_init(&ts->lock, NULL);
	rc = pthread_create(&ts->thread, NULL, ts_main, ts);
	if (rc != 0) {
		close(ts->fd);
		pthread_mutex_destroy(&ts->lock);
		return -rc;
	}
	return 0;
}

void testserver_stop(struct testserver *ts)
{
	ts->stop = true;
	pthread_join(ts->thread, NULL);
	close(ts->fd);
	for (size_t i = 0; i < ts->nheld; i++)
		close(ts->held[i]);
	for (size_t i = 0; i < ts->nrequests; i++)
		free(ts->requests[i]);
	free(ts->requests);
	free(ts->arrived_ms);
	pthread_mutex_destroy(&ts->lock);
}

size_t testserver_count(struct testserver *ts)
{
	pthread_mutex_lock(&ts->lock);
	size_t n = ts->nrequests;
	pthread_mutex_unlock(&ts->lock);
	return n;
}

void testserver_times(struct testserver *ts, size_t route, int times)
{
	if (route >= TESTSERVER_MAX_ROUTES) {
		fprintf(stderr, "testserver: route %zu cannot be scripted (max %d)\n", route,
			TESTSERVER_MAX_ROUTES);
		abort();
	}
	pthread_mutex_lock(&ts->lock);
	ts->times[route] = times;
	pthread_mutex_unlock(&ts->lock);
}

uint64_t testserver_arrival_ms(struct testserver *ts, size_t i)
{
	uint64_t t = 0;
	pthread_mutex_lock(&ts->lock);
	if (i < ts->nrequests)
		t = ts->arrived_ms[i];
	pthread_mutex_unlock(&ts->lock);
	return t;
}

char *testserver_request(struct testserver *ts, size_t i)
{
	char *copy = NULL;
	pthread_mutex_lock(&ts->lock);
	if (i < ts->nrequests)
		copy = strdup(ts->requests[i]);
	pthread_mutex_unlock(&ts->lock);
	return copy;
}

char *testserver_answer(const char *status_line, const char *headers, const char *body,
			size_t body_len)
{
	char *head = NULL, *out;
	int n = asprintf(&head, "%s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status_line, headers, body_len);
	if (n < 0)
		return NULL;
	out = malloc((size_t)n + body_len + 1);
	if (out) {
		memcpy(out, head, (size_t)n);
		memcpy(out + n, body, body_len);
		out[(size_t)n + body_len] = '\0';
	}
	free(head);
	return out;
}

void testserver_client_setup(void)
{
	const char *proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
				 "all_proxy", "ALL_PROXY"};
	for (size_t i = 0; i < sizeof(proxies) / sizeof(*proxies); i++)
		unsetenv(proxies[i]);
	signal(SIGPIPE, SIG_IGN);
	alarm(50); /* instead of waiting for ctest's timeout */
}
