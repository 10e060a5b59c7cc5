/* limits.h - every bound cp enforces, in one place, each with its reason.
 * Fixed buffers elsewhere are sized from these; change them here only.
 * Protocol limits come from the CP wire contract (doc/protocol.md). */
#ifndef CP_LIMITS_H
#define CP_LIMITS_H

/* TCP port assigned to CP by the protocol description. */
#define CP_PORT 5035

/* Longest PDU a client may send, terminator (CR)LF included (protocol). */
#define CP_LINE_MAX 1024

/* Command keyword length: every CP verb is exactly 4 ASCII letters. */
#define CP_VERB_LEN 4

/* Username: 1-10 bytes (protocol USER field). */
#define CP_USER_MAX 10

/* Password: 1-15 bytes (protocol PASS field). */
#define CP_PASS_MAX 15

/* Message text: 1-1009 bytes (protocol SMSG field). */
#define CP_TEXT_MAX 1009

/* Longest delivery line the server sends: "RMSG" + sender + ":" + text + CRLF.
 * It can exceed CP_LINE_MAX by two bytes; clients must accept this much. */
#define CP_DELIVERY_MAX (CP_VERB_LEN + CP_USER_MAX + 1 + CP_TEXT_MAX + 2)

/* Longest reply line the server builds (code, SP, text, CRLF); a delivery is
 * the longest thing it ever sends. */
#define CP_REPLY_MAX CP_DELIVERY_MAX

/* Input buffer: room for one whole maximal line plus read-ahead, so that
 * pipelined lines are parsed without extra reads. */
#define CP_INBUF_SIZE (16 * CP_LINE_MAX)

/* Output buffer: replies queued between two flushes. A flush is forced when
 * less than CP_REPLY_MAX is free, so one reply always fits. */
#define CP_OUTBUF_SIZE (64 * 1024)

/* Pipelined SMSG lines committed together (one fsync): bounds the work lost
 * to a failed commit and the delay before the first 240 of a batch. */
#define CP_SMSG_BATCH_MAX 256

/* Acknowledged downloads whose removals are committed together. */
#define CP_ACK_BATCH_MAX 256

/* Longest password hash string stored (yescrypt output is ~73 bytes;
 * libxcrypt's CRYPT_OUTPUT_SIZE is 384). */
#define CP_HASH_MAX 384

/* Peer description for logs ("[addr]:port"). */
#define CP_PEER_MAX 64

/* Defaults for cpd's options (seconds unless named otherwise). */
#define CP_DEFAULT_IDLE_TIMEOUT 300       /* close a connection silent for 5 min */
#define CP_DEFAULT_LINE_TIMEOUT 30        /* a started line must end within 30 s */
/* A connection must be logged in this long after it opened, whatever it
 * sends meanwhile: else a few addresses sending a line now and then (inside
 * the idle timeout) hold every slot of cp.socket for hours. 60 s leaves a
 * person typing USER and PASS by hand, and a slow yescrypt, ample time. */
#define CP_DEFAULT_LOGIN_TIMEOUT 60
#define CP_DEFAULT_ACK_TIMEOUT 30         /* a delivered message must be acked in 30 s */
#define CP_DEFAULT_AUTH_FAIL_DELAY_MS 1000 /* slows password guessing to 1/s/conn */
#define CP_DEFAULT_MAX_AUTH_FAILURES 3    /* then the connection is closed */
#define CP_DEFAULT_MAILBOX_LIMIT 10000    /* queued messages per recipient */
#define CP_DEFAULT_MAP_SIZE_MIB 1024      /* LMDB map: address space, not disk */

/* PostgreSQL store (src/store/pg*.c). A handler must fail fast and cleanly
 * (540/550, one log line) rather than hang when the database is away: a
 * connection attempt gives up after 5 s (libpq's connect_timeout, per host
 * of a multi-host URI), a statement after 10 s (statement_timeout and
 * lock_timeout, set per transaction with SET LOCAL so that PgBouncer's
 * transaction pooling carries no session state), and a dead peer is noticed
 * by TCP after 10 s without an acknowledgement (tcp_user_timeout). */
#define CP_PG_CONNECT_TIMEOUT 5
#define CP_PG_STATEMENT_TIMEOUT_MS 10000
#define CP_PG_TCP_USER_TIMEOUT_MS 10000
/* A transaction that failed with a serialization failure or a deadlock is
 * run again at most this many times: both are transient by definition, but
 * a livelock must end in a 540, not a loop. */
