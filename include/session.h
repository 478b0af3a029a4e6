/* session.h - one repository's pass: phase 1 lists its runs, phase 2 collects their jobs,
 * on a shared engine and store. Many can run at once. A session tells its subscribers
 * what it does (the seed's NDJSON messages) and, from the loop, when it is done. */
#ifndef GHAMINER_SESSION_H
#define GHAMINER_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "engine.h"
#include "progress.h"
#include "settings.h"
#include "store.h"

struct session;

/* Why a session did not collect everything, in increasing order of gravity. */
enum session_failure {
	SF_NONE,
	SF_CANCELLED, /* stopped from outside (a signal, another session's fatal error) */
	SF_PARTIAL,   /* some runs or listings failed; running again retries them */
	SF_NOT_FOUND, /* the repository does not exist or is not visible with the token */
	SF_NETWORK,   /* the API could not be reached after retries */
	SF_AUTH,      /* no token was accepted */
	SF_IO,        /* the CSV store could not be written */
};

struct session_summary {
	long new_runs, known_runs, updated_runs;
	size_t jobs_collected, jobs_failed;
	uint64_t requests;           /* HTTP attempts, retries included */
	enum session_failure failure;
	char error[256];             /* the first failure, or "" */
};

/* A subscriber. on_message gets each message about the repository: type is the NDJSON
 * type (status, runs_page, job_progress, run_jobs, error) and the data is either data
 * (borrowed; it carries "repo") or text (the same, already encoded). on_done is called
 * once, from the loop (never inside a fetch callback): the session may be freed there. */
struct session_sink {
	void (*on_message)(void *arg, struct session *s, const char *type, json_t *data,
			   const char *text);
	void (*on_done)(void *arg, struct session *s);
	void *arg;
	TAILQ_ENTRY(session_sink) link;
};

/* settings and repo are borrowed and must outlive the session. */
struct session *session_new(struct engine *e, struct store *st, const struct settings *s,
			    const struct repo_ref *repo);
void session_subscribe(struct session *m, struct session_sink *sink);
void session_start(struct session *m);
/* Stop: every request is cancelled; on_done follows once the last one is back. */
void session_stop(struct session *m, enum session_failure why);
/* After on_done (or before start). */
void session_free(struct session *m);

const struct repo_ref *session_repo(const struct session *m);
const struct session_summary *session_summary(const struct session *m);
/* The phase under way: 1 (listing), 2 (jobs), or 0 (between phases, or done). */
int session_phase(const struct session *m);
/* Fill v with the progress of phase 1 or 2 (also once it is over, for its last line). */
void session_progress(const struct session *m, int phase, struct progress_view *v);
/* How many runs this pass may still journal job details for: those queued and not yet
 * collected, plus those the listing's total_count says are still to be listed. */
long session_jobs_to_come(const struct session *m);

#endif
