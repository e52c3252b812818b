/*
 * proc.c: the server and the machine as seen from outside, so that the
 * bench never asks the server about itself: CPU, RSS and syscall counts
 * from /proc, the server's TCP send queues by sock_diag, the CPU other
 * processes took during the run, and `strace -c` counts of the server.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"

/* utime + stime from a stat file, in seconds; -1 if it cannot be read. */
static double
stat_cpu(const char *path)
{
	char		 buf[1024], *p;
	unsigned long	 ut, st;
	FILE		*f;
	size_t		 n;
	int		 i;

	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields follow the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return (-1);
	p++;
	/* Field 3 (state) is first; utime and stime are fields 14 and 15. */
	for (i = 3; i < 14; i++) {
		p = strchr(p + 1, ' ');
		if (p == NULL)
			return (-1);
	}
	if (sscanf(p, " %lu %lu", &ut, &st) != 2)
		return (-1);
	return ((double)(ut + st) / (double)sysconf(_SC_CLK_TCK));
}

/* utime + stime of a process (all its threads). */
static double
proc_cpu(pid_t pid)
{
	char	path[64];

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	return (stat_cpu(path));
}

/* utime + stime of a process's main thread: wschatd's event loop. */
static double
proc_main_thread_cpu(pid_t pid)
{
	char	path[64];

	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)pid);
	return (stat_cpu(path));
}

/* VmRSS of a process in kB; -1 if it cannot be read. */
long
proc_rss_kb(pid_t pid)
{
	char	 path[64], line[256];
	long	 kb = -1;
	FILE	*f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return (kb);
}

/* read and write syscalls of a process (/proc/PID/io); -1 if unreadable. */
static void
proc_io(pid_t pid, int64_t *syscr, int64_t *syscw)
{
	char		 path[64], line[128];
	long long	 v;
	FILE		*f;

	*syscr = *syscw = -1;
	snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "syscr: %lld", &v) == 1)
			*syscr = v;
		else if (sscanf(line, "syscw: %lld", &v) == 1)
			*syscw = v;
	}
	fclose(f);
}

/*
 * Bytes in the TCP send queues of the server's connections (local port =
 * the server's): the kernel memory slow consumers hold beside wschatd's
 * own max_output. A sock_diag dump of established sockets only, since
 * reading /proc/net/tcp with the TIME_WAIT sockets of an earlier run of
 * 20000 connections cost this process tens of milliseconds each time.
 * -1 if it cannot be read.
 */
int64_t
proc_send_queues(void)
{
	struct {
		struct nlmsghdr		nlh;
		struct inet_diag_req_v2	r;
	}			 req;
	struct nlmsghdr		*h;
	struct inet_diag_msg	*m;
	char			 buf[32768];
	int64_t			 sum = 0;
	ssize_t			 n;
	int			 fd, done = 0;

	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	    NETLINK_SOCK_DIAG)) == -1)
		return (-1);
	memset(&req, 0, sizeof req);
	req.nlh.nlmsg_len = sizeof req;
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = AF_INET;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = 1 << 1;		/* TCP_ESTABLISHED */
	if (send(fd, &req, sizeof req, 0) != (ssize_t)sizeof req) {
		close(fd);
		return (-1);
	}
	while (!done && (n = recv(fd, buf, sizeof buf, 0)) > 0) {
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		    h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				close(fd);
				return (-1);
			}
			m = NLMSG_DATA(h);
			/* wqueue: sent and not yet acknowledged, or unsent. */
			if (m->id.idiag_sport == opts.addr.sin_port)
				sum += m->idiag_wqueue;
		}
	}
	close(fd);
	return (done ? sum : -1);
}

static pid_t	*procs_pid;	/* at the start: the processes */
static double	*procs_cpu;	/* and their CPU-s */
static size_t	 procs_n;

/*
 * Every other user process's CPU time (not the server's, not ours, no
 * kernel threads), from /proc/PID/stat: at the start a snapshot, at the
 * end the growth since (all of it for a process that is new). Processes
 * that exit in between are missed, so it is a lower bound; so is
 * /proc/stat's busy time on this VM, whose ticks can go missing.
 * Returns the CPU-s at the end, 0 at the start.
 */
