/* cp-useradd.c - the user tools cp-useradd, cp-userdel, cp-passwd and
 * cp-users: one main, built four times with -DCP_TOOL=CP_TOOL_*. Parses
 * options, checks the name, reads the password and calls the store; the
 * only place that prints, and exits with the statuses in admin.h. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "admin.h"
#include "dbpath.h"
#include "auth.h"
#include "limits.h"
#include "proto.h"
#include "stdfds.h"
#include "store.h"

#if CP_TOOL == CP_TOOL_USERADD
#define TOOL "cp-useradd"
#define TOOL_ARGS " NAME"
#define TOOL_WHAT "Add the CP user NAME, with a password read as described below.\n"
#define TOOL_EXITS "Exit status: 0 done, 1 store error, 2 bad usage, name or password,\n" \
	"3 user already exists.\n"
#elif CP_TOOL == CP_TOOL_USERDEL
#define TOOL "cp-userdel"
#define TOOL_ARGS " NAME"
#define TOOL_WHAT "Delete the CP user NAME and every message queued for them.\n"
#define TOOL_EXITS "Exit status: 0 done, 1 store error, 2 bad usage or name,\n" \
	"4 no such user.\n"
#elif CP_TOOL == CP_TOOL_PASSWD
#define TOOL "cp-passwd"
#define TOOL_ARGS " NAME"
#define TOOL_WHAT "Set a new password for the CP user NAME, read as described below.\n"
#define TOOL_EXITS "Exit status: 0 done, 1 store error, 2 bad usage, name or password,\n" \
	"4 no such user.\n"
#elif CP_TOOL == CP_TOOL_USERS
#define TOOL "cp-users"
#define TOOL_ARGS ""
#define TOOL_WHAT "List the CP users, one per line: name, a tab, and the number of\n" \
	"messages queued for them (cp-admin queued NAME lists them).\n"
#define TOOL_EXITS "Exit status: 0 done, 1 store error, 2 bad usage.\n"
#else
#error "build with -DCP_TOOL=CP_TOOL_USERADD, _USERDEL, _PASSWD or _USERS"
#endif

#define HAS_PASSWORD (CP_TOOL == CP_TOOL_USERADD || CP_TOOL == CP_TOOL_PASSWD)

static void usage(FILE *f)
{
	fprintf(f,
"Usage: " TOOL " [OPTION]..." TOOL_ARGS "\n"
TOOL_WHAT
"\n"
"  -d, --db DIR   store directory (default: $CP_DB, else $STATE_DIRECTORY,\n"
"                 else %s; an empty one given or set is an error)\n"
"  -h, --help     show this help and exit\n"
"  -V, --version  show the version and exit\n"
"\n"
#if CP_TOOL != CP_TOOL_USERS
"A NAME is " ADMIN_NAME_RULE ".\n"
#endif
#if CP_TOOL == CP_TOOL_USERDEL
"(A name made by an older cp-useradd, such as -x, can still be deleted:\n"
"put -- before it.)\n"
#endif
#if HAS_PASSWORD
"The password is asked twice without echo when standard input is a terminal,\n"
"else it is the first line of standard input (a CR before the LF is removed).\n"
"It must be 1-%d bytes of UTF-8 text without control characters, and must\n"
"not begin with a space or tab. It is stored only as a yescrypt hash.\n"
#endif
#if CP_TOOL == CP_TOOL_USERADD
"The store directory is created (mode 0700) if missing.\n"
#endif
"Run as root, the tool hands the store to the user '%s' if it exists\n"
"and then acts as that user (else as the store directory's owner); only a\n"
"new or empty directory, or one whose store is that user's, is handed over.\n"
"Refused: a store whose directory is writable by group or others, whose\n"
"files are accessible to them or are links, and a directory holding other\n"
"files but no store. A directory others can only read is made 0700.\n"
"\n"
TOOL_EXITS,
		CP_DEFAULT_DB,
#if HAS_PASSWORD
		CP_PASS_MAX,
#endif
		CP_SERVICE_USER);
}

#if CP_TOOL == CP_TOOL_USERS
static void print_user(void *arg, const char *name, size_t len, uint64_t queued)
{
	(void)arg;
	printf("%.*s\t%llu\n", (int)len, name, (unsigned long long)queued);
}
#endif

static int run(struct store *st, const char *name)
{
	size_t len = name ? strlen(name) : 0;
#if HAS_PASSWORD
	char pw[CP_PASS_MAX + 1], hash[CP_HASH_MAX], err[256];
	size_t pwlen = 0;
	enum admin_pw_result pr;
	int known = store_user_hash(st, name, len, hash, sizeof hash);

	/* Settle existence first, so nobody types a password for nothing. */
	if (known < 0) {
		fprintf(stderr, TOOL ": cannot read the store: %s\n",
			store_last_error(st));
		return ADMIN_EXIT_STORE;
	}
#if CP_TOOL == CP_TOOL_USERADD
	if (known == 1) {
		fprintf(stderr, TOOL ": user %s already exists\n", name);
		return ADMIN_EXIT_EXISTS;
	}
