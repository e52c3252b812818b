/*
 * wschatd.h: the one internal header. Prototypes are grouped by the file
 * that owns them; each file's symbols carry its name as prefix.
 */
#ifndef WSCHATD_H
#define WSCHATD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "ws.h"

#define WSCHAT_VERSION	"wschatd/" PACKAGE_VERSION

/* glibc's sys/queue.h lacks the _SAFE walkers. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#define printflike(a, b) __attribute__((format(printf, a, b)))

struct client;
struct stream;
struct user;
struct channel;
struct member;
struct wevent;
struct journal;
struct account;
struct token;

#include "util.h"

/* config.c: one settings table drives defaults, bounds, -n and the docs. */
enum journal_sync { JOURNAL_SYNC_NORMAL, JOURNAL_SYNC_FULL };
struct config {
	char		*listen;		/* addr:port */
	char		*db;			/* SQLite journal path */
	int		 journal_sync;		/* enum journal_sync */
	char		*log;			/* stderr | syslog | path */
	char		*origins;		/* space-separated allowlist (origin.c) */
	long long	 max_connections;	/* sockets, counted from accept */
	long long	 max_handshakes;	/* accepted, not yet upgraded */
	long long	 max_connections_per_address;	/* 0 = no limit */
	long long	 max_unidentified_per_address;	/* 0 = no limit */
	long long	 unidentified_timeout;	/* seconds without a command, 0 = off */
	long long	 max_creates_per_hour;	/* CREATEs per address, 0 = no limit */
	long long	 max_channels_owned;	/* per user, 0 = no limit */
	long long	 max_channels_joined;	/* per user, 0 = no limit */
	long long	 accept_batch;		/* accepts per loop pass, 0 = all */
	long long	 max_frame;
	long long	 max_message;
	long long	 max_line;
	long long	 max_name;
	long long	 max_channels;
	long long	 max_output;
	long long	 send_buffer;		/* SO_SNDBUF, 0 = autotuning */
	long long	 rate_limit;		/* commands per second, 0 = off */
	long long	 rate_burst;
	long long	 rate_strikes;		/* refused commands before close 1008 */
	long long	 ping_interval;		/* seconds, 0 = never ping */
	long long	 ping_timeout;		/* seconds without any frame */
	long long	 handshake_timeout;	/* seconds */
	long long	 shutdown_timeout;	/* seconds */
	long long	 retain_events;		/* 0 = keep all */
	long long	 retain_days;		/* 0 = keep all */
	long long	 resume_max_events;
	long long	 stream_rate;		/* streamed lines/s, 0 = no limit */
	long long	 snapshot_messages;
	long long	 history_max;
	long long	 reply_budget;		/* deferred reply bytes before input stops */
	long long	 stream_stall_timeout;	/* seconds a stream may wait to drain */
	long long	 max_snapshots;		/* snapshot cursors open at once */
	int		 registration;		/* enum config_registration */
	int		 guests;		/* 1: NICK makes guest accounts */
	long long	 guest_ttl;		/* seconds a guest token lives unused */
	long long	 token_ttl;		/* seconds a token lives unused */
	long long	 password_min;		/* bytes */
	long long	 pwhash_opslimit;	/* Argon2id passes */
	long long	 pwhash_memlimit;	/* Argon2id bytes */
	long long	 auth_threads;
	long long	 auth_queue;		/* password jobs waiting, at most */
	long long	 login_rate;		/* failures refilled per minute */
	long long	 login_burst;		/* failures a bucket holds */
	char		*www_root;		/* the web client; "" = built-in */
};
enum config_registration { CONFIG_REGISTRATION_OPEN, CONFIG_REGISTRATION_CLOSED };
extern struct config	 config;
void		 config_defaults(struct config *);
void		 config_free(struct config *);
/* Recoverable errors set *cause to "file:line: message" (or "key: message"). */
int		 config_load(struct config *, const char *path, char **cause);
int		 config_set(struct config *, const char *key, const char *value,
		     char **cause);
/* Write the annotated example config (every key at its default). */
void		 config_write_example(FILE *);
/* Iterate settings: returns the name of setting i, or NULL past the end. */
const char	*config_name(size_t i);

/* ws.c: see ws.h */

/* origin.c: browser Origins, parsed and matched against the allowlist. */
#define ORIGIN_MAX	300	/* longest origin or pattern, in bytes */
struct origin {
	char		 o_scheme[32];		/* lower case */
	char		 o_host[256];		/* lower case; IPv6 in brackets */
	int		 o_port;		/* written, or the scheme's default */
	int		 o_port_given;
};
int		 origin_parse(const char *, struct origin *);	/* -1 malformed */
const char	*origin_check_pattern(const char *);	/* why not, or NULL */
const char	*origin_check_list(const char *);	/* the config check */
int		 origin_match(const char *pattern, const struct origin *);
int		 origin_is_self(const struct origin *, const char *host);
/* 1 allowed, 0 refused, -1 malformed; a NULL origin (no browser) is allowed. */
int		 origin_allowed(const char *list, const char *origin,
		     const char *host);

