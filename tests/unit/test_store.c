/* test_store.c - unit tests of the LMDB store itself (store.h) in a scratch
 * directory: account generations never repeat and every mailbox call checks
 * them; the user list reaches every user once across its pages and holds no
 * read transaction while its callback runs (a slow reader must not stop the
 * reuse of freed pages). */
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

	for (int i = 0; i < NUSERS; i++) {
		snprintf(name, sizeof name, "u%04d", i);
		store_user_add(st, name, strlen(name), "$y$x");
	}
	ok(store_user_list(st, list_cb, &g) == 0, "the list succeeds");
	ok(listed == NUSERS + 2 && in_order,
		"every user listed once, in name order, across pages (%u)", listed);
	ok(calls_failed == 0,
		"no read transaction is held while the callback runs: %d writes "
		"and removals of 1000 bytes in a 1 MiB map", ROUNDS);
}

int main(void)
{
	char err[256];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

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
