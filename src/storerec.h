/* storerec.h - the byte layouts of the store's keys and records (the meta
 * format, users, boxes and mail records of doc/store.md), encoded and checked
 * as plain bytes: no LMDB here. store.c moves them in and out of the trees. */
#ifndef CP_STOREREC_H
#define CP_STOREREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "limits.h"
#include "store.h"

/* version byte 2, created (8 bytes BE), generation (8 bytes BE) */
#define STOREREC_USER_HEAD 17
#define STOREREC_USER_V1_HEAD 9    /* format 1: version byte 1, created */
#define STOREREC_USER_MAX (STOREREC_USER_HEAD + CP_HASH_MAX)
#define STOREREC_GEN_SIZE 8        /* meta "generation": 8 bytes BE */
#define STOREREC_BOX_SIZE 16       /* next_id, count: 8 bytes BE each */
#define STOREREC_KEY_MAX (CP_USER_MAX + 1 + 8) /* name, NUL, id (8 bytes BE) */
#define STOREREC_MAIL_HEAD 9       /* time (8 bytes BE) + sender length */
#define STOREREC_MAIL_MAX (STOREREC_MAIL_HEAD + CP_USER_MAX + CP_TEXT_MAX)
#define STOREREC_FORMAT_MAX 16     /* meta "format": ASCII decimal */

/* A name usable as a key: 1-CP_USER_MAX bytes, no NUL. */
bool storerec_name_ok(const char *name, size_t len);

/* meta "format" of this program into buf (STOREREC_FORMAT_MAX); its length. */
size_t storerec_format_encode(char *buf);
/* The format number of a meta "format" value (this program's, or 1, the
 * one it upgrades from), else -1 with a one-line reason naming the store dir
 * in err. */
int storerec_format_check(const void *val, size_t size, const char *dir,
	char *err, size_t errcap);

/* meta "generation", the next account generation to hand out (from 1). */
void storerec_gen_encode(unsigned char *rec, uint64_t next);
/* 0, or -1 (output untouched) if rec is not a generation record. */
int storerec_gen_decode(const void *rec, size_t size, uint64_t *next);

/* users: the record (version 2) of hash (hlen bytes) and the account's
 * generation into rec (STOREREC_USER_MAX); its length. */
size_t storerec_user_encode(unsigned char *rec, int64_t created, uint64_t gen,
	const char *hash, size_t hlen);
/* The created time of a user record (either version): 0, or -1 if bad. */
int storerec_user_created(const void *rec, size_t size, int64_t *created);
/* The generation of a user record: 0, or -1 if bad. A version 1 record (a
 * format 1 store not yet upgraded) has generation 0, which is never handed
 * out, so it cannot be confused with any account made since. */
int storerec_user_gen(const void *rec, size_t size, uint64_t *gen);
/* The hash of a user record (either version), NUL-terminated into hash: 0,
 * or -1 if the record is bad or the hash does not fit cap. */
int storerec_user_hash(const void *rec, size_t size, char *hash, size_t cap);

/* boxes: next_id and count as a record of STOREREC_BOX_SIZE bytes. */
void storerec_box_encode(unsigned char *rec, uint64_t next_id, uint64_t count);
/* 0, or -1 (outputs untouched) if rec is not a box record. */
int storerec_box_decode(const void *rec, size_t size, uint64_t *next_id,
	uint64_t *count);

/* mail: the key of (name, id) into key (STOREREC_KEY_MAX); its length. Id 0
 * sorts before every message of name. */
size_t storerec_mail_key(unsigned char *key, const char *name, size_t len,
	uint64_t id);
/* True if key is a mail key of name; then *id (if id) is its message id. */
bool storerec_mail_key_of(const void *key, size_t klen, const char *name,
	size_t len, uint64_t *id);
/* The value of a message into val (STOREREC_MAIL_MAX); its length. The
 * caller has checked the sender and text sizes. */
size_t storerec_mail_encode(unsigned char *val, int64_t time,
	const char *sender, size_t sender_len, const char *text, size_t text_len);
/* time, sender and text of msg from a mail value (not its id): 0, or -1 if
 * the value is bad. */
int storerec_mail_decode(const void *val, size_t size, struct store_msg *msg);

#endif
