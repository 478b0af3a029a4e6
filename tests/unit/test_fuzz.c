/* test_fuzz.c - deterministic property-based fuzzing of the parsers that see untrusted input. */
/*
 * Four properties, each checked on inputs from a seeded xorshift generator (set FUZZ_SEED to
 * explore other seeds; the default is fixed so every run checks the same cases):
 *   1. ghapi_skim: on random JSON it drops exactly the named containers; on mutated JSON it
 *      stays in bounds and, whenever the text is still JSON, still drops exactly those.
 *   2. record_csv_line → libcsv (read as csvstore reads) gives back every value.
 *   3. csvstore_open repairs a file cut at any byte to its last complete row.
 *   4. ghapi_link_next returns only what a <...> of its input held, and the right one.
 * Every input goes to the code under test in a buffer of exactly its size, so that ASan sees
 * a read past the end.
 */
#include <csv.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "csvstore.h"
#include "ghapi.h"
#include "record.h"

/* Iterations: about a second in the normal build, well under 30 s under ASan+UBSan. */
#define SKIM_DOCS 1500     /* random documents (property 1A) */
#define SKIM_MUTANTS 8     /* mutated copies of each (property 1B) */
#define CSV_LINES 3000     /* random CSV lines (property 2) */
#define TORN_FILES 6       /* CSV files to cut (property 3) */
#define TORN_RANDOM_CUTS 25 /* random cuts per file, on top of the chosen ones */
#define LINK_RANDOM 20000  /* random Link strings (property 4) */
#define LINK_MODEL 5000    /* well-formed Link headers with a known answer (property 4) */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t seed = 0x5eed2024c0ffee01ULL;
static uint64_t rng;

/* xorshift64*: tiny, and the same sequence on every platform. */
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static size_t below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static bool chance(unsigned percent)
{
	return below(100) < percent;
}

/* A copy of s[0, n) in a heap block of exactly n bytes (n + 1 with a NUL when nul): any read
 * past the end is an ASan report, not a silent pass. */
static char *exact_copy(const char *s, size_t n, bool nul)
{
	char *p = xmalloc(n + (nul ? 1 : 0) + (n == 0 && !nul));
	memcpy(p, s, n);
	if (nul)
		p[n] = '\0';
	return p;
}

/* ---- failure reports ---- */

/* Failing cases of the current property so far: a fuzz failure is only useful with its
 * input, but one bug should not bury the log under thousands of copies. */
static int shown;
#define SHOW_MAX 3

static void show(const char *label, const char *s, size_t n)
{
	fprintf(stderr, "  %s (%zu bytes): \"", label, n);
	if (!s)
		n = 0;
	for (size_t i = 0; i < n && i < 600; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(stderr, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, n > 600 ? "\"...\n" : "\"\n");
}

/* CHECK, showing the case behind the first few failures of a property and counting the
 * rest. Afterwards shown <= SHOW_MAX says whether this failure was the one shown. */
#define FCHECK(cond, label, s, n) do { check_count++; if (!(cond)) { check_failures++; \
	if (++shown <= SHOW_MAX) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		show(label, s, n); } } } while (0)

/* Close a property: say how many failing cases were not shown, start the count again. */
static void end_property(const char *name)
{
	if (shown > SHOW_MAX)
		fprintf(stderr, "%s: %d failing cases in all (first %d shown)\n", name, shown,
			SHOW_MAX);
	shown = 0;
}

/* Append count pieces drawn from a table. */
static void append_pieces(struct buf *b, const char *const *pieces, size_t npieces,
			  size_t count)
{
	while (count--)
		buf_appends(b, pieces[below(npieces)]);
}

/* ==== 1. ghapi_skim ==== */

/* Member names: the dropped ones, their near misses, and names whose JSON text needs
 * escapes (a skimmer comparing raw text must not be fooled by those either). */
static const char *const json_keys[] = {
	"repository", "head_repository", "name", "id", "Repository", "repository ",
	"repository\"", "head_repository\\", "x:y", "{[", "", "é", "a",
};

/* String contents: everything that is structure outside a string, plus escapes, control
 * characters and multibyte UTF-8. */
static const char *const json_pieces[] = {
	"\"", "\\", "\\\"", "{", "}", "[", "]", ":", ",", "repository", "\"repository\":{",
	"\"head_repository\": [", "\x01", "\x1f", "\t", "\n", "\r", "\x7f", "é", "€", "🚀",
	"a", " ", "null", "/",
};

