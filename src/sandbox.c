/* sandbox.c - the handler confines itself, the way OpenSSH's
 * sandbox-seccomp-filter.c does, at the kernel's cost (well under 1 ms):
 * identity, no_new_privs, rlimits, Landlock, then the seccomp table that
 * tools/seccomp-gen.c compiled at build time. No libseccomp at run time. */
#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>

#include "config.h"
#include "limits.h"
#include "sandbox.h"
#include "sandbox-filter.h"

/* The architecture this file is compiled for, as seccomp names it; the
 * generated filter is loaded only if it was built for the same one. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define CP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define CP_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__arm__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CP_AUDIT_ARCH AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define CP_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CP_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define CP_AUDIT_ARCH AUDIT_ARCH_S390X
#else
#define CP_AUDIT_ARCH 0U
#endif

/* Landlock's ABI, declared here because distribution headers lag behind the
 * kernel (Debian 12's stop at ABI 2); the values are the kernel's stable ABI. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};
struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));
struct ll_net_port_attr {                /* ABI 4 */
	uint64_t allowed_access;
	uint64_t port;
};
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2
#define LL_FS_EXECUTE     (1ULL << 0)
#define LL_FS_WRITE_FILE  (1ULL << 1)
#define LL_FS_READ_FILE   (1ULL << 2)
#define LL_FS_READ_DIR    (1ULL << 3)
#define LL_FS_MAKE_REG    (1ULL << 8)
#define LL_FS_V1          ((1ULL << 13) - 1)  /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER       (1ULL << 13)        /* ABI 2 */
#define LL_FS_TRUNCATE    (1ULL << 14)        /* ABI 3 */
#define LL_FS_IOCTL_DEV   (1ULL << 15)        /* ABI 5 */
#define LL_NET_BIND_TCP   (1ULL << 0)         /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)    /* ABI 6 */
#define LL_SCOPE_SIGNAL   (1ULL << 1)
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#ifdef CP_SANITIZERS
#define SANITIZERS 1
#else
#define SANITIZERS 0
#endif

struct report {
	char *buf;
	size_t cap, len;
};

static void say(struct report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct report *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->len >= r->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len += (size_t)n < r->cap - r->len ? (size_t)n : r->cap - r->len - 1;
}

/* Started as root (inetd, tcpserver): become the store's owner, with no
 * supplementary groups; in any case keep no capability at all. A store owned
 * by root keeps uid 0, capability-less, and SECBIT_NOROOT (locked) means no
 * execve gives root's capabilities back. The bounding set stays as it was:
 * with no_new_privs and that bit no execve can gain a capability anyway, and
 * clearing it costs one credential copy per capability (41 on Linux 6.x,
 * 10-15 us of CPU per session, 1-2 % of a connect; doc/performance.md). */
static int drop_identity(const struct stat *store, struct report *r)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2];

	if (geteuid() == 0) {
		/* uid 0 is not special at execve, the uid fixups always apply,
		 * no ambient capability can be raised; all of it locked */
		if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
		    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
		    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		    0, 0, 0) < 0 && errno != EPERM)
			goto fail; /* EPERM: root without CAP_SETPCAP (a unit's
				    * bounding set); no_new_privs still holds */
		if (store->st_uid != 0) {
			if (setgroups(0, NULL) < 0 && errno != EPERM)
				goto fail; /* EPERM: a user namespace without setgroups */
			if (setresgid(store->st_gid, store->st_gid, store->st_gid) < 0 ||
			    setresuid(store->st_uid, store->st_uid, store->st_uid) < 0 ||
			    geteuid() != store->st_uid || getegid() != store->st_gid)
				goto fail;
		}
	}
	/* Empty permitted and inheritable sets: the kernel drops every
	 * ambient capability with them (no PR_CAP_AMBIENT_CLEAR_ALL needed). */
	memset(none, 0, sizeof none);
	if (syscall(SYS_capset, &hdr, none) < 0)
		goto fail;
	say(r, "uid %u gid %u, no capabilities", (unsigned)geteuid(),
		(unsigned)getegid());
	return 0;
