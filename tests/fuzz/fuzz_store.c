/* fuzz_store.c - the fuzz harnesses' store: a scratch LMDB store on tmpfs
 * with three users behind a wrapper of store_session_ops that records every
 * put, commit, delivery and removal into a model of what the store must
 * hold, checks each against it, and can fail chosen calls (fuzz_store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "fuzz_store.h"

const char *const fuzz_users[NUSERS] = { "alice", "bob", "longname10" };
const char *const fuzz_passwords[NUSERS] = { "alicepw", "bobpw", "x" };

struct fuzz_store FS;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

uint64_t fuzz_msg_hash(const char *sender, size_t sl, const char *text,
	size_t tl)
{
	uint64_t h = fnv(0xcbf29ce484222325ULL, sender, sl);
	return fnv(fnv(h, ":", 1), text, tl);
}

int fuzz_user_index(const char *name, size_t len)
{
	for (int i = 0; i < NUSERS; i++)
		if (strlen(fuzz_users[i]) == len &&
		    memcmp(fuzz_users[i], name, len) == 0)
			return i;
	return -1;
}

static bool inject_now(enum inject what)
{
	if (FS.inj != what)
		return false;
	unsigned n = FS.calls++;
	return FS.inj_sticky ? n >= FS.inj_at : n == FS.inj_at;
}

static struct model_msg *model_find(uint64_t id, int rcpt)
{
	for (size_t i = 0; i < FS.nmsgs; i++)
		if (FS.msgs[i].id == id && FS.msgs[i].rcpt == rcpt)
			return &FS.msgs[i];
	return NULL;
}

/* After a commit: the new messages of each mailbox, in id order, must be
 * exactly the batch's puts to it, in order. */
static void absorb_commit(void)
{
	struct store_msg m;

	for (int u = 0; u < NUSERS; u++) {
		size_t want = 0, got = 0;
		for (size_t i = 0; i < FS.npend; i++)
			want += FS.pend[i].rcpt == u;
		size_t k = 0;
		while (store_msg_next(FS.st, fuzz_users[u], strlen(fuzz_users[u]),
		    FS.gen[u], FS.max_id[u], &m) == 1) {
			uint64_t h = fuzz_msg_hash(m.sender, m.sender_len, m.text,
				m.text_len);
			while (k < FS.npend && FS.pend[k].rcpt != u)
				k++;
			CHECK(k < FS.npend);          /* a message nobody put */
			CHECK(FS.pend[k].hash == h);  /* other content or order */
			k++;
			CHECK(FS.nmsgs < MODEL_MAX);
			FS.msgs[FS.nmsgs++] = (struct model_msg){ .id = m.id,
				.rcpt = u, .hash = h };
			FS.max_id[u] = m.id;
			got++;
		}
		CHECK(got == want);                  /* a put went missing */
	}
	FS.committed += FS.npend;
	FS.npend = 0;
}

static int w_user_hash(void *ctx, const char *name, size_t len, char *hash,
	size_t cap, uint64_t *gen)
{
	int r, u = fuzz_user_index(name, len);

	if (inject_now(INJ_USER_HASH))
		return -1;
	r = store_session_ops.user_hash(ctx, name, len, hash, cap, gen);
	CHECK(r != 1 || (u >= 0 && *gen == FS.gen[u]));
	return r;
}

static enum store_put_result w_msg_put(void *ctx, const char *rcpt,
	size_t rcpt_len, const char *sender, size_t sender_len,
	uint64_t sender_gen, const char *text, size_t text_len,
	uint64_t mailbox_limit)
{
	enum store_put_result r;

	CHECK(proto_text_valid(text, text_len));
	CHECK(text_len >= 1 && text_len <= CP_TEXT_MAX);
	CHECK(memchr(text, ':', text_len) == NULL);
	CHECK(sender_len == FS.session->user_len &&
	      memcmp(sender, FS.session->user, sender_len) == 0);
	CHECK(sender_gen == FS.gen[fuzz_user_index(sender, sender_len)]);
	if (FS.inj == INJ_PUT_ERROR || FS.inj == INJ_PUT_FULL) {
		if (inject_now(FS.inj)) {
			if (FS.inj == INJ_PUT_FULL)
				return STORE_PUT_STORE_FULL;
			store_session_ops.msg_abort(ctx);
			FS.npend = 0;
			return STORE_PUT_ERROR;
		}
	}
	r = store_session_ops.msg_put(ctx, rcpt, rcpt_len, sender, sender_len,
		sender_gen, text, text_len, mailbox_limit);
	CHECK(r != STORE_PUT_ACCOUNT_CHANGED); /* no account changes here */
	if (r == STORE_PUT_OK) {
		int u = fuzz_user_index(rcpt, rcpt_len);
		CHECK(u >= 0);
		CHECK(FS.npend < CP_SMSG_BATCH_MAX);  /* batch bound kept */
		FS.pend[FS.npend++] = (struct pending){ u,
			fuzz_msg_hash(sender, sender_len, text, text_len) };
	} else if (r == STORE_PUT_NO_USER) {
		CHECK(fuzz_user_index(rcpt, rcpt_len) < 0);
	} else if (r == STORE_PUT_ERROR) {
		FS.npend = 0;
	}
	return r;
}