/* The drop lists skim is asked for: the real one, others, none, and the empty name. */
static const char *const drop_real[] = {"repository", "head_repository", NULL};
static const char *const drop_name[] = {"name", "id", NULL};
static const char *const drop_none[] = {NULL};
static const char *const drop_empty[] = {"", "repository", NULL};
static const char *const *const drop_lists[] = {drop_real, drop_name, drop_none, drop_empty};

#define MAX_DEPTH 5

static json_t *gen_value(int depth, int *budget);

static json_t *gen_string(void)
{
	struct buf b;
	buf_init(&b, 0);
	buf_appends(&b, "");
	append_pieces(&b, json_pieces, NELEM(json_pieces), below(7));
	json_t *s = json_stringn(b.data, b.len);
	buf_release(&b);
	return s;
}

/* Every draw from the generator is a statement of its own: the order in which a call's
 * arguments are evaluated is unspecified, and the cases must not depend on the compiler. */

static json_t *gen_object(int depth, int *budget)
{
	json_t *o = json_object();
	for (size_t n = below(5); n > 0; n--) {
		/* Mostly the names the drop lists hold, so that there is something to drop. */
		size_t from = chance(50) ? 4 : NELEM(json_keys);
		const char *key = json_keys[below(from)];
		json_object_set_new(o, key, gen_value(depth + 1, budget));
	}
	return o;
}

static json_t *gen_array(int depth, int *budget)
{
	json_t *a = json_array();
	for (size_t n = below(5); n > 0; n--)
		json_array_append_new(a, gen_value(depth + 1, budget));
	return a;
}

/* A random value; containers only while depth and the node budget last. */
static json_t *gen_value(int depth, int *budget)
{
	bool leaf = depth >= MAX_DEPTH || *budget <= 0;
	json_int_t sign = chance(50) ? -1 : 1, num = (json_int_t)(rnd() >> 1);
	size_t shift = below(63);
	(*budget)--;
	switch (below(leaf ? 6 : 10)) {
	case 0:
		return json_null();
	case 1:
		return json_boolean(below(2));
	case 2:
		return json_integer(sign * (num >> shift));
	case 3:
		return json_real((double)(num >> 32) * (double)sign / (double)(1 + (shift << 10)));
	case 4:
	case 5:
		return gen_string();
	case 6:
	case 7:
		return gen_object(depth, budget);
	default:
		return gen_array(depth, budget);
	}
}

/* Some JSON whitespace, often none. */
static void maybe_space(struct buf *b)
{
	static const char *const ws[] = {" ", "\t", "\r", "\n", "  \r\n\t"};
	if (chance(30))
		append_pieces(b, ws, NELEM(ws), 1 + below(2));
}

/* Re-space a JSON text around its structural characters (outside strings). jansson only
 * writes ' ' and '\n'; skim must also skip '\t' and '\r', e.g. between a name and its ':'. */
static void respace(struct buf *out, const char *in, size_t len)
{
	bool instr = false, esc = false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (instr) {
			buf_append(out, &c, 1);
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				instr = false;
			continue;
		}
		bool structural = strchr("{}[]:,\"", c) != NULL;
		if (structural)
			maybe_space(out);
		buf_append(out, &c, 1);
		if (c == '"')
			instr = true;
		else if (structural)
			maybe_space(out);
	}
}

/* A random document (object or array at the top: what json_loadb accepts), serialized with
 * random formatting into out. */
static void gen_json_text(struct buf *out)
{
	int budget = 1 + (int)below(60);
	json_t *doc = chance(75) ? gen_object(0, &budget) : gen_array(0, &budget);
	size_t flags = chance(40) ? JSON_COMPACT : JSON_INDENT(below(9));
	if (chance(20))
		flags |= JSON_SORT_KEYS;
	if (chance(20))
		flags |= JSON_ENSURE_ASCII;
	if (chance(20))
		flags |= JSON_ESCAPE_SLASH;
	char *text = json_dumps(doc, flags);
	buf_reset(out);
	if (chance(35))
		respace(out, text, strlen(text));
	else
		buf_appends(out, text);
	free(text);
	json_decref(doc);
}

static bool named_in(const char *key, const char *const *drop)
{
	for (; *drop; drop++)
		if (strcmp(key, *drop) == 0)
			return true;
	return false;
}

