/* stdfds.c - open /dev/null on whichever of fds 0, 1, 2 a program was
 * started without (`prog >&- 2>&-`). Otherwise the first files it opens get
 * those numbers: LMDB's data.mdb became stderr and an error message was
 * written over its meta page. Every main calls stdfds_ensure first. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "stdfds.h"

int stdfds_ensure(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* open() returns the lowest free number: this one, since the
		 * lower ones are open by now. */
		int nfd = open("/dev/null", O_RDWR);
		if (nfd < 0)
			return -1;
		if (nfd != fd) {
			int saved;
			if (dup2(nfd, fd) < 0) {
				saved = errno;
				close(nfd);
				errno = saved;
				return -1;
			}
			close(nfd);
		}
	}
	return 0;
}
