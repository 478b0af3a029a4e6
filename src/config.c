/* config.c - config.yaml (libyaml) → the settings of the table; errors at file:line:column. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "msg.h"
#include "settings_table.h"
#include "util.h"

/* Options of the Python GHAminer that ghaminer does not implement. */
static const char *const python_only_keys[] = {
	"fetch_test_parsing_results", "fetch_commit_details", "fetch_pull_request_details",
	"fetch_sloc",
};

struct config_ctx {
	struct settings *s;
	const char *path;
	yaml_document_t *doc;
	size_t seen_line[SETTINGS_MAX_ROWS]; /* per table row: where the key was, 0 not yet */
};

static size_t line_of(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

static size_t column_of(const yaml_node_t *n)
{
	return n->start_mark.column + 1;
}

static const char *scalar_text(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A NUL inside a scalar would cut the value C sees short of what the file says. */
static bool scalar_has_nul(const yaml_node_t *n)
{
	return strlen((const char *)n->data.scalar.value) != n->data.scalar.length;
}

static bool is_null(const yaml_node_t *n)
{
	const char *t = scalar_text(n);

	return t && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") ||
		!strcmp(t, "NULL"));
}

static int bad_value(const struct config_ctx *cx, const struct setting_def *d,
		     const yaml_node_t *n)
{
	char got[SHOWN_SIZE + 8], buf[SHOWN_SIZE], expected[96];

	if (n->type == YAML_SEQUENCE_NODE)
		snprintf(got, sizeof(got), "a list");
	else if (n->type == YAML_MAPPING_NODE)
		snprintf(got, sizeof(got), "a mapping");
	else if (is_null(n))
		snprintf(got, sizeof(got), "nothing");
	else
		snprintf(got, sizeof(got), "'%s'", settings_shown(scalar_text(n), buf, sizeof(buf)));
	msg_error("%s:%zu:%zu: '%s' must be %s, got %s", cx->path, line_of(n), column_of(n),
		  d->yaml_key, setting_expected(d, expected, sizeof(expected)), got);
	return -EINVAL;
}

/* A relative path in the config file is relative to the file's folder; "~/" is home. */
static void resolve_path(const struct config_ctx *cx, char **field)
{
	const char *home = getenv("HOME"), *slash = strrchr(cx->path, '/');
	char *t = *field;

	if (strncmp(t, "~/", 2) == 0 && home && *home)
		*field = xasprintf("%s/%s", home, t + 2);
	else if (t[0] != '/' && slash)
		*field = xasprintf("%.*s/%s", (int)(slash - cx->path), cx->path, t);
	else
		return;
	free(t);
}

/* One scalar through its row's type; n is what an error points at. */
static int config_scalar(struct config_ctx *cx, const struct setting_def *d, yaml_node_t *n)
{
	const char *t = scalar_text(n);

	if (!t || scalar_has_nul(n) || is_null(n) || setting_parse(d, t, cx->s) < 0)
		return bad_value(cx, d, n);
	if (d->flags & SF_RELATIVE)
		resolve_path(cx, (char **)((char *)cx->s + d->offset));
	return 0;
}

static int config_value(struct config_ctx *cx, const struct setting_def *d, yaml_node_t *n)
{
	yaml_node_item_t *item;

	if (d->type == SET_IDS || ((d->flags & SF_NULLABLE) && is_null(n)))
		setting_clear(d, cx->s);
	if ((d->flags & SF_NULLABLE) && is_null(n))
		return 0;
	if (n->type == YAML_SCALAR_NODE)
		return config_scalar(cx, d, n);
	if (n->type != YAML_SEQUENCE_NODE || d->type != SET_IDS)
		return bad_value(cx, d, n);
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *v = yaml_document_get_node(cx->doc, *item);
		if (!v)
			return bad_value(cx, d, n);
		if (config_scalar(cx, d, v) < 0)
			return -EINVAL;
	}
	return 0;
}

static void unknown_key(const struct config_ctx *cx, const char *key, const yaml_node_t *kn,
			const yaml_node_t *vn)
{
	char buf[SHOWN_SIZE];

	settings_shown(key, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(python_only_keys) / sizeof(python_only_keys[0]); i++) {
		if (!strcmp(key, python_only_keys[i])) {
			msg_warn("%s:%zu: unknown key '%s' (ignored: a GHAminer option that ghaminer "
				 "does not implement)", cx->path, line_of(kn), buf);
			return;
		}
	}
	if (strcasestr(key, "token")) {
		if (vn->type == YAML_SCALAR_NODE)
			msg_add_secret(scalar_text(vn));
		msg_warn("%s:%zu: unknown key '%s' (ignored): tokens do not belong in %s; set "
			 "GITHUB_TOKEN or list them in a tokens_file", cx->path, line_of(kn), buf,
			 cx->path);
		return;
	}
	msg_warn("%s:%zu: unknown key '%s' (ignored)", cx->path, line_of(kn), buf);
}