/* The document skim should yield, computed on the tree: every member named in drop whose
 * value is an object or array becomes null. *replaced counts them. New reference. */
static json_t *skim_model(json_t *v, const char *const *drop, int *replaced)
{
	const char *key;
	json_t *m, *copy;
	size_t i;
	if (json_is_object(v)) {
		copy = json_object();
		json_object_foreach(v, key, m) {
			if (named_in(key, drop) && (json_is_object(m) || json_is_array(m))) {
				json_object_set_new(copy, key, json_null());
				(*replaced)++;
			} else {
				json_object_set_new(copy, key, skim_model(m, drop, replaced));
			}
		}
		return copy;
	}
	if (json_is_array(v)) {
		copy = json_array();
		json_array_foreach(v, i, m)
			json_array_append_new(copy, skim_model(m, drop, replaced));
		return copy;
	}
	return json_incref(v);
}

/* Skim one text and check it against the model. valid says the text was generated as JSON
 * (a mutant may or may not still be JSON). */
static void check_skim_case(const char *text, size_t len, const char *const *drop, bool valid)
{
	char *in = exact_copy(text, len, false);
	struct buf out;
	buf_init(&out, 0);
	int rc = ghapi_skim(in, len, drop, &out);
	json_t *orig = json_loadb(in, len, 0, NULL);
	if (valid)
		FCHECK(orig != NULL, "generated JSON that jansson rejects", in, len);
	if (orig) {
		/* Well-formed JSON leaves skim no reason to give up. */
		FCHECK(rc == 0, "JSON skim declined", in, len);
	}
	if (orig && rc == 0) {
		int replaced = 0;
		json_t *want = skim_model(orig, drop, &replaced);
		json_t *got = json_loadb(out.data, out.len, 0, NULL);
		bool ok = got && json_equal(got, want);
		FCHECK(ok, "skim input", in, len);
		if (!ok && shown <= SHOW_MAX)
			show("skim output", out.data, out.len);
		/* Nothing to drop: skim is a plain copy. Only for generated texts: a mutant can
		 * repeat a name, and the member that parsing keeps may hide a dropped one. */
		if (valid && replaced == 0)
			FCHECK(out.len == len && memcmp(out.data, in, len) == 0, "skim input", in,
			       len);
		json_decref(got);
		json_decref(want);
	}
	json_decref(orig);
	buf_release(&out);
	free(in);
}

static void buf_insert(struct buf *b, size_t at, char c)
{
	buf_append(b, &c, 1);
	memmove(b->data + at + 1, b->data + at, b->len - 1 - at);
	b->data[at] = c;
}

/* One to three byte-level mutations: truncate, flip a bit, insert a quote, backslash or
 * bracket, delete a byte. Each can turn a string's end, an escape or a nesting level into
 * something else. */
static void mutate(struct buf *b)
{
	static const char inserts[] = "\"\"\"\\\\\\{}[]:";
	for (size_t n = 1 + below(3); n > 0; n--) {
		size_t at = below(b->len + 1);
		switch (below(7)) {
		case 0:
			b->len = at;
			break;
		case 1:
		case 2:
			if (at < b->len)
				b->data[at] ^= (char)(1u << below(8));
			break;
		case 3:
		case 4:
			buf_insert(b, at, inserts[below(sizeof(inserts) - 1)]);
			break;
		default:
			if (at < b->len) {
				memmove(b->data + at, b->data + at + 1, b->len - at - 1);
				b->len--;
			}
			break;
		}
	}
}

static void test_skim(void)
{
	struct buf text, mut;
	buf_init(&text, 0);
	buf_init(&mut, 0);
	for (int it = 0; it < SKIM_DOCS; it++) {
		const char *const *drop = drop_lists[below(NELEM(drop_lists))];
		gen_json_text(&text);
		check_skim_case(text.data, text.len, drop, true);
		for (int m = 0; m < SKIM_MUTANTS; m++) {
			buf_reset(&mut);
			buf_append(&mut, text.data, text.len);
			mutate(&mut);
			check_skim_case(mut.data, mut.len, drop, false);
		}
	}
	buf_release(&text);
	buf_release(&mut);
}

/* ==== 2. CSV round trip ==== */

/* Cell contents: everything RFC 4180 quoting is about, plus blanks at the edges (libcsv
 * trims unquoted spaces and tabs), UTF-8 and JSON as job_details holds it. */
