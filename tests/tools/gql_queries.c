/* gql_queries.c - print every GraphQL query text the miner can send, as a JSON array, for
 * the schema check (tests/schema/validate.mjs). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "gql.h"

int main(void)
{
	json_t *a = json_array();
	for (int q = 0; q < GQL_NQUERIES; q++)
		json_array_append_new(a, json_string(gql_query_text(q)));
	char *text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	if (!text)
		return 1;
	puts(text);
	free(text);
	return 0;
}
