/*
 * ident.c: what the identity commands (NICK, REGISTER, LOGIN, AUTH,
 * LOGOUT, PASSWD) share. Switching a connection's identity; revoking a
 * token and closing the sessions that held it; the failure buckets on
 * guessing; and once a second the sweep: tokens unused past their ttl
 * expire (a guest with none left is released, parting its channels with
 * "expired"), and wschatctl's requests are applied (journal-account.c).
 *
 * A token's last use lives in memory (t_used, on every AUTH, and while a
 * connection holds it); the journal's copy (tokens.used_ts) is refreshed
 * through a TOUCH event only once it lags by ttl/16, so AUTH writes
 * nothing most of the time and a restart can cut a token's life short by
 * at most a sixteenth of its ttl.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

#define IDENT_SWEEP_MS	1000

static struct event	*ident_ev;
static void		*ident_addr_buckets;
static void		*ident_name_buckets;
static int64_t		 ident_request_seen;	/* last request applied */

/* The ttl of an account's tokens, in ms. */
static int64_t
ident_ttl(const struct account *a)
{
	return ((a->a_registered ? config.token_ttl : config.guest_ttl) * 1000);
}

/* The connection is now this account, via that command; 1 if journaled. */
int
ident_switch(struct client *c, struct account *a, struct token *t, int via)
{
	struct user	*u = state_user_get(a->a_name);

	state_user_attach(u, c);
	client_identified(c);	/* no longer counts as without NICK */
	u->u_admin = a->a_admin;
	c->c_token = t;
	if (t != NULL)
		memcpy(c->c_tokkey, t->t_hash, sizeof c->c_tokkey);
	c->c_via = via;
	/* What it received live before is not the new identity's: RESUME
	 * replays exactly what this account would have received. */
	c->c_first_seq = c->c_last_seq = 0;
	if (t != NULL) {
		t->t_used = clock_wall_ms();
		/* A broken log refuses the refresh: the token stays. */
		if (t->t_used - t->t_stored >= ident_ttl(a) / 16 &&
		    batch_broken() == NULL) {
			wevent_touch(t);
			return (1);
		}
	}
	return (0);
}

/* The connection has no identity (LOGOUT, or its token went). */
void
ident_anonymous(struct client *c)
{
	state_user_detach(c);
	c->c_token = NULL;
	c->c_via = ACCOUNT_VIA_NONE;
	c->c_first_seq = c->c_last_seq = 0;
}

/* Close the connections of an account (but except) with 1008. */
void
ident_close_account(struct account *a, struct client *except,
    const char *why)
{
	struct user	*u;
	struct client	*c, *cn;

	if ((u = state_user_find(a->a_name)) == NULL)
		return;
	TAILQ_FOREACH_SAFE(c, &u->u_clients, c_uentry, cn) {
		if (c == except)
			continue;
		client_close(c, WS_CLOSE_POLICY, why);
	}
}

/*
 * A token ends: connections still identified by it close (code, why),
 * then the journal hears. A guest with no token left is released, its
 * memberships ending with release_reason.
 */
void
ident_revoke(struct token *t, uint16_t code, const char *why,
    const char *release_reason)
{
	struct account	*a = t->t_acct;
	struct user	*u;
	struct client	*c, *cn;

	if ((u = state_user_find(a->a_name)) != NULL) {
		TAILQ_FOREACH_SAFE(c, &u->u_clients, c_uentry, cn) {
			if (c->c_token == t)
				client_close(c, code, why);
		}
	}
	wevent_revoke(t);
	if (!a->a_registered && a->a_ntokens == 0)
		wevent_release(a, release_reason != NULL ? release_reason :
		    "released");
}

/* A password job of a connection, which waits for it (ident_password). */
struct ident_job {
	struct client	*j_client;
	auth_done_cb	 j_done;
	void		*j_arg;
};

/* The pool is done: the caller's callback, then the connection goes on. */
static void
ident_password_done(int result, const char *hash, void *arg)
{
	struct ident_job	*j = arg;
	struct client		*c = j->j_client;

	if (c->c_state != CLIENT_OPEN)
		result = AUTH_CANCELLED;
	j->j_done(result, hash, j->j_arg);
	client_unhold(c);
	client_unref(c);
	free(j);
}

