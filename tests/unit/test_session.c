/* test_session.c - table-driven tests of the session state machine
 * (src/session.c) against the in-memory store: each case feeds lines and
 * events and checks the replies, the final state and what is stored. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "memstore.h"
#include "session.h"
#include "tap.h"

#define R220 "220 received username successfully\n"
#define R230 "230 user authenticated successfully\n"
#define R240 "240 message successfully sent\n"
#define R255 "255 end of messages\n"
#define R256 "256 no new messages\n"
#define R201 "201 recovered from error\n"
#define E500 "500 bad command\n"
#define E540 "540 error sending message\n"
#define E545 "545 receiver user does not exist\n"
#define E546 "546 too many : characters\n"
#define E550 "550 error downloading message\n"
#define E560 "560 error receiving username\n"
#define E565 "565 error authenticating user\n"
#define E560TLS "560 error receiving username: TLS is required\n"
#define LOGIN "USER alice\nPASS alicepw\n"
#define OK_LOGIN R220 R230

enum setup {
	NONE = 0,
	BOB_HAS_2 = 1,      /* bob has "one" and "two" from alice */
	FAIL_COMMIT = 2,
	FAIL_PUT = 4,
	STORE_FULL = 8,
	FAIL_NEXT = 16,
	LIMIT_1 = 32,       /* mailbox limit 1 */
	MAX_FAIL_2 = 64,    /* two auth failures close */
	FAIL_REMOVE = 128,
	FAIL_LOCK = 256,    /* the mailbox lock cannot be taken (-1) */
	TLS_REQUIRED = 512, /* plaintext connection, --tls=required */
};

struct scase {
	const char *name;
	unsigned setup;
	const char *input;   /* lines; "!EOF" "!IDLE" "!LINE" "!ACK" "!LOGIN" "!LONG" "!SYNC",
	                      * and what root and alice do meanwhile: "!userdel
	                      * NAME", "!useradd NAME", "!passwd NAME", "!mail
	                      * NAME" (alice sends NAME "secret") */
	const char *want;    /* replies, CR removed */
	enum session_state state;
	bool done;
	int bob_count;       /* committed messages for bob afterwards; -1 = skip */
};

