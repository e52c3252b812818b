/*
 * bench.h: wschat-bench's one private header. The options and the run's
 * state, which every file reads, the types they are made of, and what the
 * files call of each other, grouped by the file that owns it; each name
 * carries its file's name as prefix. Of the daemon the bench knows only
 * util.h and ws.h.
 */
#ifndef BENCH_H
#define BENCH_H

#include <sys/types.h>
#include <sys/resource.h>

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"
#include "ws.h"

struct bufferevent;
struct event;
struct event_base;

#define BENCH_MAX_ERRORS	20			/* error texts kept */

/* The scenarios (opts.c names them). */
enum scenario { SC_FANOUT, SC_INGEST, SC_CONNECTIONS, SC_CEILING, SC_RESUME,
    SC_REPLAY, SC_LOGIN };
/*
 * resume is fanout whose subscribers keep reconnecting with RESUME; replay
 * is fanout during which one more client resumes across many missed events;
 * login is fanout during which --logins registered clients LOGIN at once.
 */
#define IS_FANOUT(s)	((s) == SC_FANOUT || (s) == SC_RESUME || \
			    (s) == SC_REPLAY || (s) == SC_LOGIN)

/* The command line (opts.c). */
struct opts {
	enum scenario	 scenario;
	char		*url;
	struct sockaddr_in addr;	/* the server */
	char		 hostport[96];	/* Host: header */
	char		*path;		/* request target */
	int		 subscribers;
	int		 publishers;
	int		 connections;
	double		 duration;
	int		 duration_set;
	int64_t		 messages;	/* per publisher, 0 = until duration */
	double		 rate;		/* open loop, msgs/s over all publishers */
	int		 window;	/* closed loop, outstanding per publisher */
	size_t		 size;		/* bytes of message text */
	pid_t		 server_pid;
	char		*json;
	int		 concurrency;	/* handshakes in flight */
	int		 source_addrs;	/* 127.0.0.1 .. 127.0.0.N */
	double		 drain;		/* seconds allowed after publishing */
	double		 reconnect_ms;	/* resume: mean time between reconnects */
	size_t		 fragment;	/* split client messages, 0 = no */
	int		 ceiling_per_message;	/* one write per receiver per msg */
	int64_t		 ceiling_batch;	/* free messages before a pass */
	int		 stalled;	/* subscribers that stop reading */
	int		 stall_rcvbuf;	/* their SO_RCVBUF, bytes */
	int64_t		 replay_events;	/* replay: events published before */
	double		 replay_at;	/* replay: seconds into the run */
	int		 logins;	/* login: clients that LOGIN at once */
	double		 login_at;	/* login: seconds into the run */
	char		*strace;	/* strace -c output file */
	int		 verbose;
	char		*command;	/* argv, for the record */
};

/* A histogram of nanoseconds (hist.c). */
struct hist {
	uint64_t	 count;
	uint64_t	 min;
	uint64_t	 max;
	double		 sum;
	uint64_t	*b;
};

/*
 * STALL: subscribes, then stops reading (--stalled); RESUMER: the replay
 * scenario's client that leaves, misses events and comes back with RESUME.
 * LOGIN: the login scenario's client, registered in setup, that logs in
 * again during the fan-out. None counts in the fan-out's completion or
 * latency.
 */
enum role { ROLE_PUB, ROLE_SUB, ROLE_IDLE, ROLE_RECV, ROLE_STALL, ROLE_RESUMER,
    ROLE_LOGIN };

enum conn_state {
	CS_NEW,			/* not started */
	CS_CONNECTING,		/* TCP connect in progress */
	CS_HANDSHAKE,		/* request sent, reading the 101 */
	CS_HELLO,		/* upgraded, waiting for HELLO */
	CS_OPEN,		/* talking */
	CS_CLOSING,		/* our close frame is out */
	CS_DEAD			/* gone (cleanly or not) */
};

/* What the next reply on a connection must be. */
enum expect {
	EXP_NICK, EXP_SUBEVENT, EXP_CREATE, EXP_SUB, EXP_MSG, EXP_PING,
	EXP_RESUME, EXP_REGISTER, EXP_LOGIN
};

