/* slow_io_shim.c - LD_PRELOAD shim for test_sigint_drain: fsync in a thread other than the
 * main one (libuv's thread pool) sleeps SLOW_FSYNC_MS first, so a signal can arrive while
 * the end of a pass waits for the pool. Built by the scenario with cc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int fsync(int fd)
{
	static int (*real)(int);
	const char *ms = getenv("SLOW_FSYNC_MS");
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (ms && syscall(SYS_gettid) != getpid())
		usleep((useconds_t)atoi(ms) * 1000);
	return real(fd);
}
