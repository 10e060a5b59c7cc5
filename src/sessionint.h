/* sessionint.h - private to session.c and sessionmail.c: the handlers'
 * outcomes, the one state change (session_enter), the replies, and the mail
 * rows' handlers, which session.c's table names. */
#ifndef CP_SESSIONINT_H
#define CP_SESSIONINT_H

#include <stddef.h>

#include "proto.h"
#include "session.h"

/* Handler outcomes; each row maps them to the next state. MORE means "a
 * message was delivered and its ack is awaited". */
enum outcome { OUT_OK, OUT_MORE, OUT_REJECT, OUT_FAIL };

/* session.c: the one place a state changes; logs "old -> new". */
void session_enter(struct session *s, enum session_state next);

/* session.c: append a reply line (its code's text), or bytes as they are,
 * to the session's output. */
void session_reply(struct session *s, int code);
void session_reply_bytes(struct session *s, const char *buf, size_t n);

/* session.c: why the store's last call failed, for the log. */
const char *session_store_reason(const struct session *s);

/* session.c: the session ends after this line; cpd logs the reason once,
 * at exit. */
void session_end(struct session *s, const char *reason);

/* sessionmail.c: have the acknowledged removals committed at the next sync,
 * holding back what is appended from now on until then. */
void session_removals_due(struct session *s);

/* sessionmail.c: the mail rows' handlers (SMSG; RMSG; an ack, or any line,
 * while a delivery waits; its timeout). */
enum outcome h_smsg(struct session *s, const struct proto_cmd *cmd);
enum outcome h_rmsg(struct session *s, const struct proto_cmd *cmd);
enum outcome h_ack(struct session *s, const struct proto_cmd *cmd);
enum outcome h_ack_timeout(struct session *s, const struct proto_cmd *cmd);

#endif
