/*
 * stream.c: what a connection receives of the event stream, live or
 * caught up. Live events arrive through stream_deliver(). A command that
 * streams its output in pages (RESUME's replay, SNAPSHOT) runs through
 * stream_start(): its pages go out at the loop's lowest priority as the
 * output drains and as stream_rate allows, input is held meanwhile, live
 * events after the stream's seq are held and follow its last line, and the
 * stream ends exactly once, also when the connection goes away.
 *
 * A stream waits for the client to read what it queued, but not for ever:
 * one that has not drained for stream_stall_timeout is closed with 1013,
 * so a client that stops reading cannot keep a snapshot's read
 * transaction (and with it the journal's WAL) or a replay open.
 *
 * It sits on the connection layer (client.c) and knows frames and seqs,
 * not commands: the command layer hands it pages to run.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wschatd.h"

/* A command streaming its output in pages (RESUME, SNAPSHOT, HISTORY). */
struct stream {
	struct event	*st_ev;		/* the next turn, at the lowest priority */
	stream_page_cb	 st_page;
	void		(*st_free)(void *);
	void		*st_arg;	/* the command's state */
	int		 st_done;	/* the last line is out */
	int64_t		 st_stalled;	/* since when it waits to drain, ms */
};

/*
 * stream_rate is a token bucket shared by every stream: a line costs one
 * credit. The bucket holds STREAM_BURST_MS of the rate, and a turn waits
 * for STREAM_QUANTUM credits (or a full bucket, if smaller), so a paced
 * stream sends pages, not single lines.
 */
#define STREAM_BURST_MS	10
#define STREAM_QUANTUM	256

static struct event_base *stream_base;
static double	stream_credit;
static int64_t	stream_refilled;	/* when credit was last added, us */

static void	stream_turn(struct stream *);

/* Streams run their turns on this base. */
void
stream_init(struct event_base *base)
{
	stream_base = base;
}

/* Deliver a live event (skipping what a replay or snapshot already covered). */
void
stream_deliver(struct client *c, int64_t seq, const void *frame, size_t len)
{
	if (c->c_state != CLIENT_OPEN || seq <= c->c_live_after)
		return;
	if (c->c_stream != NULL) {
		if (c->c_held == NULL)
			c->c_held = evbuffer_new();
		if (evbuffer_get_length(c->c_held) + len >
		    (size_t)config.max_output) {
			client_close(c, WS_CLOSE_TRY_AGAIN,
			    "slow consumer: held events over max_output");
			return;
		}
		evbuffer_add(c->c_held, frame, len);
		return;
	}
	if (client_send_frame(c, frame, len) != 0)
		return;
	if (c->c_first_seq == 0)
		c->c_first_seq = seq;
	c->c_last_seq = seq;
}

/* Was this seq already delivered live, before a RESUME asked for it? */
int
stream_delivered(const struct client *c, int64_t seq)
{
	return (c->c_first_seq != 0 && seq >= c->c_first_seq &&
	    seq <= c->c_last_seq);
}

/* Has a page queued enough for this turn? Nonzero also if the client is gone. */
static int
stream_full(struct client *c)
{
	return (c->c_state != CLIENT_OPEN ||
	    client_output_len(c) > (size_t)config.max_output / 2);
}

/* The bucket's size: BURST_MS of the rate, and at least one line. */
static double
stream_bucket(void)
{
	double	size = (double)config.stream_rate * STREAM_BURST_MS / 1000;

	return (size < 1 ? 1 : size);
}

/* Add the credit earned since the last refill; a new bucket starts full. */
static void
stream_refill(void)
{
	int64_t	now = clock_mono_us();

	if (stream_refilled == 0)
		stream_credit = stream_bucket();
	else {
		stream_credit += (double)(now - stream_refilled) *
		    (double)config.stream_rate / 1e6;
	}
	if (stream_credit > stream_bucket())
		stream_credit = stream_bucket();
	stream_refilled = now;
}

/*
 * Microseconds until streams may take another turn under stream_rate: 0
 * once a quantum of credit (or a full bucket) is there.
 */
static int64_t
stream_wait_us(void)
{
	double	need = STREAM_QUANTUM;

	if (config.stream_rate == 0)
		return (0);
	stream_refill();
	if (need > stream_bucket())
		need = stream_bucket();
	if (stream_credit >= need)
		return (0);
	return ((int64_t)((need - stream_credit) * 1e6 /
	    (double)config.stream_rate) + 1);
}

/*
 * A page sent one line: count it against stream_rate. Nonzero means the
 * page must end now: the client is gone, half of max_output is queued, or
 * the streams' credit is spent.
 */
int
stream_line(struct client *c)
{
	if (config.stream_rate != 0 && --stream_credit < 1)
		return (1);
	return (stream_full(c));
}

/*
 * Schedule the stream's next turn: once the credit allows, and always on a
 * later pass of the loop, after it polled for I/O, so that a stream (even
 * one whose pages send nothing, like a replay of events the client does not
 * want) never runs page after page in one pass while clients wait.
 */
static void
stream_turn(struct stream *st)
{
	struct timeval	tv;
	int64_t		us = st->st_done ? 0 : stream_wait_us();

	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	if (event_add(st->st_ev, &tv) != 0)
		fatalx("%s: event_add", __func__);
}

/*
 * The stream is over, however it ended: release the command's state (its
 * journal cursor first of all), the held live events and the input behind
 * it, and our reference. Runs from a turn (or the first page), never
 * inside a page: the command or event that runs the turn holds a reference.
 */