static const char *const cell_pieces[] = {
	",", "\"", "\r", "\n", "\r\n", " ", "\t", "a", "xyz", "é", "🚀", "\"\"", "\\",
	"{\"job_name\":\"a,b\",\"steps\":[]}", "2024-01-01T10:00:00Z",
};

/* A cell value: NULL, empty, a few pieces, or now and then a very long one. Caller frees. */
static char *gen_cell(void)
{
	struct buf b;
	size_t r = below(100);
	if (r < 8)
		return NULL;
	buf_init(&b, 0);
	buf_appends(&b, "");
	if (r < 16)
		return b.data;
	if (r < 18) {
		size_t want = 1000 + below(4000);
		while (b.len < want)
			append_pieces(&b, cell_pieces, NELEM(cell_pieces), 1);
	} else {
		append_pieces(&b, cell_pieces, NELEM(cell_pieces), 1 + below(6));
	}
	return b.data;
}

/* A parsed CSV text: all fields in order, and where each row ends. */
struct table {
	char **f;
	size_t n, cap;
	size_t *row_end; /* row r holds fields [row_end[r - 1], row_end[r]) */
	size_t rows, rcap;
};

static void table_field(void *s, size_t len, void *data)
{
	struct table *t = data;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->f = xrealloc(t->f, t->cap * sizeof(*t->f));
	}
	t->f[t->n++] = xstrndup(s ? s : "", len);
}

static void table_row(int c, void *data)
{
	struct table *t = data;
	(void)c;
	if (t->rows == t->rcap) {
		t->rcap = t->rcap ? 2 * t->rcap : 16;
		t->row_end = xrealloc(t->row_end, t->rcap * sizeof(*t->row_end));
	}
	t->row_end[t->rows++] = t->n;
}

static size_t row_start(const struct table *t, size_t r)
{
	return r ? t->row_end[r - 1] : 0;
}

static size_t row_len(const struct table *t, size_t r)
{
	return t->row_end[r] - row_start(t, r);
}

/* Field c of row r as csvstore sees it: an empty cell is NULL. */
static const char *cell(const struct table *t, size_t r, size_t c)
{
	const char *v = t->f[row_start(t, r) + c];
	return *v ? v : NULL;
}

static void table_release(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->f[i]);
	free(t->f);
	free(t->row_end);
	memset(t, 0, sizeof(*t));
}

/* Parse with the options csvstore's scan_csv uses. 0, or -1 when libcsv calls it malformed. */
static int parse_csv(const char *text, size_t len, struct table *t)
{
	struct csv_parser p;
	int rc = 0;
	memset(t, 0, sizeof(*t));
	if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL))
		return -1;
	char *in = exact_copy(text, len, false);
	if (csv_parse(&p, in, len, table_field, table_row, t) != len ||
	    csv_fini(&p, table_field, table_row, t) != 0)
		rc = -1;
	csv_free(&p);
	free(in);
	return rc;
}

/* The convention csvstore relies on: NULL and "" are both written as an empty cell and read
 * back as NULL (row_to_record); anything else comes back as itself. */
static bool same_cell(const char *want, const char *got)
{
	if (want && !*want)
		want = NULL;
	return want ? got && strcmp(want, got) == 0 : got == NULL;
}

/* Write one record holding v in one column and read it back: whether v survives. When
 * show_it, show the line and what came back. */
static bool cell_roundtrips(const char *v, bool show_it)
{
	struct record r = {0};
	int map[RECORD_NCOLS];
	struct buf b;
	struct table t;
	for (int i = 0; i < RECORD_NCOLS; i++)
		map[i] = i;
	record_set(&r, COL_WORKFLOW_NAME, v);
	buf_init(&b, 0);
	record_csv_line(&b, &r, map, RECORD_NCOLS, NULL, false);
	bool parsed = parse_csv(b.data, b.len, &t) == 0 && t.rows == 1 &&
		      row_len(&t, 0) == RECORD_NCOLS;
	const char *got = parsed ? cell(&t, 0, COL_WORKFLOW_NAME) : NULL;
	bool ok = parsed && same_cell(v, got);
	if (show_it) {
		show("value (shrunk)", v, strlen(v));
		show("written as the line", b.data, b.len);
		if (parsed)
			show(got ? "read back as" : "read back as NULL (empty cell)", got,
			     got ? strlen(got) : 0);
		else
			fprintf(stderr, "  read back: not one valid row of %d fields\n", RECORD_NCOLS);
	}
	table_release(&t);
	buf_release(&b);
	record_release(&r);
	return ok;
}

