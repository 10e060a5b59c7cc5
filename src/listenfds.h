/* listenfds.h - the sockets systemd passes to the process it starts
 * (LISTEN_PID, LISTEN_FDS; sd_listen_fds(3)), read without libsystemd. */
#ifndef CP_LISTENFDS_H
#define CP_LISTENFDS_H

#include <stdbool.h>

/* The first passed descriptor; the others follow it. */
#define LISTENFDS_START 3

/* What sd_listen_fds(unset) returns: the number of descriptors systemd
 * passed to this process (from LISTENFDS_START on, now close-on-exec), 0 if
 * none or they were meant for another process, -1 (errno set) if the
 * variables are malformed. With unset, LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES are removed from the environment in every case, so that
 * nothing started later sees them; without, they stay (for a program that
 * would exec another as the same process; cpd unsets them). */
int listenfds_take(bool unset);

#endif
