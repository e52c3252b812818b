/*
 * journal-int.h: what the journal*.c files share, and nothing else sees:
 * struct journal, the statements prepared on its connections, and the
 * helpers that step them. The connections and the threads that own them:
 *
 *	j_wdb	the write connection: the writer thread's from journal_start()
 *		to journal_stop(), else the thread that opened the journal
 *	j_rdb	the read connection: the loop thread's (wschatctl's only one)
 *	j_cdb	the checkpointer thread's, while the writer runs
 *	s_db	one per snapshot cursor (journal-snap.c): the loop thread's
 *
 * Include it after wschatd.h.
 */
#ifndef JOURNAL_INT_H
#define JOURNAL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <sqlite3.h>

#define JOURNAL_BUSY_MS		5000		/* wait for another writer */
#define JOURNAL_PRUNE_BATCH	500		/* events per pruning transaction */

#define JOURNAL_COLUMNS "seq, ts, type, action, resource, actor, data, private"

/* Statements on the write connection (the writer thread's, once started). */
#define JOURNAL_WSQL(X)							\
	X(W_BEGIN, "BEGIN IMMEDIATE")					\
	X(W_COMMIT, "COMMIT")						\
	X(W_ROLLBACK, "ROLLBACK")					\
	X(W_EVENT, "INSERT INTO events (" JOURNAL_COLUMNS ")"		\
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")			\
	X(W_CHANNEL_ADD, "INSERT INTO channels"				\
	    " (name, creator, created_seq, created_ts, private)"	\
	    " VALUES (?1, ?2, ?3, ?4, ?5)")				\
	X(W_CHANNEL_DEL, "DELETE FROM channels WHERE name = ?1")	\
	X(W_CHANNEL_EMPTY, "DELETE FROM memberships WHERE channel = ?1") \
	X(W_CHANNEL_INVITES, "DELETE FROM invites WHERE channel = ?1")	\
	X(W_CHANNEL_BANS, "DELETE FROM bans WHERE channel = ?1")	\
	X(W_INVITE, "INSERT OR REPLACE INTO invites"			\
	    " (channel, user, by, seq)"					\
	    " VALUES (?1, ?2, coalesce(json_extract(?3, '$.by'), ''), ?4)") \
	X(W_UNINVITE, "DELETE FROM invites"				\
	    " WHERE channel = ?1 AND user = ?2")			\
	X(W_BAN, "INSERT OR REPLACE INTO bans (channel, user, by, seq)"	\
	    " VALUES (?1, ?2, coalesce(json_extract(?3, '$.by'), ''), ?4)") \
	X(W_UNBAN, "DELETE FROM bans WHERE channel = ?1 AND user = ?2")	\
	X(W_JOIN, "INSERT INTO memberships (channel, user, joined_seq)"	\
	    " VALUES (?1, ?2, ?3)")					\
	X(W_PART, "DELETE FROM memberships"				\
	    " WHERE channel = ?1 AND user = ?2")			\
	X(W_USER, "INSERT INTO users"					\
	    " (name, first_seq, first_ts, last_seq, last_ts)"		\
	    " VALUES (?1, ?2, ?3, ?2, ?3) ON CONFLICT (name) DO UPDATE"	\
	    " SET last_seq = excluded.last_seq, last_ts = excluded.last_ts") \
	X(W_RANGE, "SELECT (SELECT min(seq) FROM events),"		\
	    " (SELECT max(seq) FROM events)")				\
	X(W_KEEP, "SELECT seq FROM events ORDER BY seq DESC"		\
	    " LIMIT 1 OFFSET ?1")					\
	X(W_OLDEST, "SELECT seq, ts FROM events ORDER BY seq LIMIT ?1")	\
	X(W_PRUNE, "DELETE FROM events WHERE seq <= ?1")		\
	X(W_META, "SELECT value FROM meta WHERE key = ?1")		\
	X(W_META_SET, "INSERT INTO meta (key, value) VALUES (?1, ?2)"	\
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value")	\
	X(W_NEW_EPOCH, "UPDATE meta SET value = lower(hex(randomblob(8)))" \
	    " WHERE key = 'epoch'")					\
	X(W_ACCT_GUEST, "INSERT INTO accounts (name, kind, pwhash,"	\
	    " created_seq, created_ts) VALUES (?1, 'guest', NULL, ?2, ?3)") \
	X(W_ACCT_REGISTER, "INSERT INTO accounts (name, kind, pwhash,"	\
	    " created_seq, created_ts) VALUES (?1, 'registered', ?4, ?2, ?3)" \
	    " ON CONFLICT (name) DO UPDATE SET kind = 'registered',"	\
	    " pwhash = excluded.pwhash")				\
	X(W_ACCT_PASSWD, "UPDATE accounts SET pwhash = ?2 WHERE name = ?1") \
	X(W_ACCT_DEL, "DELETE FROM accounts WHERE name = ?1")		\
	X(W_ACCT_ADMIN, "UPDATE accounts SET admin = ?2 WHERE name = ?1") \
	X(W_ACCT_DISABLE, "UPDATE accounts SET disabled = ?2"		\
	    " WHERE name = ?1")						\
	X(W_TOKEN_ADD, "INSERT INTO tokens (hash, account, created_ts,"	\
	    " used_ts) VALUES (?1, ?2, ?3, ?3)")			\
	X(W_TOKEN_DEL, "DELETE FROM tokens WHERE hash = ?1")		\
	X(W_TOKEN_TOUCH, "UPDATE tokens SET used_ts = ?2 WHERE hash = ?1") \
	X(W_TOKENS_DEL, "DELETE FROM tokens WHERE account = ?1"		\
	    " AND hash IS NOT ?2")					\
	X(W_REQUESTS_DONE, "DELETE FROM requests WHERE id <= ?1")	\
	X(W_REQUEST_ADD, "INSERT INTO requests (ts, verb, name, pwhash)" \
	    " VALUES (?1, ?2, ?3, ?4)")