#define CP_PG_RETRIES 3
/* The download lease in the user's row: how long a download holds the
 * mailbox after its last claim. Longer than the default ack timeout (30 s)
 * with room to spare, so a live download never loses it; short enough that
 * the user's next session downloads soon after its handler was killed. */
#define CP_PG_LEASE_SECONDS 120

/* cpchat: give up connecting, or waiting for any one reply, after this many
 * seconds (a server that hashes a password or commits a batch answers in
 * well under a second; 30 s rides out a loaded machine). */
#define CP_DEFAULT_CLIENT_TIMEOUT 30

/* cpchat watch: seconds between downloads (well inside cpd's idle timeout,
 * so the connection stays open). */
#define CP_DEFAULT_WATCH_INTERVAL 5

/* cpchat --proxy-command: after the client closes its end, the command
 * (ssh -W, nc) gets this long to pass the last bytes on and exit by itself,
 * then SIGHUP (as ssh does), then after 1 s more SIGKILL. */
#define CP_PROXY_EXIT_WAIT_MS 2000

/* cpchat --proxy-command: the command with %h and %p expanded (a shell
 * line; ssh's own limit is similar). */
#define CP_PROXY_COMMAND_MAX 4096

/* cpchat over TLS: the TLS goodbye (close_notify) is best effort and
 * may take at most this long. */
#define CP_TLS_BYE_WAIT_MS 1000

/* cpchat interactive: with no other request for this many seconds, a silent
 * RMSG keeps the session open (cpd closes one idle for its --idle-timeout,
 * 300 s by default); well under half of that, so one late wake-up is safe. */
#define CP_DEFAULT_CLIENT_KEEPALIVE 120

/* cpchat interactive: user names remembered (senders, recipients) for TAB
 * completion after '@'; a chat window deals with a handful of people. */
#define CP_CHAT_NAMES_MAX 64

/* A client that takes no byte of its replies for this long has stopped
 * reading: the handler gives up (a stranger must not pin a handler forever).
 * The wait restarts whenever bytes go out, so slow readers are served. */
#define CP_WRITE_TIMEOUT 30

/* TLS: after the session, the close_notify alert is sent for at most this
 * long (a courtesy to the client; the session's data is already flushed). */
#define CP_TLS_BYE_TIMEOUT_MS 1000

/* TLS: the connection's version and cipher as logged in CP_TLS=. */
#define CP_TLS_DESC_MAX 128

/* Map usage (percent) above which new messages are refused, so deletes,
 * which also need free pages in LMDB, always have room. */
#define CP_STORE_FULL_PERCENT 90

/* Free file-system space (KiB) below which new messages are refused, so a
 * nearly full disk still has room to write acknowledgements (removals). */
#define CP_STORE_DISK_RESERVE_KIB 1024

/* LMDB reader slots: each handler holds one only during a short read, but a
 * connection flood can run hundreds of handlers at once (lock file ~64 KiB). */
#define CP_STORE_MAX_READERS 1024

/* The sandbox's resource limits (src/sandbox.c), set before the first byte
 * from the client is read. No new processes (RLIMIT_NPROC 0) and no core
 * dumps (RLIMIT_CORE 0: a dump would hold password hashes and mail) need no
 * constant. */

/* Heap and private mappings (RLIMIT_DATA): a session needs ~3 MiB, ~19 MiB
 * while yescrypt checks a password; the store's map is a shared file mapping
 * and does not count. The same 64 MiB as the unit's MemoryMax=. */
#define CP_SANDBOX_DATA_MAX (64UL * 1024 * 1024)

/* Largest file a handler may write (RLIMIT_FSIZE): the store's map size
 * (data.mdb never grows past it), at least this much for lock.mdb, whose
 * size follows CP_STORE_MAX_READERS (~64 KiB). */
#define CP_SANDBOX_FSIZE_MIN (1UL * 1024 * 1024)

/* Open descriptors (RLIMIT_NOFILE): the client socket, stdio, the journal
 * socket, LMDB's three and mailbox.lock; room for the TLS front end. */
#define CP_SANDBOX_NOFILE 64

/* TCP ports a confined handler on a database store may still connect to
 * (Landlock ABI 4), to reconnect after a failover: one per distinct port of
 * the connection string's hosts (a primary and a few standbys). A string
 * with more distinct ports keeps none: its handlers reconnect in their next
 * session instead. */
#define CP_SANDBOX_TCP_PORTS_MAX 16

#endif
