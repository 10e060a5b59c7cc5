/* cpdopt.h - cpd's command line, environment and TLS credentials, parsed
 * once, for a plaintext connection and a TLS one (cpdtls.c) alike. */
#ifndef CP_CPDOPT_H
#define CP_CPDOPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "session.h"

/* Exit statuses of cpd. */
enum { CPD_EXIT_OK = 0, CPD_EXIT_STORE = 1, CPD_EXIT_USAGE = 2,
	CPD_EXIT_TLS = 3, CPD_EXIT_SANDBOX = 4 };

enum cpd_tls_policy {
	CPD_TLS_OFF,      /* no first-byte detection: plaintext as always */
	CPD_TLS_OPTIONAL, /* TLS if the first byte starts a handshake */
	CPD_TLS_REQUIRED, /* ... and a plaintext USER gets 560 */
};

struct cpd_options {
	struct session_config session;
	const char *db;
	unsigned long long map_mib;
	int64_t write_timeout_ms;
	enum cpd_tls_policy tls;
	bool tls_loopback_plain;  /* --tls-exempt-loopback */
	bool no_sandbox;          /* --no-sandbox (debugging only) */
	const char *tls_cert;     /* PEM chain; NULL when none is configured */
	const char *tls_key;      /* PEM key */
	const char *tls_priority; /* NULL: the library's (system) default */
};

enum cpd_opts_result {
	CPD_OPTS_OK,
	CPD_OPTS_DONE,  /* --help or --version printed: exit 0 */
	CPD_OPTS_USAGE, /* logged: exit CPD_EXIT_USAGE */
};

/* Parse argv and the environment (CP_DB, STATE_DIRECTORY, CP_TLS,
 * CP_TLS_CERT, CP_TLS_KEY, CP_TLS_PRIORITY, CREDENTIALS_DIRECTORY) into o.
 * Does not permute argv in a way that matters: it can be parsed again. */
enum cpd_opts_result cpd_options_parse(struct cpd_options *o, int argc,
	char **argv);

const char *cpd_tls_policy_name(enum cpd_tls_policy p);

/* Confine the handler (sandbox.h; profile an enum sandbox_profile) unless
 * --no-sandbox: call once the store st is open, before reading the client
 * (a database store keeps TCP connect to its own ports only, to reconnect).
 * desc gets what was applied, for the closing log line. 0, or -1 after
 * logging why (the caller exits with CPD_EXIT_SANDBOX). */
struct store;
int cpd_confine(const struct cpd_options *o, struct store *st, int profile,
	char *desc, size_t cap);

#endif
