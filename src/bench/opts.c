/*
 * opts.c: the command line: the scenario, the options with their bounds
 * and defaults, and the server's URL (loopback only). A usage error exits
 * 2 before anything connects.
 */
#include "config.h"

#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct opts	 opts;

static const char *scenario_names[] = { "fanout", "ingest", "connections",
    "ceiling", "resume", "replay", "login" };

/* The scenario's name, for the report. */
const char *
opts_scenario_name(void)
{
	return (scenario_names[opts.scenario]);
}

static __dead void
usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: wschat-bench fanout|ingest|connections|ceiling|resume|replay|login\n"
"       [options]\n"
"  --url ws://127.0.0.1:PORT/ws  the server (loopback only)\n"
"  --subscribers S       fanout/ceiling receivers (default 10)\n"
"  --publishers P        publishers (default 1)\n"
"  --connections N       connections scenario: idle connections (default 1000)\n"
"  --duration SEC        publishing time, or the idle hold (default 5; 1)\n"
"  --messages N          at most N messages per publisher (0 = no limit)\n"
"  --rate R              open loop: R msgs/s over all publishers\n"
"  --window W            closed loop: W outstanding per publisher (default 8)\n"
"  --size BYTES          message text size (default 100)\n"
"  --server-pid PID      sample the server's CPU and RSS from /proc\n"
"  --json FILE           write every number as one JSON object\n"
"  --concurrency C       handshakes in flight (default 256)\n"
"  --source-addrs K      connect from 127.0.0.1..127.0.0.K (default by N)\n"
"  --drain SEC           wait this long for deliveries after publishing (10)\n"
"  --fragment BYTES      send client messages in fragments of BYTES\n"
"  --ceiling-write batch|message  ceiling: batched or per-message writes\n"
"  --ceiling-batch N     ceiling: produce when N messages are free\n"
"                        (default publishers x window: lockstep)\n"
"  --reconnect-ms MS     resume: each subscriber closes and comes back\n"
"                        with RESUME about every MS ms (default 300)\n"
"  --replay-events M     replay: one client leaves, M messages are published\n"
"                        (closed loop, window 32 per publisher), the fan-out\n"
"                        subscribers join, and during the run it comes back\n"
"                        with RESUME across all M (default 200000)\n"
"  --replay-at SEC       replay: when it comes back (default duration / 2)\n"
"  --logins N            login: N more clients REGISTER in the setup, then\n"
"                        all LOGIN at once during the fan-out (default 100)\n"
"  --login-at SEC        login: when they do (default duration / 2)\n"
"  --stalled N           fanout: N more subscribers that stop reading once\n"
"                        subscribed (server output grows to max_output)\n"
"  --stall-rcvbuf BYTES  their SO_RCVBUF (default 4096; 0 = the kernel's)\n"
"  --strace FILE         strace -c -f the server (--server-pid) while\n"
"                        publishing and draining; counts per delivery\n"
"  -v, --verbose         print every error\n");
	exit(status);
}

static double
opt_num(const char *name, const char *s, double lo, double hi)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "wschat-bench: --%s: %s is not a number in "
		    "[%g, %g]\n", name, s, lo, hi);
		exit(2);
	}
	return (v);
}

/* ws://HOST[:PORT][/PATH] with HOST a loopback address. */
static void
opt_url(const char *url)
{
	const char	*h, *slash, *colon;
	char		 host[64];
	size_t		 hl;
	long		 port = 80;

	if (strncmp(url, "ws://", 5) != 0)
		goto bad;
	h = url + 5;
	slash = strchr(h, '/');
	hl = slash != NULL ? (size_t)(slash - h) : strlen(h);
	if ((colon = memchr(h, ':', hl)) != NULL) {
		port = strtol(colon + 1, NULL, 10);
		if (port < 1 || port > 65535)
			goto bad;
		hl = (size_t)(colon - h);
	}
	if (hl == 0 || hl >= sizeof host)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	memset(&opts.addr, 0, sizeof opts.addr);
	opts.addr.sin_family = AF_INET;
	opts.addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &opts.addr.sin_addr) != 1)
		goto bad;
	if ((ntohl(opts.addr.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "wschat-bench: %s: loopback addresses only\n", url);
		exit(2);
	}
	snprintf(opts.hostport, sizeof opts.hostport, "%s:%ld", host, port);
	opts.path = xstrdup(slash != NULL ? slash : "/");
	opts.url = xstrdup(url);
	return;
bad:
	fprintf(stderr, "wschat-bench: %s: want ws://127.0.0.1:PORT/ws\n", url);
	exit(2);
}

