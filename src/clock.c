/*
 * clock.c: the server's notion of time. Wall time stamps events; monotonic
 * time drives timeouts. Debug builds can pin wall time for tests. The stall
 * monitor measures how long the event loop keeps callbacks waiting.
 */
#include "config.h"

#include <time.h>

#include <event2/event.h>

#include "util.h"

#ifdef WSCHAT_DEBUG
static int64_t	clock_wall_override;

/* Pin wall time (milliseconds); 0 returns to the real clock. */
void
clock_set_wall(int64_t ms)
{
	clock_wall_override = ms;
}
#endif

/* Milliseconds since the Unix epoch. */
int64_t
clock_wall_ms(void)
{
	struct timespec	ts;

#ifdef WSCHAT_DEBUG
	if (clock_wall_override != 0)
		return (clock_wall_override);
#endif
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Nanoseconds on a clock that never jumps; the units below divide it. */
int64_t
clock_mono_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* Milliseconds on the same clock. */
int64_t
clock_mono_ms(void)
{
	return (clock_mono_ns() / 1000000);
}

/* Microseconds on the same clock. */
int64_t
clock_mono_us(void)
{
	return (clock_mono_ns() / 1000);
}

#define CLOCK_STALL_TICK_US	10000
#define CLOCK_STALL_SECONDS	64		/* the per-second history */

static struct event	*clock_stall_ev;
static int64_t		 clock_stall_due;
static int64_t		 clock_stall_max;
/* The longest stall that ended in each of the last seconds. */
static struct {
	int64_t		 sec;
	int64_t		 max;
} clock_stall_sec[CLOCK_STALL_SECONDS];

/* A 10 ms tick that records how late it fires. */
static void
clock_stall_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timespec	ts;
	int64_t		now, late, sec;
	size_t		i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	if (clock_stall_due != 0) {
		late = now - clock_stall_due;
		if (late > clock_stall_max)
			clock_stall_max = late;
		sec = (int64_t)ts.tv_sec;
		i = (size_t)(sec % CLOCK_STALL_SECONDS);
		if (clock_stall_sec[i].sec != sec) {
			clock_stall_sec[i].sec = sec;
			clock_stall_sec[i].max = 0;
		}
		if (late > clock_stall_sec[i].max)
			clock_stall_sec[i].max = late;
	}
	clock_stall_due = now + CLOCK_STALL_TICK_US;
}

/* Start measuring loop stalls on a base. */
void
clock_stall_start(struct event_base *base)
{
	struct timeval	tick = { 0, CLOCK_STALL_TICK_US };

	clock_stall_ev = event_new(base, -1, EV_PERSIST, clock_stall_cb, NULL);
	if (clock_stall_ev == NULL || event_add(clock_stall_ev, &tick) != 0)
		fatalx("%s: event_new", __func__);
}

/* Stop the monitor. */
void
clock_stall_stop(void)
{
	if (clock_stall_ev != NULL)
		event_free(clock_stall_ev);
	clock_stall_ev = NULL;
}

/* The longest stall seen, in microseconds. */
int64_t
clock_stall_max_us(void)
{
	return (clock_stall_max);
}

/*
 * The longest stall that ended at or after CLOCK_MONOTONIC second
 * since_s, within the last CLOCK_STALL_SECONDS seconds: a window that
 * another process on the machine can name (wschat-bench's bursts).
 */
int64_t
clock_stall_since_us(int64_t since_s)
{
	struct timespec	ts;
	int64_t		max = 0;
	size_t		i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (i = 0; i < CLOCK_STALL_SECONDS; i++) {
		if (clock_stall_sec[i].sec >= since_s &&
		    clock_stall_sec[i].sec > (int64_t)ts.tv_sec -
		    CLOCK_STALL_SECONDS && clock_stall_sec[i].max > max)
			max = clock_stall_sec[i].max;
	}
	return (max);
}
