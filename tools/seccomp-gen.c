/* seccomp-gen.c - build-time generator of cpd's seccomp filters: compiles the
 * allow lists below with libseccomp (binary tree layout) for the build
 * machine's native architecture and prints them as a C header of BPF tables
 * that src/sandbox.c loads with one prctl. Never linked into cpd. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <seccomp.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "config.h"

/* What a session does after confinement, and why each call is needed.
 * Everything else fails with EPERM (see sandbox.c for why not a kill). */
static const char *const cpd_calls[] = {
	/* the client's socket (lineio): bounded reads and writes with poll
	 * deadlines; LMDB's pread/pwrite/writev/lseek on data.mdb */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "lseek",
	"poll", "ppoll",
	/* the journal: one datagram per event on the socket opened before
	 * confinement (send() is sendto on most architectures) */
	"sendto", "sendmsg",
	/* commits: LMDB syncs data.mdb (fdatasync; msync/fsync by mode) */
	"fdatasync", "fsync", "msync",
	/* the file system left by Landlock: mailbox.lock is opened (created
	 * the first time) at the first RMSG; fstat(vfs) for the disk-space
	 * reserve; LMDB may ftruncate its files */
	"openat", "close", "fstat", "newfstatat", "statx", "fstatfs",
	"ftruncate", "umask",
	/* memory: LMDB maps the store, yescrypt takes ~16 MiB while it checks
	 * a password (mmap/mprotect only without PROT_EXEC: see below) */
	"brk", "munmap", "mremap", "madvise",
	/* LMDB's locks in lock.mdb: robust mutexes (futex when contended) */
	"futex",
	/* deadlines and the auth-failure delay (clock_gettime is usually the
	 * vDSO; the system calls are its fallback) */
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"nanosleep", "clock_nanosleep",
	/* LMDB checks its pid; log lines carry it */
	"getpid", "gettid",
	/* signal return, glibc's masks (abort), restarts after a stop */
	"rt_sigreturn", "rt_sigprocmask", "restart_syscall",
	"exit", "exit_group",
	NULL,
};

/* What a TLS session (cp-tls.so, GnuTLS) needs on top: GnuTLS draws randomness
 * during the handshake and reads records with recv/recvmsg. */
static const char *const tls_calls[] = {
	"getrandom", "recvfrom", "recvmsg",
	NULL,
};

/* A database store (PostgreSQL): libpq reads and writes its connection with
 * send/recv, and reconnects (a new socket, a SCRAM nonce) after the server
 * went away; the connection string was resolved before confinement.
 * socket() itself is allowed for stream sockets only (emit): Landlock
 * limits TCP connects to the database's ports, but knows no UDP. */
static const char *const db_calls[] = {
	"connect", "getsockopt", "setsockopt", "getsockname",
	"getpeername", "recvfrom", "recvmsg", "getrandom",
	NULL,
};

/* Sanitizer builds only (--enable-sanitizers): what ASan/UBSan/LeakSanitizer
 * do at exit and when they report. LeakSanitizer stops the world from a
 * tracer thread (clone with CLONE_VM|CLONE_UNTRACED, below: never a fork),
 * which ptraces the process's own threads (Landlock still refuses any
 * other process), waits, lists /proc/self/task and reads /proc/self/maps. */
static const char *const sanitizer_calls[] = {
	"ptrace", "wait4", "waitid", "sched_yield", "prctl",
	"open", "stat", "lstat", "access", "getdents", "getdents64",
	"readlink", "readlinkat", "sigaltstack", "rt_sigaction",
	"getrlimit", "prlimit64", "getppid", "sched_getaffinity",
	"getuid", "geteuid", "pipe2", "dup", "dup2", "dup3",
	NULL,
};

/* fcntl commands a session uses: O_NONBLOCK, FD_CLOEXEC and record locks
 * (LMDB's F_SETLK on lock.mdb, the mailbox lock's OFD locks). */
static const int fcntl_cmds[] = {
	F_GETFL, F_SETFL, F_GETFD, F_SETFD,
	F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
};

