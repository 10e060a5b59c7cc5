/* cp-admin.c - the operator's tool for the store as a whole: backup,
 * restore, copy between stores of either backend, migrate, and a mailbox's
 * queued messages (list, purge). Parses, opens the stores through admin.c,
 * calls store.h, prints; the only place that exits (statuses below). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "admin.h"
#include "dbpath.h"
#include "limits.h"
#include "stdfds.h"
#include "store.h"

#define TOOL "cp-admin"

enum {
	EXIT_OK = 0,
	EXIT_STORE = 1,     /* store or backup cannot be read or written */
	EXIT_USAGE = 2,     /* bad option, command, name or id */
	EXIT_NOT_EMPTY = 3, /* DIR holds a backup; the store (or copy's
	                     * destination) is not empty */
	EXIT_NO_USER = 4,   /* queued, purge: no such user */
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: " TOOL " [OPTION]... COMMAND [ARG]...\n"
"Back up, restore, copy, migrate and inspect the CP store.\n"
"\n"
"Commands:\n"
"  backup DIR           write a consistent, compacted copy of the store to\n"
"                       DIR/data.mdb (mode 0600; DIR is created mode 0700),\n"
"                       while sessions go on; DIR must not hold one already\n"
"  restore DIR          load the backup in DIR into the store (created if\n"
"                       missing), in one transaction; refused if the store\n"
"                       has any user or message, unless --replace\n"
"  copy --to DST        copy every user (passwords keep working) and every\n"
"                       queued message of the store (--from SRC, else the\n"
"                       one of --db) into the store DST, of either kind\n"
"                       (created if missing), in one transaction; sessions\n"
"                       may go on using the source; refused if DST has any\n"
"                       user or message, unless --replace\n"
"  migrate              bring the store's format (LMDB) or schema\n"
"                       (PostgreSQL) to this version, creating it if the\n"
"                       store is new; says what it did\n"
"  queued NAME          list the messages queued for NAME, oldest first: id,\n"
"                       time stored (UTC), sender, size in bytes, tab-separated\n"
"  purge NAME [ID]...   delete the messages queued for NAME (only those ids)\n"
"\n"
"Options:\n"
"  -d, --db STORE  the store (default: $CP_DB, else $STATE_DIRECTORY,\n"
"                  else %s)\n"
"      --from SRC  copy: the store to copy from\n"
"      --to DST    copy: the store to copy into\n"
"      --replace   restore, copy: drop the users and messages of the store\n"
"                  restored or copied into first\n"
"      --text      queued: add each message's text as a fifth column\n"
"  -h, --help      show this help and exit\n"
"  -V, --version   show the version and exit\n"
"\n"
"A store is an LMDB directory (DIR, or here also lmdb:DIR) or a PostgreSQL\n"
"database (a postgresql:// URI, or postgresql: and libpq's key=value\n"
"settings).\n"
"\n"
"Run as root, the store is handed to the user '%s' if it exists, and a\n"
"backup is owned like the store. A store whose directory is writable by\n"
"group or others, or whose files are accessible to them, is refused.\n"
"\n"
"Exit status: 0 done, 1 store or backup error, 2 bad usage, name or id,\n"
"3 DIR already holds a backup, or the store to restore or copy into is not\n"
"empty, 4 no such user.\n",
		CP_DEFAULT_DB, CP_SERVICE_USER);
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, TOOL ": %s%s%s\n", what, arg ? " " : "", arg ? arg : "");
	fprintf(stderr, "Try '" TOOL " --help' for more information.\n");
	return EXIT_USAGE;
}

static int flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, TOOL ": write error: %s\n", strerror(errno));
		return EXIT_STORE;
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------- commands */

static int cmd_backup(struct store *st, const char *dir)
{
	char err[512];

	switch (store_backup(st, dir, err, sizeof err)) {
	case STORE_COPY_OK:
		return EXIT_OK;
	case STORE_COPY_NOT_EMPTY:
		fprintf(stderr, TOOL ": %s; choose a new directory\n", err);
		return EXIT_NOT_EMPTY;
	default:
		fprintf(stderr, TOOL ": %s\n", err);
		return EXIT_STORE;
	}
}

/* True if dir is a directory with nothing in it. */
static bool dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool empty = d != NULL;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	if (d != NULL)
		closedir(d);
	return empty;
}

/* As root, the tools act as the store's owner once it is open (admin.h),
 * who may not create DIR where only root writes (/var/backups): root makes
 * DIR first (missing parents 0711 so that owner can reach it, 0700 for a
 * store of root's; DIR 0700) and gives DIR, if it made it or it is empty,
 * to the owner of the store's data.mdb. 0, or -1 with a message printed. */
