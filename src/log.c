/*
 * log.c: logging to stderr, syslog or a file, in the manner of OpenBSD's
 * log.c. fatal() and fatalx() are the fatal error path. It sits below
 * xmalloc.c (which dies through fatal), so it allocates with plain libc.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

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
