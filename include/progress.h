/* progress.h - the progress line on stderr: live on a terminal (one line per phase,
 * redrawn in place), a plain line every few seconds otherwise, nothing with --quiet. */
#ifndef GHAMINER_PROGRESS_H
#define GHAMINER_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

struct progress_view {
	const char *repo;   /* the repository in view, or NULL / "" (several in flight) */
	int repos_done, repos_total; /* repos_total > 1: "repos 3/200" is shown */
	const char *what;   /* "listed" (runs, phase 1) or "runs" (with jobs, phase 2) */
	long done, total;   /* total < 0: unknown */
	double rate;        /* per second */
	long budget;        /* requests left, < 0: unknown */
	double wait_s;      /* > 0: waiting for a rate-limit reset */
};

/* Format one line (no newline, cut to fit n) into buf. Pure. E.g.
 *   "octo/hello: runs 68/250, 13.8/s, ETA 13s, budget 4928"
 *   "octo/hello (repos 3/200): runs 68/250, 13.8/s, ETA 13s, budget ?"
 *   "repos 3/200: listed 1200, 0.0/s, ETA ?, budget 4000"
 *   "octo/hello: runs 68/250, waiting for the rate limit: 2m05s, budget 0" */
void progress_format(char *buf, size_t n, const struct progress_view *v);

void progress_init(bool quiet);
/* Seconds between two updates: 1 on a terminal, 5 otherwise; 0 when quiet. */
double progress_interval(void);
/* Draw (terminal: in place; otherwise: a plain line). */
void progress_show(const struct progress_view *v);
/* End the live line (a phase ended): keep it on screen, start a new one. */
void progress_done(void);
/* Erase the live line before another message is printed (msg.c calls this). */
void progress_clear(void);

#endif
