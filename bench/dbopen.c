/* dbopen.c - what opening the store costs one handler (make bench, the
 * PostgreSQL rows of doc/performance.md): N fresh processes one after another
 * each load libpq (a database store; pglib.c), store_open and store_close,
 * as every cpd does, and the medians of each step and of the child's CPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include "pglib.h"
#include "store.h"

struct sample {
	double load_ms, open_ms, close_ms;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The child: one open as cpd does it; its timings to fd. */
static int one_open(const char *db, int fd)
{
	char err[512];
	struct sample s = { 0, 0, 0 };
	struct store *st;
	double t0 = now_ms(), t1, t2;

	if (store_kind(db) == STORE_KIND_PG && pglib_load(err, sizeof err) != 0) {
		fprintf(stderr, "dbopen: %s\n", err);
		return 1;
	}
	t1 = now_ms();
	st = store_open(db, 0, 0, err, sizeof err);
	t2 = now_ms();
	if (!st) {
		fprintf(stderr, "dbopen: %s\n", err);
		return 1;
	}
	store_close(st);
	s.load_ms = t1 - t0;
	s.open_ms = t2 - t1;
	s.close_ms = now_ms() - t2;
	return write(fd, &s, sizeof s) == (ssize_t)sizeof s ? 0 : 1;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int n = argc == 3 ? atoi(argv[1]) : 0, fds[2];
	double *load, *open_, *close_, *cpu, *wall;

	if (n <= 0 || n > 100000) {
		fprintf(stderr, "Usage: dbopen N DB\n"
			"Open and close the store DB (an LMDB directory or a "
			"postgresql: string) in N fresh processes, one after "
			"another; print the medians (ms).\n");
		return 2;
	}
	load = calloc((size_t)n, sizeof *load);
	open_ = calloc((size_t)n, sizeof *open_);
	close_ = calloc((size_t)n, sizeof *close_);
	cpu = calloc((size_t)n, sizeof *cpu);
	wall = calloc((size_t)n, sizeof *wall);
	if (!load || !open_ || !close_ || !cpu || !wall || pipe(fds) != 0) {
		perror("dbopen");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		struct sample s;
		struct rusage ru;
		int status;
		double t0 = now_ms();
		pid_t pid = fork();

		if (pid < 0) {
			perror("dbopen: fork");
			return 2;
		}
		if (pid == 0) {
			close(fds[0]);
			_exit(one_open(argv[2], fds[1]));
		}
		if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0 ||
		    read(fds[0], &s, sizeof s) != (ssize_t)sizeof s) {
			fprintf(stderr, "dbopen: open %d of %d failed\n", i + 1, n);
			return 1;
		}
		wall[i] = now_ms() - t0;
		load[i] = s.load_ms;
		open_[i] = s.open_ms;
		close_[i] = s.close_ms;
		cpu[i] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	}
	printf("store=%s opens=%d load_ms=%.3f open_ms=%.3f close_ms=%.3f "
		"process_ms=%.3f cpu_ms=%.3f\n",
		store_kind(argv[2]) == STORE_KIND_PG ? "postgresql" : "lmdb", n,
		median(load, n), median(open_, n), median(close_, n),
		median(wall, n), median(cpu, n));
	return 0;
}
