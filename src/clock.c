/*
 * clock.c: the server's notion of time. Wall time stamps events; monotonic
 * time drives timeouts. Debug builds can pin wall time for tests.
 */
#include "config.h"

#include <time.h>

#include "wschatd.h"

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

/* Milliseconds on a clock that never jumps. */
int64_t
clock_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
