/* pglib.h - libpq, loaded when a PostgreSQL store is opened (pglib_load, a
 * dlopen before any sandbox), so that a handler on an LMDB store never maps
 * libpq and the twenty libraries it pulls in. Included by pgint.h after
 * <libpq-fe.h>: from here on each PQ call goes through the table. */
#ifndef CP_PGLIB_H
#define CP_PGLIB_H

#include <stddef.h>
#include <libpq-fe.h>

struct pglib {
	__typeof__(&PQcancel) cancel;
	__typeof__(&PQconsumeInput) consumeInput;
	__typeof__(&PQfreeCancel) freeCancel;
	__typeof__(&PQgetCancel) getCancel;
	__typeof__(&PQgetResult) getResult;
	__typeof__(&PQisBusy) isBusy;
	__typeof__(&PQsendQuery) sendQuery;
	__typeof__(&PQsocket) socket;
	__typeof__(&PQclear) clear;
	__typeof__(&PQcmdStatus) cmdStatus;
	__typeof__(&PQcmdTuples) cmdTuples;
	__typeof__(&PQconnectdbParams) connectdbParams;
	__typeof__(&PQconninfo) conninfo;
	__typeof__(&PQconninfoFree) conninfoFree;
	__typeof__(&PQconninfoParse) conninfoParse;
	__typeof__(&PQerrorMessage) errorMessage;
	__typeof__(&PQexec) exec;
	__typeof__(&PQexecParams) execParams;
	__typeof__(&PQfinish) finish;
	__typeof__(&PQfreemem) freemem;
	__typeof__(&PQgetisnull) getisnull;
	__typeof__(&PQgetlength) getlength;
	__typeof__(&PQgetvalue) getvalue;
	__typeof__(&PQntuples) ntuples;
	__typeof__(&PQreset) reset;
	__typeof__(&PQresultErrorField) resultErrorField;
	__typeof__(&PQresultStatus) resultStatus;
	__typeof__(&PQsetNoticeReceiver) setNoticeReceiver;
	__typeof__(&PQstatus) status;
	__typeof__(&PQtransactionStatus) transactionStatus;
};

extern struct pglib pglib;

/* Load libpq (once per process) and fill the table. 0, or -1 with a
 * one-line reason in err (libpq-dev's runtime, libpq5, is missing). */
int pglib_load(char *err, size_t errcap);

#define PQcancel (pglib.cancel)
#define PQconsumeInput (pglib.consumeInput)
#define PQfreeCancel (pglib.freeCancel)
#define PQgetCancel (pglib.getCancel)
#define PQgetResult (pglib.getResult)
#define PQisBusy (pglib.isBusy)
#define PQsendQuery (pglib.sendQuery)
#define PQsocket (pglib.socket)
#define PQclear (pglib.clear)
#define PQcmdStatus (pglib.cmdStatus)
#define PQcmdTuples (pglib.cmdTuples)
#define PQconnectdbParams (pglib.connectdbParams)
#define PQconninfo (pglib.conninfo)
#define PQconninfoFree (pglib.conninfoFree)
#define PQconninfoParse (pglib.conninfoParse)
#define PQerrorMessage (pglib.errorMessage)
#define PQexec (pglib.exec)
#define PQexecParams (pglib.execParams)
#define PQfinish (pglib.finish)
#define PQfreemem (pglib.freemem)
#define PQgetisnull (pglib.getisnull)
#define PQgetlength (pglib.getlength)
#define PQgetvalue (pglib.getvalue)
#define PQntuples (pglib.ntuples)
#define PQreset (pglib.reset)
#define PQresultErrorField (pglib.resultErrorField)
#define PQresultStatus (pglib.resultStatus)
#define PQsetNoticeReceiver (pglib.setNoticeReceiver)
#define PQstatus (pglib.status)
#define PQtransactionStatus (pglib.transactionStatus)

#endif
