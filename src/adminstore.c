/* adminstore.c - the user tools open the store without being turned against
 * the host: as root they act as the store's owner (the service user), only a
 * new, empty or cp-owned directory is handed over, and every file is checked
 * through the opened directory, links refused. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "store.h"

#ifndef CP_SERVICE_USER
#define CP_SERVICE_USER "cp"
#endif

/* What a store directory may hold: LMDB's two files and the download lock
 * (doc/store.md). */
static const char *const admin_store_files[] = {
	"data.mdb", "lock.mdb", "mailbox.lock",
};
#define N_STORE_FILES (sizeof admin_store_files / sizeof *admin_store_files)

/* Who is to act on the store, and to whom it is handed. */
struct owner {
	uid_t uid;
	gid_t gid;
};

/* What a directory holds: a store (data.mdb), and anything that is not a
 * store file (the first such name, for the message). */
struct dir_content {
	bool has_data;
	bool has_other;
	char other[64];
};

static int scan_dir(int dfd, const char *dir, struct dir_content *dc,
	char *err, size_t errcap)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	memset(dc, 0, sizeof *dc);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errcap, "cannot read store %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((errno = 0, e = readdir(d)) != NULL) {
		bool known = false;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		for (size_t i = 0; i < N_STORE_FILES; i++)
			known |= strcmp(e->d_name, admin_store_files[i]) == 0;
		if (strcmp(e->d_name, "data.mdb") == 0)
			dc->has_data = true;
		if (!known && !dc->has_other) {
			dc->has_other = true;
			snprintf(dc->other, sizeof dc->other, "%.40s", e->d_name);
		}
	}
	if (errno != 0) {
		snprintf(err, errcap, "cannot read store %s: %s", dir, strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

/* Check one store file through dfd without following a link: a regular
 * file with one link (a hard link could be any file of the host), private
 * to its owner. With to (handing the store over), a file of root's is
 * given to `to`, and one of anyone else is refused; with only (acting as
 * the directory's owner), a file of anyone else's is refused. 0 ok or
 * absent, -1. */
static int check_file(int dfd, const char *dir, const char *f,
	const struct owner *to, const struct owner *only, char *err,
	size_t errcap)
{
	struct stat sb;
	int fd = openat(dfd, f, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int ret = -1;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errcap, "cannot open store file %s/%s: %s", dir, f,
			strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0)
		snprintf(err, errcap, "cannot open store file %s/%s: %s", dir, f,
			strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		snprintf(err, errcap, "store file %s/%s is not a regular file", dir, f);
	else if (sb.st_nlink != 1)
		snprintf(err, errcap, "store file %s/%s has %ju links (a store "
			"file has one); refusing it", dir, f, (uintmax_t)sb.st_nlink);
	else if (sb.st_mode & 077)
		snprintf(err, errcap, "store file %s/%s is accessible to group or "
			"others (mode %04o); fix with: chmod 600 %s/%s", dir, f,
			(unsigned)(sb.st_mode & 07777), dir, f);
	else if (only != NULL && sb.st_uid != only->uid)
		snprintf(err, errcap, "store file %s/%s belongs to uid %ju, not to "
			"the store's owner (uid %ju); fix with: chown %ju %s/%s", dir,
			f, (uintmax_t)sb.st_uid, (uintmax_t)only->uid,
			(uintmax_t)only->uid, dir, f);
	else if (to == NULL || (sb.st_uid == to->uid && sb.st_gid == to->gid))
		ret = 0;
	else if (sb.st_uid != to->uid && sb.st_uid != 0)
		snprintf(err, errcap, "store file %s/%s belongs to uid %ju, not to "
			"the service user %s; refusing to hand it over", dir, f,
			(uintmax_t)sb.st_uid, CP_SERVICE_USER);
	else if (fchownat(fd, "", to->uid, to->gid, AT_EMPTY_PATH) != 0)
		snprintf(err, errcap, "cannot give store file %s/%s to user %s: %s",
			dir, f, CP_SERVICE_USER, strerror(errno));
	else
		ret = 0;
	close(fd);
	return ret;
}

/* Decide who acts on the store in dfd (owned per sb) and, as root with a
 * service user, hand it over to that user when that is allowed. */
static int choose_owner(int dfd, const char *dir, const struct stat *sb,
	const struct dir_content *dc, bool created, struct owner *as,
	char *err, size_t errcap)
{
	struct passwd *pw;
	struct owner svc;
	struct stat data;

	if (geteuid() != 0) {
		as->uid = geteuid();
		as->gid = getegid();
		for (size_t i = 0; i < N_STORE_FILES; i++)
			if (check_file(dfd, dir, admin_store_files[i], NULL, NULL,
			    err, errcap))
				return -1;
		return 0;
	}
	pw = getpwnam(CP_SERVICE_USER);
	if (pw == NULL) {
		/* No service user: act as whoever owns the directory, so that
		 * nothing its owner planted in it can be a trap for root. */
		as->uid = sb->st_uid;
		pw = getpwuid(sb->st_uid);
		as->gid = pw != NULL ? pw->pw_gid : sb->st_gid;
		for (size_t i = 0; i < N_STORE_FILES; i++)
			if (check_file(dfd, dir, admin_store_files[i], NULL,
			    as->uid != 0 ? as : NULL, err, errcap))
				return -1;
		return 0;
	}
	svc.uid = pw->pw_uid;
	svc.gid = pw->pw_gid;
	/* Only a directory made just now, one with no store in it (empty, or
	 * with cp's lock files only: scan_dir refused anything else), or one
	 * whose store is the service user's already may be given to it. */
	if (sb->st_uid != svc.uid && !created && dc->has_data &&
	    (fstatat(dfd, "data.mdb", &data, AT_SYMLINK_NOFOLLOW) != 0 ||
	     data.st_uid != svc.uid)) {
		snprintf(err, errcap, "store %s belongs to uid %ju and holds a store "
			"that is not the service user %s's; refusing to hand it "
			"over (if it is cp's store: chown -R %s: %s)", dir,
			(uintmax_t)sb->st_uid, CP_SERVICE_USER, CP_SERVICE_USER, dir);
		return -1;
	}
	for (size_t i = 0; i < N_STORE_FILES; i++)
		if (check_file(dfd, dir, admin_store_files[i], &svc, NULL, err,
		    errcap))
			return -1;
	if ((sb->st_uid != svc.uid || sb->st_gid != svc.gid) &&
	    fchown(dfd, svc.uid, svc.gid) != 0) {
		snprintf(err, errcap, "cannot give store %s to user %s: %s", dir,
			CP_SERVICE_USER, strerror(errno));
		return -1;
	}
	*as = svc;
	return 0;
}

/* Become `as` for good (root only): no supplementary groups, real, effective
 * and saved ids all changed, so nothing of root is left to regain. */
static int become(const struct owner *as, char *err, size_t errcap)
{
	if (as->uid == 0)
		return 0; /* a store of root's: only root can have planted anything */
	if (setgroups(0, NULL) != 0 || setresgid(as->gid, as->gid, as->gid) != 0 ||
	    setresuid(as->uid, as->uid, as->uid) != 0) {
		snprintf(err, errcap, "cannot switch to uid %ju gid %ju: %s",
			(uintmax_t)as->uid, (uintmax_t)as->gid, strerror(errno));
		return -1;
	}
	return 0;
}

/* Open dir (creating it, mode 0700, when create): *created tells whether it
 * was made just now. -1 with the message the tools print. */
static int open_dir(const char *dir, bool create, bool *created, char *err,
	size_t errcap)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*created = false;
	if (dfd < 0 && errno == ENOENT && create) {
		mode_t old = umask(077);
		int r = mkdir(dir, 0700);
		int saved = errno;
		umask(old);
		if (r != 0 && saved != EEXIST) {
			snprintf(err, errcap, "cannot create store %s: %s", dir,
				strerror(saved));
			return -1;
		}
		/* Made just now: not a link someone put in its place since. */
		*created = r == 0;
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			(*created ? O_NOFOLLOW : 0));
		if (dfd >= 0 && *created) {
			struct stat sb;
			*created = fstat(dfd, &sb) == 0 && sb.st_uid == geteuid();
		}
	}
	if (dfd < 0) {
		if (errno == ENOTDIR)
			snprintf(err, errcap, "store %s is not a directory", dir);
		else
			snprintf(err, errcap, "cannot open store %s: %s", dir,
				strerror(errno));
	}
	return dfd;
}

/* The download lock cpd takes (mboxlock.c), made now by the acting user so
 * that it belongs to the store's owner like the LMDB files. */
static int make_mailbox_lock(const char *dir, char *err, size_t errcap)
{
	char path[4096];
	struct stat sb;
	int fd;

	if ((size_t)snprintf(path, sizeof path, "%s/mailbox.lock", dir) >=
	    sizeof path) {
		snprintf(err, errcap, "store path %s is too long", dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		0600);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errcap, "cannot open store file %s: %s", path,
			fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

struct store *admin_store_open(const char *dir, bool create, bool readonly,
	char *err, size_t errcap)
{
	return admin_store_open_flags(dir, (create ? STORE_CREATE : 0) |
		(readonly ? STORE_READONLY : 0), err, errcap);
}

struct store *admin_store_open_flags(const char *dir, int flags, char *err,
	size_t errcap)
{
	bool create = flags & STORE_CREATE, readonly = flags & STORE_READONLY;
	struct dir_content dc;
	struct owner as;
	struct store *st;
	struct stat sb;
	bool created;
	int dfd, r;

	/* A database: no files here to check or hand over. */
	if (store_kind(dir) == STORE_KIND_PG)
		return store_open(dir, flags, 0, err, errcap);
	dfd = open_dir(dir, create, &created, err, errcap);
	if (dfd < 0)
		return NULL;
	r = fstat(dfd, &sb);
	if (r != 0)
		snprintf(err, errcap, "cannot open store %s: %s", dir, strerror(errno));
	else if (sb.st_mode & 022) {
		snprintf(err, errcap, "store directory %s is writable by group or "
			"others (mode %04o); fix with: chmod 700 %s", dir,
			(unsigned)(sb.st_mode & 07777), dir);
		r = -1;
	} else if ((r = scan_dir(dfd, dir, &dc, err, errcap)) == 0 &&
		   !dc.has_data && dc.has_other) {
		snprintf(err, errcap, "%s holds no cp store but other files (such "
			"as %s); refusing to use it as a store", dir, dc.other);
		r = -1;
	}
	if (r == 0)
		r = choose_owner(dfd, dir, &sb, &dc, created, &as, err, errcap);
	/* The directory ends 0700: one that group or others may only read or
	 * enter (0755, as a bare mkdir or StateDirectory= makes it) is
	 * tightened; a writable one was refused above. */
	if (r == 0 && (sb.st_mode & 077) != 0 &&
	    fchmod(dfd, 0700) != 0) {
		snprintf(err, errcap, "store directory %s is accessible to group or "
			"others (mode %04o) and cannot be made 0700: %s", dir,
			(unsigned)(sb.st_mode & 07777), strerror(errno));
		r = -1;
	}
	close(dfd);
	if (r != 0 || (geteuid() == 0 && become(&as, err, errcap) != 0))
		return NULL;
	st = store_open(dir, flags, 0, err, errcap);
	if (st != NULL && !readonly && make_mailbox_lock(dir, err, errcap) != 0) {
		store_close(st);
		return NULL;
	}
	return st;
}

bool admin_store_empty(const char *dir)
{
	struct dir_content dc;
	char err[8];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool empty;

	if (store_kind(dir) == STORE_KIND_PG) {
		if (dfd >= 0)
			close(dfd);
		return false;
	}
	if (dfd < 0)
		return false;
	empty = scan_dir(dfd, dir, &dc, err, sizeof err) == 0 && !dc.has_data &&
		!dc.has_other;
	close(dfd);
	return empty;
}