void
ident_password(struct client *c, int verify, const char *hash,
    const char *pw, auth_done_cb done, void *arg)
{
	struct ident_job	*j;
	int			 rc;

	j = xcalloc(1, sizeof *j);
	j->j_client = c;
	j->j_done = done;
	j->j_arg = arg;
	rc = verify ? auth_verify(hash, pw, ident_password_done, j) :
	    auth_hash(pw, ident_password_done, j);
	if (rc != 0) {
		free(j);
		reply_error(c, PROTO_ERR_RATELIMITED, "too many logins under "
		    "way; try again");
		done(AUTH_CANCELLED, NULL, arg);
		return;
	}
	client_ref(c);
	client_hold(c);
}

/* A password: password_min..256 bytes of UTF-8. */
int
ident_password_ok(const char *pw)
{
	size_t	len = strlen(pw);

	return (len >= (size_t)config.password_min && len <= 256 &&
	    ws_utf8_valid((const unsigned char *)pw, len));
}

/* May this address (and name, if given) try a login now? 1: limited. */
int
ident_limited(struct client *c, const char *name)
{
	int64_t	now = clock_mono_ms();

	if (bucket_empty(&ident_addr_buckets, c->c_addr, now,
	    config.login_rate, config.login_burst))
		return (1);
	return (name != NULL && bucket_empty(&ident_name_buckets, name, now,
	    config.login_rate, config.login_burst));
}

/* A failed attempt: the address pays, and the name (LOGIN) too. */
void
ident_failed(struct client *c, const char *name)
{
	int64_t	now = clock_mono_ms();

	bucket_charge(&ident_addr_buckets, c->c_addr, now, config.login_rate,
	    config.login_burst);
	if (name != NULL)
		bucket_charge(&ident_name_buckets, name, now,
		    config.login_rate, config.login_burst);
}

/*
 * After the state was loaded again (a failed commit): connections find
 * their token again by hash. One whose token is gone took its identity
 * in the failed batch (NICK, REGISTER, LOGIN), whose reply is ERROR
 * INTERNAL: it is anonymous again, as if the command had never run.
 */
static void
ident_reattach(void)
{
	struct client	*c;

	TAILQ_FOREACH(c, &clients, c_entry) {
		if (c->c_user == NULL || c->c_via == ACCOUNT_VIA_NONE)
			continue;
		if ((c->c_token = account_token_find(c->c_tokkey)) == NULL)
			ident_anonymous(c);
		else
			c->c_user->u_admin = c->c_token->t_acct->a_admin;
	}
}

/* Apply one wschatctl request as account events. */
static int
ident_request(const struct journal_request *r, void *arg)
{
	struct account	*a = account_find(r->name);
	struct token	*t, *tn;
	int		 registered = a != NULL && a->a_registered;

	ident_request_seen = r->id;
	wevent_request(r->id);
	if (strcmp(r->verb, "add") == 0 && a == NULL && r->pwhash != NULL)
		wevent_register(r->name, r->pwhash, NULL);
	else if (strcmp(r->verb, "passwd") == 0 && registered &&
	    r->pwhash != NULL) {
		ident_close_account(a, NULL, "token revoked");
		wevent_passwd(a, r->pwhash, NULL);
	} else if (strcmp(r->verb, "disable") == 0 && a != NULL) {
		ident_close_account(a, NULL, "account disabled");
		wevent_account_flag(a, "DISABLE");
	} else if (strcmp(r->verb, "enable") == 0 && a != NULL)
		wevent_account_flag(a, "ENABLE");
	else if (strcmp(r->verb, "admin") == 0 && a != NULL)
		wevent_account_flag(a, "ADMIN");
	else if (strcmp(r->verb, "unadmin") == 0 && a != NULL)
		wevent_account_flag(a, "UNADMIN");
	else if (strcmp(r->verb, "revoke") == 0 && a != NULL &&
	    a->a_ntokens > 0) {
		TAILQ_FOREACH_SAFE(t, &a->a_tokens, t_entry, tn) {
			if (!a->a_registered && a->a_ntokens == 1) {
				ident_revoke(t, WS_CLOSE_POLICY,
				    "token revoked", "released");
				break;
			}
			ident_revoke(t, WS_CLOSE_POLICY, "token revoked", NULL);
		}
	} else
		log_warnx("wschatctl request %lld: %s %s does not apply",
		    (long long)r->id, r->verb, r->name);
	wevent_request(0);
	return (0);
}