/* Shrink a value that does not survive to a minimal one (no single byte can go) and show it
 * with its CSV line and what came back. */
static void report_csv_failure(const char *v)
{
	char *s = xstrdup(v);
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		char *shorter = xstrdup(s);
		memmove(shorter + i, shorter + i + 1, n - i);
		if (!cell_roundtrips(shorter, false)) {
			free(s);
			s = shorter;
			n--;
		} else {
			free(shorter);
			i++;
		}
	}
	cell_roundtrips(s, true);
	free(s);
}

/* 1 to 3 records of 16 columns plus 0 to 2 columns we do not know (the extra path of
 * record_csv_line), written as CSV lines and parsed back. */
static void check_csv_lines(void)
{
	size_t nrows = 1 + below(3), ncols = RECORD_NCOLS + below(3);
	char *vals[3][RECORD_NCOLS + 2];
	int map[RECORD_NCOLS + 2];
	struct buf b;
	struct table t;
	buf_init(&b, 0);
	for (size_t c = 0; c < ncols; c++)
		map[c] = c < RECORD_NCOLS ? (int)c : -1;
	for (size_t r = 0; r < nrows; r++) {
		struct record rec = {0};
		for (size_t c = 0; c < ncols; c++)
			vals[r][c] = gen_cell();
		for (size_t c = 0; c < RECORD_NCOLS; c++)
			record_set(&rec, (enum record_col)c, vals[r][c]);
		record_csv_line(&b, &rec, map, ncols, vals[r], false);
		record_release(&rec);
	}
	int rc = parse_csv(b.data, b.len, &t);
	FCHECK(rc == 0 && t.rows == nrows, "CSV text", b.data, b.len);
	const char *bad = NULL;
	for (size_t r = 0; rc == 0 && r < t.rows && r < nrows; r++) {
		FCHECK(row_len(&t, r) == ncols, "CSV text", b.data, b.len);
		for (size_t c = 0; c < ncols && c < row_len(&t, r); c++)
			if (!bad && !same_cell(vals[r][c], cell(&t, r, c)))
				bad = vals[r][c];
	}
	FCHECK(bad == NULL, "value", bad, bad ? strlen(bad) : 0);
	if (bad && shown <= SHOW_MAX)
		report_csv_failure(bad);
	table_release(&t);
	buf_release(&b);
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < ncols; c++)
			free(vals[r][c]);
}

static void test_csv_roundtrip(void)
{
	for (int it = 0; it < CSV_LINES; it++)
		check_csv_lines();
}

/* ==== 3. Torn-tail repair ==== */

static char dir[] = "/tmp/ghaminer-fuzz-XXXXXX";

/* A CSV as csvstore writes it: its header, then rows with awkward cells (one file with a
 * cell longer than csvstore's 64 KiB read chunk). ends[i] is the offset just past row i's
 * newline (ends[0]: the header's), as the writer knows it. */
static size_t gen_csv_file(struct buf *b, size_t *ends, size_t max_rows, bool huge)
{
	int map[RECORD_NCOLS];
	size_t nrows = 3 + below(max_rows - 3);
	buf_reset(b);
	for (int c = 0; c < RECORD_NCOLS; c++) {
		buf_printf(b, "%s%s", c ? "," : "", record_columns[c].name);
		map[c] = c;
	}
	buf_append(b, "\n", 1);
	ends[0] = b->len;
	for (size_t r = 0; r < nrows; r++) {
		struct record rec = {0};
		for (int c = 0; c < RECORD_NCOLS; c++)
			record_take(&rec, (enum record_col)c, gen_cell());
		/* A real run id, unique in the file, so the row is indexed. */
		record_take(&rec, COL_ID_BUILD, xasprintf("%zu", 1000 + r));
		if (huge && r == 1) {
			struct buf big;
			buf_init(&big, 0);
			while (big.len < 70000)
				append_pieces(&big, cell_pieces, NELEM(cell_pieces), 1);
			record_take(&rec, COL_JOB_DETAILS, big.data);
		}
		record_csv_line(b, &rec, map, RECORD_NCOLS, NULL, false);
		record_release(&rec);
		ends[r + 1] = b->len;
	}
	return nrows;
}

