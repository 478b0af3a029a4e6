/* subcmd.c - `ghaminer merge` and `ghaminer shard`: options → merge_files or shard_pick →
 * exit code. */
#include "subcmd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "csvstore_int.h"
#include "merge.h"
#include "miner.h"
#include "msg.h"
#include "repo_ref.h"
#include "settings_table.h"
#include "shard.h"
#include "util.h"

static const char merge_usage[] =
"usage: ghaminer merge -o OUT.csv IN.csv [IN.csv...]\n"
"Merge CSVs written by ghaminer (the shards of one study) and their sync states\n"
"(IN.csv.state) into OUT.csv and OUT.csv.state: every run once, the row whose jobs\n"
"were collected first, then the most recently updated, then the later input's.\n"
"List older inputs first. Rows come out sorted by repository and run id; an input\n"
"already in that order (an earlier merge) is read once without sorting.\n"
"  -o, --output FILE   the merged CSV (replaced only once complete; not an input)\n"
"  -m, --memory SIZE   rows sorted in memory at once (default 32M; K, M, G)\n"
"  -T, --tmpdir DIR    where sorted runs go (default: the output's folder)\n"
"  -q, --quiet         no progress messages on stderr\n"
"  -h, --help          show this help\n"
"On success a JSON line of counts goes to stdout.\n";

static long long parse_size(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (end == s || v <= 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	return *end ? -1 : v;
}

static void print_stats(const struct merge_opts *o, const struct merge_stats *st, double secs)
{
	double mb = (double)st->bytes_in / 1e6;
	msg_info("merged %zu files (%.1f MB) into '%s': %llu runs of %llu repositories "
		 "(%llu with jobs) from %llu rows, in %.1f s (%.1f MB/s)", o->nin, mb, o->out,
		 (unsigned long long)st->rows_out, (unsigned long long)st->repos,
		 (unsigned long long)st->runs_with_jobs, (unsigned long long)st->rows_in, secs,
		 secs > 0 ? mb / secs : 0.0);
	json_t *j = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:f}",
			      "output", o->out, "inputs", (int)o->nin,
			      "bytes_in", (json_int_t)st->bytes_in,
			      "rows_in", (json_int_t)st->rows_in, "runs", (json_int_t)st->rows_out,
			      "repos", (json_int_t)st->repos,
			      "runs_with_jobs", (json_int_t)st->runs_with_jobs,
			      "jobs", (json_int_t)st->jobs, "dropped", (json_int_t)st->dropped,
			      "sorted_inputs", (int)st->sorted_inputs, "spills", (int)st->spills,
			      "seconds", secs);
	char *text = json_dumps(j, JSON_COMPACT);
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	json_decref(j);
}

int subcmd_merge(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'}, {"memory", required_argument, NULL, 'm'},
		{"tmpdir", required_argument, NULL, 'T'}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'}, {0}};
	struct merge_opts o = {0};
	struct merge_stats st;
	struct error err = {0};
	long long mem;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:m:T:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o.out = optarg; break;
		case 'T': o.tmpdir = optarg; break;
		case 'q': msg_set_quiet(1); break;
		case 'm':
			if ((mem = parse_size(optarg)) < (1 << 20)) {
				cli_usage_error("invalid size '%s' for --memory: expected 1M or more, "
						"like 64M", optarg);
				return EXIT_USAGE;
			}
			o.mem_limit = (size_t)mem;
			break;
		case 'h': fputs(merge_usage, stdout); return EXIT_OK;
		default: fputs(merge_usage, stderr); return EXIT_USAGE;
		}
	}
	if (!o.out || optind >= argc) {
		cli_usage_error(!o.out ? "merge: no output: pass -o OUT.csv"
				       : "merge: no input: name the CSVs to merge");
		return EXIT_USAGE;
	}
	o.in = (const char *const *)&argv[optind];
	o.nin = (size_t)(argc - optind);
	double t0 = time_now();
	if (merge_files(&o, &st, &err) != 0) {
		msg_error("%s; nothing was written", err.msg);
		return err.code == -EINVAL || err.code == -ENOENT ? EXIT_USAGE : EXIT_IO;
	}
	print_stats(&o, &st, time_now() - t0);
	return EXIT_OK;
}

/* ---- shard -------------------------------------------------------------------------- */

static const char shard_usage[] =
"usage: ghaminer shard -p FILE -n N -i I [--weights CSV]\n"
"Print the lines of projects FILE that shard I of N mines (I from 0 to N-1). A\n"
"repository's shard depends only on its name and N: adding one moves no other.\n"
"  -p, --projects FILE  the projects file (one repository a line)\n"
"  -n, --shards N       how many shards (1 to 256)\n"
"  -i, --index I        which one to print\n"
"  -w, --weights CSV    balance by run counts: a ghaminer CSV (runs counted per\n"
"                       repository) or a CSV with columns repo,runs. Keep it the same\n"
"                       between runs: other weights may move repositories\n"
"  -h, --help           show this help\n";

struct shard_list {
	char **lines, **keys;
	double *weights;
	size_t n, cap;
};

static int shard_line(void *ctx, const char *path, unsigned lineno, char *text)
{
	struct shard_list *sl = ctx;
	struct repo_ref r;
	if (repo_ref_parse(text, &r) != 0) {
		msg_warn("%s:%u: not a repository: skipped", path, lineno);
		return 0;
	}
	char *key = xstrdup(r.full_name);
	repo_ref_release(&r);
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (size_t i = 0; i < sl->n; i++)
		if (strcmp(sl->keys[i], key) == 0) {
			free(key);
			return 0; /* listed twice: mined once */
		}
	if (sl->n == sl->cap) {
		sl->cap = sl->cap ? sl->cap * 2 : 64;
		sl->lines = xrealloc(sl->lines, sl->cap * sizeof(char *));
		sl->keys = xrealloc(sl->keys, sl->cap * sizeof(char *));
	}
	sl->lines[sl->n] = xstrdup(text);
	sl->keys[sl->n++] = key;
	return 0;
}