static int backup_dir_prepare(const char *dst, const char *db)
{
	char path[4096];
	struct stat sb, db_sb;
	size_t len = strlen(dst);
	mode_t up;

	if (geteuid() != 0)
		return 0;
	if ((size_t)snprintf(path, sizeof path, "%s/data.mdb", db) >= sizeof path ||
	    stat(path, &db_sb) != 0 || len >= sizeof path)
		return 0; /* no store: opening it will say so */
	up = db_sb.st_uid == 0 ? 0700 : 0711;
	memcpy(path, dst, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, up) != 0 && errno != EEXIST)
			return 0; /* the backup itself reports it */
		*p = '/';
	}
	if (mkdir(dst, 0700) != 0 && (errno != EEXIST || !dir_empty(dst)))
		return 0; /* holds something: the backup checks what */
	if (lstat(dst, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return 0;
	if ((sb.st_uid != db_sb.st_uid || sb.st_gid != db_sb.st_gid) &&
	    lchown(dst, db_sb.st_uid, db_sb.st_gid) != 0) {
		fprintf(stderr, TOOL ": cannot give %s to the store's owner: %s\n",
			dst, strerror(errno));
		return -1;
	}
	return 0;
}

/* True if a and b name the same existing directory. */
static bool same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
		sa.st_ino == sb.st_ino;
}

static int cmd_restore(struct store *st, const char *dir, const char *db,
	bool replace)
{
	uint64_t users, msgs;
	char err[512];

	if (same_dir(dir, db)) {
		fprintf(stderr, TOOL ": %s is the store itself, not a backup\n", dir);
		return EXIT_USAGE;
	}
	switch (store_restore(st, dir, replace, &users, &msgs, err, sizeof err)) {
	case STORE_COPY_OK:
		printf("restored %" PRIu64 " user%s and %" PRIu64 " message%s "
			"into %s\n", users, users == 1 ? "" : "s", msgs,
			msgs == 1 ? "" : "s", db);
		return flush_stdout();
	case STORE_COPY_NOT_EMPTY:
		fprintf(stderr, TOOL ": %s: %s; nothing restored (--replace "
			"drops them)\n", db, err);
		return EXIT_NOT_EMPTY;
	default:
		fprintf(stderr, TOOL ": %s\n", err);
		return EXIT_STORE;
	}
}

/* A store named to cp-admin: "lmdb:DIR" is DIR. */
static const char *store_arg(const char *s)
{
	return strncmp(s, "lmdb:", 5) == 0 ? s + 5 : s;
}

/* The source is opened first, read-only, so a missing or unreachable one
 * leaves the destination untouched. Run as root, the first LMDB store
 * opened makes the tool act as its owner from then on (admin.h): for
 * LMDB to LMDB, root first makes a missing destination directory and gives
 * it to the owner of the source's data.mdb, as for a backup. */
static int cmd_copy(const char *db, const char *from, const char *to,
	bool replace)
{
	const char *src, *dst;
	struct store *s, *d;
	uint64_t users, msgs;
	enum store_copy_result r;
	char err[512];

	if (to == NULL)
		return usage_error("copy needs --to DST", NULL);
	if (from != NULL && db != NULL)
		return usage_error("copy takes --from or --db, not both", NULL);
	src = from ? from : dbpath_resolve(db, err, sizeof err);
	if (src == NULL) {
		fprintf(stderr, TOOL ": %s\n", err);
		return EXIT_USAGE;
	}
	src = store_arg(src);
	dst = store_arg(to);
	if (*src == '\0' || *dst == '\0')
		return usage_error("copy: an empty store name", NULL);
	if (store_kind(src) == store_kind(dst) &&
	    (strcmp(src, dst) == 0 || same_dir(src, dst)))
		return usage_error("copy: the source and the destination are the "
			"same store", NULL);
	if (store_kind(src) == STORE_KIND_LMDB &&
	    store_kind(dst) == STORE_KIND_LMDB && backup_dir_prepare(dst, src) != 0)
		return EXIT_STORE;
	s = admin_store_open(src, false, true, err, sizeof err);
	if (s == NULL) {
		fprintf(stderr, TOOL ": source: %s\n", err);
		return EXIT_STORE;
	}
	d = admin_store_open(dst, true, false, err, sizeof err);
	if (d == NULL) {
		fprintf(stderr, TOOL ": destination: %s\n", err);
		store_close(s);
		return EXIT_STORE;
	}
	r = store_copy(s, d, replace, &users, &msgs, err, sizeof err);
	store_close(d);
	store_close(s);
	switch (r) {
	case STORE_COPY_OK:
		printf("copied %" PRIu64 " user%s, %" PRIu64 " message%s\n", users,
			users == 1 ? "" : "s", msgs, msgs == 1 ? "" : "s");
		return flush_stdout();
	case STORE_COPY_NOT_EMPTY:
		fprintf(stderr, TOOL ": %s; nothing copied (--replace drops "
			"them)\n", err);
		return EXIT_NOT_EMPTY;
	default:
		fprintf(stderr, TOOL ": %s; nothing copied\n", err);
		return EXIT_STORE;
	}
}

