/*
 * util.h: the small utilities the daemon shares with its tools (the load
 * generator, the admin tool): logging and the fatal path, allocation that
 * cannot fail, and the clocks. In layers: log.c needs only libc (and
 * libevent, whose messages it takes), while
 * xmalloc.c and clock.c die through its fatal(). wschatd.h includes this.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#ifndef printflike
#define printflike(a, b) __attribute__((format(printf, a, b)))
#endif

struct event_base;

/* log.c */
#define LOG_TO_STDERR	0
#define LOG_TO_SYSLOG	1
#define LOG_TO_FILE	2
int		 log_init(const char *dest, int verbose, char **cause);
void		 log_reopen(void);
void		 log_close(void);
int		 log_verbose(void);
void		 log_crit(const char *, ...) printflike(1, 2);
void		 log_warn(const char *, ...) printflike(1, 2);
void		 log_warnx(const char *, ...) printflike(1, 2);
void		 log_info(const char *, ...) printflike(1, 2);
void		 log_debug(const char *, ...) printflike(1, 2);
/* A client-supplied string, escaped for a log line (see log.c). */
const char	*log_safe(const char *);
void		 log_libevent(void);	/* libevent's messages come to us */
__dead void	 fatal(const char *, ...) printflike(1, 2);
__dead void	 fatalx(const char *, ...) printflike(1, 2);

/* xmalloc.c: allocation failure is fatal. */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
char		*xstrndup(const char *, size_t);
int		 xasprintf(char **, const char *, ...) printflike(2, 3);
int		 xvasprintf(char **, const char *, va_list);

/* clock.c: wall and monotonic milliseconds; debug builds can pin them. */
int64_t		 clock_wall_ms(void);
int64_t		 clock_mono_ms(void);
int64_t		 clock_mono_us(void);
int64_t		 clock_mono_ns(void);
#ifdef WSCHAT_DEBUG
void		 clock_set_wall(int64_t);	/* 0 = real clock */
#endif
/* The loop-stall monitor: the longest a loop pass kept a timer waiting. */
void		 clock_stall_start(struct event_base *);
void		 clock_stall_stop(void);
int64_t		 clock_stall_max_us(void);
int64_t		 clock_stall_since_us(int64_t);

#endif
