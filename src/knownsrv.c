/* knownsrv.c - the known_servers file of cpchat's trust on first use: the
 * fingerprint form, the server key "host:port", lookup and append. Lines are
 * "KEY FINGERPRINT"; a changed key is reported with the line to remove.
 * Protocol client layer (clienttls.c's), the bottom of cpchat's four. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knownsrv.h"

#define FP_PREFIX "SHA256:"
#define FP_PREFIX_LEN 7
#define FP_B64_LEN 43 /* 32 bytes, unpadded */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void knownsrv_fingerprint(const unsigned char d[KNOWNSRV_DIGEST_LEN],
	char out[KNOWNSRV_FP_MAX])
{
	char *o = out + FP_PREFIX_LEN;
	size_t i;

	memcpy(out, FP_PREFIX, FP_PREFIX_LEN);
	for (i = 0; i + 3 <= KNOWNSRV_DIGEST_LEN; i += 3) {
		unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = b64[v & 63];
	}
	/* 32 = 3 * 10 + 2: two bytes left, three characters, no '='. */
	unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8;
	*o++ = b64[v >> 18];
	*o++ = b64[v >> 12 & 63];
	*o++ = b64[v >> 6 & 63];
	*o = '\0';
}

bool knownsrv_fingerprint_valid(const char *fp)
{
	if (strncmp(fp, FP_PREFIX, FP_PREFIX_LEN) != 0 ||
	    strlen(fp) != FP_PREFIX_LEN + FP_B64_LEN)
		return false;
	for (const char *p = fp + FP_PREFIX_LEN; *p != '\0'; p++)
		if (strchr(b64, *p) == NULL)
			return false;
	/* The last character carries 2 padding bits, which must be 0. */
	return (strchr(b64, fp[FP_PREFIX_LEN + FP_B64_LEN - 1]) - b64) % 4 == 0;
}

int knownsrv_key(const char *host, const char *port, char *buf, size_t cap)
{
	bool v6 = strchr(host, ':') != NULL;
	int n = snprintf(buf, cap, v6 ? "[%s]:%s" : "%s:%s", host, port);

	if (n < 0 || (size_t)n >= cap)
		return -1;
	for (char *p = buf; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

int knownsrv_path(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	struct passwd *pw;
	int n;

	if (xdg != NULL && xdg[0] == '/') {
		n = snprintf(buf, cap, "%s/cpchat/known_servers", xdg);
	} else {
		if (home == NULL || home[0] == '\0') {
			pw = getpwuid(getuid());
			home = pw != NULL ? pw->pw_dir : NULL;
		}
		if (home == NULL)
			return -1;
		n = snprintf(buf, cap, "%s/.local/share/cpchat/known_servers",
			home);
	}
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

enum knownsrv_match knownsrv_lookup(const char *path, const char *key,
	const char *fp, struct knownsrv_hit *hit, char *err, size_t cap)
{
	enum knownsrv_match m = KNOWNSRV_UNKNOWN;
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t lcap = 0;
	unsigned long n = 0;

	if (f == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return KNOWNSRV_UNKNOWN;
		snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
		return KNOWNSRV_ERROR;
	}
	while (getline(&line, &lcap, f) >= 0) {
		char *save, *k, *v;

		n++;
		k = strtok_r(line, " \t\r\n", &save);
		if (k == NULL || k[0] == '#' || strcmp(k, key) != 0)
			continue;
		v = strtok_r(NULL, " \t\r\n", &save);
		if (v == NULL || !knownsrv_fingerprint_valid(v))
			continue;
		if (strcmp(v, fp) == 0) {
			m = KNOWNSRV_MATCH;
			break;
		}
		if (m == KNOWNSRV_UNKNOWN) {
			m = KNOWNSRV_CHANGED;
			if (hit != NULL) {
				hit->line = n;
				snprintf(hit->fp, sizeof hit->fp, "%s", v);
			}
		}
	}
	if (m != KNOWNSRV_MATCH && ferror(f)) {
		snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
		m = KNOWNSRV_ERROR;
	}
	free(line);
	fclose(f);
	return m;
}

/* mkdir -p of path's directory, new directories 0700. */
static int make_parents(char *path)
{
	for (char *p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		int r = mkdir(path, 0700);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

int knownsrv_add(const char *path, const char *key, const char *fp,
	char *err, size_t cap)
{
	char dir[4096], line[512];
	int n = snprintf(line, sizeof line, "%s %s\n", key, fp);
	int fd;

	snprintf(dir, sizeof dir, "%s", path);
	if (make_parents(dir) < 0) {
		snprintf(err, cap, "cannot create the directory of %s: %s", path,
			strerror(errno));
		return -1;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		snprintf(err, cap, "cannot add to %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		snprintf(err, cap, "cannot add to %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
