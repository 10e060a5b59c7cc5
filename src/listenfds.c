/* listenfds.c - systemd's socket-passing protocol (sd_listen_fds(3)), the
 * few lines of it cpd needs: is LISTEN_PID this process, how many fds does
 * LISTEN_FDS say, mark them close-on-exec, clear the variables. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "listenfds.h"

/* A decimal number in [lo, hi], nothing else. 0 ok, -1 (errno
 * EINVAL) not one. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9') {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		errno = EINVAL;
		return -1;
	}
	*out = (int)v;
	return 0;
}

int listenfds_take(bool unset)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	int pid, n = 0, r = 0;

	if (pid_s == NULL)
		goto out;
	if (parse_int(pid_s, 1, INT32_MAX, &pid) < 0) {
		r = -1;
		goto out;
	}
	if (pid != (int)getpid())
		goto out; /* meant for the process that started us */
	if (fds_s == NULL)
		goto out;
	if (parse_int(fds_s, 0, INT32_MAX - LISTENFDS_START, &n) < 0) {
		errno = EINVAL;
		r = -1;
		goto out;
	}
	for (int fd = LISTENFDS_START; fd < LISTENFDS_START + n; fd++) {
		int flags = fcntl(fd, F_GETFD);
		if (flags < 0 ||
		    (!(flags & FD_CLOEXEC) &&
		     fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)) {
			r = -1;
			goto out;
		}
	}
	r = n;
out:
	{
		int saved = errno;
		if (unset) {
			unsetenv("LISTEN_PID");
			unsetenv("LISTEN_FDS");
			unsetenv("LISTEN_FDNAMES");
		}
		errno = saved;
	}
	return r;
}
