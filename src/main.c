/*
 * main.c: the daemon's life: options, configuration, the journal, the
 * layers wired together bottom up, the listener, signals, the event loop
 * and an orderly shutdown. It runs in the foreground, as systemd and
 * containers expect. Its globals are its own: nothing below reads them.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wschatd.h"

static struct event_base *main_base;
static struct journal	*main_journal;
static int		 main_exiting;
static struct event	*main_sig[3];

/* Print usage and exit. */
static __dead void
main_usage(void)
{
	fprintf(stderr, "usage: wschatd [-nVv] [-f file] [--listen addr:port]\n");
	exit(2);
}

/* Poll, during shutdown, for the last connection to finish closing. */
static void
main_shutdown_poll(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	tv = { 0, 20000 };
	static int64_t	deadline;

	if (deadline == 0)
		deadline = clock_mono_ms() + config.shutdown_timeout * 1000;
	if (clients_count == 0 || clock_mono_ms() >= deadline) {
		if (clients_count > 0)
			log_warnx("shutdown: %u connections did not close in time",
			    clients_count);
		event_base_loopbreak(main_base);
		return;
	}
	event_base_once(main_base, -1, EV_TIMEOUT, main_shutdown_poll,
	    NULL, &tv);
}

/* SIGTERM, SIGINT: stop accepting, close every connection with 1001. */
static void
main_signal(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP) {
		log_info("SIGHUP: reopening the log");
		log_reopen();
		return;
	}
	if (main_exiting) {
		log_info("second signal: exiting now");
		event_base_loopbreak(main_base);
		return;
	}
	main_exiting = 1;
	log_info("%s: shutting down, closing %u connections",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT", clients_count);
	http_stop_accepting();
	client_close_all(WS_CLOSE_GOING_AWAY, "server shutting down");
	main_shutdown_poll(-1, 0, NULL);
}

