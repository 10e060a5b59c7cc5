/* mboxlock.c - one download per user at a time across all handlers: an OFD
 * lock on one byte of mailbox.lock in the store's directory (doc/store.md).
 * Not LMDB's lock.mdb, where LMDB holds fcntl locks of its own. Never prints
 * or exits: failures come back as -1 with a one-line reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mboxlock.h"

void mboxlock_init(struct mboxlock *lk)
{
	lk->fd = -1;
	lk->locked = false;
	lk->byte = 0;
}

int mboxlock_open(struct mboxlock *lk, const char *dir, char *err,
	size_t errcap)
{
	char path[4096];
	struct stat sb;

	if (lk->fd >= 0)
		return 0;
	if ((size_t)snprintf(path, sizeof path, "%s/mailbox.lock", dir) >=
	    sizeof path) {
		snprintf(err, errcap, "open mailbox.lock: store path too long");
		return -1;
	}
	/* Never through a link, never a FIFO or device: a plain file. */
	lk->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		O_NONBLOCK, 0600);
	if (lk->fd < 0) {
		snprintf(err, errcap, "open %.200s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(lk->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errcap, "open %.200s: not a regular file", path);
		close(lk->fd);
		lk->fd = -1;
		return -1;
	}
	return 0;
}

/* The byte is at an offset hashed from the name (FNV-1a, 62 bits): a
 * collision would only make two users take turns. */
int mboxlock_take(struct mboxlock *lk, const char *user, size_t len,
	char *err, size_t errcap)
{
	uint64_t h = 1469598103934665603ULL;
	struct flock fl;

	if (lk->locked)
		return 1;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)user[i]) * 1099511628211ULL;
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)(h & ((1ULL << 62) - 1));
	fl.l_len = 1;
	if (fcntl(lk->fd, F_OFD_SETLK, &fl) == 0) {
		lk->locked = true;
		lk->byte = fl.l_start;
		return 1;
	}
	if (errno == EAGAIN || errno == EACCES)
		return 0;
	snprintf(err, errcap, "lock mailbox: %s", strerror(errno));
	return -1;
}

void mboxlock_release(struct mboxlock *lk)
{
	struct flock fl;

	if (!lk->locked)
		return;
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = lk->byte;
	fl.l_len = 1;
	fcntl(lk->fd, F_OFD_SETLK, &fl);
	lk->locked = false;
}

void mboxlock_close(struct mboxlock *lk)
{
	if (lk->fd >= 0)
		close(lk->fd);
	mboxlock_init(lk);
}
