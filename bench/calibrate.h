/* calibrate.h - what the machine itself allows, for cpbench: the time of a
 * yescrypt verify (the ceiling of the login rate) and of one durable write
 * (the price of a commit), and the percentile helper cpbench reports with. */
#ifndef CP_BENCH_CALIBRATE_H
#define CP_BENCH_CALIBRATE_H

#include <stddef.h>

/* Sort v[0..n) and return its p-th percentile (0-100), nearest rank. */
double bench_percentile(double *v, size_t n, double p);

/* Time rounds auth_verify() calls on a fresh auth_hash() of pw and print
 * one key=value line. 0 ok, -1 error (message on stderr). */
int calibrate_hash(const char *pw, int rounds);

/* Time rounds pwrite+fdatasync of one 4 KiB page in a scratch file in dir
 * (removed afterwards) and print one key=value line. 0 ok, -1 error. */
int calibrate_sync(const char *dir, int rounds);

#endif
