/* cpdopt.c - cpd's options (getopt_long), their environment fallbacks and
 * where the TLS certificate comes from: --tls-cert/--tls-key, $CP_TLS_CERT/
 * $CP_TLS_KEY, or cp-tls.crt/cp-tls.key in systemd's $CREDENTIALS_DIRECTORY.
 * One parser for plaintext and TLS sessions alike. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cpdopt.h"
#include "dbpath.h"
#include "log.h"
#include "sandbox.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cpd [OPTION]...\n"
"Serve one Chat Protocol (CP) connection on stdin/stdout (inetd style), or on\n"
"the one socket passed by systemd (sd_listen_fds), then exit.\n"
"\n"
"  -d, --db DIR               store directory (default: $CP_DB, else\n"
"                             $STATE_DIRECTORY, else %s;\n"
"                             an empty one given or set is an error)\n"
"      --idle-timeout S       close after S seconds without a complete line (%d)\n"
"      --line-timeout S       a started line must end within S seconds (%d);\n"
"                             also bounds the TLS handshake\n"
"      --login-timeout S      close a connection not logged in S seconds after\n"
"                             it opened (%d)\n"
"      --ack-timeout S        a delivered message must be acked within S seconds (%d)\n"
"      --write-timeout S      give up on a client that takes no byte of its\n"
"                             replies for S seconds (%d)\n"
"      --auth-fail-delay MS   wait MS milliseconds before each 565 (%d)\n"
"      --max-auth-failures N  close the connection after N failed logins (%d;\n"
"                             0 = never)\n"
"      --mailbox-limit N      refuse (540) messages to a user with N queued (%d;\n"
"                             0 = no limit)\n"
"      --map-size MIB         LMDB map size in MiB (%d)\n"
"\n"
"TLS (same port: a connection whose first byte is 0x16 is TLS):\n"
"      --tls=POLICY           off, optional or required ($CP_TLS; default:\n"
"                             optional with a certificate, off without);\n"
"                             required: a plaintext USER gets 560\n"
"      --tls-cert FILE        PEM certificate chain ($CP_TLS_CERT, else\n"
"                             $CREDENTIALS_DIRECTORY/cp-tls.crt)\n"
"      --tls-key FILE         PEM private key ($CP_TLS_KEY, else\n"
"                             $CREDENTIALS_DIRECTORY/cp-tls.key, else the\n"
"                             certificate file)\n"
"      --tls-priority STRING  GnuTLS priority string ($CP_TLS_PRIORITY;\n"
"                             default: the system's, TLS 1.2 at least)\n"
"      --tls-exempt-loopback  with --tls=required, still serve plaintext to\n"
"                             127.0.0.0/8 and ::1\n"
"      --no-sandbox           do not confine the handler (debugging only; by\n"
"                             default it drops to the store owner, Landlock\n"
"                             leaves it the store's files only and a seccomp\n"
"                             filter the system calls a session makes)\n"
"  -h, --help                 show this help and exit\n"
"  -V, --version              show the version and exit\n"
"\n"
"Seconds may be fractional. Logs go to the journal under systemd, else to\n"
"stderr (never to the client's socket).\n"
"Exit status: 0 session ended (TERM, end of input, timeout, failed TLS\n"
"handshake), 1 store cannot be opened, 2 bad usage, 3 TLS cannot be set up\n"
"(certificate or key unreadable, cp-tls.so missing), 4 the sandbox cannot be\n"
"applied.\n",
		CP_DEFAULT_DB, CP_DEFAULT_IDLE_TIMEOUT, CP_DEFAULT_LINE_TIMEOUT,
		CP_DEFAULT_LOGIN_TIMEOUT, CP_DEFAULT_ACK_TIMEOUT, CP_WRITE_TIMEOUT,
		CP_DEFAULT_AUTH_FAIL_DELAY_MS,
		CP_DEFAULT_MAX_AUTH_FAILURES, CP_DEFAULT_MAILBOX_LIMIT,
		CP_DEFAULT_MAP_SIZE_MIB);
}

/* Parse seconds (fractional) into milliseconds: 0 < S <= one day. */
static int parse_seconds(const char *arg, int64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end != '\0' || !isfinite(v) || v <= 0 ||
	    v > 86400)
		return -1;
	*ms = (int64_t)(v * 1000 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return 0;
}

