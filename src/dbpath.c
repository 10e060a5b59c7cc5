/* dbpath.c - the store's path for cpd and the user tools (dbpath.h). An
 * empty --db or $CP_DB used to mean "not given": cpd then opened /lock.mdb,
 * and `cp-userdel --db '' alice` deleted alice from $CP_DB. Now it is an
 * error, so a typo or an unset shell variable never picks another store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbpath.h"

#ifndef CP_DEFAULT_DB
#define CP_DEFAULT_DB "/var/lib/cp"
#endif

const char *dbpath_resolve(const char *opt, char *err, size_t errcap)
{
	static char first[4096];
	const char *s;
	size_t n;

	if (opt != NULL) {
		if (*opt == '\0') {
			snprintf(err, errcap, "--db: the store path is empty");
			return NULL;
		}
		return opt;
	}
	if ((s = getenv("CP_DB")) != NULL) {
		if (*s == '\0') {
			snprintf(err, errcap, "CP_DB is set but empty; unset it or "
				"name the store directory");
			return NULL;
		}
		return s;
	}
	/* systemd's StateDirectory= may list several, ':'-separated. */
	if ((s = getenv("STATE_DIRECTORY")) == NULL)
		return CP_DEFAULT_DB;
	n = strcspn(s, ":");
	if (n == 0) {
		snprintf(err, errcap, "STATE_DIRECTORY is set but its first "
			"entry is empty");
		return NULL;
	}
	if (n >= sizeof first) {
		snprintf(err, errcap, "STATE_DIRECTORY: path too long");
		return NULL;
	}
	memcpy(first, s, n);
	first[n] = '\0';
	return first;
}