fail:
	say(r, "cannot drop to the store owner (uid %u gid %u): %s",
		(unsigned)store->st_uid, (unsigned)store->st_gid, strerror(errno));
	return -1;
}

static int limit(int resource, rlim_t value)
{
	struct rlimit rl = { value, value };
	return setrlimit(resource, &rl);
}

/* No new processes, no core dumps, no file beyond the store's map, bounded
 * heap and descriptors (limits.h says why each value). */
static int set_limits(const struct sandbox_config *cfg, struct report *r)
{
	uint64_t fsize = cfg->map_bytes > CP_SANDBOX_FSIZE_MIN ?
		cfg->map_bytes : CP_SANDBOX_FSIZE_MIN;

	signal(SIGXFSZ, SIG_IGN); /* an oversized write fails with EFBIG */
	if (limit(RLIMIT_CORE, 0) < 0 || limit(RLIMIT_FSIZE, (rlim_t)fsize) < 0 ||
	    limit(RLIMIT_NOFILE, CP_SANDBOX_NOFILE) < 0 ||
	    /* the sanitizers reserve terabytes of shadow memory and clone a
	     * tracer thread at exit: no data or process limit for them */
	    (!SANITIZERS && limit(RLIMIT_DATA, CP_SANDBOX_DATA_MAX) < 0) ||
	    (!SANITIZERS && limit(RLIMIT_NPROC, 0) < 0)) {
		say(r, ", cannot set resource limits: %s", strerror(errno));
		return -1;
	}
	say(r, ", rlimits");
	return 0;
}

static int landlock_allow(int ruleset, int dirfd, uint64_t access)
{
	struct ll_path_beneath_attr pb = { .allowed_access = access, .parent_fd = dirfd };
	return (int)syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0);
}

/* A database's TCP ports (ABI 4): connect only, to these ports only. */
static int landlock_allow_ports(int ruleset, const struct sandbox_config *cfg)
{
	for (size_t i = 0; i < cfg->n_tcp_ports; i++) {
		struct ll_net_port_attr np = { .allowed_access = LL_NET_CONNECT_TCP,
			.port = cfg->tcp_ports[i] };
		if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &np, 0) < 0)
			return -1;
	}
	return 0;
}

/* Landlock: of the whole file system only the store's files stay reachable,
 * to read, write and (mailbox.lock, the first time) create; no directory
 * listing, no removal. Descriptors opened before stay usable. With ABI 4 no
 * TCP bind, and no TCP connect but to a database's ports (to reconnect
 * after a failover); with ABI 6 no abstract sockets and no signals out of
 * the domain. Best effort: the rights this kernel knows, none on a kernel
 * without Landlock (reported, not an error). */
static int apply_landlock(const struct sandbox_config *cfg, int storefd,
	struct report *r)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size = sizeof attr.handled_access_fs;
	uint64_t store_rights = LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_MAKE_REG;
	int abi, rs;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	if (abi < 1) {
		say(r, ", landlock unavailable (%s)", strerror(errno));
		return 0;
	}
	attr.handled_access_fs = LL_FS_V1;
	if (abi >= 2)
		attr.handled_access_fs |= LL_FS_REFER;
	if (abi >= 3) {
		attr.handled_access_fs |= LL_FS_TRUNCATE;
		store_rights |= LL_FS_TRUNCATE;
	}
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (abi >= 5)
		attr.handled_access_fs |= LL_FS_IOCTL_DEV;
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_size = sizeof attr;
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (rs < 0)
		goto fail;
	if (storefd >= 0 && landlock_allow(rs, storefd, store_rights) < 0)
		goto fail_rs;
	if (abi >= 4 && landlock_allow_ports(rs, cfg) < 0)
		goto fail_rs;
	if (SANITIZERS) {
		/* LeakSanitizer reads its own /proc/self/{maps,task} at exit */
		int self = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (self >= 0) {
			int rc = landlock_allow(rs, self, LL_FS_READ_FILE | LL_FS_READ_DIR);
			close(self);
			if (rc < 0)
				goto fail_rs;
		}
	}
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		goto fail_rs;
	close(rs);
	say(r, ", landlock abi %d", abi);
	if (abi >= 4 && cfg->n_tcp_ports > 0) {
		say(r, " (tcp connect to port");
		for (size_t i = 0; i < cfg->n_tcp_ports; i++)
			say(r, "%s%u", i ? "," : " ", (unsigned)cfg->tcp_ports[i]);
		say(r, " only)");
	}
	return 0;
