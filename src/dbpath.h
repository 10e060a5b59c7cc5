/* dbpath.h - where the store is, the same way for cpd and every user tool:
 * --db, else $CP_DB, else the first entry of $STATE_DIRECTORY, else the
 * compiled-in default. A path that is given but empty is an error. */
#ifndef CP_DBPATH_H
#define CP_DBPATH_H

#include <stddef.h>

/* The store directory: opt (--db; NULL when not given) if given, else $CP_DB
 * if set, else the first ':'-separated entry of $STATE_DIRECTORY if set,
 * else CP_DEFAULT_DB. Whatever is given or set must be non-empty: an empty
 * one never falls back to the next source. NULL with a one-line reason in
 * err when it is empty (or too long). */
const char *dbpath_resolve(const char *opt, char *err, size_t errcap);

#endif