static const struct scase cases[] = {
	{ "login", 0, LOGIN, OK_LOGIN, S_PROCESS_COMMAND, false, -1 },
	{ "lowercase and glued verbs", 0, "useralice\nuser bob\npass alicepw\n",
	  R220 E500 R230, S_PROCESS_COMMAND, false, -1 },
	{ "USER empty", 0, "USER\n", E560, S_IDLE, false, -1 },
	{ "USER too long", 0, "USER abcdefghijk\n", E560, S_IDLE, false, -1 },
	{ "USER with colon", 0, "USER a:b\n", E560, S_IDLE, false, -1 },
	{ "USER with trailing space", 0, "USER alice \n", E560, S_IDLE, false, -1 },
	{ "USER twice", 0, "USER alice\nUSER bob\n", R220 E500, S_USER_VALIDATED, false, -1 },
	{ "PASS in Idle", 0, "PASS alicepw\n", E500, S_IDLE, false, -1 },
	{ "wrong password", 0, "USER alice\nPASS nope\n", R220 E565, S_IDLE, false, -1 },
	{ "unknown user", 0, "USER mallory\nPASS alicepw\n", R220 E565, S_IDLE, false, -1 },
	{ "empty password", 0, "USER alice\nPASS\n", R220 E565, S_IDLE, false, -1 },
	{ "password 16 bytes", 0, "USER alice\nPASS 0123456789abcdef\n", R220 E565, S_IDLE, false, -1 },
	{ "after 565 back in Idle", 0, "USER alice\nPASS x\nPASS alicepw\n" LOGIN,
	  R220 E565 E500 OK_LOGIN, S_PROCESS_COMMAND, false, -1 },
	{ "auth failure limit", MAX_FAIL_2, "USER a\nPASS x\nUSER a\nPASS y\nUSER a\n",
	  R220 E565 R220 E565, S_IDLE, true, -1 },
	{ "SMSG ok", 0, LOGIN "SMSG bob:hello\n", OK_LOGIN R240, S_PROCESS_COMMAND, false, 1 },
	{ "SMSG before login", 0, "SMSG bob:hello\n", E500, S_IDLE, false, 0 },
	{ "SMSG no colon", 0, LOGIN "SMSG bob hello\n", OK_LOGIN E500, S_PROCESS_COMMAND, false, 0 },
	{ "SMSG empty rcpt", 0, LOGIN "SMSG :hello\n", OK_LOGIN E500, S_PROCESS_COMMAND, false, 0 },
	{ "SMSG empty text", 0, LOGIN "SMSG bob:\n", OK_LOGIN E500, S_PROCESS_COMMAND, false, 0 },
	{ "SMSG two colons", 0, LOGIN "SMSG bob:a:b\n", OK_LOGIN E546, S_PROCESS_COMMAND, false, 0 },
	{ "SMSG unknown user", 0, LOGIN "SMSG carol:hi\n", OK_LOGIN E545, S_PROCESS_COMMAND, false, 0 },
	{ "SMSG impossible name", 0, LOGIN "SMSG abcdefghijk:hi\n", OK_LOGIN E545, S_PROCESS_COMMAND, false, 0 },
	{ "pipelined SMSGs share a commit", 0,
	  LOGIN "SMSG bob:1\nSMSG carol:x\nSMSG bob:2\nSMSG bob:3\n",
	  OK_LOGIN R240 E545 R240 R240, S_PROCESS_COMMAND, false, 3 },
	{ "mailbox limit", LIMIT_1, LOGIN "SMSG bob:1\nSMSG bob:2\nRMSG\n201\n",
	  OK_LOGIN R240 E540 E500 R201, S_PROCESS_COMMAND, false, 1 },
	{ "store full", STORE_FULL, LOGIN "SMSG bob:1\n", OK_LOGIN E540, S_ERROR_PROCESSING, false, 0 },
	{ "commit fails: batch answered as if the first failed", FAIL_COMMIT,
	  LOGIN "SMSG bob:1\nSMSG bob:2\nSMSG carol:3\n!SYNC\n201\n",
	  OK_LOGIN E540 E500 E500 R201, S_PROCESS_COMMAND, false, 0 },
	{ "put fails", FAIL_PUT, LOGIN "SMSG bob:1\n", OK_LOGIN E540, S_ERROR_PROCESSING, false, 0 },
	{ "error processing refuses all but 201", STORE_FULL,
	  LOGIN "SMSG bob:1\nRMSG\n250\n550\nSMSG bob:2\n201\n",
	  OK_LOGIN E540 E500 E500 E500 E500 R201, S_PROCESS_COMMAND, false, 0 },
	{ "RMSG empty", 0, LOGIN "RMSG\n", OK_LOGIN R256, S_PROCESS_COMMAND, false, -1 },
	{ "RMSG with argument", 0, LOGIN "RMSG now\n", OK_LOGIN E500, S_PROCESS_COMMAND, false, -1 },
	{ "download and ack all", BOB_HAS_2, "USER bob\nPASS bobpw\nRMSG\n250\n250\nRMSG\n",
	  OK_LOGIN "RMSGalice:one\n" "RMSGalice:two\n" R255 R256, S_PROCESS_COMMAND, false, 0 },
	{ "ack with text", BOB_HAS_2, "USER bob\nPASS bobpw\nRMSG\n250 thanks\n250 ok\n",
	  OK_LOGIN "RMSGalice:one\n" "RMSGalice:two\n" R255, S_PROCESS_COMMAND, false, 0 },
	{ "bad ack keeps the message", BOB_HAS_2, "USER bob\nPASS bobpw\nRMSG\n250\n550\n",
	  OK_LOGIN "RMSGalice:one\n" "RMSGalice:two\n" E550, S_ERROR_PROCESSING, false, 1 },
	{ "command instead of ack", BOB_HAS_2, "USER bob\nPASS bobpw\nRMSG\nRMSG\n",
	  OK_LOGIN "RMSGalice:one\n" E550, S_ERROR_PROCESSING, false, 2 },
	{ "over-long line instead of ack", BOB_HAS_2, "USER bob\nPASS bobpw\nRMSG\n!LONG\n",
	  OK_LOGIN "RMSGalice:one\n" E550, S_ERROR_PROCESSING, false, 2 },
	{ "TERM instead of ack", BOB_HAS_2, "USER bob\nPASS bobpw\nRMSG\n250\nTERM\n",
	  OK_LOGIN "RMSGalice:one\n" "RMSGalice:two\n", S_IDLE, true, 1 },
	{ "EOF instead of ack", BOB_HAS_2, "USER bob\nPASS bobpw\nRMSG\n!EOF\n",
	  OK_LOGIN "RMSGalice:one\n", S_IDLE, true, 2 },
	{ "ack timeout", BOB_HAS_2, "USER bob\nPASS bobpw\nRMSG\n!ACK\n201\nRMSG\n",
	  OK_LOGIN "RMSGalice:one\n" E550 R201 "RMSGalice:one\n", S_RECEIVING_MESSAGE, false, 2 },
	{ "removals fail: 550 instead of 255, messages kept", BOB_HAS_2 | FAIL_REMOVE,
	  "USER bob\nPASS bobpw\nRMSG\n250\n250\n!SYNC\n201\n",
	  OK_LOGIN "RMSGalice:one\n" "RMSGalice:two\n" E550 R201, S_PROCESS_COMMAND, false, 2 },
	{ "mailbox read error", FAIL_NEXT, LOGIN "RMSG\n", OK_LOGIN E550, S_ERROR_PROCESSING, false, -1 },
	{ "201 outside Error Processing", 0, LOGIN "201\n", OK_LOGIN E500, S_PROCESS_COMMAND, false, -1 },
	{ "unknown verb keeps state", 0, LOGIN "HELO\n\n", OK_LOGIN E500 E500, S_PROCESS_COMMAND, false, -1 },
	{ "over-long line keeps state", 0, "USER alice\n!LONG\nPASS alicepw\n", R220 E500 R230,
	  S_PROCESS_COMMAND, false, -1 },
	{ "TERM in Idle", 0, "TERM\nUSER alice\n", "", S_IDLE, true, -1 },
	{ "TERM with argument", 0, LOGIN "TERM bye\n", OK_LOGIN, S_IDLE, true, -1 },
	{ "TERM commits pipelined SMSGs", 0, LOGIN "SMSG bob:1\nTERM\n", OK_LOGIN R240, S_IDLE, true, 1 },
	{ "EOF commits pipelined SMSGs", 0, LOGIN "SMSG bob:1\n!EOF\n", OK_LOGIN R240, S_IDLE, true, 1 },
	{ "idle timeout closes", 0, LOGIN "!IDLE\n", OK_LOGIN, S_IDLE, true, -1 },
	{ "login timeout in Idle closes", 0, "USER alice\nPASS x\n!LOGIN\nUSER alice\n",
	  R220 E565, S_IDLE, true, -1 },
	{ "login timeout in User Validated closes", 0, "USER alice\n!LOGIN\nPASS alicepw\n",
	  R220, S_IDLE, true, -1 },
	{ "login timeout after login is ignored", 0, LOGIN "!LOGIN\nRMSG\n", OK_LOGIN R256,
	  S_PROCESS_COMMAND, false, -1 },
	{ "stalled line before login closes", 0, "USER alice\n!LINE\n", R220, S_IDLE, true, -1 },
	{ "stalled line in Process Command", 0, LOGIN "!LINE\n201\n", OK_LOGIN E540 R201,
	  S_PROCESS_COMMAND, false, -1 },
	{ "invalid UTF-8 keeps state", 0, "USER alice\nPASS \xff\xfe\n", R220 E500,
	  S_USER_VALIDATED, false, -1 },
	/* A session outlives no change of its account (issue 9, item 1). */
	{ "account deleted: its SMSG gets 540 and the session closes", 0,
	  LOGIN "!userdel alice\nSMSG bob:x\nSMSG bob:y\n", OK_LOGIN E540,
	  S_ERROR_PROCESSING, true, 0 },
	{ "account made anew: the old session's SMSG gets 540, closed", 0,
	  LOGIN "!userdel alice\n!useradd alice\nSMSG bob:x\n", OK_LOGIN E540,
	  S_ERROR_PROCESSING, true, 0 },
	{ "account made anew: the old session never reads the new owner's mail", 0,
	  "USER bob\nPASS bobpw\n!userdel bob\n!useradd bob\n!mail bob\nRMSG\nRMSG\n",
	  OK_LOGIN E550, S_ERROR_PROCESSING, true, 1 },
	{ "new password: the live session's RMSG gets 550, closed", BOB_HAS_2,
	  "USER bob\nPASS bobpw\n!passwd bob\nRMSG\n", OK_LOGIN E550,
	  S_ERROR_PROCESSING, true, 2 },
	{ "new password mid-download: the ack removes nothing, 550, closed", BOB_HAS_2,
	  "USER bob\nPASS bobpw\nRMSG\n!passwd bob\n250\n250\n",
	  OK_LOGIN "RMSGalice:one\n" E550, S_ERROR_PROCESSING, true, 2 },
	{ "new password after acks: their removal is refused, closed", BOB_HAS_2,
	  "USER bob\nPASS bobpw\nRMSG\n250\n250\n!passwd bob\n!SYNC\nRMSG\n",
	  OK_LOGIN "RMSGalice:one\n" "RMSGalice:two\n" E550, S_PROCESS_COMMAND, true, 2 },
	{ "another user's new password changes nothing", BOB_HAS_2,
	  "USER bob\nPASS bobpw\n!passwd alice\nRMSG\n250\n250\n",
	  OK_LOGIN "RMSGalice:one\n" "RMSGalice:two\n" R255, S_PROCESS_COMMAND, false, 0 },
	/* The download lock cannot be taken: no download (item 10). */
	{ "mailbox lock fails: 550, nothing delivered", BOB_HAS_2 | FAIL_LOCK,
	  "USER bob\nPASS bobpw\nRMSG\n201\n", OK_LOGIN E550 R201,
	  S_PROCESS_COMMAND, false, 2 },
	{ "TLS required: USER refused, PASS never read", TLS_REQUIRED, LOGIN "RMSG\n",
	  E560TLS, S_IDLE, true, -1 },
	{ "TLS required: a bad name too", TLS_REQUIRED, "USER a:b\nUSER alice\n",
	  E560TLS, S_IDLE, true, -1 },
	{ "TLS required: other lines as usual first", TLS_REQUIRED,
	  "PASS alicepw\nHELO\nUSER alice\n", E500 E500 E560TLS, S_IDLE, true, -1 },
	{ "TLS required: TERM still ends quietly", TLS_REQUIRED, "TERM\n", "", S_IDLE, true, -1 },
};