static double
procs_sample(int end)
{
	char		 path[64], buf[1024], *p;
	struct dirent	*de;
	unsigned long	 ut, st;
	double		 cpu, others = 0;
	size_t		 n, i, cap = 0;
	FILE		*f;
	DIR		*d;
	long		 pid;
	int		 ppid, k;

	if ((d = opendir("/proc")) == NULL)
		return (0);
	if (!end)
		procs_n = 0;
	while ((de = readdir(d)) != NULL) {
		if ((pid = strtol(de->d_name, &p, 10)) <= 0 || *p != '\0' ||
		    pid == getpid() || pid == opts.server_pid || pid == 2)
			continue;
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		if ((p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 1, " %*c %d", &ppid) != 1 || ppid == 2)
			continue;	/* kernel threads are kthreadd's */
		for (k = 3; k < 14 && p != NULL; k++)
			p = strchr(p + 1, ' ');
		if (p == NULL || sscanf(p, " %lu %lu", &ut, &st) != 2)
			continue;
		cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		if (!end) {
			if (procs_n == cap || cap == 0) {
				cap = cap == 0 ? 512 : cap * 2;
				procs_pid = xreallocarray(procs_pid, cap,
				    sizeof *procs_pid);
				procs_cpu = xreallocarray(procs_cpu, cap,
				    sizeof *procs_cpu);
			}
			procs_pid[procs_n] = (pid_t)pid;
			procs_cpu[procs_n++] = cpu;
			continue;
		}
		for (i = 0; i < procs_n; i++)
			if (procs_pid[i] == (pid_t)pid)
				break;
		if (i < procs_n)
			cpu -= procs_cpu[i];
		if (cpu > 0)
			others += cpu;
	}
	closedir(d);
	return (others);
}

/* CPU seconds the whole machine spent busy (all CPUs, /proc/stat). */
static double
machine_busy(void)
{
	unsigned long long	 u, n, sy, id, io, irq, sirq, st;
	FILE			*f;
	int			 k;

	if ((f = fopen("/proc/stat", "r")) == NULL)
		return (-1);
	k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &sy,
	    &id, &io, &irq, &sirq, &st);
	fclose(f);
	if (k != 8)
		return (-1);
	return ((double)(u + n + sy + irq + sirq + st) /
	    (double)sysconf(_SC_CLK_TCK));
}

/* Sample the server (if we know it) and ourselves. */
void
proc_sample(double *cpu, long *rss, struct rusage *ru)
{
	int	end = ru == &run.ru1;

	if (ru != NULL) {
		run.busy[end] = machine_busy();
		run.others_cpu = procs_sample(end);
		if (opts.server_pid > 0) {
			proc_io(opts.server_pid, &run.srv_syscr[end],
			    &run.srv_syscw[end]);
			run.srv_loop_cpu[end] = proc_main_thread_cpu(
			    opts.server_pid);
		}
	}
	if (opts.server_pid > 0 && cpu != NULL) {
		*cpu = proc_cpu(opts.server_pid);
		*rss = proc_rss_kb(opts.server_pid);
		if (*cpu < 0 || *rss < 0)
			run_error("cannot read /proc/%d: is --server-pid right?",
			    (int)opts.server_pid);
		if (*rss > run.srv_rss_peak)
			run.srv_rss_peak = *rss;
	}
	if (ru != NULL)
		getrusage(RUSAGE_SELF, ru);
}

/*
 * --strace FILE: `strace -c -f` on the server from the start of publishing
 * to the end of the drain, so that its counts are of the run alone. strace
 * stops the server at every syscall: use its counts as ratios (calls per
 * delivery), never its speeds.
 */
static pid_t	 strace_pid;
static json_t	*strace_calls;	/* syscall -> calls, once strace stopped */

