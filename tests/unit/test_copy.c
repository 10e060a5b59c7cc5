/* test_copy.c - unit tests of store_copy for every pair of backends at hand
 * (scratch LMDB directories; with argv[1] and argv[2] two PostgreSQL
 * databases, tests/pg-unit-copy.sh): users, hashes and messages byte for
 * byte; refusals, --replace, and a copy failing half-way leaving nothing. */

/* Every message keeps its sender and time, in order; a non-empty destination
 * is refused and unchanged; --replace gives fresh generations; a copy that
 * fails half-way (an LMDB map too small) leaves nothing behind. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"

static const char *const names[] = { "alice", "bob", "carol" };
static char texts[4][CP_TEXT_MAX + 1];
static size_t text_lens[4];
static int64_t times[4];            /* as the source stored them */

/* The texts alice sends bob (0-2) and bob alice (3): plain, every byte
 * from 0x80 to 0xff, the longest a message may be, and one byte. */
static void make_texts(void)
{
	strcpy(texts[0], "m1");
	for (int i = 0; i < 128; i++)
		texts[1][i] = (char)(0x80 + i);
	text_lens[1] = 128;
	for (int i = 0; i < CP_TEXT_MAX; i++)
		texts[2][i] = i % 2 ? (char)0xa9 : (char)0xc3;
	text_lens[2] = CP_TEXT_MAX;
	strcpy(texts[3], "x");
	text_lens[0] = 2;
	text_lens[3] = 1;
}

static void user_del_cb(void *arg, const char *name, size_t len,
	uint64_t queued)
{
	(void)queued;
	store_user_del(arg, name, len);
}

/* Delete every user (and so every message); the lists come in pages, so
 * again until none is left. */
static void empty(struct store *st)
{
	for (int i = 0; i < 4; i++)
		store_user_list(st, user_del_cb, st);
}

static void count_cb(void *arg, const char *name, size_t len, uint64_t queued)
{
	uint64_t *n = arg;
	(void)name;
	(void)len;
	n[0]++;
	n[1] += queued;
}

/* users and queued messages of st in n[0], n[1] */
static void counts(struct store *st, uint64_t n[2])
{
	n[0] = n[1] = 0;
	store_user_list(st, count_cb, n);
}

static uint64_t gen_of(struct store *st, const char *name, char *hash,
	size_t cap)
{
	uint64_t gen = 0;

	if (store_user_account(st, name, strlen(name), hash, cap, &gen) != 1)
		return 0;
	return gen;
}

static void seed(struct store *st)
{
	char hash[CP_HASH_MAX];
	struct store_msg m;

	empty(st);
	for (size_t i = 0; i < 3; i++) {
		snprintf(hash, sizeof hash, "$y$j9T$%s", names[i]);
		store_user_add(st, names[i], strlen(names[i]), hash);
	}
	for (int i = 0; i < 3; i++)
		store_msg_put(st, "bob", 3, "alice", 5, gen_of(st, "alice", hash,
			sizeof hash), texts[i], text_lens[i], 0);
	store_msg_put(st, "alice", 5, "bob", 3, gen_of(st, "bob", hash,
		sizeof hash), texts[3], text_lens[3], 0);
	store_msg_commit(st);
	for (int i = 0; i < 3; i++)
		if (store_msg_next(st, "bob", 3, gen_of(st, "bob", hash, sizeof hash),
		    i ? m.id : 0, &m) == 1)
			times[i] = m.time;
	if (store_msg_next(st, "alice", 5, gen_of(st, "alice", hash,
	    sizeof hash), 0, &m) == 1)
		times[3] = m.time;
}

/* Does dst hold exactly what seed made? */
static bool holds_seed(struct store *dst)
{
	char hash[CP_HASH_MAX], want[CP_HASH_MAX];
	uint64_t n[2], after = 0;
	struct store_msg m;
	bool same = true;

	counts(dst, n);
	if (n[0] != 3 || n[1] != 4)
		return false;
	for (size_t i = 0; i < 3; i++) {
		snprintf(want, sizeof want, "$y$j9T$%s", names[i]);
		same &= gen_of(dst, names[i], hash, sizeof hash) != 0 &&
			strcmp(hash, want) == 0;
	}
	for (int i = 0; i < 4 && same; i++) {
		const char *rcpt = i < 3 ? "bob" : "alice";
		uint64_t g = gen_of(dst, rcpt, hash, sizeof hash);

		same = store_msg_next(dst, rcpt, strlen(rcpt), g, i < 3 ? after : 0,
			&m) == 1 && strcmp(m.sender, i < 3 ? "alice" : "bob") == 0 &&
			m.text_len == text_lens[i] &&
			memcmp(m.text, texts[i], text_lens[i]) == 0 &&
			m.time == times[i];
		after = m.id;
	}
	return same;
}

