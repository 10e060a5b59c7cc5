/* fuzz_session.c - libFuzzer harness driving one whole CP session as cpd's
 * serve() loop does: fuzzed bytes through a socketpair in random chunks into
 * the real lineio, session and a recording LMDB store (fuzz_store.c) that
 * can fail on demand; after every input the output and store are checked. */

/* After every input the harness checks that the output is only well-formed
 * replies and deliveries, one per command, valid for the login state; that
 * every 240 is exactly one committed message (in order) and every committed
 * message got a 240; that deliveries are exactly what
 * the store handed out; that only delivered-and-acked messages are removed;
 * and that the store then holds exactly what the model says.
 *
 * The client's end is a socketpair, as a real connection is a socket (the
 * first-byte peek needs one).
 *
 * Built twice: fuzz_session starts each input from a copy of a session
 * that logged in once at start-up through the real USER/PASS lines (as
 * alice or bob), so runs skip yescrypt (~20 ms per PASS); fuzz_login
 * (-DFUZZ_LOGIN) starts in Idle and verifies every PASS for real.
 *
 * Input: 4 header bytes, then the client's byte stream.
 *   h0  fuzz_session: logged in as alice (odd) or bob (even);
 *       fuzz_login: --max-auth-failures 1 + h0 % 3; bit 6: a certificate
 *       is configured, so cpd's first-byte rule applies (0x16 would go to
 *       cpdtls.c: the run checks the byte was only peeked, and ends; the
 *       TLS library is not ours to fuzz); bit 7: --tls=required (every
 *       USER must get the TLS-required 560 and end the session).
 *   h1  bits 0-2: messages pre-queued for the logged-in user; bits 3-5:
 *       --mailbox-limit (0 = none); bits 6-7: timeout chance per wait.
 *   h2  bits 0-2: store failure to inject (see enum inject); bit 3: keep
 *       failing from then on; bits 4-7: which call fails first.
 *   h3  seed of the chunk-size generator. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "limits.h"
#include "lineio.h"
#include "log.h"
#include "proto.h"
#include "session.h"
#include "store.h"
#include "fuzz_store.h"

/* logged-in sessions, made once through the real USER/PASS lines */
static struct {
	struct session logged[2];
	struct session s;
	struct session_config cfg;
} F;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_session", LOG_TARGET_NONE);
	fuzz_store_open();
	FS.session = &F.s;
	session_config_defaults(&F.cfg);
	for (int i = 0; i < 2; i++) {
		char line[64];
		struct session *s = &F.logged[i];
		size_t len;

		session_init(s, &F.cfg, &store_session_ops, FS.st);
		session_line(s, line, (size_t)snprintf(line, sizeof line,
			"USER %s", fuzz_users[i]));
		session_line(s, line, (size_t)snprintf(line, sizeof line,
			"PASS %s", fuzz_passwords[i]));
		session_sync(s);
		CHECK(s->state == S_PROCESS_COMMAND);
		session_output(s, &len);
		session_output_consumed(s, len);
	}
	return 0;
}

/* ------------------------------------------------------ output checks */

struct outcheck {
	bool logged_in;
	bool tls_refused;   /* the TLS-required 560 was sent */
	size_t lines, r240, r565;
};

static void check_output(struct outcheck *oc, const char *out, size_t len)
{
	CHECK(len >= 2 && out[len - 2] == '\r' && out[len - 1] == '\n');
	while (len > 0) {
		const char *nl = memchr(out, '\n', len);
		size_t n, ln;
		struct proto_cmd cmd;

		CHECK(nl != NULL);
		n = (size_t)(nl - out) + 1;
		CHECK(n >= 3 && out[n - 2] == '\r');
		ln = n - 2;
		CHECK(memchr(out, '\r', ln) == NULL);
		CHECK(n <= CP_DELIVERY_MAX);
		proto_parse_server(out, ln, &cmd);
		if (cmd.verb == PROTO_RMSG) {
			const char *snd, *txt;
			size_t sl, tl;
			CHECK(oc->logged_in);
			CHECK(proto_delivery_split(cmd.arg, cmd.arg_len, &snd, &sl,
				&txt, &tl));
			CHECK(proto_username_valid(snd, sl));
			CHECK(tl >= 1 && tl <= CP_TEXT_MAX);
			/* exactly the next message the store handed out */
			CHECK(FS.deliv_seen < FS.ndeliv);
			CHECK(FS.deliv[FS.deliv_seen++] == fuzz_msg_hash(snd, sl, txt, tl));
		} else if (F.cfg.refuse_plaintext_login &&
		    n == sizeof PROTO_TLS_REQUIRED_REPLY - 1 &&
		    memcmp(out, PROTO_TLS_REQUIRED_REPLY, n) == 0) {
			/* once, before any login, and the session is over */
			CHECK(!oc->logged_in && !oc->tls_refused);
			CHECK(F.s.done);
			oc->tls_refused = true;
		} else {
			CHECK(cmd.verb == PROTO_CODE);
			CHECK(ln == 4 + strlen(proto_code_text(cmd.code)));
			CHECK(memcmp(cmd.arg, proto_code_text(cmd.code),
				cmd.arg_len) == 0);
			/* with --tls=required no USER is ever accepted */
			CHECK(!F.cfg.refuse_plaintext_login ||
				(cmd.code != PROTO_R_USER_OK &&
				 cmd.code != PROTO_E_USER && cmd.code != PROTO_E_AUTH));
			switch (cmd.code) {
			case PROTO_R_USER_OK:
			case PROTO_E_USER:
			case PROTO_E_AUTH:
				CHECK(!oc->logged_in);
				oc->r565 += cmd.code == PROTO_E_AUTH;
				break;
			case PROTO_R_AUTH_OK:
				CHECK(!oc->logged_in);
				oc->logged_in = true;
				break;
			case PROTO_E_BAD_COMMAND:
				break;
			case PROTO_R_SENT:
				oc->r240++;
				/* fall through */
			case PROTO_R_RECOVERED: case PROTO_R_END:
			case PROTO_R_NONE: case PROTO_E_SEND: case PROTO_E_NO_RCPT:
			case PROTO_E_COLONS: case PROTO_E_DOWNLOAD:
				CHECK(oc->logged_in);
				break;
			default:
				CHECK(!"reply code the server must never send");
			}
		}
		oc->lines++;
		out += n;
		len -= n;
	}
}