/* Load the config file: -f, or the installed one if present. */
static void
main_configure(const char *file, const char *listen, int checkonly)
{
	char	*cause = NULL;

	config_defaults(&config);
	if (file == NULL && access(SYSCONFDIR "/wschatd.conf", R_OK) == 0)
		file = SYSCONFDIR "/wschatd.conf";
	if (file != NULL && config_load(&config, file, &cause) != 0)
		goto bad;
	if (listen != NULL && config_set(&config, "listen", listen, &cause) != 0)
		goto bad;
	if (config.max_frame > config.max_message) {
		xasprintf(&cause, "%s: max_frame (%lld) is larger than max_message"
		    " (%lld)", file != NULL ? file : "settings", config.max_frame,
		    config.max_message);
		goto bad;
	}
	if (checkonly) {
		printf("configuration OK\n");
		config_free(&config);
		exit(0);
	}
	return;
bad:
	fprintf(stderr, "wschatd: %s\n", cause);
	free(cause);
	config_free(&config);
	exit(1);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct event_config *evcfg;
	struct eventlog	 log;
	const char	*file = NULL, *listen = NULL;
	char		*cause = NULL;
	int		 ch, checkonly = 0, verbose = 0, i;
	int		 sigs[3] = { SIGTERM, SIGINT, SIGHUP };

	while ((ch = getopt_long(argc, argv, "f:hnVv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'V':
			printf("%s\n", WSCHAT_VERSION);
			exit(0);
		case 'v':
			verbose++;
			break;
		default:
			main_usage();
		}
	}
	if (optind != argc)
		main_usage();

	main_configure(file, listen, checkonly);
	if (log_init(config.log, verbose, &cause) != 0) {
		fprintf(stderr, "wschatd: log: %s\n", cause);
		exit(1);
	}
	/* libevent's own warnings (such as accept errors) go to our log. */
	log_libevent();
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Keep up to 32 MiB of freed heap instead of trimming it after every
	 * fan-out pass: the benchmark counted 12-16k brk calls and ~400k page
	 * faults in a 4 s fan-out, and 20-30% more deliveries per CPU-second
	 * without them (docs/BENCHMARKS.md).
	 */
	mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);

	/*
	 * The epoll changelist folds a write event's delete (output drained)
	 * and re-add (the next fan-out) within one loop pass into nothing: two
	 * epoll_ctl calls fewer per delivery burst under load.
	 *
	 * Timers read CLOCK_MONOTONIC, not libevent's default of the coarse
	 * clock, which advances once a jiffy (4 ms here): the stall monitor's
	 * tick would otherwise report up to 4 ms of rounding as loop stalls,
	 * and stream_rate's waits need sub-millisecond timers.
	 */
	if ((evcfg = event_config_new()) == NULL)
		fatalx("event_config_new");
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	if ((main_base = event_base_new_with_config(evcfg)) == NULL)
		fatalx("event_base_new");
	event_config_free(evcfg);
	if (event_base_priority_init(main_base, 3) != 0)
		fatalx("event_base_priority_init");
	/*
	 * Catch the signals before anything can announce readiness ("listening
	 * on"): a SIGTERM sent on that line must be an orderly shutdown, not
	 * the default action. Until the loop runs they wait in libevent.
	 */
	for (i = 0; i < 3; i++) {
		main_sig[i] = evsignal_new(main_base, sigs[i],
		    main_signal, NULL);
		if (main_sig[i] == NULL || evsignal_add(main_sig[i], NULL) != 0)
			fatalx("evsignal_add");
	}

	main_journal = journal_open(config.db, config.journal_sync, &cause);
	if (main_journal == NULL)
		fatalx("journal %s: %s", config.db, cause);
#ifdef WSCHAT_DEBUG
	/* Counted from the first batch, after the open's run marker. */
	if (getenv("WSCHAT_FAIL_STEP") != NULL)
		journal_fail_step(atol(getenv("WSCHAT_FAIL_STEP")));
	if (getenv("WSCHAT_COMMIT_DELAY_MS") != NULL)
		journal_log_delay(atol(getenv("WSCHAT_COMMIT_DELAY_MS")));
#endif
	journal_set_retention(main_journal, config.retain_events,
	    config.retain_days);

	/* The layers, bottom up: the log, events, commands, the front door. */
	wevent_init(main_journal);
	if (wevent_load() != 0)
		fatalx("journal %s: cannot load state", config.db);
	journal_eventlog(main_journal, &log);
	if (batch_init(main_base, &log) != 0)
		fatalx("journal %s: cannot start the writer", config.db);
	cmd_init(main_base, main_journal);
	if (auth_init(main_base, &cause) != 0)
		fatalx("auth: %s", cause);
	ident_init(main_base);
	log_info("journal %s: epoch %s, head %lld, %zu channels", config.db,
	    batch_epoch(), (long long)batch_committed(), state_nchannels);
	if (http_init(main_base, config.listen, &cause) != 0)
		fatalx("%s", cause);

	clock_stall_start(main_base);
	event_base_dispatch(main_base);
	log_info("longest loop stall: %lld us", (long long)clock_stall_max_us());
	clock_stall_stop();

	/* Orderly exit: finish the journal, then free everything. */
	ident_shutdown();
	auth_shutdown();
	batch_free();
	reply_shutdown();
	wevent_shutdown();
	client_flush_all();
	for (i = 0; i < 3; i++)
		event_free(main_sig[i]);
	http_free();
	/* Run the deferred frees scheduled by the connections evhttp freed. */
	client_reap_all(main_base);
	client_shutdown();
	quota_shutdown();
	/* Every commit is in: the next start need not change the epoch. */
	if (journal_mark_stopped(main_journal, &cause) != 0) {
		log_warnx("journal %s: %s (the next start takes this run for a "
		    "crash)", config.db, cause);
		free(cause);
	}
	journal_close(main_journal);
	state_clear();
	account_clear();
	event_base_free(main_base);
	log_info("exiting");
	config_free(&config);
	log_close();
	return (0);
}
