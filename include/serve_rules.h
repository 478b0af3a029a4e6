/* serve_rules.h - the pure decisions of `ghaminer serve`, apart from sockets and H2O so
 * that tests/unit/test_serve_rules.c can check them: the listen address, loopback,
 * WebSocket origins, query parameters, the run filter of the API, and which live messages
 * a late joiner's snapshot makes redundant. */
#ifndef GHAMINER_SERVE_RULES_H
#define GHAMINER_SERVE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "error.h"
#include "record.h"

/* HOST:PORT or [V6]:PORT, "localhost" meaning 127.0.0.1; the host must be an IP address.
 * 0, or -EINVAL with err filled. */
int serve_parse_listen(const char *text, struct sockaddr_storage *ss, struct error *err);
/* 127.0.0.0/8 or ::1. */
bool serve_is_loopback(const struct sockaddr *sa);

/* Whether a WebSocket from origin o (len bytes) may connect: o is own ("http://IP:PORT" as
 * the server sees itself), or "http://" + host (hl bytes, the Host asked for) when that host
 * is a loopback name (localhost, 127.0.0.1, [::1], with or without a port: a DNS rebinding
 * page has another name), or one of list (comma separated, blanks trimmed, "*" for any;
 * NULL: none). Case-insensitive. */
bool serve_origin_allowed(const char *own, const char *host, size_t hl, const char *list,
			  const char *o, size_t len);

/* Percent-decoding ('+' is a blank); malformed escapes are kept as they are. Caller frees. */
char *serve_url_decode(const char *s, size_t n);
/* The decoded value of name in a query string (q, qlen bytes, without '?'): "" for a bare
 * "name", NULL when absent. Caller frees. */
char *serve_query_value(const char *q, size_t qlen, const char *name);

/* The API's run filter: NULL / 0 fields match anything. since and until compare
 * created_at as text, until as a prefix (until=2024-01-31 includes that whole day). */
struct serve_run_filter {
	char *since, *until, *status, *conclusion;
	int64_t workflow_id;
};
bool serve_run_matches(const struct serve_run_filter *f, const struct record *row);

/* A late joiner first gets the CSV's part: its repository's rows [0, end) as they are
 * when each is read, in two sweeps (runs, then the jobs of those collected); pos is the
 * next place the sweep under way reads. Live messages meanwhile are held until it is over,
 * except those that would repeat what it is yet to read. */
enum serve_sweep { SWEEP_RUNS, SWEEP_JOBS };
/* Whether a live message about the run at place (-1: not in the index, a row written after
 * the join) must still reach the client: about its row (a changed run) or about its jobs.
 * What the sweeps read later already holds it; what they read before does not. */
bool serve_snapshot_keeps_run(enum serve_sweep sweep, size_t pos, size_t end, long place);
bool serve_snapshot_keeps_jobs(enum serve_sweep sweep, size_t pos, size_t end, long place);

#endif
