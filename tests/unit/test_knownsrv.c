/* test_knownsrv.c - table-driven unit tests of cpchat's trust on first use
 * (src/knownsrv.c: fingerprint form, server keys, lookups in a scratch
 * known_servers, appends) and of --proxy-command's %-expansion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "knownsrv.h"
#include "tap.h"

/* Two real keys' fingerprints (any well-formed ones would do). */
#define FP_A "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
#define FP_B "SHA256:ixrL125t+rTMTYaufG/h5ZOcrXPJFovzTqtgRNEZihQ"

static const struct {
	const char *fp;
	bool valid;
} fp_cases[] = {
	{ FP_A, true },
	{ FP_B, true },
	{ "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", false }, /* padded */
	{ "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF", false },   /* short */
	{ "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV", false },  /* tail bits */
	{ "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hS-FU", false },  /* not base64 */
	{ "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", false },
	{ "MD5:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUxxxx", false },
	{ "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", false },
	{ "", false },
};

static const struct {
	const char *host, *port, *key;
} key_cases[] = {
	{ "chat.example.org", "5035", "chat.example.org:5035" },
	{ "Chat.Example.ORG", "5035", "chat.example.org:5035" },
	{ "192.0.2.7", "6000", "192.0.2.7:6000" },
	{ "::1", "5035", "[::1]:5035" },
	{ "2001:DB8::1", "5035", "[2001:db8::1]:5035" },
};

static const char known[] =
	"# cpchat known servers\n"
	"\n"
	"a.test:5035 " FP_A "\n"
	"b.test:5035 " FP_A "\n"
	"b.test:5035 " FP_B "\n"       /* a second key for b: both good */
	"c.test:5035   " FP_B "  \n"   /* blanks around */
	"d.test:5035 SHA256:broken\n"  /* malformed: skipped */
	"d.test:5035\n"                /* no key: skipped */
	"#e.test:5035 " FP_A "\n"      /* commented out */
	"[::1]:5035 " FP_B "\n";

static const struct {
	const char *key, *fp;
	enum knownsrv_match m;
	unsigned long line; /* for CHANGED */
} lookup_cases[] = {
	{ "a.test:5035", FP_A, KNOWNSRV_MATCH, 0 },
	{ "a.test:5035", FP_B, KNOWNSRV_CHANGED, 3 },
	{ "a.test:5036", FP_A, KNOWNSRV_UNKNOWN, 0 },
	{ "b.test:5035", FP_A, KNOWNSRV_MATCH, 0 },
	{ "b.test:5035", FP_B, KNOWNSRV_MATCH, 0 },
	{ "c.test:5035", FP_B, KNOWNSRV_MATCH, 0 },
	{ "c.test:5035", FP_A, KNOWNSRV_CHANGED, 6 },
	{ "d.test:5035", FP_A, KNOWNSRV_UNKNOWN, 0 },
	{ "e.test:5035", FP_A, KNOWNSRV_UNKNOWN, 0 },
	{ "#e.test:5035", FP_A, KNOWNSRV_UNKNOWN, 0 },
	{ "[::1]:5035", FP_B, KNOWNSRV_MATCH, 0 },
	{ "a.test", FP_A, KNOWNSRV_UNKNOWN, 0 },
};

static const struct {
	const char *cmd, *out; /* out NULL: refused */
} expand_cases[] = {
	{ "ssh -W %h:%p gw", "ssh -W chat.internal:5035 gw" },
	{ "nc %h %p", "nc chat.internal 5035" },
	{ "echo 100%%", "echo 100%" },
	{ "%%h", "%h" },
	{ "plain", "plain" },
	{ "", "" },
	{ "nc %x", NULL },
	{ "trailing %", NULL },
};

static void test_fingerprint(void)
{
	/* SHA-256 of the empty string, whose base64 is well known. */
	static const unsigned char empty[KNOWNSRV_DIGEST_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55 };
	char fp[KNOWNSRV_FP_MAX];

	knownsrv_fingerprint(empty, fp);
	ok(strcmp(fp, FP_A) == 0, "fingerprint of a digest: %s", fp);
	for (size_t i = 0; i < sizeof fp_cases / sizeof fp_cases[0]; i++)
		ok(knownsrv_fingerprint_valid(fp_cases[i].fp) == fp_cases[i].valid,
			"fingerprint '%s' %s", fp_cases[i].fp,
			fp_cases[i].valid ? "valid" : "invalid");
}