/*
 * quota.c: what each source address holds. One entry per address while it
 * has connections (or CREATE tokens still refilling); each counter has one
 * owner: q_conns quota.c, q_pending http.c, q_unidentified client.c.
 */
struct quota {
	char		 q_addr[64];		/* numeric, without the port */
	unsigned int	 q_conns;		/* accepted sockets, upgraded or not */
	unsigned int	 q_pending;		/* not yet upgraded */
	unsigned int	 q_unidentified;	/* upgraded, no NICK yet */
	double		 q_create_tokens;	/* CREATE bucket (max_creates_per_hour) */
	int64_t		 q_create_at;		/* ms of its last refill */
	struct quota	*q_next;		/* hash chain */
};
struct quota	*quota_acquire(const char *addr);	/* q_conns + 1 */
void		 quota_release(struct quota *);		/* q_conns - 1 */
int		 quota_take_create(struct quota *);	/* 0, or -1 over the rate */
size_t		 quota_count(void);			/* entries (tests, healthz) */
void		 quota_shutdown(void);

/* proto.c: the line parser, the name rule and the wire-error table. */
#define PROTO_ERRORS(X)							\
	X(BADARGS,	"bad arguments")				\
	X(UNKNOWN,	"unknown command")				\
	X(NOTIDENTIFIED, "set a name with NICK first")			\
	X(NAMEINUSE,	"name in use")					\
	X(NOSUCHCHANNEL, "no such channel")				\
	X(CHANNELEXISTS, "channel exists")				\
	X(NOTMEMBER,	"not a member of the channel")			\
	X(FORBIDDEN,	"forbidden")					\
	X(TOOLONG,	"line too long")				\
	X(RATELIMITED,	"rate limited")					\
	X(BADLOGIN,	"invalid login")				\
	X(LIMIT,	"limit reached")				\
	X(INTERNAL,	"internal error")
enum proto_error {
#define PROTO_ENUM(name, text) PROTO_ERR_##name,
	PROTO_ERRORS(PROTO_ENUM)
#undef PROTO_ENUM
	PROTO_ERR_MAX
};
const char	*proto_error_name(enum proto_error);
const char	*proto_error_text(enum proto_error);
#define PROTO_MAXARGS	8
struct proto_line {
	char		*verb;
	int		 argc;			/* arguments after the verb */
	char		*argv[PROTO_MAXARGS];
	char		*next;			/* unsplit arguments, or NULL */
};
/* Strip one trailing LF, then CR; returns the new length. */
size_t		 proto_trim(char *line, size_t len);
/*
 * Parse a trimmed line in place, in one pass: the verb, then (once the
 * caller knows it) the arguments. With rest > 0 the rest-th argument takes
 * the remainder of the line, spaces included. -1 with *cause on malformed
 * input.
 */
int		 proto_verb(char *line, size_t len, struct proto_line *,
		     const char **cause);
int		 proto_args(struct proto_line *, int rest, const char **cause);
/* Names of users and channels: [A-Za-z0-9_.-], 1..max bytes. */
int		 proto_valid_name(const char *, size_t max);

/* client.c: one WebSocket connection, as bytes and frames. */
enum client_state {
	CLIENT_OPEN,		/* frames flow both ways */
	CLIENT_CLOSING,		/* close frame sent, waiting for flush or the peer */
	CLIENT_DEAD		/* torn down, waiting for the deferred free */
};
struct client {
	uint64_t	 c_id;
	enum client_state c_state;
	int		 c_refs;
	struct evhttp_connection *c_evcon;	/* owns the socket */
	struct bufferevent *c_bev;
	char		 c_addr[64];
	struct ws_parser c_parser;
	struct quota	*c_quota;		/* its source address */
	int		 c_unidentified;	/* counted in q_unidentified */
	int64_t		 c_last_cmd;		/* monotonic ms of the last message */

	/* Held input: a line to run again, and the holds (client.c). */
	char		*c_heldline;
	size_t		 c_heldlen;
	int		 c_holds;
	size_t		 c_held_inlen;		/* unparsed input at the last sweep */
	unsigned int	 c_drains;		/* times the output drained */
	unsigned int	 c_held_drains;		/* ... at the last sweep */

	/* Rate limiting (token bucket) and keepalive (client.c). */
	double		 c_tokens;
	int64_t		 c_tokens_at;
	int		 c_strikes;
	int64_t		 c_last_rx;		/* monotonic ms of the last frame */
	int		 c_pinged;		/* a keepalive ping is out */
	int64_t		 c_close_at;		/* CLOSING: tear down by then */
	int		 c_close_got;		/* the peer's close frame arrived */