struct weight_ctx {
	struct runindex ix;
	double *w;
	size_t capw;
	int repo_col, runs_col;
	bool header;
};

static int weight_row(void *ctx, struct row *row)
{
	struct weight_ctx *wc = ctx;
	if (!wc->header) {
		wc->header = true;
		wc->repo_col = wc->runs_col = -1;
		for (size_t i = 0; i < row->n; i++) {
			if (!strcmp(row->f[i], "repo") && wc->repo_col < 0)
				wc->repo_col = (int)i;
			if (!strcmp(row->f[i], "runs") && wc->runs_col < 0)
				wc->runs_col = (int)i;
		}
		return wc->repo_col < 0 ? -EINVAL : 0;
	}
	if ((size_t)wc->repo_col >= row->n)
		return 0;
	int id = runindex_repo(&wc->ix, row->f[wc->repo_col], true);
	if ((size_t)id >= wc->capw) {
		size_t old = wc->capw;
		wc->capw = (size_t)id * 2 + 16;
		wc->w = xrealloc(wc->w, wc->capw * sizeof(double));
		for (size_t i = old; i < wc->capw; i++)
			wc->w[i] = 0;
	}
	if (wc->runs_col >= 0 && (size_t)wc->runs_col < row->n)
		wc->w[id] += strtod(row->f[wc->runs_col], NULL);
	else
		wc->w[id] += 1;
	return 0;
}

/* Run counts per repository of sl from path; -1 for those it does not name. */
static int load_weights(const char *path, struct shard_list *sl)
{
	struct weight_ctx wc = {0};
	struct stat st;
	int read_errno = 0, rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		msg_error("cannot open '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	runindex_init(&wc.ix);
	rc = csvscan(fd, st.st_size, weight_row, &wc, NULL, &read_errno);
	close(fd);
	if (rc == -EINVAL)
		msg_error("'%s' has no column 'repo': pass a ghaminer CSV or one with columns "
			  "repo,runs", path);
	else if (rc)
		msg_error("cannot read '%s': %s", path,
			  rc == SCAN_READ_ERROR ? strerror(read_errno) : "it is not valid CSV");
	sl->weights = xcalloc(sl->n + 1, sizeof(double));
	for (size_t i = 0; i < sl->n && rc == 0; i++) {
		int id = runindex_repo(&wc.ix, sl->keys[i], false);
		sl->weights[i] = id >= 0 && (size_t)id < wc.capw ? wc.w[id] : -1;
	}
	runindex_release(&wc.ix);
	free(wc.w);
	return rc ? -1 : 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int shard_print(struct shard_list *sl, int n, int index)
{
	int *assign = xcalloc(sl->n + 1, sizeof(int));
	double load = 0;
	size_t count = 0;
	shard_assign((const char *const *)sl->keys, sl->weights, sl->n, n, assign);
	for (size_t i = 0; i < sl->n; i++)
		if (assign[i] == index) {
			printf("%s\n", sl->lines[i]);
			count++;
			load += sl->weights ? (sl->weights[i] > 0 ? sl->weights[i] : 0) : 1;
		}
	msg_info("shard %d of %d: %zu of %zu repositories%s", index, n, count, sl->n,
		 sl->weights ? "" : " (unweighted)");
	(void)load;
	free(assign);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_IO;
}

int subcmd_shard(int argc, char **argv)
{
	static const struct option opts[] = {
		{"projects", required_argument, NULL, 'p'}, {"shards", required_argument, NULL, 'n'},
		{"index", required_argument, NULL, 'i'}, {"weights", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'}, {0}};
	const char *projects = NULL, *weights = NULL;
	struct shard_list sl = {0};
	int c, n = 0, index = -1, rc = EXIT_OK;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:n:i:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': projects = optarg; break;
		case 'w': weights = optarg; break;
		case 'n':
			if (parse_int(optarg, 1, SHARD_MAX, &n) != 0) {
				cli_usage_error("invalid shard count '%s' for -n: expected 1 to %d",
						optarg, SHARD_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'i':
			if (parse_int(optarg, 0, SHARD_MAX - 1, &index) != 0) {
				cli_usage_error("invalid shard index '%s' for -i: expected 0 to %d",
						optarg, SHARD_MAX - 1);
				return EXIT_USAGE;
			}
			break;
		case 'h': fputs(shard_usage, stdout); return EXIT_OK;
		default: fputs(shard_usage, stderr); return EXIT_USAGE;
		}
	}
	if (!projects || !n || index < 0 || optind < argc) {
		cli_usage_error("shard: pass -p FILE -n N -i I (and nothing else)");
		return EXIT_USAGE;
	}
	if (index >= n) {
		cli_usage_error("shard index %d is not below the shard count %d (shards are "
				"0 to %d)", index, n, n - 1);
		return EXIT_USAGE;
	}
	if (settings_for_each_line(projects, shard_line, &sl) != 0)
		rc = EXIT_USAGE;
	else if (weights && load_weights(weights, &sl) != 0)
		rc = EXIT_USAGE;
	else
		rc = shard_print(&sl, n, index);
	for (size_t i = 0; i < sl.n; i++) {
		free(sl.lines[i]);
		free(sl.keys[i]);
	}
	free(sl.lines);
	free(sl.keys);
	free(sl.weights);
	return rc;
}
