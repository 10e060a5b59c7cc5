/* calibrate.c - cpbench's measurements of the machine rather than of cpd:
 * yescrypt verify time through auth.c (what a login costs at least) and
 * the latency of one fdatasync (what a durable commit costs at least). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "auth.h"
#include "calibrate.h"
#include "limits.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_percentile(double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	return v[k > 0 ? k - 1 : 0];
}

/* Verifies per second with every CPU verifying at once: ncpu processes of
 * `rounds` verifies each. yescrypt is memory-hard (16 MiB a hash), so two at
 * once contend for caches and memory bandwidth and each runs slower than
 * alone: this, not ncpu / one verify's time, is what the hash allows. */
static double hash_rate_all_cpus(const char *hash, const char *pw, size_t len,
	long ncpu, int rounds)
{
	double t = now_ms(), secs;
	long k, started = 0, ok = 0;
	int st;

	for (k = 0; k < ncpu; k++) {
		pid_t p = fork();
		if (p < 0)
			break;
		if (p == 0) {
			for (int i = 0; i < rounds; i++)
				if (!auth_verify(hash, pw, len))
					_exit(1);
			_exit(0);
		}
		started++;
	}
	while (started > 0 && wait(&st) > 0) {
		started--;
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	secs = (now_ms() - t) / 1e3;
	return ok == ncpu && secs > 0 ? (double)(ncpu * rounds) / secs : 0;
}

int calibrate_hash(const char *pw, int rounds)
{
	char hash[CP_HASH_MAX];
	double *v = calloc((size_t)rounds, sizeof *v), t, hash_ms, med, all;
	struct rusage before, after;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t len = strlen(pw);
	int i;

	getrusage(RUSAGE_SELF, &before);
	t = now_ms();
	if (v == NULL || auth_hash(pw, len, hash, sizeof hash) < 0) {
		fprintf(stderr, "cpbench: auth_hash failed\n");
		free(v);
		return -1;
	}
	hash_ms = now_ms() - t;
	for (i = 0; i < rounds; i++) {
		t = now_ms();
		if (!auth_verify(hash, pw, len)) {
			fprintf(stderr, "cpbench: auth_verify rejected its own hash\n");
			free(v);
			return -1;
		}
		v[i] = now_ms() - t;
	}
	getrusage(RUSAGE_SELF, &after);
	med = bench_percentile(v, (size_t)rounds, 50);
	fflush(stdout); /* the children must not print it again */
	all = hash_rate_all_cpus(hash, pw, len, ncpu, rounds);
	if (all <= 0) {
		fprintf(stderr, "cpbench: the all-CPU verify run failed\n");
		free(v);
		return -1;
	}
	printf("scenario=hash-time rounds=%d hash_ms=%.2f verify_p50_ms=%.2f "
		"verify_p99_ms=%.2f ncpu=%ld login_ceiling=%.1f "
		"login_ceiling_all_cpus=%.1f hash_rss_growth_kib=%ld\n", rounds,
		hash_ms, med, bench_percentile(v, (size_t)rounds, 99), ncpu,
		med > 0 ? (double)ncpu * 1e3 / med : 0, all,
		after.ru_maxrss - before.ru_maxrss);
	free(v);
	return 0;
}

int calibrate_sync(const char *dir, int rounds)
{
	char path[4096], page[4096];
	double *v = calloc((size_t)rounds, sizeof *v), t;
	int fd, i, rc = 0;

	snprintf(path, sizeof path, "%s/cpbench-sync.XXXXXX", dir);
	fd = v != NULL ? mkstemp(path) : -1;
	if (fd < 0) {
		fprintf(stderr, "cpbench: %s: %s\n", dir, strerror(errno));
		free(v);
		return -1;
	}
	memset(page, 'x', sizeof page);
	for (i = 0; i < rounds && rc == 0; i++) {
		t = now_ms();
		if (pwrite(fd, page, sizeof page, (off_t)(i % 16) * 4096) !=
		    (ssize_t)sizeof page || fdatasync(fd) != 0)
			rc = -1;
		v[i] = now_ms() - t;
	}
	if (rc != 0)
		fprintf(stderr, "cpbench: %s: %s\n", path, strerror(errno));
	else
		printf("scenario=sync-time rounds=%d fdatasync_p50_ms=%.3f "
			"fdatasync_p99_ms=%.3f\n", rounds,
			bench_percentile(v, (size_t)rounds, 50),
			bench_percentile(v, (size_t)rounds, 99));
	close(fd);
	unlink(path);
	free(v);
	return rc;
}