/* "userdel NAME" and its siblings (see struct scase). */
static void store_action(struct memstore *m, const char *act, size_t n)
{
	char buf[64], *name;

	snprintf(buf, sizeof buf, "%.*s", (int)n, act);
	name = strchr(buf, ' ');
	if (!name)
		abort();
	*name++ = '\0';
	if (strcmp(buf, "userdel") == 0)
		memstore_del_user(m, name);
	else if (strcmp(buf, "useradd") == 0)
		memstore_add_user(m, name, "newpw");
	else if (strcmp(buf, "passwd") == 0)
		memstore_set_password(m, name, "newpw");
	else if (strcmp(buf, "mail") == 0)
		memstore_put(m, name, "alice", "secret");
	else
		abort();
}

static void feed(struct session *s, const char *input, char *got, size_t cap)
{
	size_t glen = 0;
	const char *p = input;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p);
		if (n == 4 && memcmp(p, "!EOF", 4) == 0)
			session_event(s, SESSION_EV_EOF);
		else if (n == 5 && memcmp(p, "!IDLE", 5) == 0)
			session_event(s, SESSION_EV_IDLE_TIMEOUT);
		else if (n == 5 && memcmp(p, "!LINE", 5) == 0)
			session_event(s, SESSION_EV_LINE_TIMEOUT);
		else if (n == 4 && memcmp(p, "!ACK", 4) == 0)
			session_event(s, SESSION_EV_ACK_TIMEOUT);
		else if (n == 6 && memcmp(p, "!LOGIN", 6) == 0)
			session_event(s, SESSION_EV_LOGIN_TIMEOUT);
		else if (n == 5 && memcmp(p, "!LONG", 5) == 0)
			session_line_too_long(s);
		else if (n == 5 && memcmp(p, "!SYNC", 5) == 0)
			session_sync(s);
		else if (n > 1 && p[0] == '!')
			store_action(s->store_ctx, p + 1, n - 1);
		else
			session_line(s, p, n);
		p = nl + 1;
	}
	session_sync(s);
	size_t olen;
	const char *out = session_output(s, &olen);
	for (size_t i = 0; i < olen && glen + 1 < cap; i++)
		if (out[i] != '\r')
			got[glen++] = out[i];
	got[glen] = '\0';
	session_output_consumed(s, olen);
}

