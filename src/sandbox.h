/* sandbox.h - a handler confines itself before it reads a stranger's bytes:
 * no_new_privs, rlimits, the store owner's uid without capabilities,
 * Landlock (the store's files only) and a seccomp allow list precompiled at
 * build time (tools/seccomp-gen.c). Used by cpd and by the TLS front end. */
#ifndef CP_SANDBOX_H
#define CP_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which precompiled allow list to load. */
enum sandbox_profile {
	SANDBOX_PROFILE_CPD, /* a plain session (cpd) */
	SANDBOX_PROFILE_TLS, /* cpd's list plus what GnuTLS needs (getrandom,
				recv/recvmsg): for a TLS session, after cp-tls.so
				and the credentials are loaded, before the
				handshake */
};

struct sandbox_config {
	const char *store_dir;  /* the only files left reachable (read-write);
				   NULL: a database store, no file at all */
	uint64_t map_bytes;     /* LMDB map size: the largest file written */
	enum sandbox_profile profile;
	/* The store is a database (PostgreSQL) reached through a socket opened
	 * before confinement: the filter also allows what reconnecting takes
	 * (a stream socket, connect, ...), so a session survives a failover;
	 * Landlock still leaves no file and (ABI 4) no TCP connect but to the
	 * ports below. */
	bool database;
	/* With Landlock ABI 4: the only TCP ports a connect may reach, the
	 * database's (store_tcp_ports); none when n_tcp_ports is 0. */
	const uint16_t *tcp_ports;
	size_t n_tcp_ports;
};

/* Confine the calling process for good: everything the config leaves
 * out is gone until it exits. Call once, after the store is open, the
 * journal socket is open (log_init) and the client's first byte was peeked,
 * before reading the client. Writes what was applied ("landlock abi 7, ...")
 * or, on failure, why, into report. Returns 0, or -1 if a required part
 * failed (the caller must then not serve the client). A kernel without
 * Landlock, or a machine the filter was not built for, is not a failure:
 * the report says so. Single-threaded callers only. */
int sandbox_apply(const struct sandbox_config *cfg, char *report, size_t cap);

#endif
