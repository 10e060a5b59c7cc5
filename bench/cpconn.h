/* cpconn.h - the sessions cpbench drives: what a run is told (the
 * scenario, the users, how many at once, for how long) and what it counts.
 * cpconn.c owns the per-connection state machine, the non-blocking I/O and
 * the epoll loop; cpbench.c owns the options and the report. */
#ifndef CP_BENCH_CPCONN_H
#define CP_BENCH_CPCONN_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

enum cpconn_scenario {
	SC_CONNECT, SC_LOGIN, SC_SEND, SC_RECV, SC_MIXED, SC_FLOOD,
	SC_POP3_HELLO   /* a POP3 server's greeting and QUIT (the peers) */
};

struct cpconn_opts {
	struct sockaddr_in addr; /* the server */
	uint32_t src_first, src_count; /* --source: bind() to these, in turn
	                                  (host order; count 0: no bind) */
	char **users;           /* session k logs in as users[k % nusers] */
	unsigned nusers;
	const char *password;   /* of every user */
	const char *to;         /* SMSG recipient; NULL: as the scenario says */
	const char *text;       /* the text of every SMSG */
	unsigned conc;          /* sessions at once */
	double duration;        /* keep starting sessions for this many s ... */
	long count;             /* ... or, if > 0, start this many */
	enum cpconn_scenario sc;
	long messages;          /* SMSG per session; < 0: mixed 10, else 1000 */
	long expect;            /* each download must hold this many; < 0: any */
	long window;            /* at most this many SMSG awaiting 240; 0: any */
	int ack_ahead;          /* recv: RMSG and expect 250s written at once,
	                           without waiting for the deliveries */
	double timeout;         /* a session not done in this many s fails */
	int verbose;            /* report every failed session, not 5 */
};

struct cpconn_result {
	long completed, errors; /* sessions */
	long total_msgs;        /* send: 240s, recv: deliveries, else both */
	int64_t t_begin;        /* first session started, us (monotonic) */
	int64_t t_go;           /* send, recv: the timed phase began; else -1 */
	int64_t t_last;         /* last session done */
	int64_t t_phase_end;    /* the last 240 or 255 */
	double *samples;        /* latencies, ms (the caller may sort them) */
	size_t nsamples;
};

/* Run the sessions opts asks for, one thread, until all are done; failed
 * sessions are counted in res->errors and the first 5 (all if verbose)
 * reported on stderr. 0 done, -1 on a failure of this machine (socket(),
 * memory; message on stderr), res then incomplete. */
int cpconn_run(const struct cpconn_opts *opts, struct cpconn_result *res);

#endif
