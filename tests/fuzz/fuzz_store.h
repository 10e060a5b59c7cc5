/* fuzz_store.h - the scratch store the session fuzz harnesses run against,
 * and the model of its contents that their invariants are checked with.
 * Every call the session makes goes through fuzz_store_ops, which forwards
 * to the real store (store_session_ops) and records what happened. */
#ifndef CP_FUZZ_STORE_H
#define CP_FUZZ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"
#include "session.h"
#include "store.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
		#cond); abort(); } } while (0)

#define NUSERS 3
extern const char *const fuzz_users[NUSERS];     /* alice, bob, longname10 */
extern const char *const fuzz_passwords[NUSERS];

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

struct fuzz_store {
	struct store *st;
	char dir[64];
	const struct session *session;   /* whose puts must carry its name */
	/* the model */
	struct model_msg msgs[MODEL_MAX];
	size_t nmsgs;
	struct pending pend[CP_SMSG_BATCH_MAX + 1];
	size_t npend;
	uint64_t max_id[NUSERS];
	uint64_t gen[NUSERS];        /* each user's account generation */
	uint64_t deliv[DELIV_MAX];   /* hashes of messages msg_next returned */
	size_t ndeliv, deliv_seen;   /* deliv_seen: checked against the output */
	size_t committed;            /* messages committed during this input */
	size_t removed;
	/* failure injection: call inj_at of that kind fails (every later one
	 * too if inj_sticky) */
	enum inject inj;
	bool inj_sticky;
	unsigned inj_at, calls;
};
extern struct fuzz_store FS;

extern const struct session_store fuzz_store_ops;

/* Create the scratch store (in $CP_FUZZ_TMP, /dev/shm or /tmp; removed at
 * exit) with the three users, hashed by the real auth_hash. */
void fuzz_store_open(void);

/* Empty every mailbox, then queue `preseed` messages (0-7, one of them a
 * maximal 1009-byte text from a 10-byte sender) for user `owner` (-1 none),
 * and reset the model to that. */
void fuzz_store_reset(int owner, unsigned preseed);

/* After a session: nothing pending, every delivery seen in the output, at
 * most `acks` removals, no write transaction left open, and the store holds
 * exactly the model's messages. */
void fuzz_store_check(size_t acks);

uint64_t fuzz_msg_hash(const char *sender, size_t sl, const char *text,
	size_t tl);
int fuzz_user_index(const char *name, size_t len);

#endif
