/* storecopy.c - store_copy (store.h): one store's users and messages into
 * another of either backend, through the operations table alone: the
 * source's export_all feeds the destination's import, which commits only
 * when the whole export has gone through. No backend is named here. */
#include <stdio.h>

#include "backend.h"

struct copy {
	struct store_import *im;
	uint64_t users, msgs;
	bool dst_failed;              /* the import refused, not the export */
};

static int copy_user(void *arg, const char *name, size_t len,
	const char *hash, int64_t created)
{
	struct copy *c = arg;

	if (c->im->st->be->import_user(c->im, name, len, hash, created) != 0) {
		c->dst_failed = true;
		return -1;
	}
	c->users++;
	return 0;
}

static int copy_msg(void *arg, const char *rcpt, size_t len,
	const struct store_msg *msg)
{
	struct copy *c = arg;

	if (c->im->st->be->import_msg(c->im, rcpt, len, msg) != 0) {
		c->dst_failed = true;
		return -1;
	}
	c->msgs++;
	return 0;
}

enum store_copy_result store_copy(struct store *src, struct store *dst,
	bool replace, uint64_t *users, uint64_t *msgs, char *err, size_t errcap)
{
	static const struct store_sink sink = { copy_user, copy_msg };
	enum store_copy_result res = STORE_COPY_ERROR;
	struct copy c = { 0 };

	*users = *msgs = 0;
	err[0] = '\0';
	c.im = dst->be->import_begin(dst, replace, &res, err, errcap);
	if (c.im == NULL) {
		if (err[0] == '\0')
			snprintf(err, errcap, "cannot write the destination: %s",
				store_last_error(dst));
		return res;
	}
	if (src->be->export_all(src, &sink, &c) != 0) {
		/* The destination's error first: its end may overwrite it. */
		if (c.dst_failed)
			snprintf(err, errcap, "cannot write the destination: %s",
				store_last_error(dst));
		else
			snprintf(err, errcap, "cannot read the source: %s",
				store_last_error(src));
		dst->be->import_end(c.im, false);
		return STORE_COPY_ERROR;
	}
	if (dst->be->import_end(c.im, true) != 0) {
		snprintf(err, errcap, "cannot write the destination: %s",
			store_last_error(dst));
		return STORE_COPY_ERROR;
	}
	*users = c.users;
	*msgs = c.msgs;
	return STORE_COPY_OK;
}