static struct memstore ms;
static struct session sess;

int main(void)
{
	static char got[CP_OUTBUF_SIZE];
	struct memstore users;

	log_init("test_session", LOG_TARGET_NONE);
	/* Hash the users once; each case starts from a copy. */
	memstore_init(&users);
	memstore_add_user(&users, "alice", "alicepw");
	memstore_add_user(&users, "bob", "bobpw");

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct scase *c = &cases[i];
		struct session_config cfg;

		ms = users;
		session_config_defaults(&cfg);
		if (c->setup & BOB_HAS_2) {
			memstore_put(&ms, "bob", "alice", "one");
			memstore_put(&ms, "bob", "alice", "two");
		}
		ms.fail_commit = c->setup & FAIL_COMMIT;
		ms.fail_put = c->setup & FAIL_PUT;
		ms.store_full = c->setup & STORE_FULL;
		ms.fail_next = c->setup & FAIL_NEXT;
		ms.fail_remove = c->setup & FAIL_REMOVE;
		ms.fail_lock = c->setup & FAIL_LOCK;
		if (c->setup & LIMIT_1)
			cfg.mailbox_limit = 1;
		if (c->setup & MAX_FAIL_2)
			cfg.max_auth_failures = 2;
		cfg.refuse_plaintext_login = c->setup & TLS_REQUIRED;
		session_init(&sess, &cfg, &memstore_ops, &ms);
		feed(&sess, c->input, got, sizeof got);
		int good = strcmp(got, c->want) == 0 && sess.state == c->state &&
			sess.done == c->done &&
			(c->bob_count < 0 || memstore_count(&ms, "bob") == c->bob_count);
		if (!ok(good, "%s", c->name))
			printf("# got state %s done %d bob %d, replies:\n# %s\n",
				session_state_name(sess.state), sess.done,
				memstore_count(&ms, "bob"), got);
	}

	/* Pipelining: 300 SMSGs in a row commit in batches of at most
	 * CP_SMSG_BATCH_MAX, and output is held back until each commit. */
	{
		struct session_config cfg;
		size_t olen;

		ms = users;
		session_config_defaults(&cfg);
		session_init(&sess, &cfg, &memstore_ops, &ms);
		feed(&sess, LOGIN, got, sizeof got);
		session_line(&sess, "SMSG bob:x", 10);
		session_output(&sess, &olen);
		ok(olen == 0, "a 240 is not released before its commit");
		unsigned syncs = 0;
		for (int k = 1; k < 300; k++) {
			session_line(&sess, "SMSG bob:x", 10);
			if (session_should_sync(&sess)) {
				session_sync(&sess);
				syncs++;
			}
		}
		session_sync(&sess);
		session_output(&sess, &olen);
		ok(olen == 300 * strlen("240 message successfully sent\r\n"),
			"300 pipelined SMSGs get 300 replies");
		ok(ms.commits == 2 && syncs == 1, "they take two commits (%u, %u)",
			ms.commits, syncs);
	}
	/* Acks that arrive ahead of the deliveries being written: the removals
	 * wait until the deliveries have been taken, and the 255 until the
	 * removals are committed. */
	{
		struct session_config cfg;
		size_t olen;
		const char *out;

		ms = users;
		memstore_put(&ms, "bob", "alice", "one");
		memstore_put(&ms, "bob", "alice", "two");
		session_config_defaults(&cfg);
		session_init(&sess, &cfg, &memstore_ops, &ms);
		feed(&sess, "USER bob\nPASS bobpw\n", got, sizeof got);
		session_line(&sess, "RMSG", 4);
		session_line(&sess, "250", 3);
		session_line(&sess, "250", 3);
		ok(session_should_sync(&sess), "acks of a whole download ask for a sync");
		out = session_output(&sess, &olen);
		ok(olen == strlen("RMSGalice:one\r\nRMSGalice:two\r\n") &&
			memcmp(out, "RMSGalice:one\r\nRMSGalice:two\r\n", olen) == 0,
			"only the deliveries are offered before the removal commit");
		ok(memstore_count(&ms, "bob") == 2, "nothing removed before the sync");
		session_output_consumed(&sess, olen);
		session_sync(&sess);
		out = session_output(&sess, &olen);
		ok(memstore_count(&ms, "bob") == 0 && olen == strlen(R255) + 1 &&
			memcmp(out, "255", 3) == 0, "then removed, then 255");
		session_output_consumed(&sess, olen);

		/* The client vanishes before the deliveries were written. */
		ms = users;
		memstore_put(&ms, "bob", "alice", "one");
		session_init(&sess, &cfg, &memstore_ops, &ms);
		feed(&sess, "USER bob\nPASS bobpw\n", got, sizeof got);
		session_line(&sess, "RMSG", 4);
		session_line(&sess, "250", 3);
		session_client_lost(&sess);
		session_sync(&sess);
		ok(sess.done && memstore_count(&ms, "bob") == 1,
			"a lost client's unwritten acked delivery is kept");
	}
	/* Every state name is the seed's. */
	ok(strcmp(session_state_name(S_USER_VALIDATED), "User Validated") == 0 &&
		strcmp(session_state_name(S_ERROR_PROCESSING), "Error Processing") == 0,
		"state names");
	return tap_done();
}