	/* Who it is (state.c), and its intents with their links (intent.c). */
	struct user	*c_user;		/* NULL while anonymous */
	TAILQ_ENTRY(client) c_uentry;		/* the user's connections */
	struct token	*c_token;		/* what it identified with (account.c) */
	unsigned char	 c_tokkey[32];		/* its hash, to find it after a reload */
	int		 c_via;			/* enum account_via */
	int		 c_authing;		/* a LOGIN/REGISTER/PASSWD in flight */
	unsigned int	 c_intents;
	TAILQ_ENTRY(client) c_ilinks[3];

	/* Replies waiting for a commit (reply.c). */
	unsigned int	 c_deferred;
	size_t		 c_deferred_bytes;	/* what they hold */
	int		 c_reply_held;		/* over reply_budget: input held */

	/* What it receives of the event stream (stream.c). */
	struct stream	*c_stream;		/* NULL unless streaming */
	struct evbuffer	*c_held;		/* live events held meanwhile */
	int64_t		 c_live_after;		/* drop live events <= this seq */
	int64_t		 c_first_seq;		/* first live event delivered */
	int64_t		 c_last_seq;		/* last event delivered */

	TAILQ_ENTRY(client) c_entry;
};
TAILQ_HEAD(clients, client);
extern struct clients	 clients;
extern unsigned int	 clients_count;
/* What a line callback says: the line ran, or it must wait for its turn. */
enum client_line_result {
	CLIENT_LINE_DONE,
	CLIENT_LINE_HOLD	/* keep it; run it again on client_resume() */
};
/*
 * The layer above: how the connection layer calls up (every one is set).
 * closing runs once, when the connection leaves CLIENT_OPEN, and always
 * before gone, which runs once at teardown.
 */
struct client_ops {
	void	(*opened)(struct client *);
	enum client_line_result (*line)(struct client *, char *line, size_t len);
	void	(*refused)(struct client *);	/* over rate_limit */
	void	(*drained)(struct client *);	/* the output is empty */
	void	(*closing)(struct client *);	/* left CLIENT_OPEN */
	void	(*gone)(struct client *);	/* torn down: forget it */
};
void		 client_init(struct event_base *, const struct client_ops *);
void		 client_shutdown(void);
struct client	*client_new(struct evhttp_connection *, struct bufferevent *,
		     const char *addr, struct quota *);
void		 client_identified(struct client *);	/* it has a user now */
void		 client_ref(struct client *);
void		 client_unref(struct client *);
const char	*client_who(struct client *);
/* Our end of a connection: close frame, log line and counter, once. */
void		 client_close(struct client *, uint16_t code, const char *reason);
void		 client_close_all(uint16_t code, const char *reason);
void		 client_flush_all(void);
void		 client_reap_all(struct event_base *);
/* Queue a text frame; returns -1 if the client is gone or was just closed. */
int		 client_send(struct client *, const char *, size_t);
int		 client_sendf(struct client *, const char *, ...) printflike(2, 3);
/* Queue a prebuilt frame (header + payload), or a buffer of them. */
int		 client_send_frame(struct client *, const void *, size_t);
int		 client_send_buffer(struct client *, struct evbuffer *,
		     const char *what);
size_t		 client_output_len(struct client *);
/* Hold input (frames wait unparsed) and release it. */
void		 client_hold(struct client *);
void		 client_unhold(struct client *);
/* Input goes on, a held line first, unless something holds it. */
void		 client_resume(struct client *);
/* Take n rate-limit tokens, or refuse (words, or 1008): 0 if taken. */
int		 client_rate_charge(struct client *, double);
extern uint64_t	 client_stats_closed[3];	/* normal, error, slow: /healthz */

/*
 * stream.c: live delivery, and commands that stream their output in pages
 * (RESUME, SNAPSHOT, HISTORY) at the loop's lowest priority. Live events after
 * live_after are held and input waits until the stream ends. A page calls
 * stream_line() after each line and stops when it says so (the client is
 * gone, half of max_output is queued, or the stream_rate credit all
 * streams share is spent); it then says what comes next: DONE once it sent
 * its last line or closed the client, MORE for another page on a later
 * turn. After the last line the held live events follow, once they fit
 * behind what is queued. The free callback runs exactly once when the
 * stream ends, also when the client goes away mid-stream.
 */
enum stream_next {
	STREAM_DONE,
	STREAM_MORE
};
typedef enum stream_next (*stream_page_cb)(struct client *, void *);
void		 stream_init(struct event_base *);
void		 stream_deliver(struct client *, int64_t seq, const void *frame,
		     size_t len);
int		 stream_delivered(const struct client *, int64_t seq);
void		 stream_start(struct client *, int64_t live_after,
		     stream_page_cb, void (*)(void *), void *);
int		 stream_line(struct client *);
/* The connection layer's news, passed on by the layer above. */
void		 stream_drained(struct client *);
void		 stream_closing(struct client *);
void		 stream_gone(struct client *);

