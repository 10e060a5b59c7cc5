/* test_store.c - unit tests of store.h in a scratch LMDB directory or the
 * PostgreSQL database named by argv[1] (tests/pg-unit-store.sh): account
 * generations, the paged user list and its short read transactions, and the
 * PostgreSQL download lock on an empty mailbox. */

/* The user list must reach every user once across its pages and hold no
 * read transaction while its callback runs (a slow reader must not stop the
 * reuse of freed pages); every mailbox call checks the generation. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"

#define NUSERS 600            /* more than one page of the user list */
#define ROUNDS 400            /* put, commit, read, remove: ~1.6 MiB written */

static struct store *st;
static char dir[64];

static uint64_t gen_of(const char *name)
{
	char hash[CP_HASH_MAX];
	uint64_t gen = 0;

	if (store_user_account(st, name, strlen(name), hash, sizeof hash,
	    &gen) != 1)
		return 0;
	return gen;
}

static void test_generations(void)
{
	struct store_msg m;
	uint64_t g1, g2, g3, id;

	store_user_add(st, "alice", 5, "$y$alice");
	store_user_add(st, "bob", 3, "$y$bob1");
	g1 = gen_of("bob");
	ok(g1 != 0 && g1 != gen_of("alice"), "each account has a generation of its own");
	store_user_set_hash(st, "bob", 3, "$y$bob2");
	g2 = gen_of("bob");
	ok(g2 != 0 && g2 != g1, "a new password gives a new generation");
	store_user_del(st, "bob", 3);
	store_user_add(st, "bob", 3, "$y$bob3");
	g3 = gen_of("bob");
	ok(g3 != 0 && g3 != g1 && g3 != g2, "an account made anew has a new one");

	ok(store_msg_put(st, "alice", 5, "bob", 3, g1, "x", 1, 0) ==
		STORE_PUT_ACCOUNT_CHANGED, "a stale sender cannot put");
	ok(store_msg_put(st, "bob", 3, "alice", 5, gen_of("alice"), "secret", 6,
		0) == STORE_PUT_OK && store_msg_commit(st) == 0,
		"alice sends the new bob a secret");
	ok(store_msg_next(st, "bob", 3, g2, 0, &m) == STORE_ACCOUNT_CHANGED,
		"a stale session cannot read the new bob's mailbox");
	ok(store_msg_next(st, "bob", 3, g3, 0, &m) == 1 &&
		strcmp(m.text, "secret") == 0, "the new bob can");
	id = m.id;
	ok(store_msg_remove(st, "bob", 3, g1, &id, 1) == STORE_ACCOUNT_CHANGED &&
		store_msg_next(st, "bob", 3, g3, 0, &m) == 1,
		"a stale session removes nothing");
	ok(store_msg_remove(st, "bob", 3, g3, &id, 1) == 0 &&
		store_msg_next(st, "bob", 3, g3, 0, &m) == 0,
		"the new bob's ack removes it");
}

/* Two handles, as two handlers: RMSG on an empty mailbox (which the
 * PostgreSQL store answers without writing a lease), then a message
 * arrives. PostgreSQL only: LMDB must not be opened twice in one process
 * (its lock file's locks are per process); store.bats covers its lock. */