static void write_file(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write_all(fd, p, n) == 0);
	if (fd >= 0)
		close(fd);
}

static char *read_file(const char *path, size_t *len)
{
	struct buf b;
	char chunk[1 << 16];
	ssize_t n;
	int fd = open(path, O_RDONLY);
	buf_init(&b, 0);
	buf_appends(&b, "");
	while (fd >= 0 && (n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	if (fd >= 0)
		close(fd);
	*len = b.len;
	return b.data;
}

/* Add off to the cuts, when it is in the file and there is room. */
static void add_cut(size_t *cuts, size_t *n, size_t max, size_t off, size_t len)
{
	if (*n < max && off <= len)
		cuts[(*n)++] = off;
}

/* Offsets worth cutting at: file edges, around every row end, right after every CR and
 * quote, inside quoted cells, and some random ones. */
static size_t pick_cuts(const struct buf *b, const size_t *ends, size_t nrows, size_t *cuts,
			size_t max)
{
	size_t n = 0, nq = 0, *inquote = xmalloc((b->len + 1) * sizeof(size_t));
	bool q = false;
#define ADD(off) add_cut(cuts, &n, max, (off), b->len)
	ADD(0);
	ADD(1);
	ADD(b->len);
	for (size_t r = 0; r <= nrows; r++) {
		ADD(ends[r] - 1);
		ADD(ends[r]);
		ADD(ends[r] + 1);
	}
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '"')
			q = !q;
		if (q)
			inquote[nq++] = i + 1;
	}
	for (size_t i = 1; i <= b->len; i++)
		if ((b->data[i - 1] == '\r' || b->data[i - 1] == '"') && chance(50))
			ADD(i);
	for (int k = 0; k < 20 && nq; k++)
		ADD(inquote[below(nq)]);
	for (int k = 0; k < TORN_RANDOM_CUTS; k++)
		ADD(below(b->len + 1));
#undef ADD
	free(inquote);
	return n;
}

/* Cut the file at cut, open it, and check the repair against what the writer knows. */
static void check_cut(const struct buf *orig, const size_t *ends, size_t nrows,
		      const struct table *rows, size_t cut)
{
	struct csvstore cs;
	char *path = xasprintf("%s/cut.csv", dir), *lock = xasprintf("%s.lock", path), *after;
	size_t keep = 0, want_len, len;
	struct table t;
	/* A row is complete when its newline is before the cut. */
	while (keep < nrows && ends[keep + 1] <= cut)
		keep++;
	/* A cut header is written again: the same bytes. */
	want_len = ends[keep];
	write_file(path, orig->data, cut);
	int rc = csvstore_open(&cs, path, NULL);
	FCHECK(rc == 0, "cut file", orig->data, cut);
	if (rc == 0) {
		/* Repaired means a torn row was cut off: not for an empty file or a clean end. */
		FCHECK(cs.repaired == (cut != 0 && cut != want_len), "cut file", orig->data, cut);
		FCHECK(cs.size == (off_t)want_len, "cut file", orig->data, cut);
		for (size_t r = 0; r < nrows; r++) {
			const char *repo = cell(rows, r + 1, COL_REPO);
			int rx = runindex_repo(&cs.index, repo ? repo : "", false);
			bool indexed = rx >= 0 && runindex_get(&cs.index, (uint32_t)rx,
							       (int64_t)(1000 + r)) != NULL;
			FCHECK(indexed == (r < keep), "cut file", orig->data, cut);
		}
	}
	csvstore_close(&cs);
	after = read_file(path, &len);
	/* Exactly the complete rows, byte for byte: each row one of the originals, in order. */
	FCHECK(len == want_len && memcmp(after, orig->data, want_len) == 0, "cut file", orig->data,
	       cut);
	/* And valid CSV whose rows are the first keep originals, field for field. */
	FCHECK(parse_csv(after, len, &t) == 0 && t.rows == keep + 1, "cut file", orig->data, cut);
	for (size_t r = 0; r < t.rows && r <= keep; r++) {
		bool same = row_len(&t, r) == row_len(rows, r);
		for (size_t c = 0; same && c < row_len(&t, r); c++)
			same = strcmp(t.f[row_start(&t, r) + c], rows->f[row_start(rows, r) + c]) == 0;
		FCHECK(same, "cut file", orig->data, cut);
	}
	table_release(&t);
	unlink(path);
	unlink(lock);
	free(after);
	free(lock);
	free(path);
}

