/* clientproxy.c - cpchat --proxy-command (protocol client layer): as ssh's
 * ProxyCommand, run `/bin/sh -c "exec CMD"` (%h, %p, %% expanded), its stdin
 * and stdout one end of a socket pair; CP goes over the other end, so the
 * rest of client.c sees an ordinary connected socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "limits.h"
#include "lineio.h"

int client_proxy_expand(const char *cmd, const char *host, const char *port,
	char *buf, size_t cap)
{
	size_t n = 0;

	for (const char *p = cmd; *p != '\0'; p++) {
		const char *add = p;
		size_t len = 1;

		if (*p == '%') {
			switch (p[1]) {
			case 'h': add = host; len = strlen(host); break;
			case 'p': add = port; len = strlen(port); break;
			case '%': add = "%"; break;
			default: return -1;
			}
			p++;
		}
		if (cap - n <= len)
			return -1;
		memcpy(buf + n, add, len);
		n += len;
	}
	buf[n] = '\0';
	return 0;
}

/* The child: stdin and stdout on the socket, signals as for any command,
 * stderr left to the user (ssh's questions and errors). */
static void proxy_child(int sock, const char *line)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(sock, STDIN_FILENO) < 0 || dup2(sock, STDOUT_FILENO) < 0)
		_exit(127);
	if (sock > STDOUT_FILENO)
		close(sock);
	execl("/bin/sh", "sh", "-c", line, (char *)NULL);
	_exit(127);
}

enum client_result client_connect_proxy(struct client *c, const char *cmd,
	const char *host, const char *port)
{
	char line[sizeof "exec " + CP_PROXY_COMMAND_MAX];
	int sv[2];
	pid_t pid;

	client_close(c);
	memcpy(line, "exec ", 5);
	if (client_proxy_expand(cmd, host, port, line + 5, sizeof line - 5) < 0) {
		client_set_error(c, "invalid proxy command: only %%h, %%p and "
			"%%%% may follow '%%', and it must be under %d bytes",
			CP_PROXY_COMMAND_MAX);
		return CLIENT_E_CONNECT;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		client_set_error(c, "cannot run the proxy command: %s",
			strerror(errno));
		return CLIENT_E_CONNECT;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		client_set_error(c, "cannot run the proxy command: %s",
			strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return CLIENT_E_CONNECT;
	}
	if (pid == 0) {
		close(sv[0]);
		/* dup2 clears FD_CLOEXEC on the copies. */
		proxy_child(sv[1], line);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	c->fd = sv[0];
	c->proxy_pid = pid;
	return CLIENT_OK;
}

/* Wait up to ms for pid to exit: 1 it has (reaped), 0 not yet. */
static int reap_within(pid_t pid, int64_t ms)
{
	int64_t deadline = lineio_now_ms() + ms;
	struct timespec tick = { 0, 10 * 1000000 };
	pid_t r;

	while ((r = waitpid(pid, NULL, WNOHANG)) == 0 &&
	    lineio_now_ms() < deadline)
		nanosleep(&tick, NULL);
	return r != 0; /* exited, or not ours to wait for any more */
}

void client_proxy_reap(pid_t pid)
{
	if (reap_within(pid, CP_PROXY_EXIT_WAIT_MS))
		return;
	kill(pid, SIGHUP);
	if (reap_within(pid, 1000))
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