static int w_msg_commit(void *ctx)
{
	if (inject_now(INJ_COMMIT)) {
		store_session_ops.msg_abort(ctx);
		FS.npend = 0;
		return -1;
	}
	if (store_session_ops.msg_commit(ctx) < 0) {
		FS.npend = 0;
		return -1;
	}
	absorb_commit();
	return 0;
}

static void w_msg_abort(void *ctx)
{
	store_session_ops.msg_abort(ctx);
	FS.npend = 0;
}

static int w_msg_next(void *ctx, const char *user, size_t len, uint64_t gen,
	uint64_t after, struct store_msg *msg)
{
	int r, u = fuzz_user_index(user, len);

	CHECK(u >= 0);                 /* only a logged-in user downloads */
	CHECK(FS.npend == 0);           /* no batch open during a download */
	if (inject_now(INJ_NEXT))
		return -1;
	CHECK(gen == FS.gen[u]);
	r = store_session_ops.msg_next(ctx, user, len, gen, after, msg);
	if (r == 1) {
		struct model_msg *mm = model_find(msg->id, u);
		CHECK(msg->id > after);
		CHECK(mm != NULL && !mm->removed);
		CHECK(mm->hash == fuzz_msg_hash(msg->sender, msg->sender_len,
			msg->text, msg->text_len));
		mm->delivered = true;
		CHECK(FS.ndeliv < DELIV_MAX);
		FS.deliv[FS.ndeliv++] = mm->hash;
	}
	return r;
}

static int w_msg_remove(void *ctx, const char *user, size_t len,
	uint64_t gen, const uint64_t *ids, size_t n)
{
	int u = fuzz_user_index(user, len);

	CHECK(u >= 0 && n >= 1 && n <= CP_ACK_BATCH_MAX);
	CHECK(gen == FS.gen[u]);
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
	if (store_session_ops.msg_remove(ctx, user, len, gen, ids, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		model_find(ids[i], u)->removed = true;
	FS.removed += n;
	return 0;
}

static const char *w_last_error(void *ctx)
{
	const char *e = store_session_ops.last_error ?
		store_session_ops.last_error(ctx) : "";
	CHECK(e != NULL && strchr(e, '\n') == NULL);
	return e;
}

const struct session_store fuzz_store_ops = {
	.user_hash = w_user_hash,
	.msg_put = w_msg_put,
	.msg_commit = w_msg_commit,
	.msg_abort = w_msg_abort,
	.msg_next = w_msg_next,
	.msg_remove = w_msg_remove,
	.last_error = w_last_error,
};

static void fuzz_store_cleanup(void)
{
	static const char *const files[] = { "data.mdb", "lock.mdb" };
	char p[128];

	if (FS.st)
		store_close(FS.st);
	FS.st = NULL;
	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "%s/%s", FS.dir, files[i]);
		unlink(p);
	}
	rmdir(FS.dir);
}

void fuzz_store_check(size_t acks)
{
	/* every put committed or dropped; deliveries all written out */
	CHECK(FS.npend == 0);
	CHECK(FS.deliv_seen == FS.ndeliv);
	CHECK(FS.removed <= acks);

	/* no write transaction left open: it would hold LMDB's writer lock
	 * (every other handler's SMSG waits on it) until the session ends.
	 * Probe: removing a missing id must work (it refuses while a batch is
	 * open). */
	{
		uint64_t none = UINT64_MAX - 1;
		CHECK(store_msg_remove(FS.st, "alice", 5, FS.gen[0], &none, 1) == 0);
	}

	/* the store holds exactly the model's messages */
	for (int u = 0; u < NUSERS; u++) {
		struct store_msg m;
		uint64_t after = 0;
		size_t present = 0, want = 0;
		while (store_msg_next(FS.st, fuzz_users[u],
		    strlen(fuzz_users[u]), FS.gen[u], after, &m) == 1) {
			struct model_msg *mm = model_find(m.id, u);
			CHECK(mm != NULL && !mm->removed);
			CHECK(mm->hash == fuzz_msg_hash(m.sender, m.sender_len,
				m.text, m.text_len));
			after = m.id;
			present++;
		}
		for (size_t i = 0; i < FS.nmsgs; i++)
			want += FS.msgs[i].rcpt == u && !FS.msgs[i].removed;
		CHECK(present == want);
	}
}

