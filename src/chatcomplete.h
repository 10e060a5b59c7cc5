/* chatcomplete.h - what TAB does in cpchat's interactive line: complete a
 * command after '/', a user name after '@' (from the names seen this
 * session), else insert a literal TAB. Pure: no libedit, no I/O. Commands
 * layer (main -> UI -> commands -> protocol client, doc/hacking.md). */
#ifndef CP_CHATCOMPLETE_H
#define CP_CHATCOMPLETE_H

#include <stdbool.h>
#include <stddef.h>

#include "limits.h"

enum complete_kind {
	COMPLETE_TAB,     /* nothing to complete: insert a literal TAB */
	COMPLETE_INSERT,  /* insert `insert` (one match, or a longer prefix) */
	COMPLETE_LIST,    /* several matches, nothing more in common: show them */
};

/* Names remembered for completion, most recent last (a bounded set). */
struct complete_names {
	char name[CP_CHAT_NAMES_MAX][CP_USER_MAX + 1];
	size_t n;
};

/* Remember a name seen (a sender, a recipient); a known one moves to the
 * end, and the oldest is forgotten when the set is full. */
void complete_names_add(struct complete_names *cn, const char *name,
	size_t len);

/* What TAB does with `before`, the line's text before the cursor. On
 * COMPLETE_INSERT, insert (cap bytes) gets the text to insert; on
 * COMPLETE_LIST, list (cap bytes) the matches, space-separated, sorted. */
enum complete_kind chat_complete(const char *before, size_t len,
	const struct complete_names *cn, char *insert, char *list, size_t cap);

#endif
