/* rusage-exec.c - benchmark helper: runs a command (a handler behind
 * systemd-socket-activate) and appends its peak RSS and CPU times from
 * wait4(2)'s rusage to a file. Tiny and libc-only, so that its own
 * footprint, which ru_maxrss covers until exec, stays below any handler's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	char line[160];
	pid_t pid;
	int status, fd, n;

	if (argc < 3) {
		fprintf(stderr, "Usage: rusage-exec FILE COMMAND [ARG]...\n"
			"Run COMMAND and append \"maxrss_kib utime_us stime_us "
			"status\" to FILE.\n");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("rusage-exec: fork");
		return 127;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "rusage-exec: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	/* Leave the connection to the child alone: the peer must see EOF as
	 * soon as the child exits. */
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("rusage-exec: wait4");
			return 127;
		}
	}
	n = snprintf(line, sizeof line, "%ld %ld %ld %d\n", ru.ru_maxrss,
		(long)ru.ru_utime.tv_sec * 1000000L + (long)ru.ru_utime.tv_usec,
		(long)ru.ru_stime.tv_sec * 1000000L + (long)ru.ru_stime.tv_usec,
		WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n) {
		perror("rusage-exec: cannot write the report");
		return 127;
	}
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