static int parse_uint(const char *arg, unsigned long long max,
	unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (arg[0] < '0' || arg[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static const char *const policy_names[] = {
	[CPD_TLS_OFF] = "off",
	[CPD_TLS_OPTIONAL] = "optional",
	[CPD_TLS_REQUIRED] = "required",
};

const char *cpd_tls_policy_name(enum cpd_tls_policy p)
{
	return policy_names[p];
}

static int parse_policy(const char *arg, int *out)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(arg, policy_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

static const char *nonempty_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* $CREDENTIALS_DIRECTORY/NAME into buf if that file exists, else NULL. */
static const char *credential(const char *name, char *buf, size_t cap)
{
	const char *dir = nonempty_env("CREDENTIALS_DIRECTORY");
	int n;

	if (dir == NULL)
		return NULL;
	n = snprintf(buf, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap || access(buf, F_OK) != 0)
		return NULL;
	return buf;
}

/* Where the certificate and key come from, and the policy that follows. */
static int resolve_tls(struct cpd_options *o, int policy)
{
	static char crt[4096], key[4096];

	if (o->tls_cert == NULL)
		o->tls_cert = nonempty_env("CP_TLS_CERT");
	if (o->tls_key == NULL)
		o->tls_key = nonempty_env("CP_TLS_KEY");
	if (o->tls_priority == NULL)
		o->tls_priority = nonempty_env("CP_TLS_PRIORITY");
	if (o->tls_cert == NULL && o->tls_key == NULL) {
		o->tls_cert = credential("cp-tls.crt", crt, sizeof crt);
		o->tls_key = credential("cp-tls.key", key, sizeof key);
	}
	if (o->tls_cert == NULL && o->tls_key != NULL) {
		log_event(LOG_ERR, "usage", "a TLS key without a certificate; "
			"give --tls-cert too");
		return -1;
	}
	if (o->tls_key == NULL)
		o->tls_key = o->tls_cert; /* one PEM file holding both */
	if (policy < 0) {
		const char *env = nonempty_env("CP_TLS");
		if (env != NULL && parse_policy(env, &policy) < 0) {
			log_event(LOG_ERR, "usage", "bad value for CP_TLS: %s", env);
			return -1;
		}
	}
	if (policy < 0)
		policy = o->tls_cert != NULL ? CPD_TLS_OPTIONAL : CPD_TLS_OFF;
	if (policy != CPD_TLS_OFF && o->tls_cert == NULL) {
		/* Fail closed: never fall back to plaintext silently. */
		log_event(LOG_ERR, "usage", "--tls=%s needs a certificate "
			"(--tls-cert, or cp-tls.crt in $CREDENTIALS_DIRECTORY)",
			policy_names[policy]);
		return -1;
	}
	o->tls = (enum cpd_tls_policy)policy;
	return 0;
}

enum cpd_opts_result cpd_options_parse(struct cpd_options *o, int argc,
	char **argv)
{
	enum { O_TLS = 256, O_TLS_CERT, O_TLS_KEY, O_TLS_PRIORITY,
		O_TLS_LOOPBACK, O_NO_SANDBOX };
	char err[256];
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "line-timeout", required_argument, NULL, 'l' },
		{ "login-timeout", required_argument, NULL, 'L' },
		{ "ack-timeout", required_argument, NULL, 'a' },
		{ "write-timeout", required_argument, NULL, 'w' },
		{ "auth-fail-delay", required_argument, NULL, 'D' },
		{ "max-auth-failures", required_argument, NULL, 'F' },
		{ "mailbox-limit", required_argument, NULL, 'M' },
		{ "map-size", required_argument, NULL, 'm' },
		{ "tls", required_argument, NULL, O_TLS },
		{ "tls-cert", required_argument, NULL, O_TLS_CERT },
		{ "tls-key", required_argument, NULL, O_TLS_KEY },
		{ "tls-priority", required_argument, NULL, O_TLS_PRIORITY },
		{ "tls-exempt-loopback", no_argument, NULL, O_TLS_LOOPBACK },
		{ "no-sandbox", no_argument, NULL, O_NO_SANDBOX },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	int c, li, policy = -1;

	memset(o, 0, sizeof *o);
	session_config_defaults(&o->session);
	o->map_mib = CP_DEFAULT_MAP_SIZE_MIB;
	o->write_timeout_ms = CP_WRITE_TIMEOUT * 1000;
	optind = 1;
	while ((li = -1, c = getopt_long(argc, argv, "d:hV", opts, &li)) != -1) {
		struct session_config *cfg = &o->session;
		int bad = 0;
		switch (c) {
		case 'd': o->db = optarg; break;
		case 'i': bad = parse_seconds(optarg, &cfg->idle_timeout_ms); break;
		case 'l': bad = parse_seconds(optarg, &cfg->line_timeout_ms); break;
		case 'L': bad = parse_seconds(optarg, &cfg->login_timeout_ms); break;
		case 'a': bad = parse_seconds(optarg, &cfg->ack_timeout_ms); break;
		case 'w': bad = parse_seconds(optarg, &o->write_timeout_ms); break;
		case 'D':
			bad = parse_uint(optarg, 60000, &v);
			cfg->auth_fail_delay_ms = (int64_t)v;
			break;
		case 'F':
			bad = parse_uint(optarg, 1000000, &v);
			cfg->max_auth_failures = (unsigned)v;
			break;
		case 'M':
			bad = parse_uint(optarg, UINT64_MAX, &v);
			cfg->mailbox_limit = v;
			break;
		case 'm':
			bad = parse_uint(optarg, 1u << 22, &o->map_mib) ||
				o->map_mib == 0;
			break;
		case O_TLS: bad = parse_policy(optarg, &policy); break;
		case O_TLS_CERT: o->tls_cert = optarg; break;
		case O_TLS_KEY: o->tls_key = optarg; break;
		case O_TLS_PRIORITY: o->tls_priority = optarg; break;
		case O_TLS_LOOPBACK: o->tls_loopback_plain = true; break;
		case O_NO_SANDBOX: o->no_sandbox = true; break;
		case 'h': usage(stdout); return CPD_OPTS_DONE;
		case 'V':
			printf("cpd (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return CPD_OPTS_DONE;
		default:
			log_event(LOG_ERR, "usage", "bad command line; see cpd --help");
			return CPD_OPTS_USAGE;
		}
		if (bad) {
			log_event(LOG_ERR, "usage", "bad value for --%s: %s",
				li >= 0 ? opts[li].name : "?", optarg);
			return CPD_OPTS_USAGE;
		}
	}
	if (optind < argc) {
		log_event(LOG_ERR, "usage", "unexpected argument: %s", argv[optind]);
		return CPD_OPTS_USAGE;
	}
	o->db = dbpath_resolve(o->db, err, sizeof err);
	if (o->db == NULL) {
		log_event(LOG_ERR, "usage", "%s", err);
		return CPD_OPTS_USAGE;
	}
	if (resolve_tls(o, policy) < 0)
		return CPD_OPTS_USAGE;
	return CPD_OPTS_OK;
}

int cpd_confine(const struct cpd_options *o, struct store *st, int profile,
	char *desc, size_t cap)
{
	bool database = store_kind(o->db) != STORE_KIND_LMDB;
	uint16_t ports[CP_SANDBOX_TCP_PORTS_MAX];
	int nports = 0;
	struct sandbox_config sb = {
		.store_dir = database ? NULL : o->db,
		.map_bytes = (uint64_t)o->map_mib * 1024 * 1024,
		.profile = (enum sandbox_profile)profile,
		.database = database,
		.tcp_ports = ports,
	};

	if (o->no_sandbox) {
		snprintf(desc, cap, "off (--no-sandbox)");
		return 0;
	}
	/* Too many hosts to list: no TCP port at all (a lost connection is
	 * then not made again inside this session; the next one connects). */
	if (database && (nports = store_tcp_ports(st, ports,
	    CP_SANDBOX_TCP_PORTS_MAX)) < 0)
		nports = 0;
	sb.n_tcp_ports = (size_t)nports;
	if (sandbox_apply(&sb, desc, cap) < 0) {
		log_event(LOG_ERR, "error", "sandbox: %s", desc);
		return -1;
	}
	return 0;
}
