/*
 * login.c: the login scenario. --logins clients register in the setup
 * (each with its own account and the same password); --login-at seconds
 * into the fan-out every one of them sends LOGIN in the same loop pass,
 * so that many Argon2id verifications are in flight at once on the
 * server's auth workers. Measured: logins per second over the burst, each
 * LOGIN's round trip, the server's longest loop stall before and after
 * the burst (/healthz), and the fan-out's latency during the burst
 * against outside it, in the same run.
 */
#include "config.h"

#include <sys/time.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bench.h"

/* The accounts' password: the rest of a LOGIN line, 8 bytes or more. */
const char *
login_password(void)
{
	static char	pw[64];

	if (pw[0] == '\0')
		snprintf(pw, sizeof pw, "bench-%s-password", run.runid);
	return (pw);
}

/* --login-at seconds into the run: every login client sends LOGIN now. */
static void
login_cb(evutil_socket_t fd, short what, void *arg)
{
	int	i;

	if (run.phase != PH_RUN || run.aborting)
		return;
	run.login_stall[0] = proc_healthz_stall(run.t0 + 1000000000);
	run.login_state = 1;
	run.login_t0 = clock_mono_ns();
	for (i = 0; i < run.nlogins; i++) {
		run.logins[i]->c_login_sent = clock_mono_ns();
		conn_command(run.logins[i], EXP_LOGIN, "LOGIN %s %s",
		    run.logins[i]->c_name, login_password());
	}
}

/* The run began: the burst goes --login-at seconds into it. */
void
login_start(void)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)opts.login_at;
	tv.tv_usec = (suseconds_t)((opts.login_at - (double)tv.tv_sec) * 1e6);
	run.login_ev = evtimer_new(run.base, login_cb, NULL);
	evtimer_add(run.login_ev, &tv);
}

/* CONFIRM LOGIN <name> <token>: one more login; the last ends the burst. */
void
login_done(struct conn *c, const char *s, size_t len)
{
	char	*want;
	size_t	 wlen;

	xasprintf(&want, "CONFIRM LOGIN %s ", c->c_name);
	wlen = strlen(want);
	if (len != wlen + 43 || memcmp(s, want, wlen) != 0) {
		run_error("%s: LOGIN answered with: %s", c->c_name,
		    run_shorten(s, len));
		free(want);
		run_abort("a LOGIN failed");
		return;
	}
	free(want);
	hist_add(&run.login_lat, clock_mono_ns() - c->c_login_sent);
	if (++run.logins_done < run.nlogins)
		return;
	run.login_t1 = clock_mono_ns();
	run.login_stall[1] = proc_healthz_stall(run.login_t0);
	run.login_state = 2;
	if (run.stop_pending)
		run.stop = 1;
	run_check();
}