/* state.c: users, channels, memberships and intents with two-way indexes. */
enum intent_type { INTENT_CHANNEL, INTENT_USER, INTENT_MESSAGE, INTENT_MAX };
struct member {
	struct user	*m_user;
	struct channel	*m_chan;
	int64_t		 m_joined;	/* seq of the JOIN */
	int64_t		 m_parted;	/* seq of the PART, 0 while a member */
	TAILQ_ENTRY(member) m_uentry;
	TAILQ_ENTRY(member) m_centry;
	TAILQ_ENTRY(member) m_gentry;	/* parted, waiting to be reaped */
};
TAILQ_HEAD(members, member);
struct user {
	char		*u_name;
	struct clients	 u_clients;	/* its live connections (c_uentry) */
	size_t		 u_nclients;
	struct members	 u_members;
	size_t		 u_nchannels;
	int		 u_admin;	/* the account has the admin role */
};
struct channel {
	char		*ch_name;
	char		*ch_creator;	/* the owner */
	int64_t		 ch_created;	/* seq */
	int64_t		 ch_deleted;	/* seq, 0 while it exists */
	int		 ch_private;	/* shows only to those who may see it */
	struct members	 ch_members;
	size_t		 ch_nmembers;
	char		**ch_access[2];	/* names, by enum state_access */
	size_t		 ch_naccess[2];
	TAILQ_ENTRY(channel) ch_entry;
};
TAILQ_HEAD(channels, channel);
/* Per-channel lists of names: who is invited, who is banned. */
enum state_access { STATE_INVITE, STATE_BAN };
extern struct channels	 state_channels;	/* live channels, in creation order */
extern size_t		 state_nchannels;
struct user	*state_user_find(const char *);
struct user	*state_user_get(const char *);	/* find or create */
void		 state_user_attach(struct user *, struct client *);
void		 state_user_detach(struct client *);
struct channel	*state_channel_find(const char *);
struct channel	*state_channel_add(const char *, const char *creator, int64_t seq);
void		 state_channel_del(struct channel *, int64_t seq);
size_t		 state_channels_owned(const char *);
/*
 * Does the channel exist for this user (NULL: anonymous)? A public one
 * for everyone; a private one for its owner, an admin, a member and an
 * invited name. The one rule for LIST, lookups and channel events.
 */
int		 state_channel_visible(const struct channel *,
		     const struct user *);
/* The owner or an admin: who may DELETE, INVITE, KICK, BAN, UNBAN. */
int		 state_channel_owner(const struct channel *, const struct user *);
/* The invite and ban lists: one mutator each way. */
int		 state_access_find(const struct channel *, enum state_access,
		     const char *name);
void		 state_access_add(struct channel *, enum state_access,
		     const char *name);
void		 state_access_del(struct channel *, enum state_access,
		     const char *name);
struct member	*state_member_find(struct user *, struct channel *);
struct member	*state_member_add(struct user *, struct channel *, int64_t seq);
void		 state_member_del(struct member *, int64_t seq);
/* Was the member in the channel at this seq? */
int		 state_member_at(const struct member *, int64_t seq);
/* Was the user a member of the channel at this seq (ghosts count)? */
int		 state_member_was(const struct user *, const struct channel *,
		     int64_t seq);
/* Drop parted members and deleted channels whose seqs are <= seq. */
void		 state_reap(int64_t seq);
/* Forget channels and memberships (users stay); state_clear forgets all. */
void		 state_reset(void);
void		 state_clear(void);
size_t		 state_nusers(void);
/* Check every two-way index; fatal on a mismatch (tests call it). */
void		 state_check(void);

/* account.c: accounts and tokens in memory, and the token codec. */
#define ACCOUNT_TOKEN_RAW	32	/* bytes of a token */
#define ACCOUNT_TOKEN_LEN	43	/* ... printed in base64url */
#define ACCOUNT_HASH_LEN	32	/* SHA-256 */
enum account_via {
	ACCOUNT_VIA_NONE,
	ACCOUNT_VIA_NICK,
	ACCOUNT_VIA_REGISTER,
	ACCOUNT_VIA_LOGIN,
	ACCOUNT_VIA_AUTH
};
struct token {
	unsigned char	 t_hash[ACCOUNT_HASH_LEN];
	char		 t_hex[2 * ACCOUNT_HASH_LEN + 1];
	struct account	*t_acct;
	int64_t		 t_used;	/* wall ms of the last use */
	int64_t		 t_stored;	/* ... as the journal has it */
	TAILQ_ENTRY(token) t_entry;
};
TAILQ_HEAD(tokens, token);
struct account {
	char		*a_name;
	int		 a_registered;	/* else a guest */
	char		*a_pwhash;	/* Argon2id string, NULL for guests */
	int		 a_admin;
	int		 a_disabled;
	struct tokens	 a_tokens;
	size_t		 a_ntokens;
};
struct account	*account_find(const char *);
struct account	*account_add(const char *, int registered, const char *pwhash);
void		 account_set_password(struct account *, const char *pwhash);
void		 account_del(struct account *);
size_t		 account_count(void);
size_t		 account_token_count(void);
struct account	**account_all(size_t *);	/* name order; free the array */
void		 account_clear(void);
struct token	*account_token_find(const unsigned char *hash);
struct token	*account_token_add(struct account *, const unsigned char *hash,
		     int64_t used);
