/* mboxlock.h - the per-user download lock: an OFD lock on one byte of the
 * file mailbox.lock in the store's directory, so that across all handlers
 * only one download per user runs at a time. Needs no LMDB: the store embeds
 * one and exposes it as store_mailbox_lock/unlock (store.h). */
#ifndef CP_MBOXLOCK_H
#define CP_MBOXLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mboxlock {
	int fd;                 /* mailbox.lock, -1 until mboxlock_open */
	bool locked;
	off_t byte;             /* the byte locked for this download */
};

/* Not open, not locked. Call before any other mboxlock function. */
void mboxlock_init(struct mboxlock *lk);

/* Open dir/mailbox.lock (created mode 0600) unless lk has it open already;
 * a symbolic link or anything but a regular file there is refused. 0 ok, -1
 * with a one-line reason in err. */
int mboxlock_open(struct mboxlock *lk, const char *dir, char *err,
	size_t errcap);

/* Lock user's byte (lk must be open): 1 taken (or lk already holds a lock),
 * 0 another process holds it, -1 error with a reason in err. The kernel
 * drops the lock when the process ends. */
int mboxlock_take(struct mboxlock *lk, const char *user, size_t len,
	char *err, size_t errcap);

/* Drop the lock lk holds, if any. */
void mboxlock_release(struct mboxlock *lk);

/* Close the file (releasing any lock) and forget it. */
void mboxlock_close(struct mboxlock *lk);

#endif
