/* auth.h - password hashing and verification (yescrypt via libxcrypt).
 * auth.c is the only file that touches crypt. No allocation: the crypt
 * scratch area is static, so one caller at a time. */
#ifndef CP_AUTH_H
#define CP_AUTH_H

#include <stddef.h>
#include <stdbool.h>

/* Hash a password with a fresh yescrypt salt at libxcrypt's default cost.
 * 0 ok, -1 error (entropy or libxcrypt failure). */
int auth_hash(const char *pw, size_t len, char *out, size_t cap);

/* Does pw match hash? hash NULL means "no such user": the password is then
 * checked against a built-in dummy yescrypt hash so the time taken is the
 * same as for a real user. Comparison is constant-time. */
bool auth_verify(const char *hash, const char *pw, size_t len);

#endif
