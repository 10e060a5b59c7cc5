/* fuzz_session.c - libFuzzer harness driving one whole CP session the way
 * cpd's serve() loop does: a fuzzed byte stream goes through a pipe in
 * random chunk sizes into the real line reader (lineio), lines and timeout
 * events into the state machine (session), and the session reaches a real
 * LMDB store (on tmpfs) through a recording wrapper that can also inject
 * store failures. After every input the harness checks that the output is
 * only well-formed replies and deliveries, one per command, valid for the
 * login state; that every 240 is exactly one committed message (in order)
 * and every committed message got a 240; that deliveries are exactly what
 * the store handed out; that only delivered-and-acked messages are removed;
 * and that the store then holds exactly what the model says.
 *
 * Built twice: fuzz_session starts each input from a copy of a session
 * that logged in once at start-up through the real USER/PASS lines (as
 * alice or bob), so runs skip yescrypt (~20 ms per PASS); fuzz_login
 * (-DFUZZ_LOGIN) starts in Idle and verifies every PASS for real.
 *
 * Input: 4 header bytes, then the client's byte stream.
 *   h0  fuzz_session: logged in as alice (odd) or bob (even);
 *       fuzz_login: --max-auth-failures 1 + h0 % 3.
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

#include "auth.h"
#include "limits.h"
#include "lineio.h"
#include "log.h"
#include "proto.h"
#include "session.h"
#include "store.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
		#cond); abort(); } } while (0)

#define NUSERS 3
static const char *const users[NUSERS] = { "alice", "bob", "longname10" };
static const char *const passwords[NUSERS] = { "alicepw", "bobpw", "x" };

#define MODEL_MAX 16384     /* messages per input: far above what 64 KiB holds */
#define DELIV_MAX 16384

enum inject {
	INJ_NONE,
	INJ_COMMIT,        /* commit fails: batch aborted, -1 */
	INJ_PUT_ERROR,     /* put fails with an I/O error: batch aborted */
	INJ_PUT_FULL,      /* put refused: store full (batch intact) */
	INJ_NEXT,          /* mailbox read fails */
	INJ_REMOVE,        /* removal commit fails (nothing removed) */
	INJ_USER_HASH,     /* user lookup fails */
	INJ_NONE2,
};

struct model_msg {
	uint64_t id;
	int rcpt;
	uint64_t hash;      /* of sender ':' text */
	bool removed, delivered, preseed;
};

struct pending {
	int rcpt;
	uint64_t hash;
};

static struct {
	struct store *st;
	char dir[64];
	/* the recording wrapper */
	struct model_msg msgs[MODEL_MAX];
	size_t nmsgs;
	struct pending pend[CP_SMSG_BATCH_MAX + 1];
	size_t npend;
	uint64_t max_id[NUSERS];
	uint64_t deliv[DELIV_MAX];   /* hashes of messages msg_next returned */
	size_t ndeliv, deliv_seen;
	size_t committed;            /* messages committed during this input */
	size_t removed;
	/* failure injection */
	enum inject inj;
	bool inj_sticky;
	unsigned inj_at, calls;
	/* logged-in sessions, made once through the real USER/PASS path */
	struct session logged[2];
	struct session s;
	struct session_config cfg;
} F;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t msg_hash(const char *sender, size_t sl, const char *text,
	size_t tl)
{
	uint64_t h = fnv(0xcbf29ce484222325ULL, sender, sl);
	return fnv(fnv(h, ":", 1), text, tl);
}

static int user_index(const char *name, size_t len)
{
	for (int i = 0; i < NUSERS; i++)
		if (strlen(users[i]) == len && memcmp(users[i], name, len) == 0)
			return i;
	return -1;
}

static bool inject_now(enum inject what)
{
	if (F.inj != what)
		return false;
	unsigned n = F.calls++;
	return F.inj_sticky ? n >= F.inj_at : n == F.inj_at;
}

static struct model_msg *model_find(uint64_t id, int rcpt)
{
	for (size_t i = 0; i < F.nmsgs; i++)
		if (F.msgs[i].id == id && F.msgs[i].rcpt == rcpt)
			return &F.msgs[i];
	return NULL;
}

/* After a commit: the new messages of each mailbox, in id order, must be
 * exactly the batch's puts to it, in order. */