static void test_torn_tail(void)
{
	enum { MAX_ROWS = 10, MAX_CUTS = 400 };
	size_t ends[MAX_ROWS + 1], cuts[MAX_CUTS], total = 0;
	struct buf b;
	struct table rows;
	buf_init(&b, 0);
	for (int f = 0; f < TORN_FILES; f++) {
		size_t nrows = gen_csv_file(&b, ends, MAX_ROWS, f == 0);
		/* The originals as libcsv reads them, to compare the repaired file with. */
		bool ok = parse_csv(b.data, b.len, &rows) == 0 && rows.rows == nrows + 1;
		for (size_t r = 0; ok && r <= nrows; r++)
			ok = row_len(&rows, r) == RECORD_NCOLS;
		FCHECK(ok, "generated CSV", b.data, b.len);
		if (ok) {
			size_t n = pick_cuts(&b, ends, nrows, cuts, MAX_CUTS);
			for (size_t i = 0; i < n; i++)
				check_cut(&b, ends, nrows, &rows, cuts[i]);
			total += n;
		}
		table_release(&rows);
	}
	CHECK(total >= 100);
	buf_release(&b);
}

/* ==== 4. ghapi_link_next ==== */

/* Whether r is what some <...> of s held (up to the first '>', as a URL cannot hold one). */
static bool enclosed(const char *s, const char *r)
{
	size_t n = strlen(r);
	if (strchr(r, '>'))
		return false;
	for (const char *p = strchr(s, '<'); p; p = strchr(p + 1, '<'))
		if (strncmp(p + 1, r, n) == 0 && p[1 + n] == '>')
			return true;
	return false;
}

/* Run link_next on an exact-size copy of s[0, n); check that any answer is enclosed, and,
 * when want_set, that it is want (NULL: none). */
static void check_link(const char *s, size_t n, bool want_set, const char *want)
{
	char *in = exact_copy(s, n, true);
	char *got = ghapi_link_next(in);
	if (got)
		FCHECK(enclosed(in, got), "Link", in, n);
	if (want_set) {
		bool ok = want ? got && strcmp(got, want) == 0 : got == NULL;
		FCHECK(ok, "Link", in, n);
		if (!ok && shown <= SHOW_MAX) {
			show("want", want, want ? strlen(want) : 0);
			show("got", got, got ? strlen(got) : 0);
		}
	}
	free(got);
	free(in);
}

static const char *const real_links[] = {
	"<https://api.github.com/repositories/540180744/actions/runs?per_page=100&page=2>; "
	"rel=\"next\", <https://api.github.com/repositories/540180744/actions/runs?per_page=100"
	"&page=34>; rel=\"last\"",
	("<https://api.github.com/repositories/1/actions/runs?per_page=100&page=1>; rel=\"prev\", "
	 "<https://api.github.com/repositories/1/actions/runs?per_page=100&page=3>; rel=\"next\", "
	 "<https://api.github.com/repositories/1/actions/runs?per_page=100&page=34>; rel=\"last\", "
	 "<https://api.github.com/repositories/1/actions/runs?per_page=100&page=1>; rel=\"first\""),
	"<https://api.github.com/repositories/1/actions/runs?page=33>; rel=\"prev\", "
	"<https://api.github.com/repositories/1/actions/runs?page=1>; rel=\"first\"",
};

/* A real header cut short: it can lose its next link, never gain another one. Mutated: it
 * can say anything, but the answer still comes from a <...>. */
static void test_link_real(void)
{
	struct buf b;
	buf_init(&b, 0);
	for (size_t k = 0; k < NELEM(real_links); k++) {
		const char *full = real_links[k];
		char *next = ghapi_link_next(full);
		size_t len = strlen(full);
		for (size_t cut = 0; cut <= len; cut++) {
			char *in = exact_copy(full, cut, true), *got = ghapi_link_next(in);
			FCHECK(!got || enclosed(in, got), "cut Link", in, cut);
			FCHECK(!got || (next && strcmp(got, next) == 0), "cut Link", in, cut);
			free(got);
			free(in);
		}
		for (int m = 0; m < 500; m++) {
			buf_reset(&b);
			buf_append(&b, full, len);
			mutate(&b);
			/* link_next reads a C string: a flipped byte may end it early, never late. */
			check_link(b.data, strnlen(b.data, b.len), false, NULL);
		}
		free(next);
	}
	buf_release(&b);
}

