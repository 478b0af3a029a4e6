/* stopsig.c - the signals that stop a run, their names and exit codes. */
#include "stopsig.h"

#include <signal.h>

const int stopsig_signals[STOPSIG_COUNT] = {SIGINT, SIGTERM, SIGHUP};

const char *stopsig_name(int signum)
{
	switch (signum) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	}
	return "signal";
}

int stopsig_exit_code(int signum)
{
	return 128 + signum;
}