void fuzz_store_open(void)
{
	const char *base = getenv("CP_FUZZ_TMP");
	char err[256], hash[CP_HASH_MAX];

	if (base == NULL)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(FS.dir, sizeof FS.dir, "%s/cp-fuzz-XXXXXX", base);
	CHECK(mkdtemp(FS.dir) != NULL);
	FS.st = store_open(FS.dir, STORE_CREATE, 64, err, sizeof err);
	if (FS.st == NULL) {
		fprintf(stderr, "fuzz: store_open %s: %s\n", FS.dir, err);
		abort();
	}
	atexit(fuzz_store_cleanup);
	for (int i = 0; i < NUSERS; i++) {
		CHECK(auth_hash(fuzz_passwords[i], strlen(fuzz_passwords[i]),
			hash, sizeof hash) == 0);
		CHECK(store_user_add(FS.st, fuzz_users[i], strlen(fuzz_users[i]),
			hash) == STORE_ADMIN_OK);
		CHECK(store_user_account(FS.st, fuzz_users[i],
			strlen(fuzz_users[i]), hash, sizeof hash, &FS.gen[i]) == 1);
	}
}

void fuzz_store_reset(int owner, unsigned preseed)
{
	struct store_msg m;
	uint64_t ids[CP_ACK_BATCH_MAX];
	static char big[CP_TEXT_MAX];

	for (int u = 0; u < NUSERS; u++) {
		size_t n;
		do {
			uint64_t after = 0;
			n = 0;
			while (n < CP_ACK_BATCH_MAX && store_msg_next(FS.st,
			    fuzz_users[u], strlen(fuzz_users[u]), FS.gen[u],
			    after, &m) == 1)
				after = ids[n++] = m.id;
			if (n > 0)
				CHECK(store_msg_remove(FS.st, fuzz_users[u],
					strlen(fuzz_users[u]), FS.gen[u], ids,
					n) == 0);
		} while (n > 0);
		FS.max_id[u] = 0;
	}
	FS.nmsgs = FS.npend = FS.ndeliv = FS.deliv_seen = 0;
	FS.committed = FS.removed = 0;
	if (owner < 0 || preseed == 0)
		goto ids;
	memset(big, 'x', sizeof big);
	big[0] = 0xc3, big[1] = 0xa9;  /* a multibyte character first */
	for (unsigned i = 0; i < preseed; i++) {
		char text[64];
		const char *snd = fuzz_users[(owner + 1 + i % 2) % NUSERS];
		const char *t = text;
		size_t tl;
		if (i == 2) {
			snd = "longname10";
			t = big;
			tl = sizeof big;
		} else {
			tl = (size_t)snprintf(text, sizeof text,
				"queued message %u\tfor %s \xe2\x82\xac", i,
				fuzz_users[owner]);
		}
		CHECK(store_msg_put(FS.st, fuzz_users[owner], strlen(fuzz_users[owner]), snd,
			strlen(snd), FS.gen[fuzz_user_index(snd, strlen(snd))], t, tl,
			0) == STORE_PUT_OK);
	}
	CHECK(store_msg_commit(FS.st) == 0);
ids:
	/* learn the ids (and the id high-water marks) the store now has */
	for (int u = 0; u < NUSERS; u++) {
		uint64_t after = 0;
		while (store_msg_next(FS.st, fuzz_users[u], strlen(fuzz_users[u]),
		    FS.gen[u], after, &m) == 1) {
			CHECK(u == owner);
			CHECK(FS.nmsgs < MODEL_MAX);
			FS.msgs[FS.nmsgs++] = (struct model_msg){ .id = m.id,
				.rcpt = u, .preseed = true, .hash = fuzz_msg_hash(
				m.sender, m.sender_len, m.text, m.text_len) };
			after = FS.max_id[u] = m.id;
		}
	}
}