static const struct setting_def *find_key(const char *key)
{
	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].yaml_key && !strcmp(key, settings_table[i].yaml_key))
			return &settings_table[i];
	return NULL;
}

static int config_mapping(struct config_ctx *cx, yaml_node_t *root)
{
	for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(cx->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(cx->doc, pair->value);
		const struct setting_def *d;
		const char *key;
		size_t row;

		if (!kn || !vn)
			continue;
		key = scalar_text(kn);
		if (!key) {
			msg_error("%s:%zu:%zu: a key must be a plain name such as 'max_retries'",
				  cx->path, line_of(kn), column_of(kn));
			return -EINVAL;
		}
		d = find_key(key);
		if (!d) {
			unknown_key(cx, key, kn, vn);
			continue;
		}
		row = d - settings_table;
		if (cx->seen_line[row])
			msg_warn("%s:%zu: duplicate key '%s' (replaces the one on line %zu)",
				 cx->path, line_of(kn), key, cx->seen_line[row]);
		cx->seen_line[row] = line_of(kn);
		if (config_value(cx, d, vn) < 0)
			return -EINVAL;
	}
	return 0;
}

static void yaml_failure(const yaml_parser_t *p, const char *path)
{
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		msg_error("%s: out of memory while reading YAML", path);
		break;
	case YAML_READER_ERROR:
		if (p->problem_value != -1)
			msg_error("%s: invalid YAML: %s (#%X at byte %zu)", path, p->problem,
				  (unsigned)p->problem_value, p->problem_offset);
		else
			msg_error("%s: invalid YAML: %s (at byte %zu)", path, p->problem,
				  p->problem_offset);
		break;
	default:
		if (p->context)
			msg_error("%s:%zu:%zu: invalid YAML: %s (%s at line %zu, column %zu)", path,
				  p->problem_mark.line + 1, p->problem_mark.column + 1,
				  p->problem ? p->problem : "syntax error", p->context,
				  p->context_mark.line + 1, p->context_mark.column + 1);
		else
			msg_error("%s:%zu:%zu: invalid YAML: %s", path, p->problem_mark.line + 1,
				  p->problem_mark.column + 1, p->problem ? p->problem : "syntax error");
		break;
	}
}

/* The document's root: a mapping of settings, or nothing at all. */
static int config_root(struct config_ctx *cx)
{
	yaml_node_t *root = yaml_document_get_root_node(cx->doc);

	if (root && root->type == YAML_MAPPING_NODE)
		return config_mapping(cx, root);
	if (root && !is_null(root)) {
		msg_error("%s:%zu:%zu: expected 'key: value' lines (a YAML mapping) at the top "
			  "level; see the config.yaml shipped with ghaminer", cx->path, line_of(root),
			  column_of(root));
		return -EINVAL;
	}
	return 0;
}

/* After the first document: only the end of the stream. */
static int config_no_second_document(yaml_parser_t *parser, const char *path)
{
	yaml_document_t extra;
	yaml_node_t *root;

	if (!yaml_parser_load(parser, &extra)) {
		yaml_failure(parser, path);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&extra);
	if (root)
		msg_error("%s:%zu: a second YAML document ('---'): put every key in one document",
			  path, line_of(root));
	yaml_document_delete(&extra);
	return root ? -EINVAL : 0;
}

int config_load(struct settings *s, const char *path)
{
	struct config_ctx cx = { .s = s, .path = path };
	yaml_parser_t parser;
	yaml_document_t doc;
	struct stat st;
	int ret;
	FILE *f;

	f = fopen(path, "rb");
	if (!f) {
		ret = -errno;
		msg_error("cannot open '%s': %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		msg_error("cannot read '%s': it is a directory, not a config file", path);
		ret = -EISDIR;
		goto close_file;
	}
	if (!yaml_parser_initialize(&parser)) {
		msg_error("%s: out of memory while reading YAML", path); /* libyaml's own malloc */
		ret = -ENOMEM;
		goto close_file;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_failure(&parser, path);
		ret = -EINVAL;
		goto delete_parser;
	}
	cx.doc = &doc;
	ret = config_root(&cx);
	if (ret == 0 && yaml_document_get_root_node(&doc))
		ret = config_no_second_document(&parser, path);
	yaml_document_delete(&doc);
delete_parser:
	yaml_parser_delete(&parser);
close_file:
	fclose(f);
	return ret;
}