void		 account_token_del(struct token *);
void		 account_hex(const unsigned char *, size_t, char *);
int		 account_hex_parse(const char *, unsigned char *, size_t);
void		 account_token_encode(const unsigned char *raw, char *out);
int		 account_token_parse(const char *, unsigned char *raw);
void		 account_token_hash(const unsigned char *raw, unsigned char *hash);
void		 account_token_new(char *out, unsigned char *hash);

/* bucket.c: token buckets of failures by key (login rate limits). */
double		 bucket_level(double level, int64_t at, int64_t now,
		     long long rate, long long burst);
int		 bucket_empty(void **, const char *, int64_t now, long long rate,
		     long long burst);
void		 bucket_charge(void **, const char *, int64_t now, long long rate,
		     long long burst);
size_t		 bucket_prune(void **, int64_t now, long long rate,
		     long long burst, int all);

/* auth.c: the bounded worker pool for Argon2id, off the event loop. */
enum { AUTH_OK, AUTH_FAILED, AUTH_CANCELLED };
typedef void (*auth_done_cb)(int result, const char *hash, void *arg);
int		 auth_init(struct event_base *, char **cause);
void		 auth_shutdown(void);
/* -1: the queue is full. done runs on the loop thread. */
int		 auth_hash(const char *pw, auth_done_cb, void *);
int		 auth_verify(const char *hash, const char *pw, auth_done_cb,
		     void *);

/* intent.c: event type -> the connections holding that intent. */
int		 intent_parse(const char *);	/* -1 if unknown */
const char	*intent_name(int);
void		 intent_add(struct client *, int);
void		 intent_del(struct client *, int);
void		 intent_clear(struct client *);
struct client	*intent_first(int);
struct client	*intent_next(struct client *, int);
size_t		 intent_count(int);
void		 intent_check(void);

/* batch.c: group commit of records through a log backend (the seam). */
struct journal_rec;
/* The log seam: what the group commit needs of a backend. */
typedef void (*eventlog_done_cb)(void *batch, int ok, const char *cause,
		     void *arg);
struct eventlog {
	void		*el_arg;
	int		(*el_start)(void *, struct event_base *, eventlog_done_cb,
			    void *, char **cause);
	void		(*el_stop)(void *);
	/* The records commit together, or not at all; then done(batch). */
	void		(*el_submit)(void *, void *batch,
			    const struct journal_rec *, size_t);
	int64_t		(*el_head)(void *);	/* the last committed seq */
	const char	*(*el_epoch)(void *);
	/* Why the log refuses every write until a restart; NULL if sound. */
	const char	*(*el_broken)(void *);
};
/* Who hears of commits: committed(id) once a batch is in, failed(upto). */
struct batch_listener {
	void	(*committed)(uint64_t id, int64_t head);
	void	(*failed)(uint64_t upto, const char *cause);
};
int		 batch_init(struct event_base *, const struct eventlog *);
void		 batch_listen(const struct batch_listener *);
void		 batch_free(void);
/* Queue a record (its strings must last until its batch is heard of). */
uint64_t	 batch_add(const struct journal_rec *);
uint64_t	 batch_ticket(void);	/* the batch that commits next */
uint64_t	 batch_newest(void);	/* the newest not done, 0 if none */
int		 batch_pending(void);	/* batches not yet completed */
int64_t		 batch_committed(void);	/* highest seq committed and heard of */
const char	*batch_epoch(void);
void		 batch_drain(void);	/* block until all batches complete (shutdown) */
/* For /healthz: the log's state and the last commit heard of. */
struct batch_health {
	const char	*bh_broken;	/* the log refuses writes: why */
	int		 bh_last;	/* last commit: 1 ok, 0 not, -1 none */
	int64_t		 bh_age_ms;	/* since it was heard of */
	const char	*bh_cause;	/* why it failed */
};
void		 batch_health(struct batch_health *);
const char	*batch_broken(void);