/* Statements on the read connection (the loop thread's). */
#define JOURNAL_RSQL(X)							\
	X(R_BEGIN, "BEGIN")						\
	X(R_END, "COMMIT")						\
	X(R_EPOCH, "SELECT value FROM meta WHERE key = 'epoch'")	\
	X(R_HEAD, "SELECT max(coalesce((SELECT seq FROM sqlite_sequence" \
	    " WHERE name = 'events'), 0),"				\
	    " coalesce((SELECT max(seq) FROM events), 0))")		\
	X(R_FIRST, "SELECT min(seq) FROM events")			\
	X(R_EVENTS, "SELECT " JOURNAL_COLUMNS " FROM events"		\
	    " WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3")	\
	X(R_USER_DESC, "SELECT " JOURNAL_COLUMNS " FROM events"		\
	    " WHERE actor = ?1 AND type = 'user' AND seq > ?2"		\
	    " ORDER BY seq DESC")					\
	X(R_HISTORY, "SELECT " JOURNAL_COLUMNS " FROM events"		\
	    " WHERE type = 'message' AND resource = ?1"			\
	    " AND action = 'CREATE' AND seq < ?2"			\
	    " ORDER BY seq DESC LIMIT ?3")				\
	X(R_LAST_MESSAGES, "SELECT " JOURNAL_COLUMNS " FROM ("		\
	    "SELECT " JOURNAL_COLUMNS " FROM events"			\
	    " WHERE type = 'message' AND resource = ?1"			\
	    " AND action = 'CREATE' AND seq > (SELECT created_seq"	\
	    " FROM channels WHERE name = ?1)"				\
	    " ORDER BY seq DESC LIMIT ?2)"				\
	    " ORDER BY seq")						\
	X(R_TAIL, "SELECT " JOURNAL_COLUMNS " FROM ("			\
	    "SELECT " JOURNAL_COLUMNS " FROM events"			\
	    " ORDER BY seq DESC LIMIT ?1) ORDER BY seq")		\
	X(R_CHANNELS, "SELECT name, creator, created_seq, private,"	\
	    " rowid FROM channels ORDER BY created_seq")		\
	X(R_SNAP_CHANNELS, "SELECT name, creator, created_seq, private"	\
	    " FROM channels c WHERE c.private = 0 OR ?2"		\
	    " OR c.creator = ?1 OR EXISTS (SELECT 1 FROM memberships m"	\
	    " WHERE m.channel = c.name AND m.user = ?1)"		\
	    " OR EXISTS (SELECT 1 FROM invites i"			\
	    " WHERE i.channel = c.name AND i.user = ?1)"		\
	    " ORDER BY created_seq")					\
	X(R_ACCESS, "SELECT channel, 0, user FROM invites UNION ALL"	\
	    " SELECT channel, 1, user FROM bans ORDER BY 1, 2, 3")	\
	X(R_MEMBERSHIPS, "SELECT m.channel, m.user, m.joined_seq,"	\
	    " m.rowid FROM memberships m"				\
	    " JOIN channels c ON c.name = m.channel"			\
	    " ORDER BY m.joined_seq")					\
	X(R_SUBS, "SELECT m.channel, m.joined_seq FROM memberships m"	\
	    " JOIN channels c ON c.name = m.channel"			\
	    " WHERE m.user = ?1 ORDER BY m.joined_seq")			\
	X(R_MEMBERS, "SELECT user, joined_seq FROM memberships"		\
	    " WHERE channel = ?1 ORDER BY joined_seq")			\
	X(R_COUNTS, "SELECT (SELECT count(*) FROM events),"		\
	    " (SELECT count(*) FROM channels),"				\
	    " (SELECT count(*) FROM users),"				\
	    " (SELECT count(*) FROM memberships)")			\
	X(R_VERSION, "PRAGMA user_version")				\
	X(R_ACCOUNTS, "SELECT name, kind = 'registered', pwhash, admin,"	\
	    " disabled FROM accounts ORDER BY name")			\
	X(R_TOKENS, "SELECT hash, account, used_ts FROM tokens")	\
	X(R_REQUESTS, "SELECT id, verb, name, pwhash FROM requests"	\
	    " WHERE id > ?1 ORDER BY id")				\
	X(R_DATA_VERSION, "PRAGMA data_version")