static void test_keys(void)
{
	char key[64];

	for (size_t i = 0; i < sizeof key_cases / sizeof key_cases[0]; i++) {
		int r = knownsrv_key(key_cases[i].host, key_cases[i].port, key,
			sizeof key);
		ok(r == 0 && strcmp(key, key_cases[i].key) == 0, "key of %s %s: %s",
			key_cases[i].host, key_cases[i].port, key_cases[i].key);
	}
	ok(knownsrv_key("a-rather-long-host-name.example", "5035", key, 10) < 0,
		"a key that does not fit is refused");
}

static void test_lookup(const char *dir)
{
	char path[512], err[256];
	struct knownsrv_hit hit;
	FILE *f;

	snprintf(path, sizeof path, "%s/known_servers", dir);
	f = fopen(path, "w");
	fputs(known, f);
	fclose(f);
	for (size_t i = 0; i < sizeof lookup_cases / sizeof lookup_cases[0]; i++) {
		enum knownsrv_match m;

		memset(&hit, 0, sizeof hit);
		m = knownsrv_lookup(path, lookup_cases[i].key, lookup_cases[i].fp,
			&hit, err, sizeof err);
		ok(m == lookup_cases[i].m && (m != KNOWNSRV_CHANGED ||
		    hit.line == lookup_cases[i].line), "lookup %s %s: %d (line %lu)",
			lookup_cases[i].key, lookup_cases[i].fp, (int)m, hit.line);
	}
	snprintf(path, sizeof path, "%s/none/known_servers", dir);
	ok(knownsrv_lookup(path, "a.test:5035", FP_A, &hit, err, sizeof err) ==
		KNOWNSRV_UNKNOWN, "a missing file knows nothing");
}

static void test_add(const char *dir)
{
	char path[512], err[256], buf[512];
	struct stat st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "%s/new/sub/known_servers", dir);
	ok(knownsrv_add(path, "x.test:5035", FP_A, err, sizeof err) == 0 &&
		knownsrv_add(path, "[::1]:7", FP_B, err, sizeof err) == 0,
		"add creates the directories and appends");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "file mode 0600");
	snprintf(buf, sizeof buf, "%s/new/sub", dir);
	ok(stat(buf, &st) == 0 && (st.st_mode & 0777) == 0700,
		"directory mode 0700");
	f = fopen(path, "r");
	n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
	buf[n] = '\0';
	if (f != NULL)
		fclose(f);
	ok(strcmp(buf, "x.test:5035 " FP_A "\n[::1]:7 " FP_B "\n") == 0,
		"the two lines added, in order");
	ok(knownsrv_lookup(path, "[::1]:7", FP_B, NULL, err, sizeof err) ==
		KNOWNSRV_MATCH, "an added key is found");
}

static void test_expand(void)
{
	char buf[64];

	for (size_t i = 0; i < sizeof expand_cases / sizeof expand_cases[0]; i++) {
		int r = client_proxy_expand(expand_cases[i].cmd, "chat.internal",
			"5035", buf, sizeof buf);
		if (expand_cases[i].out == NULL)
			ok(r < 0, "proxy command '%s' refused", expand_cases[i].cmd);
		else
			ok(r == 0 && strcmp(buf, expand_cases[i].out) == 0,
				"proxy command '%s' -> '%s'", expand_cases[i].cmd,
				expand_cases[i].out);
	}
	ok(client_proxy_expand("ssh -W %h:%p a-gateway-with-a-long-name", "h",
		"5035", buf, 16) < 0, "an expansion that does not fit is refused");
}

int main(void)
{
	char dir[] = "/tmp/test_knownsrv.XXXXXX";
	char cmd[64];

	if (mkdtemp(dir) == NULL)
		return 99;
	test_fingerprint();
	test_keys();
	test_lookup(dir);
	test_add(dir);
	test_expand();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		ok(0, "scratch directory removed");
	return tap_done();
}