void
proc_strace_start(void)
{
	char	 errpath[PATH_MAX], pidstr[24], buf[4096];
	int64_t	 deadline = clock_mono_ns() + 10 * (int64_t)1000000000;
	ssize_t	 n;
	pid_t	 pid;
	int	 fd, status;

	snprintf(errpath, sizeof errpath, "%s.err", opts.strace);
	snprintf(pidstr, sizeof pidstr, "%d", (int)opts.server_pid);
	if ((fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644))
	    == -1)
		fatal("%s", errpath);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		dup2(fd, 2);
		execlp("strace", "strace", "-c", "-f", "-p", pidstr, "-o",
		    opts.strace, (char *)NULL);
		_exit(127);
	}
	strace_pid = pid;
	/* "Process N attached with K threads": every thread is traced. */
	for (;;) {
		n = pread(fd, buf, sizeof buf - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, "attached") != NULL)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			strace_pid = 0;
			run_abort("strace exited before attaching: %s",
			    run_shorten(buf, strlen(buf)));
			break;
		}
		if (clock_mono_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			strace_pid = 0;
			run_abort("strace did not attach in 10 s");
			break;
		}
		usleep(2000);
	}
	close(fd);
}

/* Detach strace (SIGINT makes it write its table) and read the counts. */
void
proc_strace_stop(void)
{
	char	 line[512], *tok[8], *t, *save;
	FILE	*f;
	int	 status, nt;

	if (strace_pid <= 0)
		return;
	kill(strace_pid, SIGINT);
	waitpid(strace_pid, &status, 0);
	strace_pid = 0;
	if ((f = fopen(opts.strace, "r")) == NULL) {
		run_error("strace: no table in %s", opts.strace);
		return;
	}
	strace_calls = json_object();
	/* % time, seconds, usecs/call, calls, [errors,] syscall */
	while (fgets(line, sizeof line, f) != NULL) {
		nt = 0;
		for (t = strtok_r(line, " \t\n", &save); t != NULL && nt < 8;
		    t = strtok_r(NULL, " \t\n", &save))
			tok[nt++] = t;
		if (nt < 5 || tok[0][0] == '-' || tok[0][0] == '%' ||
		    strcmp(tok[nt - 1], "total") == 0)
			continue;
		json_object_set_new(strace_calls, tok[nt - 1],
		    json_integer(strtoll(tok[3], NULL, 10)));
	}
	fclose(f);
}

/* Calls of one syscall in the strace table (0 if absent). */
int64_t
proc_strace_count(const char *name)
{
	json_t	*v;

	if (strace_calls == NULL ||
	    (v = json_object_get(strace_calls, name)) == NULL)
		return (0);
	return ((int64_t)json_integer_value(v));
}

/* The strace table, or NULL if there was none. */
json_t *
proc_strace_table(void)
{
	return (strace_calls);
}

/*
 * The server's longest loop stall, by a blocking GET of /healthz with a
 * 1 s timeout; -1 if it cannot be had. since_ns < 0: the longest so far
 * (loop_stall_max_us). Otherwise the longest that ended in a second of
 * CLOCK_MONOTONIC at or after since_ns's (loop_stall_since_us; the server
 * keeps a minute of them): the replay and login scenarios name the
 * windows they compare, before and during their burst.
 */
int64_t
proc_healthz_stall(int64_t since_ns)
{
	struct timeval	 tv = { 1, 0 };
	char		 buf[4096], req[256], query[64], *p;
	const char	*key;
	size_t		 len = 0;
	ssize_t		 n;
	int64_t		 v = -1;
	int		 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (since_ns < 0) {
		key = "\"loop_stall_max_us\":";
		query[0] = '\0';
	} else {
		key = "\"loop_stall_since_us\":";
		snprintf(query, sizeof query, "?stall_since=%lld",
		    (long long)(since_ns / 1000000000));
	}
	snprintf(req, sizeof req, "GET /healthz%s HTTP/1.1\r\nHost: %s\r\n"
	    "Connection: close\r\n\r\n", query, opts.hostport);
	if (connect(fd, (struct sockaddr *)&opts.addr, sizeof opts.addr) == 0 &&
	    write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
		while (len < sizeof buf - 1 &&
		    (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
			len += (size_t)n;
		buf[len] = '\0';
		if ((p = strstr(buf, key)) != NULL)
			v = strtoll(p + strlen(key), NULL, 10);
	}
	close(fd);
	return (v);
}