/* Expire tokens unused past their ttl; connections holding one use it. */
static void
ident_expire(int64_t now)
{
	struct account	**v, *a;
	struct token	 *t, *tn;
	struct client	 *c;
	size_t		  n, i;

	TAILQ_FOREACH(c, &clients, c_entry) {
		if ((t = c->c_token) == NULL || c->c_state != CLIENT_OPEN)
			continue;
		t->t_used = now;
		if (now - t->t_stored >= ident_ttl(t->t_acct) / 16)
			wevent_touch(t);
	}
	v = account_all(&n);
	for (i = 0; i < n; i++) {
		a = v[i];
		TAILQ_FOREACH_SAFE(t, &a->a_tokens, t_entry, tn) {
			if (now - t->t_used <= ident_ttl(a))
				continue;
			log_info("account %s: a token expired", a->a_name);
			if (!a->a_registered && a->a_ntokens == 1) {
				ident_revoke(t, WS_CLOSE_POLICY,
				    "token expired", "expired");
				break;
			}
			ident_revoke(t, WS_CLOSE_POLICY, "token expired", NULL);
		}
	}
	free(v);
}

#ifdef WSCHAT_DEBUG
/* Tests move the wall clock: WSCHAT_CLOCK_FILE holds milliseconds. */
static void
ident_test_clock(void)
{
	const char	*path = getenv("WSCHAT_CLOCK_FILE");
	FILE		*f;
	long long	 ms;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return;
	if (fscanf(f, "%lld", &ms) == 1 && ms != clock_wall_ms()) {
		clock_set_wall(ms);
		log_info("test clock: %lld", ms);	/* what tests wait for */
	}
	fclose(f);
}
#endif

/*
 * Once a second: the test clock, wschatctl's requests, expiry, buckets.
 * Requests and expiry journal what they do, so a broken log, which
 * refuses every write, puts them off until it is restored.
 */
void
ident_sweep(void)
{
	char	*cause;
	int64_t	 now;

#ifdef WSCHAT_DEBUG
	ident_test_clock();
#endif
	if (batch_broken() == NULL) {
		if (journal_changed(cmd_journal) &&
		    journal_requests(cmd_journal, ident_request_seen,
		    ident_request, NULL, &cause) == -1) {
			log_warnx("wschatctl requests: %s", cause);
			free(cause);
		}
		ident_expire(clock_wall_ms());
	}
	now = clock_mono_ms();
	bucket_prune(&ident_addr_buckets, now, config.login_rate,
	    config.login_burst, 0);
	bucket_prune(&ident_name_buckets, now, config.login_rate,
	    config.login_burst, 0);
}

static void
ident_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	ident_sweep();
}

/* Start the sweep (its first run is now: requests left while we were down). */
void
ident_init(struct event_base *base)
{
	struct timeval	tv = { IDENT_SWEEP_MS / 1000, 0 };

	wevent_on_load(ident_reattach);
	ident_ev = event_new(base, -1, EV_PERSIST, ident_sweep_cb, NULL);
	if (ident_ev == NULL || event_add(ident_ev, &tv) != 0)
		fatalx("%s: event_new", __func__);
	ident_sweep();
}

/* Stop the sweep and forget the buckets. */
void
ident_shutdown(void)
{
	if (ident_ev != NULL)
		event_free(ident_ev);
	ident_ev = NULL;
	bucket_prune(&ident_addr_buckets, 0, 0, 0, 1);
	bucket_prune(&ident_name_buckets, 0, 0, 0, 1);
}
