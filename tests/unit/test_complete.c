/* test_complete.c - table-driven unit tests of cpchat's TAB completion
 * (src/chatcomplete.c): commands after '/', seen names after '@', a literal
 * TAB where nothing is offered, and the bounded set of names. */
#include <string.h>

#include "chatcomplete.h"
#include "tap.h"

static const struct {
	const char *before;
	enum complete_kind kind;
	const char *text;   /* insert, or the list */
} cases[] = {
	{ "", COMPLETE_TAB, "" },
	{ "hello", COMPLETE_TAB, "" },
	{ "@bob hi", COMPLETE_TAB, "" },         /* the text: a literal TAB */
	{ "@bob hi @al", COMPLETE_TAB, "" },     /* only the first word */
	{ "/in", COMPLETE_INSERT, "box" },
	{ "/w", COMPLETE_INSERT, "atch " },     /* /watch takes an argument */
	{ "/", COMPLETE_LIST, "/help /inbox /quit /watch" },
	{ "/x", COMPLETE_TAB, "" },
	{ "/inbox", COMPLETE_INSERT, "" },      /* complete already */
	{ "@", COMPLETE_LIST, "@alice @alina @bob @bobby" },
	{ "@b", COMPLETE_INSERT, "ob" },        /* common prefix of bob, bobby */
	{ "@bob", COMPLETE_LIST, "@bob @bobby" },
	{ "@bobb", COMPLETE_INSERT, "y " },
	{ "@ali", COMPLETE_LIST, "@alice @alina" },
	{ "@alic", COMPLETE_INSERT, "e " },
	{ "@carol", COMPLETE_TAB, "" },         /* never seen */
	{ "@\t", COMPLETE_TAB, "" },
};

static void test_complete(void)
{
	struct complete_names cn = { .n = 0 };
	char insert[256], list[256];

	complete_names_add(&cn, "bobby", 5);
	complete_names_add(&cn, "alice", 5);
	complete_names_add(&cn, "bob", 3);
	complete_names_add(&cn, "alina", 5);
	complete_names_add(&cn, "bob", 3);      /* seen again: not twice */
	ok(cn.n == 4, "four names remembered, a repeated one once");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum complete_kind k = chat_complete(cases[i].before,
			strlen(cases[i].before), &cn, insert, list, sizeof insert);
		const char *got = k == COMPLETE_LIST ? list : insert;

		ok(k == cases[i].kind && strcmp(got, cases[i].text) == 0,
			"TAB after \"%s\": kind %d \"%s\" (want %d \"%s\")",
			cases[i].before, (int)k, got, (int)cases[i].kind,
			cases[i].text);
	}
}

static void test_bounded(void)
{
	struct complete_names cn = { .n = 0 };
	char name[16], insert[64], list[64];

	for (int i = 0; i < CP_CHAT_NAMES_MAX + 5; i++) {
		int n = snprintf(name, sizeof name, "u%d", i);
		complete_names_add(&cn, name, (size_t)n);
	}
	ok(cn.n == CP_CHAT_NAMES_MAX, "at most %d names kept", CP_CHAT_NAMES_MAX);
	ok(chat_complete("@u0", 3, &cn, insert, list, sizeof insert) == COMPLETE_TAB,
		"the oldest name is forgotten first");
	ok(strcmp(cn.name[cn.n - 1], name) == 0, "the newest is last");
	complete_names_add(&cn, "toolongname", 11);
	ok(strcmp(cn.name[cn.n - 1], name) == 0, "an over-long name is ignored");
}

int main(void)
{
	test_complete();
	test_bounded();
	return tap_done();
}