/* One WebSocket connection (conn.c) and what it received. */
struct conn {
	int		 c_idx;		/* in run.conns */
	int		 c_id;		/* within its role */
	enum role	 c_role;
	enum conn_state	 c_state;
	struct bufferevent *c_bev;
	struct ws_parser c_parser;
	char		 c_name[40];
	char		 c_token[48];	/* NICK's, for AUTH on a reconnect */
	char		 c_key[32];	/* Sec-WebSocket-Key */
	int		 c_inflight;	/* counted in run.inflight */
	int		 c_setup_left;	/* setup replies still due */
	int		 c_ready;
	int		 c_ping_out;	/* barrier PING sent, PONG not yet */
	int		 c_close_got;
	uint16_t	 c_close_code;
	int		 c_settled;	/* stalled: closed by the server or caught up */

	/* Replies due, oldest first (a ring). */
	unsigned char	*c_exp;
	size_t		 c_exp_head;
	size_t		 c_exp_len;
	size_t		 c_exp_cap;

	/* Resume scenario: the reconnect cycle. */
	struct event	*c_timer;	/* next disconnect */
	int		 c_reconnecting; /* closing to come back, or back and
					    not yet RESUMED */
	int		 c_replaying;	/* between CONFIRM SUBEVENT and RESUMED */
	int64_t		 c_replayed;	/* events in this replay */
	int64_t		 c_gone_at;	/* ns: the disconnect began */
	int64_t		 c_login_sent;	/* login scenario: LOGIN sent, ns */

	/* Subscriber: what arrived. */
	int64_t		 c_last_seq;
	int64_t		*c_last_n;	/* per publisher */
	uint64_t	 c_received;

	/* Publisher. */
	int64_t		 c_sent;	/* MSGs sent */
	int64_t		 c_confirmed;	/* CONFIRM MSG received */
	int64_t		 c_done;	/* confirmed and delivered everywhere */
	int64_t		 c_confirm_seq;	/* seq of the last CONFIRM */
};

/* Per publisher, indexed by message number n (1-based). */
struct pubrec {
	int64_t		*pr_seq;	/* seq first seen for n, 0 = not yet */
	int64_t		*pr_ts;		/* send time, ns */
	uint32_t	*pr_cnt;	/* subscribers that have it */
	size_t		 pr_cap;
};

/* The phases of a run (run.c), in order. */
enum phase {
	PH_SETUP,	/* the creator connects and makes the channel */
	PH_JOIN,	/* everyone else connects and joins */
	PH_HOLD,	/* connections: idle for the duration */
	PH_RUN,		/* publishing */
	PH_DRAIN,	/* publishing stopped, waiting for every delivery */
	PH_BARRIER,	/* PING round trip on every connection */
	PH_CLOSE,	/* close handshake on every connection */
	PH_DONE
};

/*
 * A small strict scanner for the event object: seq and ts (integers),
 * username and text (strings) are required and unique; other members are
 * skipped but must be well-formed JSON.
 */
struct evjson {
	int64_t		 seq;
	int64_t		 ts;
	const char	*user;
	size_t		 userlen;
	const char	*text;
	size_t		 textlen;
};

/* The run's state (run.c): everything measured and checked. */
struct run {
	struct event_base *base;
	struct conn	*conns;
	int		 nconns;
	struct conn	**pubs;
	int		 npubs;
	struct conn	**subs;
	int		 nsubs;
	struct conn	**stall;	/* --stalled subscribers */
	int		 nstall;
	struct conn	*resumer;	/* replay scenario */
	uint32_t	 need;		/* subscribers a message must reach */
	struct pubrec	*recs;
	int64_t		*last_n;	/* nsubs * npubs */

	enum phase	 phase;
	int		 aborting;
	int		 launch_next;	/* next conn to start */
	int		 launch_end;
	int		 inflight;
	int		 ready;
	int		 dead;
	int		 closed_ok;
	int		 pings_out;
	int		 publishing;
	int		 stop;		/* no more MSGs */

	char		 runid[16];
	char		 chan[48];
	char		*ev_prefix;	/* "EVENT message CREATE <chan> " */
	size_t		 ev_prefixlen;
	char		*confirm_prefix; /* "CONFIRM MSG <chan> " */
	size_t		 confirm_prefixlen;
	char		**pubnames;
	size_t		*pubnamelen;
	char		*pad;
	size_t		 textcap;
	char		*text;		/* scratch: a text being built */
	char		*text2;		/* scratch: a text being checked */
	char		*line;		/* scratch: a line being sent */

