/* chatcomplete.c - TAB in cpchat's line: the word before the cursor picks
 * the candidates ('/' commands, '@' names seen); one match is completed with
 * a space after it, more share their common prefix or are listed, none gives
 * a literal TAB (a text may carry TABs). Commands layer, pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatcomplete.h"

/* The commands, with what follows a completed one. */
static const struct {
	const char *name;
	const char *after;
} complete_cmds[] = {
	{ "/help", "" }, { "/inbox", "" }, { "/quit", "" }, { "/watch", " " },
};

void complete_names_add(struct complete_names *cn, const char *name,
	size_t len)
{
	size_t i;

	if (len == 0 || len > CP_USER_MAX)
		return;
	for (i = 0; i < cn->n; i++)
		if (strlen(cn->name[i]) == len && memcmp(cn->name[i], name, len) == 0)
			break;
	if (i == cn->n && cn->n == CP_CHAT_NAMES_MAX)
		i = 0; /* full: forget the oldest */
	else if (i == cn->n)
		cn->n++;
	/* move the ones after i down, put the name last */
	memmove(cn->name[i], cn->name[i + 1], (cn->n - 1 - i) * sizeof cn->name[0]);
	memcpy(cn->name[cn->n - 1], name, len);
	cn->name[cn->n - 1][len] = '\0';
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum complete_kind chat_complete(const char *before, size_t len,
	const struct complete_names *cn, char *insert, char *list, size_t cap)
{
	const char *match[CP_CHAT_NAMES_MAX + sizeof complete_cmds / sizeof complete_cmds[0]];
	const char *after = " ", *word;
	size_t nmatch = 0, wlen, common;

	insert[0] = list[0] = '\0';
	/* Only the line's first word is completed: "/cmd" or "@name". */
	if (len == 0 || memchr(before, ' ', len) || memchr(before, '\t', len))
		return COMPLETE_TAB;
	if (before[0] == '/') {
		word = before;
		wlen = len;
		for (size_t i = 0; i < sizeof complete_cmds / sizeof complete_cmds[0]; i++)
			if (strncmp(complete_cmds[i].name, word, wlen) == 0) {
				match[nmatch++] = complete_cmds[i].name;
				after = complete_cmds[i].after;
			}
	} else if (before[0] == '@') {
		word = before + 1;
		wlen = len - 1;
		for (size_t i = 0; cn != NULL && i < cn->n; i++)
			if (strncmp(cn->name[i], word, wlen) == 0)
				match[nmatch++] = cn->name[i];
	} else {
		return COMPLETE_TAB;
	}
	if (nmatch == 0)
		return COMPLETE_TAB;
	qsort(match, nmatch, sizeof match[0], by_name);
	common = strlen(match[0]);
	for (size_t i = 1; i < nmatch; i++) {
		size_t k = 0;
		while (k < common && match[i][k] == match[0][k])
			k++;
		common = k;
	}
	if (nmatch == 1) {
		snprintf(insert, cap, "%s%s", match[0] + wlen, after);
		return COMPLETE_INSERT;
	}
	if (common > wlen) {
		snprintf(insert, cap, "%.*s", (int)(common - wlen), match[0] + wlen);
		return COMPLETE_INSERT;
	}
	for (size_t i = 0, n = 0; i < nmatch && n < cap; i++)
		n += (size_t)snprintf(list + n, cap - n, "%s%s%s", i ? " " : "",
			before[0] == '@' ? "@" : "", match[i]);
	return COMPLETE_LIST;
}