/* cpd's flush_output, minus the sleep and the socket. */
static void flush(struct outcheck *oc)
{
	const char *out;
	size_t len;

	session_sync(&F.s);
	F.s.delay_ms = 0;
	out = session_output(&F.s, &len);
	if (len == 0)
		return;
	check_output(oc, out, len);
	session_output_consumed(&F.s, len);
}

/* ------------------------------------------------------ store reset */
/* ------------------------------------------------------ the run */

static uint32_t rng_state;

static uint32_t rng(void)
{
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

/* Chunk sizes: mostly tiny (every resume point of the reader), sometimes
 * whole kilobytes (several lines per read, over-long lines). */
static size_t chunk_size(void)
{
	uint32_t r = rng();
	switch (r & 3) {
	case 0: return 1;
	case 1: return 1 + (r >> 2) % 8;
	case 2: return 1 + (r >> 2) % 64;
	default: return 1 + (r >> 2) % 4096;
	}
}

/* The client sends its next chunk; at the end of the input it closes. */
static void feed(int fds[2], const uint8_t *data, size_t size, size_t *fed)
{
	if (*fed < size) {
		size_t n = chunk_size();
		if (n > size - *fed)
			n = size - *fed;
		ssize_t w = write(fds[1], data + *fed, n);
		CHECK(w > 0 || errno == EAGAIN);
		if (w > 0)
			*fed += (size_t)w;
	}
	if (*fed == size && fds[1] >= 0) {
		close(fds[1]);
		fds[1] = -1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t h[4] = { 1, 0, 0, 1 };
	int owner, fds[2];
	static struct lineio lio_s;
	struct lineio *lio = &lio_s;
	struct outcheck oc = { 0 };
	size_t fed = 0, expect_replies = 0, acks = 0;
	unsigned tchance;
	int64_t fake_now = 0, last_line = 0, partial_since = -1, ack_deadline = -1;
	uint64_t ack_for = 0;

	for (size_t i = 0; i < 4 && i < size; i++)
		h[i] = data[i];
	data += size < 4 ? size : 4;
	size -= size < 4 ? size : 4;

	/* configuration */
	session_config_defaults(&F.cfg);
	F.cfg.mailbox_limit = (h[1] >> 3) & 7;
	F.cfg.max_auth_failures = 1 + h[0] % 3;
	tchance = (unsigned[]){ 0, 64, 16, 4 }[h[1] >> 6];
	FS.inj = (enum inject)(h[2] & 7);
	FS.inj_sticky = (h[2] >> 3) & 1;
	FS.inj_at = h[2] >> 4;
	FS.calls = 0;
	rng_state = 0x9e3779b9u ^ ((uint32_t)h[3] << 8) ^ (uint32_t)size;
	if (rng_state == 0)
		rng_state = 1;

#ifdef FUZZ_LOGIN
	F.cfg.refuse_plaintext_login = (h[0] >> 7) & 1;
	owner = -1;
	session_init(&F.s, &F.cfg, &fuzz_store_ops, FS.st);
#else
	owner = (h[0] & 1) ? 0 : 1;
	memcpy(&F.s, &F.logged[owner], sizeof F.s);
	F.s.cfg = &F.cfg;
	F.s.store = &fuzz_store_ops;
	oc.logged_in = true;
#endif
	fuzz_store_reset(owner, h[1] & 7);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	CHECK(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
	lineio_init(lio, fds[0]);

#ifdef FUZZ_LOGIN
	/* cpd's first-byte rule, when a certificate is configured: peek (the
	 * client speaks first), and 0x16 goes to cpd_serve_tls with the byte still
	 * unread; anything else, or the end of input, is plaintext. */
	if ((h[0] >> 6) & 3) {
		unsigned char first, again;
		feed(fds, data, size, &fed);
		int pr = lineio_peek(fds[0], lineio_now_ms() + 10000, &first);
		CHECK(pr == 1 || (pr == 0 && size == 0));
		if (pr == 1 && first == 0x16) {
			CHECK(recv(fds[0], &again, 1, MSG_DONTWAIT) == 1);
			CHECK(again == 0x16);
			if (fds[1] >= 0)
				close(fds[1]);
			close(fds[0]);
			return 0;
		}
	}
#endif

	/* cpd's serve() with a fake clock: a timeout fires only when the
	 * input says so, and then the deadline cpd would use has passed. */
	while (!F.s.done) {
		const char *line;
		size_t len;
		enum lineio_result r = lineio_next(lio, &line, &len);

		if (r == LINEIO_LINE || r == LINEIO_TOO_LONG) {
			struct proto_cmd cmd;
			last_line = fake_now;
			partial_since = -1;
			/* cpd: a line past the login deadline closes instead */
			if (!session_logged_in(&F.s) &&
			    fake_now >= F.cfg.login_timeout_ms) {
				session_event(&F.s, SESSION_EV_LOGIN_TIMEOUT);
				CHECK(F.s.done);
				break;
			}
			if (r == LINEIO_LINE) {
				CHECK(len <= CP_LINE_MAX - 1);
				CHECK(memchr(line, '\n', len) == NULL);
				proto_parse(line, len, &cmd);
				expect_replies += cmd.verb != PROTO_TERM;
				acks += cmd.verb == PROTO_CODE && cmd.code == 250;
				session_line(&F.s, line, len);
			} else {
				expect_replies++;
				session_line_too_long(&F.s);
			}
			CHECK(F.s.out_len < sizeof F.s.out);
			if (session_should_sync(&F.s) || F.s.delay_ms > 0)
				flush(&oc);
			continue;
		}
		/* cpd peeks once more, without waiting, while a batch is open:
		 * sometimes more input has arrived meanwhile. */
		if (r == LINEIO_AGAIN && F.s.batch_puts > 0 &&
		    !session_should_sync(&F.s)) {
			if (rng() & 1)
				feed(fds, data, size, &fed);
			if (lineio_fill(lio, 0) > 0)
				continue;
		}
		flush(&oc);
		if (F.s.done)
			break;
		if (r == LINEIO_EOF) {
			session_event(&F.s, SESSION_EV_EOF);
			CHECK(F.s.done);
			break;
		}

		int64_t deadline;
		enum session_event tev;
		if (session_waiting(&F.s) == SESSION_WAIT_ACK) {
			if (ack_deadline < 0 || ack_for != F.s.dl_last) {
				ack_for = F.s.dl_last;
				ack_deadline = fake_now + F.cfg.ack_timeout_ms;
			}
			deadline = ack_deadline;
			tev = SESSION_EV_ACK_TIMEOUT;
		} else {
			ack_deadline = -1;
			deadline = last_line + F.cfg.idle_timeout_ms;
			tev = SESSION_EV_IDLE_TIMEOUT;
			if (lineio_partial(lio)) {
				if (partial_since < 0)
					partial_since = fake_now;
				if (partial_since + F.cfg.line_timeout_ms < deadline) {
					deadline = partial_since + F.cfg.line_timeout_ms;
					tev = SESSION_EV_LINE_TIMEOUT;
				}
			}
		}
		/* cpd: counted from the start (fake time 0) until the 230 */
		if (!session_logged_in(&F.s) && F.cfg.login_timeout_ms < deadline) {
			deadline = F.cfg.login_timeout_ms;
			tev = SESSION_EV_LOGIN_TIMEOUT;
		}
		if (tchance && rng() % tchance == 0) {
			enum session_state before = F.s.state;
			fake_now = deadline;
			session_event(&F.s, tev);
			if ((tev == SESSION_EV_LINE_TIMEOUT &&
			     before == S_PROCESS_COMMAND) ||
			    tev == SESSION_EV_ACK_TIMEOUT)
				expect_replies++;
			else
				CHECK(F.s.done);
			if (tev == SESSION_EV_LINE_TIMEOUT) {
				lineio_end_line(lio);
				partial_since = -1;
			}
			last_line = fake_now;
			ack_deadline = -1;
			continue;
		}
		/* feed the next chunk (or the end of input), then read */
		feed(fds, data, size, &fed);
		fake_now += 1;
		CHECK(lineio_fill(lio, lineio_now_ms() + 10000) == 1);
	}
	flush(&oc);
	CHECK(F.s.done);

	/* one reply per command (TERM and events that close excepted), no
	 * more, no fewer; the loop stops feeding lines once the session ends */
	CHECK(oc.lines == expect_replies);
	CHECK(F.s.batch_puts == 0 && F.s.acked_n == 0);
	CHECK(oc.r565 <= F.cfg.max_auth_failures);
	/* --tls=required: nobody logged in in plaintext */
	CHECK(!F.cfg.refuse_plaintext_login || !oc.logged_in);

	/* every 240 is one committed message and every commit got its 240 */
	CHECK(oc.r240 == FS.committed);
	fuzz_store_check(acks);

	if (fds[1] >= 0)
		close(fds[1]);
	close(fds[0]);
	return 0;
}