	struct event	*phase_ev;	/* timeout of the current phase */
	struct event	*stop_ev;	/* end of the publishing time */
	struct event	*tick_ev;	/* open loop pacing */
	struct event	*hold_ev;
	struct event	*watch_ev;	/* stall detection while publishing */
	int64_t		 tick_at;	/* open loop: when the timer should fire */
	int64_t		 tick_late_max;	/* how late it fired, at most, ns */
	uint64_t	 watch_progress;
	int64_t		 watch_at;

	/* Measurements. */
	int64_t		 t_start;	/* first connect */
	int64_t		 t_connected;	/* all connected and set up */
	int64_t		 t0;		/* publishing began */
	int64_t		 t_stop;	/* publishing ended */
	int64_t		 t_last_confirm;
	int64_t		 t_last_delivery;
	int64_t		 t_end;		/* drained */
	uint64_t	 total_sent;
	uint64_t	 total_confirmed;
	uint64_t	 total_deliveries;
	char		 epoch[64];	/* from HELLO */
	int		 reconnecting;	/* subscribers away or replaying */
	uint64_t	 reconnects;
	uint64_t	 replayed;
	struct hist	 resume_lat;	/* close started -> RESUMED */

	/* Replay scenario. */
	enum { RS_INIT, RS_LEAVING, RS_PREFILL, RS_JOINING, RS_WAIT,
	    RS_REPLAYING, RS_DONE } replay_state;
	int		 prefilling;	/* publishers fill the journal */
	int64_t		*prefill_n;	/* per publisher */
	uint64_t	 base_confirmed; /* MSGs confirmed before the run */
	int64_t		 prefill_t0, prefill_t1;
	int64_t		 replay_t0;	/* the resumer reconnects */
	int64_t		 replay_t_cmd;	/* RESUME sent */
	int64_t		 replay_t1;	/* RESUMED arrived */
	int64_t		 replay_count;	/* RESUMED's count */
	int64_t		 replay_stall[2]; /* /healthz loop_stall_max_us around it */
	int		 stop_pending;	/* duration over, replay still running */
	struct event	*replay_ev;
	struct hist	 lat_quiet;	/* deliveries not overlapping the replay */
	struct hist	 lat_replay;	/* deliveries overlapping it */

	/* Login scenario. */
	struct conn	**logins;
	int		 nlogins;
	int		 logins_done;	/* CONFIRM LOGIN received */
	int		 login_state;	/* 0 waiting, 1 in flight, 2 done */
	int64_t		 login_t0;	/* the LOGINs were sent */
	int64_t		 login_t1;	/* the last CONFIRM LOGIN arrived */
	int64_t		 login_stall[2]; /* longest loop stall before, during it */
	struct event	*login_ev;
	struct hist	 login_lat;	/* LOGIN -> CONFIRM, each */
	struct hist	 lat_login;	/* deliveries overlapping the burst */

	/* Stalled subscribers. */
	int		 stall_unsettled;
	uint64_t	 stall_received;
	int		 stall_close_1013;
	int		 stall_close_other;
	int		 stall_eof;	/* EOF with no close frame */
	int		 stall_reset;
	int		 stall_caught_up;

	struct hist	 lat;		/* end to end */
	struct hist	 rtt;		/* MSG -> CONFIRM */
	struct hist	 conn_lat;	/* connect -> HELLO */
	int64_t		*conn_t;	/* per conn: connect started */
	double		 srv_cpu0, srv_cpu1;
	double		 srv_loop_cpu[2];	/* the main (event loop) thread */
	long		 srv_rss0, srv_rss1, srv_rss_conn;
	long		 srv_rss_peak;	/* sampled every 100 ms while running */
	int64_t		 srv_sndq_peak;	/* --stalled: the server's TCP send queues */
	double		 srv_cpu_conn;	/* connections: when all were open */
	int		 srv_ok;
	struct rusage	 ru0, ru1;
	double		 busy[2];	/* machine busy CPU-s, start and end */
	double		 others_cpu;	/* other processes' CPU-s in the run */
	int64_t		 srv_syscr[2];
	int64_t		 srv_syscw[2];

	/* Errors. */
	uint64_t	 errors;
	char		*error_text[BENCH_MAX_ERRORS];
	int		 nerror_text;
	char		*abort_reason;
};