/* wevent.c: the one path every state change takes. */
struct wevent {
	int64_t		 ev_seq;
	int64_t		 ev_ts;
	int		 ev_type;	/* enum intent_type */
	char		*ev_action;
	char		*ev_resource;
	char		*ev_actor;
	char		*ev_data;	/* JSON object, with seq and ts */
	unsigned char	*ev_frame;	/* header + "EVENT ..." line, built once */
	size_t		 ev_framelen;
	size_t		 ev_hdrlen;	/* ev_frame + ev_hdrlen is the line */
	struct channel	*ev_chan;	/* the channel it is about */
	int		 ev_priv;	/* ... which is private */
	char		*ev_secret;	/* account: a password hash, never sent */
	char		*ev_token;	/* account: a token's hash, never sent */
	int64_t		 ev_request;	/* account: wschatctl requests applied */
	uint64_t	 ev_batch;	/* waiting for this batch to commit */
	TAILQ_ENTRY(wevent) ev_entry;
};
void		 wevent_init(struct journal *);
void		 wevent_shutdown(void);
/* Load channels and memberships from the journal (start, failed commit). */
int		 wevent_load(void);
/* The layer above hears of each load, after it (NULL: nobody). */
void		 wevent_on_load(void (*)(void));
/* The state changes: each emits its event and applies it at its seq. */
struct channel	*wevent_create(const char *, struct user *, int priv);
void		 wevent_join(struct user *, struct channel *);
void		 wevent_part(struct member *, const char *reason);
/* Parted by someone else: "reason":why,"by":by, and "text" unless NULL. */
void		 wevent_kick(struct member *, struct user *by, const char *why,
		     const char *text);
/* channel INVITE|BAN|UNBAN <c>: "username" is the target, "by" who. */
void		 wevent_access(struct channel *, const char *action,
		     const char *target, struct user *by);
void		 wevent_delete(struct channel *, struct user *);
int64_t		 wevent_message(struct user *, struct channel *, const char *);
/*
 * Account events (type 'account'): no intent receives them, their JSON has
 * no secret; the hashes ride along in the record for the journal's tables.
 */
#define WEVENT_ACCOUNT	INTENT_MAX	/* ev_type of account events */
struct account	*wevent_guest(const char *, const unsigned char *tokhash);
struct account	*wevent_register(const char *, const char *pwhash,
		     const unsigned char *tokhash);
struct token	*wevent_token(struct account *, const unsigned char *tokhash);
void		 wevent_touch(struct token *);
void		 wevent_revoke(struct token *);
void		 wevent_passwd(struct account *, const char *pwhash, struct token *keep);
void		 wevent_release(struct account *, const char *reason);
void		 wevent_account_flag(struct account *, const char *action);
/* The next account event also marks wschatctl requests up to id done. */
void		 wevent_request(int64_t id);
/* Build an event from journal columns (replay); not queued. */
struct wevent	*wevent_build(int64_t seq, int64_t ts, const char *type,
		     const char *action, const char *resource, const char *actor,
		     const char *data);
void		 wevent_free(struct wevent *);
/*
 * Does this connection receive an event of this type, given whether the
 * event's channel is private, whether its user was a member of it at the
 * event's seq, and the event's actor? Live and replay.
 */
int		 wevent_wanted(const struct client *, int type, int priv,
		     int member, const char *actor);

/* reply.c: replies, in order, each after the commit it depends on. */
void		 reply_init(void);
void		 reply_shutdown(void);
void		 reply_send(struct client *, const char *, ...) printflike(2, 3);
void		 reply_error(struct client *, enum proto_error, const char *, ...)
		     printflike(3, 4);
/* After the open batch commits (ERROR INTERNAL if it fails). */
void		 reply_commit(struct client *, const char *, ...) printflike(2, 3);
void		 reply_hello(struct client *);
int		 reply_waits(struct client *);	/* replies wait for a commit */

/* cmd.c: the command table and the dispatcher. */
#define CMD_NEEDNAME	0x01	/* needs an identity (NICK, LOGIN, ...) */
#define CMD_REST	0x02	/* last argument is the rest of the line */
#define CMD_READ	0x04	/* reads state: runs after earlier replies */
#define CMD_CHANNEL	0x08	/* argv[0] is a channel that exists for the user */
#define CMD_MEMBER	0x10	/* ... and the user is a member of it */
#define CMD_EVTYPE	0x20	/* argv[0] is an event type */
#define CMD_OWNER	0x40	/* ... and the user owns it or is an admin */
#define CMD_WRITE	0x80	/* journals an event: refused while the log is broken */
enum cmd_retval {
	CMD_NORMAL		/* replied, deferred its reply or started a stream */
};
/* One command as the handler gets it, with the targets its entry named. */
struct cmd_call {
	struct client	*cc_client;
	struct proto_line cc_line;
	struct channel	*cc_chan;	/* CMD_CHANNEL, CMD_MEMBER */
	struct member	*cc_member;	/* CMD_MEMBER */
	int		 cc_type;	/* CMD_EVTYPE */
};
struct cmd_entry {
	const char	*name;
	int		 lower;		/* fewest arguments */
	int		 upper;		/* most arguments */
	int		 flags;
	const char	*usage;		/* "VERB <arg> ..." */
	const char	*missing;	/* text for too few arguments, or NULL */
	int		 cost;		/* rate-limit tokens it takes; 0 = 1 */
	enum cmd_retval	 (*exec)(struct cmd_call *);
};
extern const struct cmd_entry *cmd_table[];
extern struct journal	*cmd_journal;
void		 cmd_init(struct event_base *, struct journal *);
const struct cmd_entry *cmd_find(const char *verb);
enum client_line_result cmd_dispatch(struct client *, char *line, size_t len);