static int cmd_migrate(struct store *st)
{
	const char *kind = store_backend_name(st);
	int from, to;

	if (store_migrate(st, &from, &to) != 0) {
		fprintf(stderr, TOOL ": cannot migrate the %s store: %s\n", kind,
			store_last_error(st));
		return EXIT_STORE;
	}
	if (from == to)
		printf("%s store: already at version %d\n", kind, to);
	else
		printf("%s store: migrated from version %d%s to version %d\n",
			kind, from, from == 0 ? " (empty)" : "", to);
	return flush_stdout();
}

/* The text of a message for a terminal: C1 controls (valid UTF-8, but
 * terminal commands) become '?'; TAB stays (it is the last column). */
static void print_text(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] >= 0x80 &&
		    (unsigned char)text[i + 1] <= 0x9f) {
			putchar('?');
			i++;
		} else {
			putchar(c);
		}
	}
}

/* One short read per message (store_msg_next): no transaction is held
 * while the listing is written, however slowly it is read. */
static int cmd_queued(struct store *st, const char *name, bool text)
{
	struct store_msg *m = malloc(sizeof *m);
	char hash[CP_HASH_MAX], when[32];
	uint64_t after = 0, gen;
	int r = store_user_account(st, name, strlen(name), hash, sizeof hash,
		&gen);

	if (m == NULL || r < 0) {
		fprintf(stderr, TOOL ": cannot read the store: %s\n",
			m ? store_last_error(st) : strerror(ENOMEM));
		free(m);
		return EXIT_STORE;
	}
	if (r == 0) {
		fprintf(stderr, TOOL ": no such user: %s\n", name);
		free(m);
		return EXIT_NO_USER;
	}
	while ((r = store_msg_next(st, name, strlen(name), gen, after, m)) == 1) {
		time_t t = (time_t)m->time;
		struct tm tm;

		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(when, sizeof when, "@%" PRId64, m->time);
		printf("%" PRIu64 "\t%s\t%s\t%zu", m->id, when, m->sender,
			m->text_len);
		if (text) {
			putchar('\t');
			print_text(m->text, m->text_len);
		}
		putchar('\n');
		after = m->id;
	}
	free(m);
	explicit_bzero(hash, sizeof hash);
	if (r == STORE_ACCOUNT_CHANGED) {
		fprintf(stderr, TOOL ": %s was deleted or changed meanwhile; the "
			"list is incomplete\n", name);
		return EXIT_NO_USER;
	}
	if (r < 0) {
		fprintf(stderr, TOOL ": cannot read the store: %s\n",
			store_last_error(st));
		return EXIT_STORE;
	}
	return flush_stdout();
}

static int parse_id(const char *s, uint64_t *id)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return -1;
	*id = v;
	return 0;
}