void
opts_parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "subscribers", required_argument, NULL, 's' },
		{ "publishers", required_argument, NULL, 'p' },
		{ "connections", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "messages", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'w' },
		{ "size", required_argument, NULL, 'b' },
		{ "server-pid", required_argument, NULL, 'P' },
		{ "json", required_argument, NULL, 'j' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "source-addrs", required_argument, NULL, 'a' },
		{ "drain", required_argument, NULL, 'D' },
		{ "fragment", required_argument, NULL, 'f' },
		{ "ceiling-write", required_argument, NULL, 'C' },
		{ "ceiling-batch", required_argument, NULL, 'B' },
		{ "reconnect-ms", required_argument, NULL, 'R' },
		{ "replay-events", required_argument, NULL, 'E' },
		{ "replay-at", required_argument, NULL, 'A' },
		{ "logins", required_argument, NULL, 'L' },
		{ "login-at", required_argument, NULL, 'l' },
		{ "stalled", required_argument, NULL, 'Z' },
		{ "stall-rcvbuf", required_argument, NULL, 'Y' },
		{ "strace", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	size_t	 len = 0;
	int	 ch, i, window_set = 0;
	char	*url = NULL;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	opts.command = xcalloc(1, len + 1);
	for (i = 0; i < argc; i++) {
		if (i > 0)
			strcat(opts.command, " ");
		strcat(opts.command, argv[i]);
	}

	opts.subscribers = 10;
	opts.publishers = 1;
	opts.connections = 1000;
	opts.duration = 5;
	opts.window = 8;
	opts.size = 100;
	opts.concurrency = 256;
	opts.drain = 10;
	opts.reconnect_ms = 300;
	opts.replay_events = 200000;
	opts.replay_at = -1;
	opts.logins = 100;
	opts.login_at = -1;
	opts.stall_rcvbuf = 4096;

	if (argc < 2)
		usage(2);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		usage(0);
	for (i = 0; i < (int)(sizeof scenario_names / sizeof *scenario_names); i++)
		if (strcmp(argv[1], scenario_names[i]) == 0)
			break;
	if (i == (int)(sizeof scenario_names / sizeof *scenario_names)) {
		fprintf(stderr, "wschat-bench: unknown scenario: %s\n", argv[1]);
		usage(2);
	}
	opts.scenario = (enum scenario)i;
	argc--;
	argv++;

	while ((ch = getopt_long(argc, argv, "s:p:n:d:m:r:w:vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 's': opts.subscribers = (int)opt_num("subscribers", optarg, 0, 1e6); break;
		case 'p': opts.publishers = (int)opt_num("publishers", optarg, 1, 1e5); break;
		case 'n': opts.connections = (int)opt_num("connections", optarg, 1, 1e7); break;
		case 'd':
			opts.duration = opt_num("duration", optarg, 0, 86400);
			opts.duration_set = 1;
			break;
		case 'm': opts.messages = (int64_t)opt_num("messages", optarg, 0, 1e12); break;
		case 'r': opts.rate = opt_num("rate", optarg, 1e-3, 1e9); break;
		case 'w':
			opts.window = (int)opt_num("window", optarg, 1, 1e6);
			window_set = 1;
			break;
		case 'b': opts.size = (size_t)opt_num("size", optarg, 1, 8e6); break;
		case 'P': opts.server_pid = (pid_t)opt_num("server-pid", optarg, 1, 4e9); break;
		case 'j': opts.json = optarg; break;
		case 'c': opts.concurrency = (int)opt_num("concurrency", optarg, 1, 1e6); break;
		case 'a': opts.source_addrs = (int)opt_num("source-addrs", optarg, 1, 254); break;
		case 'D': opts.drain = opt_num("drain", optarg, 0.001, 86400); break;
		case 'f': opts.fragment = (size_t)opt_num("fragment", optarg, 1, 8e6); break;
		case 'C':
			if (strcmp(optarg, "batch") == 0)
				opts.ceiling_per_message = 0;
			else if (strcmp(optarg, "message") == 0)
				opts.ceiling_per_message = 1;
			else
				usage(2);
			break;
		case 'B': opts.ceiling_batch = (int64_t)opt_num("ceiling-batch", optarg, 1, 1e9); break;
		case 'R': opts.reconnect_ms = opt_num("reconnect-ms", optarg, 1, 3.6e6); break;
		case 'E': opts.replay_events = (int64_t)opt_num("replay-events", optarg, 0, 1e10); break;
		case 'A': opts.replay_at = opt_num("replay-at", optarg, 0, 86400); break;
		case 'L': opts.logins = (int)opt_num("logins", optarg, 1, 1e5); break;
		case 'l': opts.login_at = opt_num("login-at", optarg, 0, 86400); break;
		case 'Z': opts.stalled = (int)opt_num("stalled", optarg, 0, 1e6); break;
		case 'Y': opts.stall_rcvbuf = (int)opt_num("stall-rcvbuf", optarg, 0, 1e9); break;
		case 'T': opts.strace = optarg; break;
		case 'v': opts.verbose++; break;
		case 'h': usage(0);
		default: usage(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "wschat-bench: stray argument: %s\n", argv[optind]);
		usage(2);
	}
	if (opts.rate > 0 && window_set) {
		fprintf(stderr, "wschat-bench: --rate (open loop) and --window "
		    "(closed loop) exclude each other\n");
		exit(2);
	}
	if ((IS_FANOUT(opts.scenario) || opts.scenario == SC_CEILING) &&
	    opts.subscribers < 1) {
		fprintf(stderr, "wschat-bench: %s needs --subscribers >= 1\n",
		    scenario_names[opts.scenario]);
		exit(2);
	}
	if (opts.stalled > 0 && !IS_FANOUT(opts.scenario)) {
		fprintf(stderr, "wschat-bench: --stalled is for fanout, resume "
		    "and replay\n");
		exit(2);
	}
	if (opts.strace != NULL && (opts.server_pid <= 0 ||
	    opts.scenario == SC_CEILING || opts.scenario == SC_CONNECTIONS)) {
		fprintf(stderr, "wschat-bench: --strace needs --server-pid and a "
		    "publishing scenario\n");
		exit(2);
	}
	if (opts.replay_at < 0)
		opts.replay_at = opts.duration / 2;
	if (opts.login_at < 0)
		opts.login_at = opts.duration / 2;
	/* Lockstep, like group commit: measured best in every respect. */
	if (opts.ceiling_batch == 0)
		opts.ceiling_batch = (int64_t)opts.publishers * opts.window;
	if (opts.ceiling_batch < 1)
		opts.ceiling_batch = 1;
	if (opts.ceiling_batch > (int64_t)opts.publishers * opts.window)
		opts.ceiling_batch = (int64_t)opts.publishers * opts.window;
	if (opts.scenario == SC_CONNECTIONS && !opts.duration_set)
		opts.duration = 1;
	if (opts.messages > 0 && !opts.duration_set &&
	    opts.scenario != SC_CONNECTIONS)
		opts.duration = 60;	/* --messages bounds it; this is a cap */
	if (opts.scenario != SC_CEILING)
		opt_url(url != NULL ? url : "ws://127.0.0.1:8080/ws");
	else if (url != NULL)
		fprintf(stderr, "wschat-bench: ceiling ignores --url\n");
}