/* ident.c: what the identity commands share: switching, revoking, limits. */
void		 ident_init(struct event_base *);
void		 ident_shutdown(void);
int		 ident_switch(struct client *, struct account *, struct token *,
		     int via);
void		 ident_anonymous(struct client *);
void		 ident_revoke(struct token *, uint16_t code, const char *why,
		     const char *release_reason);
void		 ident_close_account(struct account *, struct client *except,
		     const char *why);
int		 ident_limited(struct client *, const char *name);
void		 ident_failed(struct client *, const char *name);
int		 ident_password_ok(const char *);
/*
 * Hash pw (hash NULL and verify 0), or verify it against hash (NULL: the
 * dummy), on the password pool while the connection's input waits. done
 * runs exactly once, on the loop thread: AUTH_CANCELLED if the queue was
 * full (the client has its RATELIMITED already) or the client left.
 */
void		 ident_password(struct client *, int verify, const char *hash,
		     const char *pw, auth_done_cb, void *);
void		 ident_sweep(void);

/* cmd-snapshot.c */
void		 cmd_snapshot_send(struct client *);

/* http.c: the front door. */
int		 http_init(struct event_base *, const char *listen, char **cause);
void		 http_free(void);
void		 http_stop_accepting(void);	/* refuse upgrades from now on */

/* www.c: the web client's files, under www_root. */
struct evhttp_request;
void		 www_init(void);
void		 www_free(void);
void		 www_request(struct evhttp_request *, const char *path);

/* journal*.c: every sqlite3 call lives there and in migrate.c (journal-int.h). */
struct journal_rec {
	int64_t		 seq;
	int64_t		 ts;
	const char	*type;
	const char	*action;
	const char	*resource;
	const char	*actor;
	const char	*data;
	int		 priv;		/* the channel is private */
	/* account events only: stored in their tables, never in events */
	const char	*secret;	/* a password's Argon2id string */
	const char	*token;		/* a token's SHA-256, hex */
	int64_t		 request;	/* wschatctl requests up to this id are done */
};
typedef int (*journal_rec_cb)(const struct journal_rec *, void *);
typedef void (*journal_done_cb)(void *batch, int ok, const char *cause, void *arg);
struct journal_state_cb {
	void	(*channel)(const char *name, const char *creator, int64_t seq,
		    int priv, void *);
	void	(*member)(const char *channel, const char *user, int64_t seq, void *);
	/* An invite or a ban (enum state_access) of user in channel. */
	void	(*access)(const char *channel, int kind, const char *user, void *);
	void	(*account)(const char *name, int registered, const char *pwhash,
		    int admin, int disabled, void *);
	void	(*token)(const char *hash, const char *account, int64_t used,
		    void *);
	void	*arg;
};
/* One wschatctl request waiting for the daemon (journal-account.c). */
struct journal_request {
	int64_t		 id;
	const char	*verb;
	const char	*name;
	const char	*pwhash;	/* or NULL */
};
typedef int (*journal_request_cb)(const struct journal_request *, void *);
/*
 * SNAPSHOT, in this order: begin(head seq), every channel, the user's
 * channels (sub), the members of those, their last messages (ascending).
 * Any callback may be NULL; nonzero stops. Strings last for the call.
 */
struct journal_snapshot_cb {
	int	(*begin)(int64_t seq, void *);
	int	(*channel)(const char *name, const char *creator, int64_t seq,
		    int priv, void *);
	int	(*sub)(const char *channel, int64_t joined_seq, void *);
	int	(*member)(const char *channel, const char *user, int64_t joined_seq,
		    void *);
	int	(*message)(const struct journal_rec *, void *);
	void	*arg;
};
struct journal_stats {
	int64_t		 events;
	int64_t		 head;
	int64_t		 first;		/* head + 1 if no event is retained */
	int64_t		 channels;
	int64_t		 users;
	int64_t		 memberships;
	int64_t		 db_bytes;
	int64_t		 wal_bytes;
	int		 schema_version;
};
typedef int (*journal_row_cb)(int ncols, const char *const *values, void *);
typedef void (*journal_problem_cb)(const char *problem, void *);
/*
 * The daemon's open: a new epoch if the last run may have lost commits
 * (meta run_state), then this run is marked running, with a full sync.
 */
struct journal	*journal_open(const char *path, int sync, char **cause);
/* wschatctl: an existing database at exactly our schema; never migrates. */
struct journal	*journal_open_admin(const char *path, char **cause);
/* After an orderly shutdown's last commit: the next start keeps the epoch. */
int		 journal_mark_stopped(struct journal *, char **cause);
void		 journal_close(struct journal *);
const char	*journal_epoch(struct journal *);
int64_t		 journal_head(struct journal *);	/* last committed seq */
int64_t		 journal_first(struct journal *);	/* oldest retained seq */
/* Why every write is refused until a restart (file moved, deleted, bad). */
const char	*journal_broken(struct journal *);
int		 journal_load_state(struct journal *, const struct journal_state_cb *,
		     char **cause);
