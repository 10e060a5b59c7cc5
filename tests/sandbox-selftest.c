/* sandbox-selftest.c - test-only: applies cpd's own sandbox_apply (as cpd
 * does, after log_init), then tries what an attacker with code execution
 * in a handler would, one line each: "NAME: succeeded" or "NAME: failed
 * (reason)"; sandbox.bats, systemd.bats and failover.bats judge them. */

/* With a PostgreSQL URI for STORE it opens that store first and confines
 * itself as cpd does on it (failover.bats: which TCP ports stay). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "log.h"
#include "sandbox.h"
#include "store.h"

static const char *store;
static const char *unix_path = "/run/systemd/journal/stdout";
static int tcp_port = 5035;

static int try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int a_shadow(void) { return try_open("/etc/shadow", O_RDONLY); }
static int a_passwd_write(void) { return try_open("/etc/passwd", O_WRONLY); }
static int a_proc_environ(void) { return try_open("/proc/1/environ", O_RDONLY); }

static int a_store_parent(void)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", store);
	return try_open(dirname(buf), O_RDONLY | O_DIRECTORY);
}

/* The control: the store's own data file stays readable and writable. */
static int a_store_rw(void)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s/data.mdb", store);
	return try_open(buf, O_RDWR);
}

static int a_tmp_create(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/cp-selftest.%ld", (long)getpid());
	if (try_open(path, O_WRONLY | O_CREAT | O_EXCL) < 0)
		return -1;
	unlink(path);
	return 0;
}

static int a_socket_inet(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int a_unix_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", unix_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	return rc;
}

/* A TCP connection to 127.0.0.1:tcp_port (--tcp). */
static int a_tcp_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)tcp_port) };
	int fd, rc;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	return rc;
}

/* A UDP datagram to 127.0.0.1:tcp_port (Landlock does not cover UDP). */
static int a_udp_send(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)tcp_port) };
	int fd;
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return -1;
	n = sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	return n == 1 ? 0 : -1;
}

static int a_exec_sh(void)
{
	char *argv[] = { "sh", "-c", "echo 'exec-sh: succeeded'", NULL };
	fflush(stdout);
	execv("/bin/sh", argv);
	return -1;
}

static int a_fork(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return 0;
}

static int a_ptrace(void)
{
	pid_t pid = getppid();
	if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0)
		return -1;
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	return 0;
}

static int a_mount(void)
{
	if (mount("cp-selftest", "/mnt", "tmpfs", 0, NULL) < 0)
		return -1;
	umount("/mnt");
	return 0;
}

static int a_setuid_root(void) { return setuid(0); }

/* The capabilities it started with (read before confinement), back into
 * its permitted and effective sets: unconfined, root may. */
static struct __user_cap_data_struct start_caps[2];

static int a_regain_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	if ((start_caps[0].permitted | start_caps[1].permitted) == 0) {
		errno = ENODATA; /* started with none: nothing to regain */
		return -1;
	}
	return (int)syscall(SYS_capset, &hdr, start_caps);
}

static int a_signal(void) { return kill(getppid(), 0); }

static int a_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc;
	if (p == MAP_FAILED)
		return -1;
	rc = mprotect(p, 4096, PROT_READ | PROT_EXEC);
	munmap(p, 4096);
	return rc;
}

static int a_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	munmap(p, 4096);
	return 0;
}

static const struct attack {
	const char *name;
	int (*fn)(void);
	int in_all; /* part of "all" (the attacks; store-rw is the control) */
} attacks[] = {
	{ "shadow", a_shadow, 1 },
	{ "passwd-write", a_passwd_write, 1 },
	{ "store-parent", a_store_parent, 1 },
	{ "proc-environ", a_proc_environ, 1 },
	{ "tmp-create", a_tmp_create, 1 },
	{ "socket-inet", a_socket_inet, 1 },
	{ "unix-connect", a_unix_connect, 1 },
	{ "exec-sh", a_exec_sh, 1 },
	{ "fork", a_fork, 1 },
	{ "ptrace", a_ptrace, 1 },
	{ "mount", a_mount, 1 },
	{ "setuid-root", a_setuid_root, 1 },
	{ "regain-caps", a_regain_caps, 1 },
	{ "signal", a_signal, 1 },
	{ "mprotect-exec", a_mprotect_exec, 1 },
	{ "mmap-exec", a_mmap_exec, 1 },
	{ "store-rw", a_store_rw, 0 },
	{ "tcp-connect", a_tcp_connect, 0 },
	{ "udp-send", a_udp_send, 0 },
};
#define N_ATTACKS (sizeof attacks / sizeof attacks[0])

static void run(const struct attack *a)
{
	errno = 0;
	if (a->fn() == 0)
		printf("%s: succeeded\n", a->name);
	else
		printf("%s: failed (%s)\n", a->name, strerror(errno));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sandbox_config cfg = { .map_bytes = 1024ULL * 1024 * 1024,
		.profile = SANDBOX_PROFILE_CPD };
	char report[256], err[256];
	uint16_t ports[16];
	struct store *db = NULL;
	int sandbox = 1, i = 1, n;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--no-sandbox") == 0)
			sandbox = 0;
		else if (strcmp(argv[i], "--tls") == 0)
			cfg.profile = SANDBOX_PROFILE_TLS;
		else if (strcmp(argv[i], "--unix") == 0 && i + 1 < argc)
			unix_path = argv[++i];
		else if (strcmp(argv[i], "--tcp") == 0 && i + 1 < argc)
			tcp_port = atoi(argv[++i]);
		else
			break;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: sandbox-selftest [--no-sandbox] [--tls] "
			"[--unix PATH] [--tcp PORT] STORE-DIR|DB-URI ATTACK...|all\n");
		return 2;
	}
	store = argv[i++];
	cfg.store_dir = store;
	log_init("sandbox-selftest", LOG_TARGET_AUTO);
	if (store_kind(store) != STORE_KIND_LMDB) {
		/* As cpd_confine: the database's connection, its TCP ports. */
		if ((db = store_open(store, 0, 0, err, sizeof err)) == NULL ||
		    (n = store_tcp_ports(db, ports, 16)) < 0) {
			printf("store: %s\n", db ? "too many ports" : err);
			return 1;
		}
		cfg.store_dir = NULL;
		cfg.database = true;
		cfg.tcp_ports = ports;
		cfg.n_tcp_ports = (size_t)n;
	}
	{
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		if (syscall(SYS_capget, &hdr, start_caps) < 0)
			memset(start_caps, 0, sizeof start_caps);
	}
	if (sandbox) {
		if (sandbox_apply(&cfg, report, sizeof report) < 0) {
			printf("sandbox: not applied: %s\n", report);
			return 1;
		}
		printf("sandbox: %s\n", report);
	}
	for (; i < argc; i++) {
		size_t k;
		for (k = 0; k < N_ATTACKS; k++) {
			if (strcmp(argv[i], "all") == 0) {
				if (attacks[k].in_all)
					run(&attacks[k]);
			} else if (strcmp(argv[i], attacks[k].name) == 0) {
				run(&attacks[k]);
				break;
			}
		}
		if (k == N_ATTACKS && strcmp(argv[i], "all") != 0) {
			fprintf(stderr, "sandbox-selftest: no attack %s\n", argv[i]);
			return 2;
		}
	}
	store_close(db);
	return 0;
}