static void absorb_commit(void)
{
	struct store_msg m;

	for (int u = 0; u < NUSERS; u++) {
		size_t want = 0, got = 0;
		for (size_t i = 0; i < F.npend; i++)
			want += F.pend[i].rcpt == u;
		size_t k = 0;
		while (store_msg_next(F.st, users[u], strlen(users[u]),
		    F.max_id[u], &m) == 1) {
			uint64_t h = msg_hash(m.sender, m.sender_len, m.text,
				m.text_len);
			while (k < F.npend && F.pend[k].rcpt != u)
				k++;
			CHECK(k < F.npend);          /* a message nobody put */
			CHECK(F.pend[k].hash == h);  /* other content or order */
			k++;
			CHECK(F.nmsgs < MODEL_MAX);
			F.msgs[F.nmsgs++] = (struct model_msg){ .id = m.id,
				.rcpt = u, .hash = h };
			F.max_id[u] = m.id;
			got++;
		}
		CHECK(got == want);                  /* a put went missing */
	}
	F.committed += F.npend;
	F.npend = 0;
}

static int w_user_hash(void *ctx, const char *name, size_t len, char *hash,
	size_t cap)
{
	if (inject_now(INJ_USER_HASH))
		return -1;
	return store_session_ops.user_hash(ctx, name, len, hash, cap);
}

static enum store_put_result w_msg_put(void *ctx, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	const char *text, size_t text_len, uint64_t mailbox_limit)
{
	enum store_put_result r;

	CHECK(proto_text_valid(text, text_len));
	CHECK(text_len >= 1 && text_len <= CP_TEXT_MAX);
	CHECK(memchr(text, ':', text_len) == NULL);
	CHECK(sender_len == F.s.user_len &&
	      memcmp(sender, F.s.user, sender_len) == 0);
	if (F.inj == INJ_PUT_ERROR || F.inj == INJ_PUT_FULL) {
		if (inject_now(F.inj)) {
			if (F.inj == INJ_PUT_FULL)
				return STORE_PUT_STORE_FULL;
			store_session_ops.msg_abort(ctx);
			F.npend = 0;
			return STORE_PUT_ERROR;
		}
	}
	r = store_session_ops.msg_put(ctx, rcpt, rcpt_len, sender, sender_len,
		text, text_len, mailbox_limit);
	if (r == STORE_PUT_OK) {
		int u = user_index(rcpt, rcpt_len);
		CHECK(u >= 0);
		CHECK(F.npend < CP_SMSG_BATCH_MAX);  /* batch bound kept */
		F.pend[F.npend++] = (struct pending){ u,
			msg_hash(sender, sender_len, text, text_len) };
	} else if (r == STORE_PUT_NO_USER) {
		CHECK(user_index(rcpt, rcpt_len) < 0);
	} else if (r == STORE_PUT_ERROR) {
		F.npend = 0;
	}
	return r;
}

static int w_msg_commit(void *ctx)
{
	if (inject_now(INJ_COMMIT)) {
		store_session_ops.msg_abort(ctx);
		F.npend = 0;
		return -1;
	}
	if (store_session_ops.msg_commit(ctx) < 0) {
		F.npend = 0;
		return -1;
	}
	absorb_commit();
	return 0;
}

static void w_msg_abort(void *ctx)
{
	store_session_ops.msg_abort(ctx);
	F.npend = 0;
}

static int w_msg_next(void *ctx, const char *user, size_t len, uint64_t after,
	struct store_msg *msg)
{
	int r, u = user_index(user, len);

	CHECK(u >= 0);                 /* only a logged-in user downloads */
	CHECK(F.npend == 0);           /* no batch open during a download */
	if (inject_now(INJ_NEXT))
		return -1;
	r = store_session_ops.msg_next(ctx, user, len, after, msg);
	if (r == 1) {
		struct model_msg *mm = model_find(msg->id, u);
		CHECK(msg->id > after);
		CHECK(mm != NULL && !mm->removed);
		CHECK(mm->hash == msg_hash(msg->sender, msg->sender_len,
			msg->text, msg->text_len));
		mm->delivered = true;
		CHECK(F.ndeliv < DELIV_MAX);
		F.deliv[F.ndeliv++] = mm->hash;
	}
	return r;
}

