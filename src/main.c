/* main.c - argv → settings → mining session (or the server) → exit code; nothing else. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "miner.h"
#include "msg.h"
#include "ndjson.h"
#include "serve.h"
#include "settings.h"
#include "subcmd.h"

int main(int argc, char **argv)
{
	struct settings s = {0};
	int rc = EXIT_OK;

	/* Commands beside mining take their own options. */
	if (argc > 1 && strcmp(argv[1], "merge") == 0)
		return subcmd_merge(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "shard") == 0)
		return subcmd_shard(argc - 1, argv + 1);

	/* settings_load has printed what is wrong; any failure there is a usage error. */
	if (settings_load(&s, argc, argv) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (s.show_help) {
		settings_usage(stdout);
		goto out;
	}
	if (s.show_version) {
		printf("ghaminer %s\n", GHAMINER_VERSION);
		goto out;
	}
	/* A closed stdout (e.g. `| head`) must not kill the miner mid-write. */
	signal(SIGPIPE, SIG_IGN);
	msg_set_quiet(s.quiet);
	/* serve streams to its clients, not to stdout */
	ndjson_enable(s.streaming_mode && !s.serve);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		msg_error("cannot initialise libcurl");
		rc = EXIT_IO;
		goto out;
	}
	rc = s.serve ? serve_run(&s) : miner_run(&s);
	curl_global_cleanup();
out:
	settings_release(&s);
	msg_forget_secrets();
	return rc;
}
