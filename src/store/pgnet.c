/* pgnet.c - the TCP ports a PostgreSQL store may have to connect to again
 * (store_tcp_ports): libpq's rules for the host, hostaddr and port lists of
 * a connection, read back after its defaults (service file, PGPORT), so
 * that a confined handler's Landlock rules allow exactly those ports. */
#include <stdlib.h>
#include <string.h>

#include "pgint.h"

/* libpq's compiled-in port for an empty entry (DEF_PGPORT). */
#define PG_DEFAULT_PORT 5432
/* Entries of one host, hostaddr or port list looked at (libpq has no limit;
 * more than this is refused as -1, which leaves TCP closed). */
#define PG_HOSTS_MAX 32

/* Split a comma-separated list into at most cap entries (empty ones kept);
 * s is modified. How many, or -1 if more than cap. A NULL or empty s is
 * zero entries. */
static int split(char *s, char **items, int cap)
{
	int n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (;;) {
		char *comma = strchr(s, ',');
		if (n == cap)
			return -1;
		items[n++] = s;
		if (comma == NULL)
			return n;
		*comma = '\0';
		s = comma + 1;
	}
}

/* A port entry: empty is the default; else a decimal 1-65535. */
static int port_of(const char *s)
{
	char *end;
	long v;

	if (*s == '\0')
		return PG_DEFAULT_PORT;
	v = strtol(s, &end, 10);
	return *end == '\0' && v >= 1 && v <= 65535 ? (int)v : -1;
}

/* The value of keyword in a PQconninfo array, a copy (NULL if unset). */
static char *value_of(const PQconninfoOption *opts, const char *keyword)
{
	for (; opts && opts->keyword; opts++)
		if (strcmp(opts->keyword, keyword) == 0)
			return opts->val ? strdup(opts->val) : NULL;
	return NULL;
}

int pg_tcp_ports(struct store *s, uint16_t *ports, size_t cap)
{
	struct pg_store *st = (struct pg_store *)s;
	PQconninfoOption *opts = PQconninfo(st->conn);
	char *host = value_of(opts, "host"), *addr = value_of(opts, "hostaddr");
	char *port = value_of(opts, "port");
	char *hosts[PG_HOSTS_MAX], *addrs[PG_HOSTS_MAX], *portv[PG_HOSTS_MAX];
	int nh, na, np, n, i;
	size_t got = 0;
	int rc = -1;

	PQconninfoFree(opts);
	nh = split(host, hosts, PG_HOSTS_MAX);
	na = split(addr, addrs, PG_HOSTS_MAX);
	np = split(port, portv, PG_HOSTS_MAX);
	if (nh < 0 || na < 0 || np < 0)
		goto out;
	/* hostaddr, if given, counts the hosts; else host; else one. */
	n = na > 0 ? na : nh > 0 ? nh : 1;
	if (np > 1 && np != n)
		goto out; /* libpq refuses such a string too */
	for (i = 0; i < n; i++) {
		const char *h = i < nh ? hosts[i] : "";
		bool tcp = (i < na && addrs[i][0] != '\0') ||
			(h[0] != '\0' && h[0] != '/' && h[0] != '@');
		int p;
		size_t j;

		if (!tcp)
			continue; /* a Unix socket (the default, too) */
		p = port_of(np == 0 ? "" : np == 1 ? portv[0] : portv[i]);
		if (p < 0)
			goto out;
		for (j = 0; j < got && ports[j] != p; j++)
			;
		if (j < got)
			continue;
		if (got == cap)
			goto out;
		ports[got++] = (uint16_t)p;
	}
	rc = (int)got;
out:
	free(host);
	free(addr);
	free(port);
	return rc;
}
