/* fuzz_jobs.c - a jobs page as phase 2 takes it: parse, jobs → job_details, the cell text. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ghapi.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *page = json_loadb((const char *)data, size, 0, NULL);
	json_t *details = json_array();
	long long total = 0;
	int n = ghapi_jobs_append(details, page, &total);
	FUZZ_ASSERT(n == (json_is_array(json_object_get(page, "jobs"))
				  ? (int)json_array_size(json_object_get(page, "jobs"))
				  : -1),
		    "one entry per job, or -1 without a jobs array");
	if (n >= 0) {
		/* The cell as phase 2 writes it, and as NDJSON and the journal read it back. */
		char *text = json_dumps(details, RECORD_JSON_FLAGS);
		json_t *back = record_value_json(COL_JOB_DETAILS, text);
		char *again = json_dumps(back, RECORD_JSON_FLAGS);
		/* Text, not values: a duration of more than 12 digits is rounded once. */
		FUZZ_ASSERT(text && again && strcmp(text, again) == 0,
			    "job_details does not read back as written");
		free(again);
		struct buf cell;
		buf_init(&cell, 0);
		record_csv_field(&cell, text, strlen(text));
		buf_release(&cell);
		json_decref(back);
		free(text);
	}
	json_decref(details);
	json_decref(page);
	return 0;
}