/* Start the writer thread; done runs on the loop thread after each batch. */
int		 journal_start(struct journal *, struct event_base *,
		     journal_done_cb, void *arg, char **cause);
void		 journal_stop(struct journal *);
/* Hand a batch of records to the writer; they commit in one transaction. */
void		 journal_submit(struct journal *, void *batch,
		     const struct journal_rec *, size_t n);
/* The writer prunes to these when idle (0 = keep all); any thread. */
void		 journal_set_retention(struct journal *, int64_t keep_events,
		     int64_t keep_days);
/* Reads on the read connection. Callbacks return nonzero to stop. */
/* (after, upto]; upto < 0: no bound; limit 0: no limit. Returns rows. */
int		 journal_events(struct journal *, int64_t after, int64_t upto,
		     size_t limit, journal_rec_cb, void *, char **cause);
int		 journal_user_events_desc(struct journal *, const char *user,
		     int64_t after, journal_rec_cb, void *, char **cause);
int		 journal_history(struct journal *, const char *channel, int64_t before,
		     size_t limit, journal_rec_cb, void *, char **cause);
/*
 * One read transaction; *seq is the head it is consistent with. Private
 * channels show only to their owner, members and invited names (unless
 * all is set: an admin's snapshot, journal_snap_open).
 */
int		 journal_snapshot(struct journal *, const char *user, size_t nmessages,
		     const struct journal_snapshot_cb *, int64_t *seq, char **cause);
/*
 * The same snapshot read in pages across loop turns, from a cursor with
 * its own connection and read transaction (so every page is as of *seq,
 * whatever commits meanwhile). next delivers up to max_rows (0: all) more
 * rows, in journal_snapshot()'s order, never calling begin; a callback
 * returning nonzero ends the call after its row, and the next call goes
 * on from the row after it. next returns 1 while rows remain, 0 when all
 * are delivered, -1 on an error (then only close). The cursor holds the
 * WAL back while open: close it promptly.
 */
struct journal_snap;
struct journal_snap *journal_snap_open(struct journal *, const char *user,
		     int all, size_t nmessages, int64_t *seq, char **cause);
int		 journal_snap_next(struct journal_snap *,
		     const struct journal_snapshot_cb *, size_t max_rows,
		     char **cause);
void		 journal_snap_close(struct journal_snap *);
/* The last n events, ascending. Returns rows. */
int		 journal_tail(struct journal *, size_t n, journal_rec_cb, void *,
		     char **cause);
/* Deletes the oldest events outside retention; not while the writer runs. */
int		 journal_prune(struct journal *, int64_t keep_events, int64_t keep_days,
		     size_t batch, char **cause);
int		 journal_stats(struct journal *, struct journal_stats *, char **cause);
/* Integrity and journal invariants; returns problems reported, or -1. */
int		 journal_check(struct journal *, journal_problem_cb, void *,
		     char **cause);
/* Online backup to a new file (a self-contained copy). */
int		 journal_backup(struct journal *, const char *path, char **cause);
/* One read-only SQL statement; values are text or NULL. Returns rows. */
int		 journal_query(struct journal *, const char *sql, journal_row_cb,
		     void *, char **cause);
/* journal-account.c: wschatctl's requests to the running daemon. */
/* Has anyone else written to the database since the last call? */
int		 journal_changed(struct journal *);
int		 journal_requests(struct journal *, int64_t after,
		     journal_request_cb, void *, char **cause);
/* wschatctl: queue one request (write connection, opener's thread). */
int		 journal_request_add(struct journal *, const char *verb,
		     const char *name, const char *pwhash, char **cause);
/* journal-log.c: the journal as the group commit's log backend. */
void		 journal_eventlog(struct journal *, struct eventlog *);
#ifdef WSCHAT_DEBUG
void		 journal_log_delay(long ms);	/* report commits ms late */
#endif
#ifdef WSCHAT_DEBUG
void		 journal_fail_step(long n);	/* fail the nth sqlite3_step, 0 = off */
void		 journal_fake_boot_id(const char *);	/* NULL: the real one */
#endif

/* migrate.c */
struct sqlite3;
struct migration {
	int		 version;
	const char	*name;
	const char	*sql;
};
extern const struct migration migrations[];	/* generated: src/migrations.c */
extern const size_t migrations_count;
int		 migrate_latest(void);		/* newest version we carry */
int		 migrate_apply(struct sqlite3 *, char **cause);
/* Refuse a database not at exactly migrate_latest() (tools never migrate). */
int		 migrate_check(struct sqlite3 *, char **cause);

#endif