#else
	if (known == 0) {
		fprintf(stderr, TOOL ": no such user: %s\n", name);
		return ADMIN_EXIT_NO_USER;
	}
#endif
	pr = admin_read_password(name, pw, &pwlen, err, sizeof err);
	if (pr != ADMIN_PW_OK) {
		fprintf(stderr, TOOL ": %s\n", err);
		return pr == ADMIN_PW_INVALID ? ADMIN_EXIT_USAGE : ADMIN_EXIT_STORE;
	}
	int hr = auth_hash(pw, pwlen, hash, sizeof hash);
	explicit_bzero(pw, sizeof pw);
	if (hr != 0) {
		fprintf(stderr, TOOL ": cannot hash the password (libxcrypt failed)\n");
		return ADMIN_EXIT_STORE;
	}
#if CP_TOOL == CP_TOOL_USERADD
	enum store_admin_result r = store_user_add(st, name, len, hash);
#else
	enum store_admin_result r = store_user_set_hash(st, name, len, hash);
#endif
	explicit_bzero(hash, sizeof hash);
#elif CP_TOOL == CP_TOOL_USERDEL
	enum store_admin_result r = store_user_del(st, name, len);
#else
	(void)len;
	if (store_user_list(st, print_user, NULL) != 0) {
		fprintf(stderr, TOOL ": cannot list users: %s\n", store_last_error(st));
		return ADMIN_EXIT_STORE;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror(TOOL ": write error");
		return ADMIN_EXIT_STORE;
	}
	return ADMIN_EXIT_OK;
#endif
#if CP_TOOL != CP_TOOL_USERS
	switch (r) {
	case STORE_ADMIN_OK:
		return ADMIN_EXIT_OK;
	case STORE_ADMIN_EXISTS:
		fprintf(stderr, TOOL ": user %s already exists\n", name);
		return ADMIN_EXIT_EXISTS;
	case STORE_ADMIN_NO_USER:
		fprintf(stderr, TOOL ": no such user: %s\n", name);
		return ADMIN_EXIT_NO_USER;
	default:
		fprintf(stderr, TOOL ": cannot write the store: %s\n",
			store_last_error(st));
		return ADMIN_EXIT_STORE;
	}
#endif
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *name = NULL, *dir;
	char err[512];
	struct store *st;
	int c, rc;

	/* Before anything is opened: with stderr closed, a message must not
	 * land in data.mdb, nor the password be read from lock.mdb. */
	if (stdfds_ensure() < 0)
		return ADMIN_EXIT_STORE;
	argv[0] = (char *)TOOL; /* getopt's own messages name the tool */
	while ((c = getopt_long(argc, argv, "d:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'h':
			usage(stdout);
			return ADMIN_EXIT_OK;
		case 'V':
			printf(TOOL " (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return ADMIN_EXIT_OK;
		default:
			fprintf(stderr, "Try '" TOOL " --help' for more information.\n");
			return ADMIN_EXIT_USAGE;
		}
	}
#if CP_TOOL == CP_TOOL_USERS
	if (optind != argc) {
		fprintf(stderr, TOOL ": unexpected argument '%s'\n", argv[optind]);
		fprintf(stderr, "Try '" TOOL " --help' for more information.\n");
		return ADMIN_EXIT_USAGE;
	}
#else
	if (optind + 1 != argc) {
		fprintf(stderr, TOOL ": %s\n", optind == argc ? "missing NAME" :
			"too many arguments");
		fprintf(stderr, "Try '" TOOL " --help' for more information.\n");
		return ADMIN_EXIT_USAGE;
	}
	name = argv[optind];
	/* cp-userdel takes any name the wire takes, so that one made by an
	 * older cp-useradd (-x, ..) can still be removed. */
	if (!(CP_TOOL == CP_TOOL_USERDEL ? proto_username_valid(name, strlen(name))
	      : admin_name_valid(name, strlen(name)))) {
		/* The name is not echoed: it may hold anything, terminal controls too. */
		fprintf(stderr, TOOL ": invalid user name (" ADMIN_NAME_RULE ")\n");
		return ADMIN_EXIT_USAGE;
	}
#endif
	dir = dbpath_resolve(db, err, sizeof err);
	if (dir == NULL) {
		fprintf(stderr, TOOL ": %s\n", err);
		return ADMIN_EXIT_USAGE;
	}
#if CP_TOOL == CP_TOOL_USERS
	if (admin_store_empty(dir))
		return ADMIN_EXIT_OK; /* no user added yet: nothing to list */
#endif
	st = admin_store_open(dir, CP_TOOL == CP_TOOL_USERADD,
		CP_TOOL == CP_TOOL_USERS, err, sizeof err);
	if (!st) {
		fprintf(stderr, TOOL ": %s\n", err);
		return ADMIN_EXIT_STORE;
	}
	rc = run(st, name);
	store_close(st);
	return rc;
}
