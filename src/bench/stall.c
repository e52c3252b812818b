/*
 * stall.c: the stalled subscribers of --stalled. They stop reading once
 * subscribed, so wschatd's output to them grows until max_output and it
 * closes them with 1013. After the drain they read again: what they got
 * must be an in-order prefix of the stream, then the close frame (or EOF,
 * if the server tore the connection down before the frame got out), or,
 * if never closed, every message. The barrier waits until each settled.
 */
#include "config.h"

#include <event2/bufferevent.h>

#include "bench.h"

/* Closed, lost or caught up: the barrier waits until every one settled. */
static void
stall_settle(struct conn *c)
{
	if (c->c_settled)
		return;
	c->c_settled = 1;
	run.stall_unsettled--;
}

/* Closed by the server, as expected (1013, past max_output): echo it. */
void
stall_closed(struct conn *c, uint16_t code)
{
	if (code == WS_CLOSE_TRY_AGAIN)
		run.stall_close_1013++;
	else
		run.stall_close_other++;
	stall_settle(c);
	conn_close(c, code, "bye");
	run_check();
}

/* The server gave up on a stalled subscriber before its close got out. */
void
stall_lost(struct conn *c, short what)
{
	if (what & BEV_EVENT_ERROR)
		run.stall_reset++;
	else
		run.stall_eof++;
	stall_settle(c);
	conn_dead(c, 0);
	run_check();
}

/* After the drain: a stalled subscriber that was never closed caught up. */
void
stall_check(struct conn *c)
{
	if (run.phase < PH_BARRIER || c->c_settled || c->c_state != CS_OPEN ||
	    c->c_received != run.total_confirmed)
		return;
	run.stall_caught_up++;
	stall_settle(c);
	run_check();
}
