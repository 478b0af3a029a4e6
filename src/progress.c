/* progress.c - the progress line on stderr: live on a terminal, plain lines otherwise. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "policy.h"

static bool tty, quiet, live;

static void format_duration(char *buf, size_t n, double s)
{
	if (s < 0 || s > 1e7)
		snprintf(buf, n, "?");
	else if (s >= 3600)
		snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
	else if (s >= 60)
		snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
	else
		snprintf(buf, n, "%ds", (int)(s + 0.5));
}

void progress_format(char *buf, size_t n, const struct progress_view *v)
{
	char eta[32], wait[32], budget[32] = "?", who[160] = "";
	bool named = v->repo && *v->repo;
	int o;
	if (n == 0)
		return;
	if (v->budget >= 0)
		snprintf(budget, sizeof(budget), "%ld", v->budget);
	/* Several repositories at once: how many are done says more than the one in view,
	 * which may be none of them (then only the count shows). */
	if (v->repos_total > 1 && named)
		snprintf(who, sizeof(who), "%s (repos %d/%d): ", v->repo, v->repos_done,
			 v->repos_total);
	else if (v->repos_total > 1)
		snprintf(who, sizeof(who), "repos %d/%d: ", v->repos_done, v->repos_total);
	else if (named)
		snprintf(who, sizeof(who), "%s: ", v->repo);
	if (v->total >= 0)
		o = snprintf(buf, n, "%s%s %ld/%ld", who, v->what ? v->what : "", v->done, v->total);
	else
		o = snprintf(buf, n, "%s%s %ld", who, v->what ? v->what : "", v->done);
	if (o < 0 || (size_t)o >= n)
		return;
	if (v->wait_s > 0) {
		format_duration(wait, sizeof(wait), v->wait_s);
		snprintf(buf + o, n - (size_t)o, ", waiting for the rate limit: %s, budget %s", wait,
			 budget);
		return;
	}
	if (v->total >= 0 && v->rate > 0 && v->done <= v->total)
		format_duration(eta, sizeof(eta), (double)(v->total - v->done) / v->rate);
	else
		snprintf(eta, sizeof(eta), "?");
	snprintf(buf + o, n - (size_t)o, ", %.1f/s, ETA %s, budget %s", v->rate, eta, budget);
}

void progress_init(bool q)
{
	quiet = q;
	tty = isatty(STDERR_FILENO);
}

double progress_interval(void)
{
	return quiet ? 0 : tty ? POLICY_PROGRESS_TTY_S : POLICY_PROGRESS_PLAIN_S;
}

void progress_show(const struct progress_view *v)
{
	char line[256];
	if (quiet)
		return;
	progress_format(line, sizeof(line), v);
	if (tty) {
		fprintf(stderr, "\r\033[K%s", line);
		live = true;
	} else {
		fprintf(stderr, "ghaminer: %s\n", line);
	}
	fflush(stderr);
}

void progress_done(void)
{
	if (live) {
		fputc('\n', stderr);
		live = false;
	}
}

void progress_clear(void)
{
	if (live) {
		fputs("\r\033[K", stderr);
		live = false;
	}
}
