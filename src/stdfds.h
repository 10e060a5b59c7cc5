/* stdfds.h - make sure file descriptors 0, 1 and 2 are open before a program
 * opens anything else, so that no file it opens (the store's data.mdb, a
 * socket) can become its stdin, stdout or stderr by accident. */
#ifndef CP_STDFDS_H
#define CP_STDFDS_H

/* Open /dev/null on each of fds 0, 1, 2 that is closed. Call first thing in
 * main. 0 ok, -1 one could not be opened (errno set): the caller must exit
 * without printing, since stderr may be the closed one. */
int stdfds_ensure(void);

#endif