static int cmd_purge(struct store *st, const char *name, char **ids, int nids)
{
	char hash[CP_HASH_MAX];
	uint64_t n = 0, gen, *list;
	int r;

	if (nids == 0) {
		switch (store_mailbox_purge(st, name, strlen(name), &n)) {
		case STORE_ADMIN_OK:
			printf("removed %" PRIu64 " message%s queued for %s\n", n,
				n == 1 ? "" : "s", name);
			return flush_stdout();
		case STORE_ADMIN_NO_USER:
			fprintf(stderr, TOOL ": no such user: %s\n", name);
			return EXIT_NO_USER;
		default:
			fprintf(stderr, TOOL ": cannot write the store: %s\n",
				store_last_error(st));
			return EXIT_STORE;
		}
	}
	r = store_user_account(st, name, strlen(name), hash, sizeof hash, &gen);
	if (r <= 0) {
		fprintf(stderr, r < 0 ? TOOL ": cannot read the store: %s\n" :
			TOOL ": no such user: %s\n", r < 0 ? store_last_error(st) : name);
		return r < 0 ? EXIT_STORE : EXIT_NO_USER;
	}
	list = calloc((size_t)nids, sizeof *list);
	if (list == NULL) {
		fprintf(stderr, TOOL ": out of memory\n");
		return EXIT_STORE;
	}
	for (int i = 0; i < nids; i++) {
		if (parse_id(ids[i], &list[i]) != 0) {
			free(list);
			return usage_error("invalid message id (a number from "
				"'queued'):", ids[i]);
		}
	}
	r = store_msg_remove(st, name, strlen(name), gen, list, (size_t)nids);
	free(list);
	if (r == STORE_ACCOUNT_CHANGED) {
		fprintf(stderr, TOOL ": %s was deleted or changed meanwhile; "
			"nothing removed\n", name);
		return EXIT_NO_USER;
	}
	if (r != 0) {
		fprintf(stderr, TOOL ": cannot write the store: %s\n",
			store_last_error(st));
		return EXIT_STORE;
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "replace", no_argument, NULL, 'r' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'o' },
		{ "text", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *from = NULL, *to = NULL, *cmd, *dir;
	bool replace = false, text = false, create = false, readonly = false;
	char err[512];
	struct store *st;
	int c, rc, nargs;

	/* Before anything is opened: with stderr closed, a message must not
	 * land in data.mdb. */
	if (stdfds_ensure() < 0)
		return EXIT_STORE;
	argv[0] = (char *)TOOL; /* getopt's own messages name the tool */
	while ((c = getopt_long(argc, argv, "d:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'r': replace = true; break;
		case 'f': from = optarg; break;
		case 'o': to = optarg; break;
		case 't': text = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V':
			printf(TOOL " (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try '" TOOL " --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if (optind == argc)
		return usage_error("missing command (backup, restore, copy, "
			"migrate, queued, purge)", NULL);
	cmd = argv[optind++];
	nargs = argc - optind;
	if (strcmp(cmd, "backup") == 0 || strcmp(cmd, "restore") == 0) {
		if (nargs != 1)
			return usage_error(nargs ? "too many arguments after" :
				"missing DIR after", cmd);
		if (argv[optind][0] == '\0')
			return usage_error("empty DIR after", cmd);
		create = cmd[0] == 'r';
		readonly = cmd[0] == 'b';
	} else if (strcmp(cmd, "queued") == 0 || strcmp(cmd, "purge") == 0) {
		if (nargs < 1 || (cmd[0] == 'q' && nargs > 1))
			return usage_error(nargs ? "too many arguments after" :
				"missing NAME after", cmd);
		if (!admin_name_valid(argv[optind], strlen(argv[optind])))
			return usage_error("invalid user name; names are", ADMIN_NAME_RULE);
		readonly = cmd[0] == 'q';
	} else if (strcmp(cmd, "copy") == 0 || strcmp(cmd, "migrate") == 0) {
		if (nargs != 0)
			return usage_error("too many arguments after", cmd);
	} else {
		return usage_error("unknown command (backup, restore, copy, "
			"migrate, queued, purge):", cmd);
	}
	if (replace && strcmp(cmd, "restore") != 0 && strcmp(cmd, "copy") != 0)
		return usage_error("--replace applies to restore and copy only, "
			"not", cmd);
	if ((from != NULL || to != NULL) && strcmp(cmd, "copy") != 0)
		return usage_error("--from and --to apply to copy only, not", cmd);
	if (strcmp(cmd, "copy") == 0)
		return cmd_copy(db, from, to, replace);
	if (text && strcmp(cmd, "queued") != 0)
		return usage_error("--text applies to queued only, not", cmd);

	dir = dbpath_resolve(db, err, sizeof err);
	if (dir == NULL) {
		fprintf(stderr, TOOL ": %s\n", err);
		return EXIT_USAGE;
	}
	dir = store_arg(dir);
	if (*dir == '\0')
		return usage_error("--db: the store path is empty", NULL);
	if (strcmp(cmd, "backup") == 0 &&
	    backup_dir_prepare(argv[optind], dir) != 0)
		return EXIT_STORE;
	st = admin_store_open_flags(dir, strcmp(cmd, "migrate") == 0 ?
		STORE_CREATE | STORE_MIGRATE : (create ? STORE_CREATE : 0) |
		(readonly ? STORE_READONLY : 0), err, sizeof err);
	if (!st) {
		fprintf(stderr, TOOL ": %s\n", err);
		return EXIT_STORE;
	}
	if (strcmp(cmd, "backup") == 0)
		rc = cmd_backup(st, argv[optind]);
	else if (strcmp(cmd, "restore") == 0)
		rc = cmd_restore(st, argv[optind], dir, replace);
	else if (strcmp(cmd, "migrate") == 0)
		rc = cmd_migrate(st);
	else if (strcmp(cmd, "queued") == 0)
		rc = cmd_queued(st, argv[optind], text);
	else
		rc = cmd_purge(st, argv[optind], argv + optind + 1, nargs - 1);
	store_close(st);
	return rc;
}
