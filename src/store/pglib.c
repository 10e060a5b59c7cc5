/* pglib.c - loads libpq with dlopen at the first store_open of a database
 * (before the handler confines itself) and fills pglib.h's table; an LMDB
 * store never gets here. The load is most of what a database store costs a
 * handler (doc/performance.md), so it is made as cheap as it safely can. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>
#include "pglib.h"

/* libpq's soname: its ABI has been 5 since PostgreSQL 8.x (libpq5). */
#define PGLIB_SONAME "libpq.so.5"

struct pglib pglib;

int pglib_load(char *err, size_t errcap)
{
	static bool loaded;
	void *h;

	if (loaded)
		return 0;
	/* libpq pulls in GnuTLS (through libldap, for LDAP service lookups
	 * cp does not make), whose constructor initialises it at load:
	 * skipped (libldap initialises it itself if it is ever used). And
	 * lazy binding for the libraries not linked with -z now (Kerberos):
	 * their functions are bound at a first call, if any, which needs no
	 * system call, so the sandbox does not mind. 0.4 of 2.8 ms here. */
	bool skip_init = getenv("GNUTLS_NO_IMPLICIT_INIT") == NULL;
	if (skip_init)
		setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 0);
	h = dlopen(PGLIB_SONAME, RTLD_LAZY | RTLD_LOCAL);
	if (skip_init)
		unsetenv("GNUTLS_NO_IMPLICIT_INIT");
	if (h == NULL) {
		snprintf(err, errcap, "cannot load %s for the PostgreSQL store: %s",
			PGLIB_SONAME, dlerror());
		return -1;
	}
#define SYM(field, name) \
	if ((*(void **)&pglib.field = dlsym(h, name)) == NULL) { \
		snprintf(err, errcap, "%s lacks %s", PGLIB_SONAME, name); \
		dlclose(h); \
		return -1; \
	}
	SYM(cancel, "PQcancel")
	SYM(consumeInput, "PQconsumeInput")
	SYM(freeCancel, "PQfreeCancel")
	SYM(getCancel, "PQgetCancel")
	SYM(getResult, "PQgetResult")
	SYM(isBusy, "PQisBusy")
	SYM(sendQuery, "PQsendQuery")
	SYM(socket, "PQsocket")
	SYM(clear, "PQclear")
	SYM(cmdStatus, "PQcmdStatus")
	SYM(cmdTuples, "PQcmdTuples")
	SYM(connectdbParams, "PQconnectdbParams")
	SYM(conninfo, "PQconninfo")
	SYM(conninfoFree, "PQconninfoFree")
	SYM(conninfoParse, "PQconninfoParse")
	SYM(errorMessage, "PQerrorMessage")
	SYM(exec, "PQexec")
	SYM(execParams, "PQexecParams")
	SYM(finish, "PQfinish")
	SYM(freemem, "PQfreemem")
	SYM(getisnull, "PQgetisnull")
	SYM(getlength, "PQgetlength")
	SYM(getvalue, "PQgetvalue")
	SYM(ntuples, "PQntuples")
	SYM(reset, "PQreset")
	SYM(resultErrorField, "PQresultErrorField")
	SYM(resultStatus, "PQresultStatus")
	SYM(setNoticeReceiver, "PQsetNoticeReceiver")
	SYM(status, "PQstatus")
	SYM(transactionStatus, "PQtransactionStatus")
#undef SYM
	loaded = true;
	return 0;
}