static int w_msg_remove(void *ctx, const char *user, size_t len,
	const uint64_t *ids, size_t n)
{
	int u = user_index(user, len);

	CHECK(u >= 0 && n >= 1 && n <= CP_ACK_BATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		struct model_msg *mm = model_find(ids[i], u);
		CHECK(mm != NULL);          /* removing what does not exist */
		CHECK(mm->delivered);       /* removing what was never sent */
		CHECK(!mm->removed);        /* removed twice: was redelivered */
		for (size_t j = 0; j < i; j++)
			CHECK(ids[j] != ids[i]);
	}
	if (inject_now(INJ_REMOVE))
		return -1;
	if (store_session_ops.msg_remove(ctx, user, len, ids, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		model_find(ids[i], u)->removed = true;
	F.removed += n;
	return 0;
}

static const char *w_last_error(void *ctx)
{
	const char *e = store_session_ops.last_error ?
		store_session_ops.last_error(ctx) : "";
	CHECK(e != NULL && strchr(e, '\n') == NULL);
	return e;
}

static const struct session_store wrapped_ops = {
	.user_hash = w_user_hash,
	.msg_put = w_msg_put,
	.msg_commit = w_msg_commit,
	.msg_abort = w_msg_abort,
	.msg_next = w_msg_next,
	.msg_remove = w_msg_remove,
	.last_error = w_last_error,
};

static void cleanup(void)
{
	static const char *const files[] = { "data.mdb", "lock.mdb" };
	char p[128];

	if (F.st)
		store_close(F.st);
	F.st = NULL;
	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "%s/%s", F.dir, files[i]);
		unlink(p);
	}
	rmdir(F.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = getenv("CP_FUZZ_TMP");
	char err[256], hash[CP_HASH_MAX];
	struct session_config cfg;

	(void)argc;
	(void)argv;
	log_init("fuzz_session", LOG_TARGET_NONE);
	if (base == NULL)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(F.dir, sizeof F.dir, "%s/cp-fuzz-XXXXXX", base);
	CHECK(mkdtemp(F.dir) != NULL);
	F.st = store_open(F.dir, STORE_CREATE, 64, err, sizeof err);
	if (F.st == NULL) {
		fprintf(stderr, "fuzz_session: store_open %s: %s\n", F.dir, err);
		abort();
	}
	atexit(cleanup);
	for (int i = 0; i < NUSERS; i++) {
		CHECK(auth_hash(passwords[i], strlen(passwords[i]), hash,
			sizeof hash) == 0);
		CHECK(store_user_add(F.st, users[i], strlen(users[i]), hash) ==
		      STORE_ADMIN_OK);
	}
	/* Log in alice and bob once, through the real lines. */
	session_config_defaults(&F.cfg);
	cfg = F.cfg;
	for (int i = 0; i < 2; i++) {
		char line[64];
		struct session *s = &F.logged[i];
		size_t len;

		session_init(s, &F.cfg, &store_session_ops, F.st);
		session_line(s, line, (size_t)snprintf(line, sizeof line,
			"USER %s", users[i]));
		session_line(s, line, (size_t)snprintf(line, sizeof line,
			"PASS %s", passwords[i]));
		session_sync(s);
		CHECK(s->state == S_PROCESS_COMMAND);
		session_output(s, &len);
		session_output_consumed(s, len);
	}
	(void)cfg;
	return 0;
}

/* ------------------------------------------------------ output checks */

struct outcheck {
	bool logged_in;
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
			CHECK(F.deliv_seen < F.ndeliv);
			CHECK(F.deliv[F.deliv_seen++] == msg_hash(snd, sl, txt, tl));
		} else {
			CHECK(cmd.verb == PROTO_CODE);
			CHECK(ln == 4 + strlen(proto_code_text(cmd.code)));
			CHECK(memcmp(cmd.arg, proto_code_text(cmd.code),
				cmd.arg_len) == 0);
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

static void reset_store(int owner, unsigned preseed)
{
	struct store_msg m;
	uint64_t ids[CP_ACK_BATCH_MAX];
	static char big[CP_TEXT_MAX];

	for (int u = 0; u < NUSERS; u++) {
		size_t n;
		do {
			uint64_t after = 0;
			n = 0;
			while (n < CP_ACK_BATCH_MAX && store_msg_next(F.st,
			    users[u], strlen(users[u]), after, &m) == 1)
				after = ids[n++] = m.id;
			if (n > 0)
				CHECK(store_msg_remove(F.st, users[u],
					strlen(users[u]), ids, n) == 0);
		} while (n > 0);
		F.max_id[u] = 0;
	}
	F.nmsgs = F.npend = F.ndeliv = F.deliv_seen = 0;
	F.committed = F.removed = 0;
	if (owner < 0 || preseed == 0)
		goto ids;
	memset(big, 'x', sizeof big);
	big[0] = 0xc3, big[1] = 0xa9;  /* a multibyte character first */
	for (unsigned i = 0; i < preseed; i++) {
		char text[64];
		const char *snd = users[(owner + 1 + i % 2) % NUSERS];
		const char *t = text;
		size_t tl;
		if (i == 2) {
			snd = "longname10";
			t = big;
			tl = sizeof big;
		} else {
			tl = (size_t)snprintf(text, sizeof text,
				"queued message %u\tfor %s \xe2\x82\xac", i,
				users[owner]);
		}
		CHECK(store_msg_put(F.st, users[owner], strlen(users[owner]), snd,
			strlen(snd), t, tl, 0) == STORE_PUT_OK);
	}
	CHECK(store_msg_commit(F.st) == 0);
ids:
	/* learn the ids (and the id high-water marks) the store now has */
	for (int u = 0; u < NUSERS; u++) {
		uint64_t after = 0;
		while (store_msg_next(F.st, users[u], strlen(users[u]), after,
		    &m) == 1) {
			CHECK(u == owner);
			CHECK(F.nmsgs < MODEL_MAX);
			F.msgs[F.nmsgs++] = (struct model_msg){ .id = m.id,
				.rcpt = u, .preseed = true, .hash = msg_hash(
				m.sender, m.sender_len, m.text, m.text_len) };
			after = F.max_id[u] = m.id;
		}
	}
}

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
	bool stalled = false;

	for (size_t i = 0; i < 4 && i < size; i++)
		h[i] = data[i];
	data += size < 4 ? size : 4;
	size -= size < 4 ? size : 4;

	/* configuration */
	session_config_defaults(&F.cfg);
	F.cfg.mailbox_limit = (h[1] >> 3) & 7;
	F.cfg.max_auth_failures = 1 + h[0] % 3;
	tchance = (unsigned[]){ 0, 64, 16, 4 }[h[1] >> 6];
	F.inj = (enum inject)(h[2] & 7);
	F.inj_sticky = (h[2] >> 3) & 1;
	F.inj_at = h[2] >> 4;
	F.calls = 0;
	rng_state = 0x9e3779b9u ^ ((uint32_t)h[3] << 8) ^ (uint32_t)size;
	if (rng_state == 0)
		rng_state = 1;

#ifdef FUZZ_LOGIN
	owner = -1;
	session_init(&F.s, &F.cfg, &wrapped_ops, F.st);
#else
	owner = (h[0] & 1) ? 0 : 1;
	memcpy(&F.s, &F.logged[owner], sizeof F.s);
	F.s.cfg = &F.cfg;
	F.s.store = &wrapped_ops;
	oc.logged_in = true;
#endif
	reset_store(owner, h[1] & 7);

	CHECK(pipe(fds) == 0);
	CHECK(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
	lineio_init(lio, fds[0]);

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
			stalled = false;
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
			if (!lio->discarding)
				stalled = false;
			if (lineio_partial(lio) && !stalled) {
				if (partial_since < 0)
					partial_since = fake_now;
				if (partial_since + F.cfg.line_timeout_ms < deadline) {
					deadline = partial_since + F.cfg.line_timeout_ms;
					tev = SESSION_EV_LINE_TIMEOUT;
				}
			}
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
				lineio_skip_line(lio);
				partial_since = -1;
				stalled = true;
			}
			last_line = fake_now;
			ack_deadline = -1;
			continue;
		}
		/* feed the next chunk (or the end of input), then read */
		if (fed < size) {
			size_t n = chunk_size();
			if (n > size - fed)
				n = size - fed;
			ssize_t w = write(fds[1], data + fed, n);
			CHECK(w > 0 || errno == EAGAIN);
			if (w > 0)
				fed += (size_t)w;
		}
		if (fed == size && fds[1] >= 0) {
			close(fds[1]);
			fds[1] = -1;
		}
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

	/* every 240 is one committed message and every commit got its 240 */
	CHECK(oc.r240 == F.committed);
	CHECK(F.npend == 0);
	/* deliveries are exactly what the store handed out */
	CHECK(F.deliv_seen == F.ndeliv);
	CHECK(F.removed <= acks);

	/* no write transaction left open: it would hold LMDB's writer lock
	 * (every other handler's SMSG waits on it) until the session ends.
	 * Probe: removing a missing id must work (it refuses while a batch is
	 * open). */
	{
		uint64_t none = UINT64_MAX - 1;
		CHECK(store_msg_remove(F.st, "alice", 5, &none, 1) == 0);
	}

	/* the store holds exactly the model's messages */
	for (int u = 0; u < NUSERS; u++) {
		struct store_msg m;
		uint64_t after = 0;
		size_t present = 0, want = 0;
		while (store_msg_next(F.st, users[u], strlen(users[u]), after,
		    &m) == 1) {
			struct model_msg *mm = model_find(m.id, u);
			CHECK(mm != NULL && !mm->removed);
			CHECK(mm->hash == msg_hash(m.sender, m.sender_len, m.text,
				m.text_len));
			after = m.id;
			present++;
		}
		for (size_t i = 0; i < F.nmsgs; i++)
			want += F.msgs[i].rcpt == u && !F.msgs[i].removed;
		CHECK(present == want);
	}

	if (fds[1] >= 0)
		close(fds[1]);
	close(fds[0]);
	return 0;
}
