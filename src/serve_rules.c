/* serve_rules.c - the pure decisions of `ghaminer serve`: listen address, loopback,
 * origins, query parameters, run filter, a late joiner's held messages. */
#include "serve_rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "util.h"

bool serve_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	return sa->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

int serve_parse_listen(const char *text, struct sockaddr_storage *ss, struct error *err)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	size_t hn = colon ? (size_t)(colon - text) : 0;
	memset(ss, 0, sizeof(*ss));
	if (!colon || !colon[1] || *end || port < 0 || port > 65535 || hn == 0 ||
	    hn >= sizeof(host))
		return error_set(err, -EINVAL, "invalid listen address '%s': use HOST:PORT, e.g. "
				 "127.0.0.1:3000", text);
	if (hn >= 2 && text[0] == '[' && text[hn - 1] == ']') {
		memcpy(host, text + 1, hn - 2);
		host[hn - 2] = '\0';
		if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
			return 0;
	} else if (text[0] != '[') {
		memcpy(host, text, hn);
		host[hn] = '\0';
		if (!strcmp(host, "localhost"))
			strcpy(host, "127.0.0.1");
		if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
			return 0;
	}
	return error_set(err, -EINVAL, "invalid listen address '%s': the host must be an IP "
			 "address (or localhost)", text);
}

/* "http://" + host, and host is a loopback name. */
static bool same_loopback_host(const char *host, size_t hl, const char *o, size_t len)
{
	static const char *const loopback[] = {"localhost", "127.0.0.1", "[::1]"};
	if (!host || !hl || len != 7 + hl || strncasecmp(o, "http://", 7) ||
	    strncasecmp(o + 7, host, hl))
		return false;
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		size_t n = strlen(loopback[i]);
		if (hl >= n && !strncasecmp(host, loopback[i], n) && (hl == n || host[n] == ':'))
			return true;
	}
	return false;
}

bool serve_origin_allowed(const char *own, const char *host, size_t hl, const char *list,
			  const char *o, size_t len)
{
	if (own && len == strlen(own) && !strncasecmp(o, own, len))
		return true;
	if (same_loopback_host(host, hl, o, len))
		return true;
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		const char *a = p;
		size_t an = n;
		while (an && *a == ' ')
			a++, an--;
		while (an && a[an - 1] == ' ')
			an--;
		if ((an == len && !strncasecmp(a, o, len)) || (an == 1 && *a == '*'))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

char *serve_url_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i] == '+' ? ' ' : s[i];
		}
	}
	*o = '\0';
	return out;
}

char *serve_query_value(const char *q, size_t qlen, const char *name)
{
	size_t n = strlen(name);
	const char *end = q + qlen;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - q) > n && !strncmp(q, name, n) && q[n] == '=')
			return serve_url_decode(q + n + 1, (size_t)(stop - q) - n - 1);
		if ((size_t)(stop - q) == n && !strncmp(q, name, n))
			return xstrdup("");
		q = stop + 1;
	}
	return NULL;
}

static bool same(const char *cell, const char *want)
{
	return cell && !strcmp(cell, want);
}

bool serve_run_matches(const struct serve_run_filter *f, const struct record *row)
{
	const char *created = row->v[COL_CREATED_AT] ? row->v[COL_CREATED_AT] : "";
	if (f->since && strcmp(created, f->since) < 0)
		return false;
	if (f->until && strncmp(created, f->until, strlen(f->until)) > 0)
		return false;
	if ((f->status && !same(row->v[COL_STATUS], f->status)) ||
	    (f->conclusion && !same(row->v[COL_CONCLUSION], f->conclusion)))
		return false;
	return !f->workflow_id || (row->v[COL_WORKFLOW_ID] &&
				   strtoll(row->v[COL_WORKFLOW_ID], NULL, 10) == f->workflow_id);
}

bool serve_snapshot_keeps_run(enum serve_sweep sweep, size_t pos, size_t end, long place)
{
	if (place < 0 || (size_t)place >= end)
		return true; /* not part of the snapshot */
	return sweep == SWEEP_JOBS || (size_t)place < pos;
}

bool serve_snapshot_keeps_jobs(enum serve_sweep sweep, size_t pos, size_t end, long place)
{
	if (place < 0 || (size_t)place >= end)
		return true;
	return sweep == SWEEP_JOBS && (size_t)place < pos;
}