fail_rs:
	close(rs);
fail:
	say(r, ", landlock abi %d failed: %s", abi, strerror(errno));
	return -1;
}

/* The build machine's filter, if this is its architecture: one prctl.
 * A call outside the list fails with EPERM rather than killing: a kill
 * would end a session in the middle of a reply on any call the list missed
 * (glibc may try a newer call before its fallback), and an error gives an
 * attacker nothing a kill would deny. Other ABIs (x32, i386) are killed. */
static int apply_seccomp(const struct sandbox_config *cfg, struct report *r)
{
	struct sock_fprog prog;

	if (CP_AUDIT_ARCH == 0 || CP_AUDIT_ARCH != SANDBOX_FILTER_ARCH) {
		say(r, ", seccomp skipped (filter built for %s, not this architecture)",
			SANDBOX_FILTER_ARCH_NAME);
		return 0;
	}
#define USE(f) (prog.filter = (struct sock_filter *)(f), \
	prog.len = sizeof(f) / sizeof(f)[0])
	if (cfg->profile == SANDBOX_PROFILE_TLS)
		cfg->database ? USE(sandbox_filter_tls_db) : USE(sandbox_filter_tls);
	else
		cfg->database ? USE(sandbox_filter_cpd_db) : USE(sandbox_filter_cpd);
#undef USE
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
		say(r, ", seccomp failed: %s", strerror(errno));
		return -1;
	}
	say(r, ", seccomp %s (%u instructions%s)", SANDBOX_FILTER_ARCH_NAME,
		(unsigned)prog.len, SANITIZERS ? ", sanitizer calls allowed" : "");
	return 0;
}

int sandbox_apply(const struct sandbox_config *cfg, char *report, size_t cap)
{
	struct report r = { report, cap, 0 };
	struct stat st;
	int storefd, rc = -1;

	if (cap > 0)
		report[0] = '\0';
	if (cfg->store_dir == NULL) {
		/* A database store: no file to keep; as root, become the
		 * service user (as under cp@.service), else stay who we are. */
		struct passwd *pw = geteuid() == 0 ? getpwnam(CP_SERVICE_USER) : NULL;
		memset(&st, 0, sizeof st);
		st.st_uid = pw ? pw->pw_uid : geteuid();
		st.st_gid = pw ? pw->pw_gid : getegid();
		storefd = -1;
	} else if ((storefd = open(cfg->store_dir, O_PATH | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || fstat(storefd, &st) < 0) {
		say(&r, "cannot open the store directory %s: %s", cfg->store_dir,
			strerror(errno));
		goto out;
	}
	if (drop_identity(&st, &r) < 0)
		goto out;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		say(&r, ", cannot set no_new_privs: %s", strerror(errno));
		goto out;
	}
	say(&r, ", no_new_privs");
	/* Not dumpable: no other process of the same uid (another handler)
	 * may ptrace this one or read its memory. The sanitizers read their
	 * own /proc/self, which this would make root's. */
	if (!SANITIZERS)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (set_limits(cfg, &r) < 0 || apply_landlock(cfg, storefd, &r) < 0)
		goto out;
	close(storefd);
	storefd = -1;
	rc = apply_seccomp(cfg, &r);
out:
	if (storefd >= 0)
		close(storefd);
	return rc;
}
