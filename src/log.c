/*
 * log.c: logging to stderr, syslog or a file, in the manner of OpenBSD's
 * log.c. fatal() and fatalx() are the fatal error path. It sits below
 * xmalloc.c (which dies through fatal), so it allocates with plain libc.
 * It also owns the two rules every log line obeys: a string a client sent
 * is written through log_safe() (so no terminal escape or fake line reaches
 * the log), and libevent's own messages come here, rate limited, instead of
 * going to stderr whatever the log setting says.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "util.h"

static int	 log_dest = LOG_TO_STDERR;
static int	 log_level;
static char	*log_path;
static FILE	*log_file;

/* Choose where logs go: "stderr", "syslog" or a file path. */
int
log_init(const char *dest, int verbose, char **cause)
{
	FILE	*f;

	log_level = verbose;
	if (dest == NULL || strcmp(dest, "stderr") == 0) {
		log_close();
		log_dest = LOG_TO_STDERR;
		return (0);
	}
	if (strcmp(dest, "syslog") == 0) {
		log_close();
		log_dest = LOG_TO_SYSLOG;
		openlog("wschatd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		return (0);
	}
	if ((f = fopen(dest, "a")) == NULL) {
		if (asprintf(cause, "%s: %s", dest, strerror(errno)) == -1)
			fatalx("%s: asprintf", __func__);
		return (-1);
	}
	log_close();
	setvbuf(f, NULL, _IOLBF, 0);
	log_file = f;
	if ((log_path = strdup(dest)) == NULL)
		fatal("%s: strdup", __func__);
	log_dest = LOG_TO_FILE;
	return (0);
}

/* Reopen the log file after rotation (SIGHUP). */
void
log_reopen(void)
{
	FILE	*f;

	if (log_dest != LOG_TO_FILE)
		return;
	if ((f = fopen(log_path, "a")) == NULL) {
		log_warn("reopen %s", log_path);
		return;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	fclose(log_file);
	log_file = f;
}

/* Release the log file or syslog. */
void
log_close(void)
{
	if (log_dest == LOG_TO_FILE && log_file != NULL)
		fclose(log_file);
	if (log_dest == LOG_TO_SYSLOG)
		closelog();
	log_file = NULL;
	free(log_path);
	log_path = NULL;
	log_dest = LOG_TO_STDERR;
}

/* How chatty -v made us. */
int
log_verbose(void)
{
	return (log_level);
}

/* Write one line at a priority, with an optional errno text. */
static void
log_vwrite(int pri, int err, const char *fmt, va_list ap)
{
	char		 msg[1024], stamp[32];
	FILE		*f;
	struct tm	 tm;
	time_t		 t;

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (err != 0) {
		size_t	len = strlen(msg);
		snprintf(msg + len, sizeof msg - len, ": %s", strerror(err));
	}
	if (log_dest == LOG_TO_SYSLOG) {
		syslog(pri, "%s", msg);
		return;
	}
	f = (log_dest == LOG_TO_FILE) ? log_file : stderr;
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "%s wschatd[%ld]: %s\n", stamp, (long)getpid(), msg);
	fflush(f);
}

#define LOG_SAFE_SLOTS	4	/* log_safe() results usable in one call */
#define LOG_SAFE_MAX	256	/* bytes of each, escapes included */

/*
 * A client-supplied string, fit for a log line: every byte outside
 * printable ASCII, and the backslash, is written as \xNN, and a string too
 * long is cut with "...". The result lives until LOG_SAFE_SLOTS more calls
 * in this thread, so one log call may escape up to that many strings.
 */
const char *
log_safe(const char *s)
{
	static __thread char	 bufs[LOG_SAFE_SLOTS][LOG_SAFE_MAX];
	static __thread int	 next;
	static const char	 hex[] = "0123456789abcdef";
	char			*buf, *p, *end;
	unsigned char		 ch;

	if (s == NULL)
		return ("(none)");
	buf = bufs[next];
	next = (next + 1) % LOG_SAFE_SLOTS;
	p = buf;
	end = buf + LOG_SAFE_MAX - 4;	/* room for "..." and the NUL */
	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			if (p + 1 > end)
				break;
			*p++ = ch;
			continue;
		}
		if (p + 4 > end)
			break;
		*p++ = '\\';
		*p++ = 'x';
		*p++ = hex[ch >> 4];
		*p++ = hex[ch & 0xf];
	}
	if (*s != '\0') {
		memcpy(p, "...", 3);
		p += 3;
	}
	*p = '\0';
	return (buf);
}

#define LOG_EVENT_BURST		10	/* libevent lines in a burst ... */
#define LOG_EVENT_PER_SEC	1	/* ... then this many a second */

static double	 log_event_tokens = LOG_EVENT_BURST;
static int64_t	 log_event_at;		/* ms of the last refill */
static uint64_t	 log_event_dropped;	/* since the last line written */

/*
 * libevent's messages (event_warn and friends, such as the accept loop's
 * "Too many open files"): through our log, at most LOG_EVENT_BURST at once
 * and LOG_EVENT_PER_SEC after that, with a count of what was dropped.
 */
static void
log_event_cb(int severity, const char *msg)
{
	struct timespec	ts;
	int64_t		now;

	if (severity == EVENT_LOG_DEBUG && log_level < 2)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	log_event_tokens += (double)(now - log_event_at) * LOG_EVENT_PER_SEC /
	    1000.0;
	log_event_at = now;
	if (log_event_tokens > LOG_EVENT_BURST)
		log_event_tokens = LOG_EVENT_BURST;
	if (log_event_tokens < 1.0) {
		log_event_dropped++;
		return;
	}
	log_event_tokens -= 1.0;
	if (log_event_dropped > 0) {
		log_warnx("libevent: %s (%llu similar messages dropped)",
		    log_safe(msg), (unsigned long long)log_event_dropped);
		log_event_dropped = 0;
	} else if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", log_safe(msg));
	else
		log_info("libevent: %s", log_safe(msg));
}

/* Send libevent's own messages through this log, rate limited. */
void
log_libevent(void)
{
	event_set_log_callback(log_event_cb);
}

#define LOG_FN(name, pri, level, witherr)				\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	ap;							\
	int	saved = errno;						\
									\
	if (log_level < (level))					\
		return;							\
	va_start(ap, fmt);						\
	log_vwrite((pri), (witherr) ? saved : 0, fmt, ap);		\
	va_end(ap);							\
	errno = saved;							\
}

/* Critical (going on, degraded), warnings, information, -v detail. */
LOG_FN(log_crit, LOG_CRIT, 0, 0)
LOG_FN(log_warn, LOG_WARNING, 0, 1)
LOG_FN(log_warnx, LOG_WARNING, 0, 0)
LOG_FN(log_info, LOG_INFO, 0, 0)
LOG_FN(log_debug, LOG_DEBUG, 1, 0)

/* Log and exit: broken invariants and resource exhaustion. */
void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

/* As fatal(), without errno. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