static void pair(struct store *src, struct store *dst, const char *label)
{
	uint64_t users, msgs, n[2], g_before, first_id = 0;
	char err[256], hash[CP_HASH_MAX];
	struct store_msg m;
	enum store_copy_result r;

	seed(src);
	empty(dst);
	r = store_copy(src, dst, false, &users, &msgs, err, sizeof err);
	ok(r == STORE_COPY_OK && users == 3 && msgs == 4,
		"%s: copied %llu users, %llu messages%s%s", label,
		(unsigned long long)users, (unsigned long long)msgs,
		r == STORE_COPY_OK ? "" : ": ", r == STORE_COPY_OK ? "" : err);
	ok(holds_seed(dst), "%s: every user and hash, every message in order, "
		"byte for byte, with its sender and time", label);
	ok(holds_seed(src), "%s: the source is unchanged", label);

	g_before = gen_of(dst, "bob", hash, sizeof hash);
	if (store_msg_next(dst, "bob", 3, g_before, 0, &m) == 1)
		first_id = m.id;
	store_user_del(dst, "carol", 5);
	r = store_copy(src, dst, false, &users, &msgs, err, sizeof err);
	counts(dst, n);
	ok(r == STORE_COPY_NOT_EMPTY && n[0] == 2 && n[1] == 4 &&
		strcmp(err, "the destination holds 2 users and 4 messages") == 0,
		"%s: a destination with users is refused and unchanged (%s)",
		label, err);

	r = store_copy(src, dst, true, &users, &msgs, err, sizeof err);
	ok(r == STORE_COPY_OK && users == 3 && msgs == 4 && holds_seed(dst),
		"%s: --replace puts the source's in their place", label);
	ok(gen_of(dst, "bob", hash, sizeof hash) != g_before,
		"%s: with fresh account generations", label);
	ok(store_msg_next(dst, "bob", 3, gen_of(dst, "bob", hash, sizeof hash),
		0, &m) == 1 && m.id > first_id,
		"%s: and message ids that never go back", label);

	empty(src);
	empty(dst);
	r = store_copy(src, dst, false, &users, &msgs, err, sizeof err);
	ok(r == STORE_COPY_OK && users == 0 && msgs == 0,
		"%s: an empty store copies as 0 users, 0 messages", label);
}

/* An LMDB destination with a 1 MiB map and sources of growing size: each
 * copy is whole, or refused with nothing of it there, either because it
 * would leave less than the room kept for removals or at MDB_MAP_FULL
 * half-way. */
static void map_full(struct store *src, struct store *small)
{
	static const int sizes[] = { 100, 400, 410, 420, 430, 440, 450, 460,
		470, 480, 490, 500, 1500 };
	char err[256], hash[CP_HASH_MAX];
	uint64_t users, msgs, n[2], g;
	enum store_copy_result r;
	int room = 0, full = 0;

	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		seed(src);
		empty(small);
		g = gen_of(src, "alice", hash, sizeof hash);
		for (int i = 0; i < sizes[k]; i++) {
			store_msg_put(src, "bob", 3, "alice", 5, g, texts[2],
				text_lens[2], 0);
			if (i % 100 == 99)
				store_msg_commit(src);
		}
		store_msg_commit(src);
		r = store_copy(src, small, false, &users, &msgs, err, sizeof err);
		counts(small, n);
		ok((r == STORE_COPY_OK && n[0] == 3 && n[1] == 4 + (uint64_t)sizes[k]) ||
			(r == STORE_COPY_ERROR && n[0] == 0 && n[1] == 0 &&
			 strncmp(err, "cannot write the destination: ", 30) == 0),
			"%d messages of %d bytes into a 1 MiB map: %s", sizes[k],
			CP_TEXT_MAX, r == STORE_COPY_OK ? "copied whole" : err);
		room += r == STORE_COPY_ERROR && strstr(err, "would fill") != NULL;
		full += r == STORE_COPY_ERROR && strstr(err, "MDB_MAP_FULL") != NULL;
		if (k == 0)
			ok(r == STORE_COPY_OK, "the smallest fits");
	}
	ok(room > 0 && full > 0, "refused for the room kept for removals (%d) "
		"and at MDB_MAP_FULL (%d)", room, full);
	empty(src);
}

/* A scratch LMDB store with a map of map_mib MiB. */
static struct store *scratch(char *dir, size_t cap, size_t map_mib)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char err[256];
	struct store *st;

	snprintf(dir, cap, "%s/cp-test-copy-XXXXXX", base);
	if (!mkdtemp(dir) ||
	    !(st = store_open(dir, STORE_CREATE, map_mib, err, sizeof err))) {
		fprintf(stderr, "cannot make a scratch store: %s\n", err);
		exit(1);
	}
	return st;
}

static void scratch_remove(const char *dir)
{
	char p[128];
	static const char *const f[] = { "data.mdb", "lock.mdb" };

	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, f[i]);
		unlink(p);
	}
	rmdir(dir);
}

int main(int argc, char **argv)
{
	char d1[64], d2[64], d3[64], err[256];
	struct store *l1, *l2, *small, *p1 = NULL, *p2 = NULL;

	make_texts();
	l1 = scratch(d1, sizeof d1, 0);
	l2 = scratch(d2, sizeof d2, 0);
	small = scratch(d3, sizeof d3, 1);
	if (argc > 2) {
		p1 = store_open(argv[1], STORE_CREATE, 0, err, sizeof err);
		p2 = p1 ? store_open(argv[2], STORE_CREATE, 0, err, sizeof err) : NULL;
		if (!p1 || !p2) {
			fprintf(stderr, "cannot open %s\n", err);
			return 1;
		}
		pair(l1, p1, "LMDB -> PostgreSQL");
		pair(p1, l1, "PostgreSQL -> LMDB");
		pair(p1, p2, "PostgreSQL -> PostgreSQL");
		map_full(p1, small);
	} else {
		pair(l1, l2, "LMDB -> LMDB");
		map_full(l1, small);
	}
	store_close(p2);
	store_close(p1);
	store_close(small);
	store_close(l2);
	store_close(l1);
	scratch_remove(d1);
	scratch_remove(d2);
	scratch_remove(d3);
	return tap_done();
}
