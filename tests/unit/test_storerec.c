/* test_storerec.c - unit tests of the store's record layouts (storerec.c):
 * every record round-trips, every damaged or foreign record is refused, and
 * mail keys keep each mailbox contiguous and in id order, so one user's scan
 * can never reach another user's messages. */
#include <stdint.h>
#include <string.h>

#include "storerec.h"
#include "tap.h"

static void test_names(void)
{
	static const struct { const char *name; size_t len; int ok; } t[] = {
		{ "", 0, 0 },
		{ "a", 1, 1 },
		{ "abcdefghij", CP_USER_MAX, 1 },
		{ "abcdefghijk", CP_USER_MAX + 1, 0 },
		{ "a\0b", 3, 0 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		ok(storerec_name_ok(t[i].name, t[i].len) == t[i].ok,
			"name of %zu bytes (case %zu) %s", t[i].len, i,
			t[i].ok ? "accepted" : "refused");
}

static void test_format(void)
{
	char buf[STOREREC_FORMAT_MAX], err[256];
	size_t n = storerec_format_encode(buf);

	ok(storerec_format_check(buf, n, "/s", err, sizeof err) ==
		STORE_FORMAT_VERSION, "this program's format is accepted");
	ok(storerec_format_check("1", 1, "/s", err, sizeof err) == 1,
		"format 1 is accepted (to be upgraded)");
	ok(storerec_format_check("999", 3, "/s", err, sizeof err) < 0 &&
		strstr(err, "/s") && strstr(err, "999"),
		"another format is refused, naming the store and the format: %s", err);
	ok(storerec_format_check("x1", 2, "/s", err, sizeof err) < 0,
		"a non-number format is refused");
	ok(storerec_format_check("", 0, "/s", err, sizeof err) < 0,
		"an empty format is refused");
}

static void test_users(void)
{
	unsigned char rec[STOREREC_USER_MAX];
	const char *hash = "$y$j9T$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg";
	char back[CP_HASH_MAX + 1];
	int64_t created = 0;
	uint64_t gen = 0;
	size_t n = storerec_user_encode(rec, 1764150000,
		UINT64_C(0x0102030405060708), hash, strlen(hash));

	ok(n == STOREREC_USER_HEAD + strlen(hash), "user record is head + hash");
	ok(storerec_user_created(rec, n, &created) == 0 && created == 1764150000,
		"created time round-trips");
	ok(storerec_user_gen(rec, n, &gen) == 0 &&
		gen == UINT64_C(0x0102030405060708), "generation round-trips");
	ok(storerec_user_hash(rec, n, back, sizeof back) == 0 &&
		strcmp(back, hash) == 0, "hash round-trips");
	ok(storerec_user_hash(rec, n, back, strlen(hash)) < 0,
		"a hash that does not fit the caller's buffer is refused");
	ok(storerec_user_hash(rec, STOREREC_USER_HEAD, back, sizeof back) < 0,
		"a record without a hash is refused");
	ok(storerec_user_created(rec, 4, &created) < 0,
		"a truncated record has no created time");
	rec[0] ^= 0xff;
	ok(storerec_user_hash(rec, n, back, sizeof back) < 0 &&
		storerec_user_gen(rec, n, &gen) < 0,
		"a record of another version is refused");

	/* format 1: version 1, created, hash; generation 0 */
	rec[0] = 1;
	memcpy(rec + STOREREC_USER_V1_HEAD, hash, strlen(hash));
	n = STOREREC_USER_V1_HEAD + strlen(hash);
	ok(storerec_user_hash(rec, n, back, sizeof back) == 0 &&
		strcmp(back, hash) == 0 && storerec_user_gen(rec, n, &gen) == 0 &&
		gen == 0 && storerec_user_created(rec, n, &created) == 0 &&
		created == 1764150000,
		"a format 1 record reads with generation 0");
}

static void test_gen(void)
{
	unsigned char rec[STOREREC_GEN_SIZE];
	uint64_t g = 5;

	storerec_gen_encode(rec, UINT64_C(1) << 40);
	ok(storerec_gen_decode(rec, sizeof rec, &g) == 0 && g == UINT64_C(1) << 40,
		"generation counter round-trips");
	g = 5;
	ok(storerec_gen_decode(rec, 7, &g) < 0 && g == 5,
		"a generation counter of the wrong size is refused");
}

static void test_boxes(void)
{
	unsigned char rec[STOREREC_BOX_SIZE];
	uint64_t next = 0, count = 0;

	storerec_box_encode(rec, UINT64_C(0x0102030405060708), 42);
	ok(storerec_box_decode(rec, sizeof rec, &next, &count) == 0 &&
		next == UINT64_C(0x0102030405060708) && count == 42,
		"box record round-trips (big-endian 64-bit fields)");
	next = count = 7;
	ok(storerec_box_decode(rec, sizeof rec - 1, &next, &count) < 0 &&
		next == 7 && count == 7,
		"a box record of the wrong size is refused, outputs untouched");
}

static int key_cmp(const char *a, uint64_t ida, const char *b, uint64_t idb)
{
	unsigned char ka[STOREREC_KEY_MAX], kb[STOREREC_KEY_MAX];
	size_t la = storerec_mail_key(ka, a, strlen(a), ida);
	size_t lb = storerec_mail_key(kb, b, strlen(b), idb);
	int c = memcmp(ka, kb, la < lb ? la : lb);

	return c ? c : (la > lb) - (la < lb);
}

static void test_mail_keys(void)
{
	unsigned char key[STOREREC_KEY_MAX];
	uint64_t id = 0;
	size_t n = storerec_mail_key(key, "bob", 3, 77);

	ok(n == 3 + 1 + 8, "mail key is name, NUL, 8-byte id");
	ok(storerec_mail_key_of(key, n, "bob", 3, &id) && id == 77,
		"a key of bob is bob's, with its id");
	ok(!storerec_mail_key_of(key, n, "bo", 2, NULL),
		"bob's key is not bo's");
	ok(!storerec_mail_key_of(key, n, "bobby", 5, NULL),
		"bob's key is not bobby's");
	n = storerec_mail_key(key, "bobby", 5, 1);
	ok(!storerec_mail_key_of(key, n, "bob", 3, NULL),
		"bobby's key is not bob's");
	ok(key_cmp("bob", 0, "bob", 1) < 0 && key_cmp("bob", 1, "bob", 256) < 0 &&
		key_cmp("bob", 255, "bob", UINT64_C(1) << 40) < 0,
		"one mailbox's keys sort by id (id 0 first)");
	ok(key_cmp("bob", UINT64_MAX, "bobby", 0) < 0 &&
		key_cmp("bo", UINT64_MAX, "bob", 0) < 0,
		"a mailbox's keys all sort before those of a longer name it prefixes");
}

static void test_mail_values(void)
{
	static unsigned char val[STOREREC_MAIL_MAX + 8];
	static struct store_msg m;
	char text[CP_TEXT_MAX + 1];
	size_t n;

	memset(text, 'x', CP_TEXT_MAX);
	text[CP_TEXT_MAX] = '\0';
	n = storerec_mail_encode(val, 1764150000, "abcdefghij", CP_USER_MAX,
		text, CP_TEXT_MAX);
	ok(n == STOREREC_MAIL_MAX, "the largest message fills STOREREC_MAIL_MAX");
	ok(storerec_mail_decode(val, n, &m) == 0 && m.time == 1764150000 &&
		m.sender_len == CP_USER_MAX && strcmp(m.sender, "abcdefghij") == 0 &&
		m.text_len == CP_TEXT_MAX && memcmp(m.text, text, CP_TEXT_MAX) == 0 &&
		m.text[CP_TEXT_MAX] == '\0',
		"largest message round-trips, NUL-terminated");
	n = storerec_mail_encode(val, -5, "al", 2, "a:b", 3);
	ok(storerec_mail_decode(val, n, &m) == 0 && m.time == -5 &&
		strcmp(m.sender, "al") == 0 && strcmp(m.text, "a:b") == 0,
		"short message round-trips");
	ok(storerec_mail_decode(val, STOREREC_MAIL_HEAD - 1, &m) < 0,
		"a value shorter than the head is refused");
	ok(storerec_mail_decode(val, STOREREC_MAIL_HEAD + 2, &m) < 0,
		"a value with a sender and no text is refused");
	val[8] = 0;
	ok(storerec_mail_decode(val, n, &m) < 0, "an empty sender is refused");
	val[8] = CP_USER_MAX + 1;
	ok(storerec_mail_decode(val, STOREREC_MAIL_HEAD + CP_USER_MAX + 2, &m) < 0,
		"a sender over CP_USER_MAX is refused");
	n = storerec_mail_encode(val, 0, "al", 2, text, CP_TEXT_MAX);
	ok(storerec_mail_decode(val, n + 1, &m) < 0,
		"a text over CP_TEXT_MAX is refused");
}

int main(void)
{
	test_names();
	test_format();
	test_users();
	test_gen();
	test_boxes();
	test_mail_keys();
	test_mail_values();
	return tap_done();
}