static void
stream_finish(struct client *c)
{
	struct stream	*st = c->c_stream;

	c->c_stream = NULL;
	st->st_free(st->st_arg);
	event_free(st->st_ev);
	free(st);

	if (c->c_state == CLIENT_OPEN && c->c_held != NULL &&
	    evbuffer_get_length(c->c_held) > 0) {
		client_send_buffer(c, c->c_held,
		    "slow consumer: output buffer over max_output");
	}
	client_unhold(c);
	client_unref(c);
}

/*
 * The live events held during the stream follow its last line. While they
 * do not fit behind what is still queued, wait for the output to drain:
 * once it is empty they go out, or, if they alone exceed max_output, the
 * end of the stream closes the client.
 */
static int
stream_held_waits(struct client *c)
{
	size_t	held = c->c_held != NULL ? evbuffer_get_length(c->c_held) : 0;
	size_t	out = client_output_len(c);

	return (held > 0 && out > 0 && out + held > (size_t)config.max_output);
}

/*
 * Wait for stream_drained(), but no longer than stream_stall_timeout since
 * the wait began: then the client is closed as a slow consumer (and the
 * stream ends on the turn that follows).
 */
static void
stream_wait_drain(struct client *c, struct stream *st)
{
	int64_t		now = clock_mono_ms(), left;
	struct timeval	tv;

	if (st->st_stalled == 0)
		st->st_stalled = now;
	left = config.stream_stall_timeout * 1000 - (now - st->st_stalled);
	if (left <= 0) {
		client_close(c, WS_CLOSE_TRY_AGAIN, "slow consumer: stream "
		    "did not drain for stream_stall_timeout");
		return;
	}
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	if (event_add(st->st_ev, &tv) != 0)
		fatalx("%s: event_add", __func__);
}

/*
 * One turn of a stream: a page if there is room, then the next turn, or a
 * wait for stream_drained() to say the output drained. Pages run from an
 * event at the lowest priority, like the batch flush: a long stream then
 * takes turns with group commit instead of keeping every commit (and so
 * every other client's events) waiting.
 */
static void
stream_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*c = arg;
	struct stream	*st = c->c_stream;

	if (c->c_state != CLIENT_OPEN) {
		stream_finish(c);
		return;
	}
	if (!st->st_done) {
		if (stream_full(c)) {
			stream_wait_drain(c, st);
			return;
		}
		if (stream_wait_us() > 0) {
			stream_turn(st);	/* woken early: wait for credit */
			return;
		}
		if (st->st_page(c, st->st_arg) == STREAM_DONE)
			st->st_done = 1;
		else if (c->c_state == CLIENT_OPEN) {
			if (!stream_full(c))
				stream_turn(st);
			else
				stream_wait_drain(c, st);
			return;
		}
	}
	if (c->c_state == CLIENT_OPEN && stream_held_waits(c)) {
		stream_wait_drain(c, st);
		return;
	}
	stream_finish(c);
}

/*
 * Start streaming a command's output in pages: live events after
 * live_after are held, and input waits, until the stream ends. page sends
 * one page and says what comes next; free releases arg when the stream
 * ends, which it does exactly once, also when the connection goes away.
 * The first page is sent at once; later ones on later turns.
 */
void
stream_start(struct client *c, int64_t live_after, stream_page_cb page,
    void (*freecb)(void *), void *arg)
{
	struct stream	*st;

	if (c->c_stream != NULL)
		fatalx("%s: %s already streams", __func__, client_who(c));
	st = xcalloc(1, sizeof *st);
	st->st_page = page;
	st->st_free = freecb;
	st->st_arg = arg;
	st->st_ev = event_new(stream_base, -1, 0, stream_cb, c);
	if (st->st_ev == NULL || event_priority_set(st->st_ev, 2) != 0)
		fatalx("%s: event_new", __func__);
	client_ref(c);
	client_hold(c);
	c->c_stream = st;
	c->c_live_after = live_after;
	/*
	 * The first page now, from the command: as a turn at the lowest
	 * priority it waited behind every busy client, and a RESUME's reply
	 * with it (close->RESUMED p99 3.4-3.9 ms before, 4-15 ms with the
	 * turn, at 500k deliveries/s). Input is held already, and the stream
	 * may even end here: its callbacks defer everything they trigger.
	 */
	stream_cb(-1, EV_TIMEOUT, c);
}

/* The output drained: a stream waiting for room goes on. */
void
stream_drained(struct client *c)
{
	if (c->c_stream != NULL) {
		c->c_stream->st_stalled = 0;
		stream_turn(c->c_stream);
	}
}

/*
 * The connection left OPEN: held events will never be sent, and a stream
 * must end. Its page runs again, from its own event (never from inside
 * its page: a slow-consumer close while it writes), sees the connection
 * is no longer open and ends the stream. Every way out of CLIENT_OPEN
 * comes here, a dropped connection included, so no stream waits for a
 * write callback that will never come.
 */
void
stream_closing(struct client *c)
{
	if (c->c_held != NULL)
		evbuffer_drain(c->c_held, evbuffer_get_length(c->c_held));
	if (c->c_stream != NULL)
		event_active(c->c_stream->st_ev, EV_TIMEOUT, 0);
}

/* The connection is about to be freed (stream_closing ran already). */
void
stream_gone(struct client *c)
{
	if (c->c_held != NULL)
		evbuffer_free(c->c_held);
	c->c_held = NULL;
}
