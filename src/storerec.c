/* storerec.c - the store's keys and records as bytes (doc/store.md): every
 * integer big-endian so that key order is number order, every record checked
 * before a field of it is used. No LMDB, no I/O; store.c does the rest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storerec.h"

#define USER_REC_VERSION 2
#define USER_REC_V1 1   /* format 1, read only to upgrade it */

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

bool storerec_name_ok(const char *name, size_t len)
{
	return len > 0 && len <= CP_USER_MAX && !memchr(name, '\0', len);
}

/* ---------------------------------------------------------------- meta */

size_t storerec_format_encode(char *buf)
{
	return (size_t)snprintf(buf, STOREREC_FORMAT_MAX, "%d",
		STORE_FORMAT_VERSION);
}

int storerec_format_check(const void *val, size_t size, const char *dir,
	char *err, size_t errcap)
{
	char ver[STOREREC_FORMAT_MAX], *end;
	long n;

	if (size == 0 || size >= sizeof ver) {
		snprintf(err, errcap, "store %s has an unreadable format version", dir);
		return -1;
	}
	memcpy(ver, val, size);
	ver[size] = '\0';
	errno = 0;
	n = strtol(ver, &end, 10);
	if (*end != '\0' || errno != 0 || n < 1) {
		snprintf(err, errcap, "store %s has an unknown format \"%.15s\"", dir, ver);
		return -1;
	}
	if (n != STORE_FORMAT_VERSION && n != 1) {
		snprintf(err, errcap, "store %s has format %ld; this program reads "
			"formats 1 and %d only", dir, n, STORE_FORMAT_VERSION);
		return -1;
	}
	return (int)n;
}

void storerec_gen_encode(unsigned char *rec, uint64_t next)
{
	put_be64(rec, next);
}

int storerec_gen_decode(const void *rec, size_t size, uint64_t *next)
{
	if (size != STOREREC_GEN_SIZE)
		return -1;
	*next = get_be64(rec);
	return 0;
}

/* ---------------------------------------------------------------- users */

size_t storerec_user_encode(unsigned char *rec, int64_t created, uint64_t gen,
	const char *hash, size_t hlen)
{
	rec[0] = USER_REC_VERSION;
	put_be64(rec + 1, (uint64_t)created);
	put_be64(rec + 9, gen);
	memcpy(rec + STOREREC_USER_HEAD, hash, hlen);
	return STOREREC_USER_HEAD + hlen;
}

/* The length of a user record's head (by its version byte), or 0 if the
 * record is not a user record with a non-empty hash. */
static size_t user_head(const void *rec, size_t size)
{
	const unsigned char *p = rec;
	size_t head;

	if (size == 0)
		return 0;
	if (p[0] == USER_REC_VERSION)
		head = STOREREC_USER_HEAD;
	else if (p[0] == USER_REC_V1)
		head = STOREREC_USER_V1_HEAD;
	else
		return 0;
	return size > head ? head : 0;
}

int storerec_user_created(const void *rec, size_t size, int64_t *created)
{
	if (user_head(rec, size) == 0)
		return -1;
	*created = (int64_t)get_be64((const unsigned char *)rec + 1);
	return 0;
}

int storerec_user_gen(const void *rec, size_t size, uint64_t *gen)
{
	size_t head = user_head(rec, size);

	if (head == 0)
		return -1;
	*gen = head == STOREREC_USER_HEAD ?
		get_be64((const unsigned char *)rec + 9) : 0;
	return 0;
}

int storerec_user_hash(const void *rec, size_t size, char *hash, size_t cap)
{
	const unsigned char *p = rec;
	size_t head = user_head(rec, size);

	if (head == 0 || size - head >= cap)
		return -1;
	memcpy(hash, p + head, size - head);
	hash[size - head] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- boxes */

void storerec_box_encode(unsigned char *rec, uint64_t next_id, uint64_t count)
{
	put_be64(rec, next_id);
	put_be64(rec + 8, count);
}

int storerec_box_decode(const void *rec, size_t size, uint64_t *next_id,
	uint64_t *count)
{
	if (size != STOREREC_BOX_SIZE)
		return -1;
	*next_id = get_be64(rec);
	*count = get_be64((const unsigned char *)rec + 8);
	return 0;
}

/* ---------------------------------------------------------------- mail */

size_t storerec_mail_key(unsigned char *key, const char *name, size_t len,
	uint64_t id)
{
	memcpy(key, name, len);
	key[len] = '\0';
	put_be64(key + len + 1, id);
	return len + 9;
}

bool storerec_mail_key_of(const void *key, size_t klen, const char *name,
	size_t len, uint64_t *id)
{
	const unsigned char *k = key;

	if (klen != len + 9 || memcmp(k, name, len) != 0 || k[len] != '\0')
		return false;
	if (id)
		*id = get_be64(k + len + 1);
	return true;
}

size_t storerec_mail_encode(unsigned char *val, int64_t time,
	const char *sender, size_t sender_len, const char *text, size_t text_len)
{
	put_be64(val, (uint64_t)time);
	val[8] = (unsigned char)sender_len;
	memcpy(val + STOREREC_MAIL_HEAD, sender, sender_len);
	memcpy(val + STOREREC_MAIL_HEAD + sender_len, text, text_len);
	return STOREREC_MAIL_HEAD + sender_len + text_len;
}

int storerec_mail_decode(const void *val, size_t size, struct store_msg *msg)
{
	const unsigned char *p = val;
	size_t slen = size >= STOREREC_MAIL_HEAD ? p[8] : 0;

	if (size < STOREREC_MAIL_HEAD || slen == 0 || slen > CP_USER_MAX ||
	    size <= STOREREC_MAIL_HEAD + slen ||
	    size - STOREREC_MAIL_HEAD - slen > CP_TEXT_MAX)
		return -1;
	msg->time = (int64_t)get_be64(p);
	msg->sender_len = slen;
	memcpy(msg->sender, p + STOREREC_MAIL_HEAD, slen);
	msg->sender[slen] = '\0';
	msg->text_len = size - STOREREC_MAIL_HEAD - slen;
	memcpy(msg->text, p + STOREREC_MAIL_HEAD + slen, msg->text_len);
	msg->text[msg->text_len] = '\0';
	return 0;
}
