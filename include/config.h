/* config.h - config.yaml (libyaml) → the settings of the table, errors at file:line:column. */
#ifndef GHAMINER_CONFIG_H
#define GHAMINER_CONFIG_H

#include "settings.h"

/*
 * Read path over what *s holds. Unknown keys are warned about and skipped; a value of the
 * wrong type or out of range is an error naming the key at path:line:column. Returns 0,
 * -EINVAL after printing what is wrong, or the negative errno of a file that cannot be read.
 * On error *s may hold some of the file's values; the caller releases it.
 */
int config_load(struct settings *s, const char *path);

#endif