static int add_calls(scmp_filter_ctx ctx, const char *const *names)
{
	for (; *names != NULL; names++) {
		int nr = seccomp_syscall_resolve_name(*names);
		int rc;

		if (nr == __NR_SCMP_ERROR)
			continue; /* not a system call on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0 && nr >= 0) {
			fprintf(stderr, "seccomp-gen: %s: %s\n", *names, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, const char *name, unsigned n,
	struct scmp_arg_cmp cmp)
{
	int nr = seccomp_syscall_resolve_name(name);
	int rc;

	if (nr == __NR_SCMP_ERROR)
		return 0;
	rc = n ? seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, cmp)
	       : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	if (rc < 0 && nr >= 0) {
		fprintf(stderr, "seccomp-gen: %s: %s\n", name, strerror(-rc));
		return -1;
	}
	return 0;
}

/* Build one profile's filter and print it as `static const struct
 * sock_filter NAME[]`. 0 ok, -1 error (message on stderr). */
static int emit(const char *name, const char *const *extra,
	const char *const *extra2, int sanitizers)
{
	int database = extra == db_calls || extra2 == db_calls;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	unsigned char *bpf = NULL;
	unsigned short first;
	FILE *tmp = NULL;
	long len;
	int rc = -1;

	if (ctx == NULL)
		return -1;
	/* A binary tree of the allowed numbers instead of a linear scan; any
	 * other ABI on the same machine (x32, i386) is killed outright. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
	    add_calls(ctx, cpd_calls) < 0 ||
	    (extra != NULL && add_calls(ctx, extra) < 0) ||
	    (extra2 != NULL && add_calls(ctx, extra2) < 0) ||
	    (sanitizers && add_calls(ctx, sanitizer_calls) < 0))
		goto out;
	/* No executable memory: mmap and mprotect only without PROT_EXEC
	 * (a library loaded later, or injected code, cannot be mapped). */
	if ((add_rule(ctx, "mmap", 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	     add_rule(ctx, "mmap2", 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	     add_rule(ctx, "mprotect", 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0))
		goto out;
	/* A database's reconnect: a stream socket (TCP or Unix), never a
	 * datagram one (type without SOCK_NONBLOCK/SOCK_CLOEXEC: low 4 bits). */
	if (database && add_rule(ctx, "socket", 1,
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof fcntl_cmds / sizeof fcntl_cmds[0]; i++)
		if (add_rule(ctx, "fcntl", 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntl_cmds[i])) < 0 ||
		    add_rule(ctx, "fcntl64", 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntl_cmds[i])) < 0)
			goto out;
	if (sanitizers &&
	    add_rule(ctx, "clone", 1, SCMP_A0(SCMP_CMP_MASKED_EQ,
		CLONE_VM | CLONE_UNTRACED, CLONE_VM | CLONE_UNTRACED)) < 0)
		goto out;

	if ((tmp = tmpfile()) == NULL || seccomp_export_bpf(ctx, fileno(tmp)) < 0 ||
	    (len = lseek(fileno(tmp), 0, SEEK_END)) <= 0 || len % 8 != 0 ||
	    (bpf = malloc((size_t)len)) == NULL ||
	    pread(fileno(tmp), bpf, (size_t)len, 0) != len) {
		fprintf(stderr, "seccomp-gen: cannot export the %s filter\n", name);
		goto out;
	}
	/* First a load of the instruction pointer, which libseccomp's own
	 * first load (checked) overwrites. Linux (5.11+) emulates each new
	 * filter for every system call number of the native and compat ABIs to
	 * cache which ones it always allows; a load of anything but nr or arch
	 * ends that emulation at once. A process that makes ~20 calls in its
	 * sandbox never repays the cache: skipping it saves ~13 us of every
	 * session (doc/performance.md). */
	memcpy(&first, bpf, 2);
	if (first != (BPF_LD | BPF_W | BPF_ABS)) {
		fprintf(stderr, "seccomp-gen: the %s filter does not start with a load\n", name);
		goto out;
	}
	printf("static const struct sock_filter %s[] = {\n", name);
	printf("\t{ 0x%04x, 0, 0, 0x%08x },\n", BPF_LD | BPF_W | BPF_ABS,
		(unsigned)offsetof(struct seccomp_data, instruction_pointer));
	for (long i = 0; i < len; i += 8) {
		unsigned short code;
		unsigned int k;
		memcpy(&code, bpf + i, 2);
		memcpy(&k, bpf + i + 4, 4);
		printf("\t{ 0x%04x, %u, %u, 0x%08x },\n", code, bpf[i + 2],
			bpf[i + 3], k);
	}
	printf("};\n");
	rc = 0;
out:
	free(bpf);
	if (tmp != NULL)
		fclose(tmp);
	seccomp_release(ctx);
	return rc;
}

int main(void)
{
	struct utsname u;
	int sanitizers = 0;

#ifdef CP_SANITIZERS
	sanitizers = 1;
#endif
	if (uname(&u) < 0)
		return 1;
	printf("/* Generated by tools/seccomp-gen at build time; do not edit. */\n"
		"#define SANDBOX_FILTER_ARCH 0x%08xU\n"
		"#define SANDBOX_FILTER_ARCH_NAME \"%s\"\n"
		"#define SANDBOX_FILTER_SANITIZERS %d\n",
		seccomp_arch_native(), u.machine, sanitizers);
	if (emit("sandbox_filter_cpd", NULL, NULL, sanitizers) < 0 ||
	    emit("sandbox_filter_tls", tls_calls, NULL, sanitizers) < 0 ||
	    emit("sandbox_filter_cpd_db", db_calls, NULL, sanitizers) < 0 ||
	    emit("sandbox_filter_tls_db", tls_calls, db_calls, sanitizers) < 0)
		return 1;
	return fflush(stdout) == 0 ? 0 : 1;
}