/* Random strings of Link syntax: must not crash, and any answer must be enclosed. */
static void test_link_random(void)
{
	static const char *const tokens[] = {
		"<", ">", ";", ",", " ", "rel=", "\"", "next", "prev", "last", "http://x/?p=1",
		"=", "\t", "a", "rel=\"next\"", "<http://x/n>", "; rel=next", ", ",
	};
	struct buf b;
	buf_init(&b, 0);
	for (int it = 0; it < LINK_RANDOM; it++) {
		buf_reset(&b);
		buf_appends(&b, "");
		append_pieces(&b, tokens, NELEM(tokens), below(24));
		check_link(b.data, b.len, false, NULL);
	}
	buf_release(&b);
}

/* Optional white space, as a Link header may have around ';' and ','. */
static void add_space(struct buf *b)
{
	static const char *const sp[] = {"", "", " ", "  "};
	buf_appends(b, sp[below(NELEM(sp))]);
}

/* "; param", with optional spaces on either side of the ';'. */
static void add_param(struct buf *b, const char *param)
{
	add_space(b);
	buf_appends(b, ";");
	add_space(b);
	buf_appends(b, param);
}

/* A well-formed header built from a model: URLs with ',' and ';' and a decoy "rel=next" in
 * them, other parameters before or after rel, rel quoted or not, several types, optional
 * spaces. The answer is the URL of the first entry whose rel types include "next". */
static void test_link_model(void)
{
	static const char *const url_parts[] = {
		"https://api.github.com/repositories/1/actions/runs", "?page=", "2", "34", "&",
		",", ";", ";rel=next", "per_page=100", "=", "%3E",
	};
	static const char *const types[] = {"next", "prev", "last", "first", "nextpage", "nex"};
	static const char *const params[] = {"per_page=100", "type=\"text/html\"", "title=\"x\""};
	struct buf b, url;
	buf_init(&b, 0);
	buf_init(&url, 0);
	for (int it = 0; it < LINK_MODEL; it++) {
		char *want = NULL;
		buf_reset(&b);
		buf_appends(&b, "");
		for (size_t e = 0, ne = 1 + below(4); e < ne; e++) {
			bool is_next = false;
			buf_reset(&url);
			buf_appends(&url, "");
			append_pieces(&url, url_parts, NELEM(url_parts), 1 + below(6));
			if (e)
				buf_appends(&b, ",");
			add_space(&b);
			buf_printf(&b, "<%s>", url.data);
			if (chance(30))
				add_param(&b, params[below(NELEM(params))]);
			if (chance(90)) {
				size_t nt = chance(70) ? 1 : 2 + below(2);
				add_param(&b, "rel=");
				bool quoted = nt > 1 || chance(70);
				if (quoted)
					buf_appends(&b, "\"");
				for (size_t k = 0; k < nt; k++) {
					const char *t = types[below(NELEM(types))];
					buf_printf(&b, "%s%s", k ? " " : "", t);
					is_next = is_next || strcmp(t, "next") == 0;
				}
				if (quoted)
					buf_appends(&b, "\"");
			}
			if (chance(30))
				add_param(&b, params[below(NELEM(params))]);
			if (is_next && !want)
				want = xstrdup(url.data);
		}
		check_link(b.data, b.len, true, want);
		free(want);
	}
	buf_release(&url);
	buf_release(&b);
}

int main(void)
{
	const char *s = getenv("FUZZ_SEED");
	if (s && *s)
		seed = strtoull(s, NULL, 0);
	if (seed == 0)
		seed = 1; /* xorshift never leaves 0 */
	if (!mkdtemp(dir))
		return 1;
	/* Each property starts from the seed: adding cases to one does not change the others. */
	fprintf(stderr, "FUZZ_SEED=%llu\n", (unsigned long long)seed);
	rng = seed;
	test_skim();
	end_property("skim");
	rng = seed;
	test_csv_roundtrip();
	end_property("CSV round trip");
	rng = seed;
	test_torn_tail();
	end_property("torn tail");
	rng = seed;
	test_link_real();
	test_link_random();
	test_link_model();
	end_property("Link");
	return check_done_rmdir(dir);
}