static void test_download_lock(const char *where)
{
	char err[256];
	struct store *st2 = store_open(where, 0, 1, err, sizeof err);
	struct store_msg m, m2;
	uint64_t ga = gen_of("alice"), gd;
	int r2, a, b;

	if (!st2) {
		ok(0, "a second handle: %s", err);
		return;
	}
	store_user_add(st, "dave", 4, "$y$dave");
	gd = gen_of("dave");
	ok(store_mailbox_lock(st, "dave", 4) == 1 &&
		store_msg_next(st, "dave", 4, gd, 0, &m) == 0,
		"RMSG on an empty mailbox: locked, nothing to read");
	ok(store_msg_put(st2, "dave", 4, "alice", 5, ga, "m1", 2, 0) ==
		STORE_PUT_OK && store_msg_commit(st2) == 0,
		"meanwhile a message arrives");
	ok(store_msg_next(st, "dave", 4, gd, 0, &m) == 1 &&
		strcmp(m.text, "m1") == 0, "the download reads it");
	ok(store_mailbox_lock(st2, "dave", 4) == 0,
		"and holds another download off while it runs");
	ok(store_msg_remove(st, "dave", 4, gd, &m.id, 1) == 0, "acked");
	store_mailbox_unlock(st);
	store_mailbox_unlock(st2);

	/* The message comes between the first RMSG and its read, and a
	 * second RMSG comes after it: exactly one of the two delivers it. */
	ok(store_mailbox_lock(st, "dave", 4) == 1, "RMSG on the empty mailbox again");
	ok(store_msg_put(st2, "dave", 4, "alice", 5, ga, "m2", 2, 0) ==
		STORE_PUT_OK && store_msg_commit(st2) == 0, "a message arrives");
	r2 = store_mailbox_lock(st2, "dave", 4);
	a = store_msg_next(st, "dave", 4, gd, 0, &m);
	b = r2 == 1 ? store_msg_next(st2, "dave", 4, gd, 0, &m2) : 0;
	ok(r2 >= 0 && a >= 0 && b >= 0 && (a == 1) + (b == 1) == 1,
		"a second RMSG after it: exactly one of the two downloads gets "
		"it (lock %d, reads %d and %d)", r2, a, b);
	if (a == 1)
		store_msg_remove(st, "dave", 4, gd, &m.id, 1);
	if (b == 1)
		store_msg_remove(st2, "dave", 4, gd, &m2.id, 1);
	store_mailbox_unlock(st);
	store_mailbox_unlock(st2);
	ok(store_mailbox_lock(st2, "dave", 4) == 1 &&
		store_msg_next(st2, "dave", 4, gd, 0, &m2) == 0,
		"removed once, and the lock is free again");
	store_mailbox_unlock(st2);
	store_user_set_hash(st, "dave", 4, "$y$dave2");
	ok(store_mailbox_lock(st2, "dave", 4) == 1 &&
		store_msg_next(st2, "dave", 4, gd, 0, &m2) == STORE_ACCOUNT_CHANGED,
		"RMSG on an empty mailbox after a password change: the account "
		"changed");
	store_mailbox_unlock(st2);
	store_close(st2);
}

static unsigned listed, calls_failed;
static char last[CP_USER_MAX + 1];
static bool in_order = true;

/* On its first call, write and remove ROUNDS messages: with a read
 * transaction open around the callback, no freed page could be reused and
 * the 1 MiB map would be full long before. */
static void list_cb(void *arg, const char *name, size_t len, uint64_t queued)
{
	static char text[1000];
	char cur[CP_USER_MAX + 1];
	uint64_t g = *(uint64_t *)arg;
	struct store_msg m;

	(void)queued;
	snprintf(cur, sizeof cur, "%.*s", (int)len, name);
	if (listed > 0 && strcmp(last, cur) >= 0)
		in_order = false;
	strcpy(last, cur);
	if (listed++ > 0)
		return;
	memset(text, 't', sizeof text);
	for (int i = 0; i < ROUNDS; i++) {
		if (store_msg_put(st, "alice", 5, "alice", 5, g, text,
		    sizeof text, 0) != STORE_PUT_OK ||
		    store_msg_commit(st) != 0 ||
		    store_msg_next(st, "alice", 5, g, 0, &m) != 1 ||
		    store_msg_remove(st, "alice", 5, g, &m.id, 1) != 0) {
			calls_failed++;
			printf("# round %d: %s\n", i, store_last_error(st));
			return;
		}
	}
}

static void test_list(void)
{
	char name[16];
	uint64_t g = gen_of("alice");
	unsigned nusers = NUSERS + 2 + (gen_of("dave") != 0);

	for (int i = 0; i < NUSERS; i++) {
		snprintf(name, sizeof name, "u%04d", i);
		store_user_add(st, name, strlen(name), "$y$x");
	}
	ok(store_user_list(st, list_cb, &g) == 0, "the list succeeds");
	ok(listed == nusers && in_order,
		"every user listed once, in name order, across pages (%u)", listed);
	ok(calls_failed == 0,
		"no read transaction is held while the callback runs: %d writes "
		"and removals of 1000 bytes in a 1 MiB map", ROUNDS);
}

int main(int argc, char **argv)
{
	char err[256];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	if (argc > 1) {
		if (!(st = store_open(argv[1], STORE_CREATE, 0, err, sizeof err))) {
			fprintf(stderr, "cannot open %s\n", err);
			return 1;
		}
		test_generations();
		test_download_lock(argv[1]);
		test_list();
		store_close(st);
		return tap_done();
	}
	snprintf(dir, sizeof dir, "%s/cp-test-store-XXXXXX", base);
	if (!mkdtemp(dir) || !(st = store_open(dir, STORE_CREATE, 1, err,
	    sizeof err))) {
		fprintf(stderr, "cannot make a scratch store in %s: %s\n", dir, err);
		return 1;
	}
	test_generations();
	test_list();
	store_close(st);
	{
		char p[128];
		static const char *const f[] = { "data.mdb", "lock.mdb" };
		for (size_t i = 0; i < 2; i++) {
			snprintf(p, sizeof p, "%s/%s", dir, f[i]);
			unlink(p);
		}
		rmdir(dir);
	}
	return tap_done();
}