#define JOURNAL_ENUM(name, sql) name,
#define JOURNAL_SQL(name, sql) sql,
enum { JOURNAL_WSQL(JOURNAL_ENUM) W_MAX };
enum { JOURNAL_RSQL(JOURNAL_ENUM) R_MAX };
extern const char *const journal_wsql[W_MAX];
extern const char *const journal_rsql[R_MAX];

/* One submitted batch, from journal_submit() to its done callback. */
struct jbatch {
	void			*b_batch;
	const struct journal_rec *b_recs;
	size_t			 b_n;
	int			 b_ok;
	char			*b_cause;
	TAILQ_ENTRY(jbatch)	 b_entry;
};
TAILQ_HEAD(jbatches, jbatch);

struct journal {
	char		*j_path;
	sqlite3		*j_wdb;		/* the writer thread's, or the opener's */
	sqlite3		*j_rdb;		/* the loop thread's */
	sqlite3_stmt	*j_w[W_MAX];	/* prepared on j_wdb */
	sqlite3_stmt	*j_r[R_MAX];	/* prepared on j_rdb */
	const char	*j_syncsql;	/* the journal_sync PRAGMA */
	char		*j_epoch;
	int		 j_run;		/* a daemon's open: run_state is running */
	int		 j_stopped;	/* journal_mark_stopped() ended the run */
	_Atomic int64_t	 j_head;	/* last seq this process committed */
	int		 j_wfault;	/* the last write error was injected */
	/*
	 * Why the journal refuses every write until a restart (the file was
	 * moved or deleted, or went bad); NULL while it is sound. Set once,
	 * by whichever thread notices first, and never changed after.
	 */
	_Atomic(char *)	 j_fault;
	/* The WAL file the writer started with (0: none seen). */
	dev_t		 j_wal_dev;
	ino_t		 j_wal_ino;
	int64_t		 j_data_version;	/* journal_changed()'s last look */

	/* Loop-thread side of the writer. */
	int		 j_running;
	int		 j_draining;	/* journal_stop() is delivering */
	pthread_t	 j_thread;
	struct event	*j_ev;
	int		 j_pipe[2];
	journal_done_cb	 j_done;
	void		*j_arg;

	/* Writer-thread private: the retention run under way. */
	int64_t		 j_prune_bound;	/* seqs below this may go */
	int64_t		 j_prune_cutoff; /* ts below this may go */
	int64_t		 j_pruned;

	/* Shared between the threads, under j_lock. */
	pthread_mutex_t	 j_lock;
	pthread_cond_t	 j_cond;
	struct jbatches	 j_queue;	/* submitted, not yet taken */
	struct jbatches	 j_results;	/* finished, for the loop */
	int		 j_stopping;
	int64_t		 j_keep_events;
	int64_t		 j_keep_days;
	int		 j_retention_kick; /* check retention now */

	/* The checkpointer thread and its connection. */
	pthread_t	 j_ckpt_thread;
	sqlite3		*j_cdb;
	pthread_mutex_t	 j_ckpt_lock;
	pthread_cond_t	 j_ckpt_cond;
	int		 j_ckpt_wanted;		/* the WAL passed the threshold */
	int		 j_ckpt_stopping;
};

/* journal-sql.c: the helpers every part steps its connections with */
int		 journal_set_fault(struct journal *, const char *fmt, ...)
		     printflike(2, 3);
int		 journal_fault_rc(struct journal *, sqlite3 *, int rc,
		     const char *what);
int		 journal_moved(struct journal *, sqlite3 *);
void		 journal_note_wal(struct journal *);
int		 journal_wstep(struct journal *, sqlite3_stmt *);
void		 journal_wfail(struct journal *, int rc, char **cause);
int		 journal_wexec(struct journal *, sqlite3_stmt *, char **cause);
void		 journal_wrollback(struct journal *);
void		 journal_bind_text(sqlite3_stmt *, int, const char *);
int		 journal_wrow(struct journal *, sqlite3_stmt *, char **cause);
int		 journal_rfail(struct journal *, char **cause);
int		 journal_rtx(struct journal *, int which, char **cause);
void		 journal_row(sqlite3_stmt *, struct journal_rec *);
int		 journal_rint(struct journal *, sqlite3_stmt *, int64_t dflt,
		     int64_t *v, char **cause);
int		 journal_setup(sqlite3 *, const char *sql, char **cause);
int		 journal_mode_wal(sqlite3 *, const char *sql,
		     const char *refusal_fmt, char **cause);
int		 journal_wal(sqlite3 *, char **cause);

/* journal-writer.c */
int		 journal_retain_bound(struct journal *, int64_t keep_events,
		     int64_t keep_days, char **cause);
int64_t		 journal_prune_batch(struct journal *, size_t batch,
		     char **cause);

/* journal-run.c */
int		 journal_run_start(struct journal *, int sync, char **cause);

#endif /* JOURNAL_INT_H */
