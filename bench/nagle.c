/* nagle.c - bench/nagle.so, for `make bench` only: preloaded into cpd
 * (LD_PRELOAD), it makes setsockopt(TCP_NODELAY) a no-op, so the benchmark
 * can run cpd as it was before it turned Nagle's algorithm off and show
 * the difference in the same run. Every other setsockopt goes through. */
#include <dlfcn.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static int (*next)(int, int, int, const void *, socklen_t);

	if (level == IPPROTO_TCP && name == TCP_NODELAY)
		return 0; /* pretend; Nagle stays on */
	if (next == NULL)
		*(void **)&next = dlsym(RTLD_NEXT, "setsockopt");
	return next(fd, level, name, val, len);
}