/* opts.c: the command line: scenario, options, the server's URL. */
extern struct opts	 opts;
const char	*opts_scenario_name(void);
void		 opts_parse(int argc, char **argv);

/* run.c: the run: setup, phases, timeouts, errors. */
extern struct run	 run;
struct event_base *run_base_new(void);
uint64_t	 run_random(void);
const char	*run_shorten(const char *s, size_t len);
void		 run_error(const char *fmt, ...) printflike(1, 2);
uint64_t	 run_live_confirmed(void);
void		 run_abort(const char *fmt, ...) printflike(1, 2);
void		 run_vabort(const char *who, const char *fmt, va_list ap);
void		 run_timeout(double sec);
void		 run_check(void);
void		 run_setup(void);
void		 run_loop(void);

/* conn.c: one WebSocket client connection. */
void		 conn_text(struct conn *c, const char *text, size_t len);
void		 conn_expect(struct conn *c, enum expect what);
void		 conn_command(struct conn *c, enum expect what, const char *fmt,
		     ...) printflike(3, 4);
void		 conn_close(struct conn *c, uint16_t code, const char *reason);
void		 conn_dead(struct conn *c, int clean);
void		 conn_fail(struct conn *c, const char *fmt, ...)
		     printflike(2, 3);
void		 conn_launch(void);
void		 conn_ready(struct conn *c);
void		 conn_open(struct conn *c);
void		 conn_start(struct conn *c);

/* check.c: the checker of every line received. */
int		 check_decimal(const char *s, size_t len, int64_t *v);
void		 check_line(struct conn *c, const char *s, size_t len);
char		*check_missing(void);
int		 check_drained(void);

/* js.c: the strict scanner of an event's JSON. */
void		 js_init(size_t cap);
const char	*js_event(const char *p, size_t len, struct evjson *ev);

/* pub.c: the publishers: texts, windows, schedule, completion. */
size_t		 pub_text(char *out, int64_t ts, int p, int64_t n);
void		 pub_reserve(struct pubrec *pr, int64_t n);
void		 pub_pump(struct conn *c);
void		 pub_advance(int p);
int64_t		 pub_tick_arm(struct event *ev, int64_t now, int64_t next);
int64_t		 pub_tick_due(int64_t t0, double per, int64_t k);
void		 pub_start(void);

/* resume.c: RESUME: reconnecting subscribers and the replay. */
void		 resume_schedule(struct conn *c);
void		 resume_done(struct conn *c, const char *s, size_t len);
void		 resume_prefill(void);
void		 resume_setup_check(void);
void		 resume_replay_start(void);

/* login.c: the login scenario's burst of LOGINs during the fan-out. */
void		 login_start(void);
void		 login_done(struct conn *c, const char *s, size_t len);
const char	*login_password(void);

/* stall.c: stalled subscribers (--stalled). */
void		 stall_closed(struct conn *c, uint16_t code);
void		 stall_lost(struct conn *c, short what);
void		 stall_check(struct conn *c);

/* ceiling.c: the raw fan-out thread of the ceiling scenario. */
void		 ceiling_start(void);
void		 ceiling_finish(void);
void		 ceiling_check(void);
void		 ceiling_advance(int p);
int64_t		 ceiling_sent(int p);
int64_t		 ceiling_done(int p);
int64_t		 ceiling_t0(void);
double		 ceiling_cpu(void);
int64_t		 ceiling_writes(void);

/* hist.c: latency histograms. */
void		 hist_init(struct hist *h);
void		 hist_add(struct hist *h, int64_t v);
json_t		*hist_json(const struct hist *h);
void		 hist_print(const char *what, const struct hist *h);

/* proc.c: the server and the machine, from /proc, sock_diag and strace. */
long		 proc_rss_kb(pid_t pid);
int64_t		 proc_send_queues(void);
void		 proc_sample(double *cpu, long *rss, struct rusage *ru);
void		 proc_strace_start(void);
void		 proc_strace_stop(void);
int64_t		 proc_strace_count(const char *name);
json_t		*proc_strace_table(void);
int64_t		 proc_healthz_stall(int64_t);

/* report.c: the report, as text and as JSON. */
void		 report_print(void);
json_t		*report_json(void);

#endif
