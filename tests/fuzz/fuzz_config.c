/* fuzz_config.c - a config.yaml as config_load reads it (libyaml document, table types).
 * Alias bombs must be refused in bounded time and memory: scripts/fuzz runs this target
 * with a per-input timeout and an RSS limit, which report a slow or hungry input. */
#include <stdlib.h>

#include "config.h"
#include "fuzz.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings s = {0};
	config_load(&s, fuzz_write("config.yaml", data, size));
	settings_release(&s);
	/* A key naming a token registers its value as a secret: start each input afresh. */
	msg_forget_secrets();
	return 0;
}
