/* fuzz_link.c - a Link header as phases 1 and 2 read it: the rel="next" URL, then the
 * same-origin check fetch.c makes before sending it the token. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ghapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *link = fuzz_string(data, size);
	char *next = ghapi_link_next(link);
	if (next) {
		/* Only what a <...> of the header held. */
		char *enclosed = xasprintf("<%s>", next);
		FUZZ_ASSERT(strstr(link, enclosed), "the next URL is not a <...> of the header");
		free(enclosed);
		(void)ghapi_same_origin("https://api.github.com", next);
		(void)ghapi_same_origin("http://127.0.0.1:8080/api/v3", next);
	}
	free(next);
	free(link);
	return 0;
}
