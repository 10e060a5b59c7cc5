/* admin.h - helpers shared by the user tools (cp-useradd, cp-userdel,
 * cp-passwd, cp-users, all built from cp-useradd.c): opening the store
 * safely (adminstore.c) and reading a password (admin.c). */
#ifndef CP_ADMIN_H
#define CP_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include "limits.h"
#include "store.h"

/* Which tool cp-useradd.c is built as (-DCP_TOOL=...). */
#define CP_TOOL_USERADD 1
#define CP_TOOL_USERDEL 2
#define CP_TOOL_PASSWD 3
#define CP_TOOL_USERS 4

/* Exit statuses of every tool (documented in --help and cp-useradd(8)). */
enum admin_exit {
	ADMIN_EXIT_OK = 0,
	ADMIN_EXIT_STORE = 1,   /* store cannot be opened/written, hashing failed */
	ADMIN_EXIT_USAGE = 2,   /* bad option, name or password */
	ADMIN_EXIT_EXISTS = 3,  /* cp-useradd: the user already exists */
	ADMIN_EXIT_NO_USER = 4, /* cp-userdel, cp-passwd: no such user */
};

/* The names the tools create and act on: what the wire accepts
 * (proto_username_valid: 1-CP_USER_MAX bytes of A-Z a-z 0-9 . _ -), less
 * names that start with '-' (they read as options) and "." and ".." (they
 * read as paths). */
bool admin_name_valid(const char *name, size_t len);
#define ADMIN_STR_(x) #x
#define ADMIN_STR(x) ADMIN_STR_(x)
#define ADMIN_NAME_RULE "1-" ADMIN_STR(CP_USER_MAX) " bytes of A-Z a-z 0-9 . _ -, " \
	"not starting with -, not . or .."

/* Open the store in dir (creating the directory, mode 0700, when create).
 * The directory must not be writable by group or others, and must hold a
 * store (data.mdb) or nothing but store files; its files (data.mdb,
 * lock.mdb, mailbox.lock) are checked through the opened directory without
 * following links: regular, one link each, private to their owner.
 * Run as root, the tool then acts, for the rest of its life, as:
 *  - the service user CP_SERVICE_USER if it exists, after handing the store
 *    to it (the directory and any of root's files in it), which is allowed
 *    only for a directory made just now, one without a store, or one whose
 *    store is the service user's already; anything else is refused;
 *  - else the directory's owner.
 * So nothing the store's owner planted in it can be a trap for root. Not
 * read-only, it makes mailbox.lock too, owned like the LMDB files, and
 * leaves the directory 0700. NULL with a one-line reason in err on failure. */
struct store *admin_store_open(const char *dir, bool create, bool readonly,
	char *err, size_t errcap);
/* The same with store_open's flags (STORE_CREATE, STORE_READONLY, and
 * STORE_MIGRATE for cp-admin migrate). */
struct store *admin_store_open_flags(const char *dir, int flags, char *err,
	size_t errcap);

/* True when dir is a directory holding no store and nothing else but
 * store files: no user has been added yet (e.g. just made by systemd's
 * StateDirectory=). */
bool admin_store_empty(const char *dir);

enum admin_pw_result {
	ADMIN_PW_OK = 0,
	ADMIN_PW_INVALID,   /* empty, too long, bad bytes, or the two differ */
	ADMIN_PW_ERROR,     /* I/O error or end of input on a terminal */
};

/* Read a new password for user: on a terminal, prompted twice on stderr
 * with echo off (restored on every exit path and on fatal signals) and the
 * two must match; otherwise the first line of stdin, CR/LF stripped. The
 * password must be 1-CP_PASS_MAX bytes of valid text (proto_text_valid),
 * not starting with a space or tab (the wire skips those after PASS).
 * pw must have room for CP_PASS_MAX + 1 bytes; err gets a reason. */
enum admin_pw_result admin_read_password(const char *user, char *pw,
	size_t *len, char *err, size_t errcap);

#endif
