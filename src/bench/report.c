/*
 * report.c: the report, as text on stdout and as one JSON object for
 * --json (what tests/bench/run.sh reads): the numbers derived from the
 * measurements (rates, CPU per delivery, the other load on the machine)
 * and every measurement the scenario made.
 */
#include "config.h"

#include <sys/resource.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"

static double
ru_cpu(const struct rusage *ru)
{
	return ((double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	    (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6);
}

static double
secs(int64_t from, int64_t to)
{
	return (to > from ? (double)(to - from) / 1e9 : 0);
}

static double
per_s(double n, double s)
{
	return (s > 0 ? n / s : 0);
}

struct numbers {
	double	 elapsed;		/* publishing start to last delivery */
	double	 pub_s;			/* publishing start to last confirm */
	double	 published_per_s;
	double	 deliveries_per_s;
	double	 server_cpu;		/* -1 if unknown */
	double	 bench_cpu;
	double	 busy;			/* whole machine, CPU-s; -1 unknown */
	double	 other;			/* busy minus server and bench */
	uint64_t expected;
};

static void
numbers(struct numbers *nb)
{
	int64_t	t0 = run.t0, tpub, tdel;

	memset(nb, 0, sizeof *nb);
	nb->server_cpu = -1;
	if (opts.scenario == SC_CEILING) {
		t0 = ceiling_t0();
		tpub = run.t_last_delivery;
		tdel = run.t_last_delivery;
		nb->server_cpu = ceiling_cpu();
	} else {
		tpub = run.t_last_confirm;
		tdel = opts.scenario == SC_INGEST ? run.t_last_confirm :
		    run.t_last_delivery;
		if (opts.server_pid > 0 && run.srv_cpu0 >= 0 && run.srv_cpu1 >= 0 &&
		    run.t_end != 0)
			nb->server_cpu = run.srv_cpu1 - run.srv_cpu0;
		/* Connections: the CPU of accepting them, not of the idle hold. */
		if (opts.scenario == SC_CONNECTIONS && nb->server_cpu >= 0)
			nb->server_cpu = run.srv_cpu_conn - run.srv_cpu0;
	}
	nb->pub_s = secs(t0, tpub);
	nb->elapsed = secs(t0, tdel);
	nb->published_per_s = per_s((double)run_live_confirmed(), nb->pub_s);
	nb->deliveries_per_s = per_s((double)run.total_deliveries, nb->elapsed);
	nb->bench_cpu = ru_cpu(&run.ru1) - ru_cpu(&run.ru0);
	if (opts.scenario == SC_CEILING)
		nb->bench_cpu -= ceiling_cpu();
	if (nb->bench_cpu < 0)
		nb->bench_cpu = 0;
	nb->busy = nb->other = -1;
	if (run.busy[0] >= 0 && run.busy[1] > 0) {
		nb->busy = run.busy[1] - run.busy[0];
		/* Everything else on the machine: noise in these numbers. */
		nb->other = nb->busy - (ru_cpu(&run.ru1) - ru_cpu(&run.ru0)) -
		    (opts.scenario != SC_CEILING && nb->server_cpu > 0 ?
		    nb->server_cpu : 0);
		if (nb->other < 0)
			nb->other = 0;
	}
	/* Both are lower bounds (see procs_sample): take the larger. */
	if (run.busy[1] > 0 && run.others_cpu > nb->other)
		nb->other = run.others_cpu;
	nb->expected = (uint64_t)run.nsubs * run_live_confirmed();
}

void
report_print(void)
{
	struct numbers	nb;
	int		i;

	numbers(&nb);
	printf("wschat-bench %s", opts_scenario_name());
	switch (opts.scenario) {
	case SC_CONNECTIONS:
		printf(": %d connections from %d source address%s\n",
		    opts.connections, opts.source_addrs,
		    opts.source_addrs == 1 ? "" : "es");
		printf("  connected              %d of %d in %.3f s: %.0f/s\n",
		    run.ready, run.nconns, secs(run.t_start, run.t_connected),
		    per_s(run.ready, secs(run.t_start, run.t_connected)));
		hist_print("connect->HELLO us", &run.conn_lat);
		if (opts.server_pid > 0)
			printf("  server rss kB          %ld idle, %ld connected, "
			    "%ld after %.1f s: %.0f bytes per connection\n",
			    run.srv_rss0, run.srv_rss_conn, run.srv_rss1,
			    opts.duration, run.nconns > 0 ? (double)(run.srv_rss1 -
			    run.srv_rss0) * 1024.0 / run.nconns : 0);
		if (opts.server_pid > 0)
			printf("  server cpu             %.2f s connecting, %.2f s "
			    "idle for %.1f s\n", run.srv_cpu_conn - run.srv_cpu0,
			    run.srv_cpu1 - run.srv_cpu_conn, opts.duration);
		break;
	default:
		printf(": %d subscriber%s, %d publisher%s, ", run.nsubs,
		    run.nsubs == 1 ? "" : "s", run.npubs,
		    run.npubs == 1 ? "" : "s");
		if (opts.rate > 0)
			printf("open loop %.0f msgs/s", opts.rate);
		else
			printf("closed loop window %d", opts.window);
		printf(", %zu-byte text, %.1f s%s\n", opts.size, opts.duration,
		    opts.scenario == SC_CEILING ? (opts.ceiling_per_message ?
		    ", one write per receiver per message" :
		    ", batched writes") : "");
		printf("  published              %" PRIu64 " in %.3f s: %.0f msgs/s\n",
		    run_live_confirmed(), nb.pub_s, nb.published_per_s);
		if (opts.scenario != SC_INGEST) {
			printf("  deliveries             %" PRIu64 " of %" PRIu64
			    " in %.3f s: %.0f/s\n", run.total_deliveries,
			    nb.expected, nb.elapsed, nb.deliveries_per_s);
			hist_print("end-to-end latency us", &run.lat);
		}
		if (opts.scenario != SC_CEILING)
			hist_print("MSG->CONFIRM us", &run.rtt);
		if (opts.scenario == SC_RESUME) {
			printf("  reconnects             %" PRIu64 ", %" PRIu64
			    " events replayed\n", run.reconnects, run.replayed);
			hist_print("close->RESUMED us", &run.resume_lat);
		}
		if (opts.scenario == SC_REPLAY) {
			printf("  prefill                %" PRIu64 " MSGs in %.3f s: "
			    "%.0f msgs/s\n", run.base_confirmed,
			    secs(run.prefill_t0, run.prefill_t1),
			    per_s((double)run.base_confirmed,
			    secs(run.prefill_t0, run.prefill_t1)));
			printf("  replay                 %" PRId64 " events, RESUME->"
			    "RESUMED %.3f s: %.0f events/s; connect->RESUMED "
			    "%.3f s\n", run.replay_count,
			    secs(run.replay_t_cmd, run.replay_t1),
			    per_s((double)run.replay_count,
			    secs(run.replay_t_cmd, run.replay_t1)),
			    secs(run.replay_t0, run.replay_t1));
			printf("  server loop stall max  %.2f ms before the replay, "
			    "%.2f ms during (/healthz, per second)\n",
			    (double)run.replay_stall[0] / 1e3,
			    (double)run.replay_stall[1] / 1e3);
			hist_print("latency us, quiet", &run.lat_quiet);
			hist_print("latency us, in replay", &run.lat_replay);
		}
		if (opts.scenario == SC_LOGIN) {
			printf("  logins                 %d of %d in %.3f s: %.0f "
			    "logins/s\n", run.logins_done, run.nlogins,
			    secs(run.login_t0, run.login_t1),
			    per_s((double)run.logins_done,
			    secs(run.login_t0, run.login_t1)));
			hist_print("LOGIN->CONFIRM us", &run.login_lat);
			printf("  server loop stall max  %.2f ms before the logins, "
			    "%.2f ms during (/healthz, per second)\n",
			    (double)run.login_stall[0] / 1e3,
			    (double)run.login_stall[1] / 1e3);
			hist_print("latency us, quiet", &run.lat_quiet);
			hist_print("latency us, in logins", &run.lat_login);
		}
		if (run.nstall > 0)
			printf("  stalled subscribers    %d: closed 1013 %d, other "
			    "close %d, EOF %d, reset %d, caught up %d; %" PRIu64
			    " events read\n", run.nstall, run.stall_close_1013,
			    run.stall_close_other, run.stall_eof, run.stall_reset,
			    run.stall_caught_up, run.stall_received);
		if (run.nstall > 0)
			printf("  server TCP send queues %.1f MB at the peak (kernel "
			    "memory, sock_diag)\n", (double)run.srv_sndq_peak /
			    1e6);
		if (nb.server_cpu >= 0) {
			printf("  %-22s %.2f s (%.0f%% of one core)", opts.scenario ==
			    SC_CEILING ? "fan-out thread cpu" : "server cpu",
			    nb.server_cpu, 100.0 * per_s(nb.server_cpu, nb.elapsed));
			if (opts.scenario != SC_CEILING)
				printf(", rss %ld -> %ld kB (peak %ld)",
				    run.srv_rss0, run.srv_rss1, run.srv_rss_peak);
			printf("\n");
			if (opts.scenario != SC_CEILING &&
			    run.srv_loop_cpu[0] >= 0 && run.srv_loop_cpu[1] >= 0)
				printf("  server loop thread cpu %.2f s\n",
				    run.srv_loop_cpu[1] - run.srv_loop_cpu[0]);
			if (opts.scenario == SC_INGEST)
				printf("  msgs per server cpu-s  %.0f\n",
				    per_s((double)run.total_confirmed, nb.server_cpu));
			else
				printf("  deliveries per cpu-s   %.0f\n",
				    per_s((double)run.total_deliveries, nb.server_cpu));
		}
		if (proc_strace_table() != NULL) {
			double	d = (double)run.total_deliveries;

			printf("  server syscalls        (strace -c, per delivery) "
			    "writev %.4f, write %.4f, epoll_ctl %.4f, epoll_wait "
			    "%.4f\n",
			    per_s((double)proc_strace_count("writev"), d),
			    per_s((double)proc_strace_count("write"), d),
			    per_s((double)proc_strace_count("epoll_ctl"), d),
			    per_s((double)proc_strace_count("epoll_wait"), d));
		}
		printf("  bench cpu              %.2f s", nb.bench_cpu);
		if (opts.rate > 0 && opts.scenario != SC_CEILING)
			printf(", send timer late by %.2f ms at most",
			    (double)run.tick_late_max / 1e6);
		printf("\n");
		if (nb.other >= 0)
			printf("  other load             %.2f cpu-s by other "
			    "processes during the run\n", nb.other);
		break;
	}
	printf("  errors                 %" PRIu64 "%s%s\n", run.errors,
	    run.abort_reason != NULL ? ", aborted: " : "",
	    run.abort_reason != NULL ? run.abort_reason : "");
	for (i = 0; i < run.nerror_text && opts.verbose; i++)
		printf("    %s\n", run.error_text[i]);
}

json_t *
report_json(void)
{
	struct numbers	 nb;
	json_t		*o, *params, *errs;
	char		 date[64];
	time_t		 t = time(NULL);
	int		 i;

	numbers(&nb);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	o = json_object();
	json_object_set_new(o, "scenario", json_string(opts_scenario_name()));
	json_object_set_new(o, "command", json_string(opts.command));
	json_object_set_new(o, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(o, "date", json_string(date));
	json_object_set_new(o, "nproc", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));

	params = json_object();
	json_object_set_new(params, "url", opts.scenario == SC_CEILING ?
	    json_null() : json_string(opts.url));
	json_object_set_new(params, "subscribers", json_integer(run.nsubs));
	json_object_set_new(params, "publishers", json_integer(run.npubs));
	json_object_set_new(params, "connections", json_integer(run.nconns));
	json_object_set_new(params, "duration_s", json_real(opts.duration));
	json_object_set_new(params, "messages", json_integer(opts.messages));
	json_object_set_new(params, "rate", json_real(opts.rate));
	json_object_set_new(params, "window", opts.rate > 0 ? json_null() :
	    json_integer(opts.window));
	json_object_set_new(params, "size", json_integer((json_int_t)opts.size));
	json_object_set_new(params, "fragment", json_integer((json_int_t)opts.fragment));
	json_object_set_new(params, "concurrency", json_integer(opts.concurrency));
	json_object_set_new(params, "source_addrs", json_integer(opts.source_addrs));
	json_object_set_new(params, "server_pid", opts.server_pid > 0 ?
	    json_integer(opts.server_pid) : json_null());
	json_object_set_new(params, "stalled", json_integer(opts.stalled));
	if (opts.scenario == SC_REPLAY) {
		json_object_set_new(params, "replay_events",
		    json_integer(opts.replay_events));
		json_object_set_new(params, "replay_at_s", json_real(opts.replay_at));
	}
	if (opts.scenario == SC_LOGIN) {
		json_object_set_new(params, "logins", json_integer(opts.logins));
		json_object_set_new(params, "login_at_s", json_real(opts.login_at));
	}
	if (opts.scenario == SC_CEILING) {
		json_object_set_new(params, "ceiling_write", json_string(
		    opts.ceiling_per_message ? "message" : "batch"));
		json_object_set_new(params, "ceiling_batch",
		    json_integer(opts.ceiling_batch));
	}
	json_object_set_new(o, "params", params);

	json_object_set_new(o, "errors", json_integer((json_int_t)run.errors));
	errs = json_array();
	for (i = 0; i < run.nerror_text; i++)
		json_array_append_new(errs, json_string(run.error_text[i]));
	json_object_set_new(o, "error_samples", errs);
	json_object_set_new(o, "aborted", run.abort_reason != NULL ?
	    json_string(run.abort_reason) : json_null());

	json_object_set_new(o, "connected", json_integer(run.ready));
	json_object_set_new(o, "connect_s", json_real(secs(run.t_start,
	    run.t_connected)));
	json_object_set_new(o, "connects_per_s", json_real(per_s(run.ready,
	    secs(run.t_start, run.t_connected))));
	json_object_set_new(o, "connect_latency_us", hist_json(&run.conn_lat));
	json_object_set_new(o, "closed_cleanly", json_integer(run.closed_ok));

	if (opts.scenario != SC_CONNECTIONS) {
		json_object_set_new(o, "published", json_integer(
		    (json_int_t)run_live_confirmed()));
		json_object_set_new(o, "sent", json_integer(
		    (json_int_t)(run.total_sent - run.base_confirmed)));
		json_object_set_new(o, "published_per_s", json_real(nb.published_per_s));
		json_object_set_new(o, "publish_s", json_real(nb.pub_s));
		json_object_set_new(o, "deliveries", json_integer(
		    (json_int_t)run.total_deliveries));
		json_object_set_new(o, "expected_deliveries", json_integer(
		    (json_int_t)nb.expected));
		json_object_set_new(o, "deliveries_per_s", json_real(nb.deliveries_per_s));
		json_object_set_new(o, "elapsed_s", json_real(nb.elapsed));
		json_object_set_new(o, "latency_us", hist_json(&run.lat));
		json_object_set_new(o, "confirm_latency_us", hist_json(&run.rtt));
		json_object_set_new(o, "client_cpu_s", json_real(nb.bench_cpu));
		/* Open loop: how late our own send timer ran (bench stalls). */
		json_object_set_new(o, "client_send_late_max_us", opts.rate > 0 &&
		    opts.scenario != SC_CEILING ?
		    json_real((double)run.tick_late_max / 1e3) : json_null());
	}
	json_object_set_new(o, "machine_busy_cpu_s", nb.busy >= 0 ?
	    json_real(nb.busy) : json_null());
	json_object_set_new(o, "other_cpu_s", nb.other >= 0 ?
	    json_real(nb.other) : json_null());
	json_object_set_new(o, "other_processes_cpu_s", run.busy[1] > 0 ?
	    json_real(run.others_cpu) : json_null());
	if (opts.scenario == SC_RESUME) {
		json_object_set_new(o, "reconnects", json_integer(
		    (json_int_t)run.reconnects));
		json_object_set_new(o, "replayed", json_integer(
		    (json_int_t)run.replayed));
		json_object_set_new(o, "resume_latency_us", hist_json(&run.resume_lat));
	}
	if (opts.scenario == SC_REPLAY) {
		json_t	*rp = json_object();

		json_object_set_new(rp, "prefilled", json_integer(
		    (json_int_t)run.base_confirmed));
		json_object_set_new(rp, "prefill_s", json_real(secs(
		    run.prefill_t0, run.prefill_t1)));
		json_object_set_new(rp, "prefill_per_s", json_real(per_s(
		    (double)run.base_confirmed, secs(run.prefill_t0,
		    run.prefill_t1))));
		json_object_set_new(rp, "at_s", json_real(secs(run.t0,
		    run.replay_t0)));
		json_object_set_new(rp, "events", json_integer(run.replay_count));
		json_object_set_new(rp, "resume_to_resumed_s", json_real(secs(
		    run.replay_t_cmd, run.replay_t1)));
		json_object_set_new(rp, "connect_to_resumed_s", json_real(secs(
		    run.replay_t0, run.replay_t1)));
		json_object_set_new(rp, "events_per_s", json_real(per_s(
		    (double)run.replay_count, secs(run.replay_t_cmd,
		    run.replay_t1))));
		json_object_set_new(rp, "server_loop_stall_max_us_before",
		    json_integer(run.replay_stall[0]));
		json_object_set_new(rp, "server_loop_stall_max_us_during",
		    json_integer(run.replay_stall[1]));
		json_object_set_new(rp, "resumer_received", json_integer(
		    (json_int_t)(run.resumer != NULL ?
		    run.resumer->c_received : 0)));
		json_object_set_new(o, "replay", rp);
		json_object_set_new(o, "latency_quiet_us", hist_json(&run.lat_quiet));
		json_object_set_new(o, "latency_during_replay_us",
		    hist_json(&run.lat_replay));
	}
	if (opts.scenario == SC_LOGIN) {
		json_t	*lg = json_object();

		json_object_set_new(lg, "logins", json_integer(run.nlogins));
		json_object_set_new(lg, "confirmed", json_integer(
		    run.logins_done));
		json_object_set_new(lg, "at_s", json_real(secs(run.t0,
		    run.login_t0)));
		json_object_set_new(lg, "burst_s", json_real(secs(run.login_t0,
		    run.login_t1)));
		json_object_set_new(lg, "logins_per_s", json_real(per_s(
		    (double)run.logins_done, secs(run.login_t0,
		    run.login_t1))));
		json_object_set_new(lg, "login_latency_us",
		    hist_json(&run.login_lat));
		json_object_set_new(lg, "server_loop_stall_max_us_before",
		    json_integer(run.login_stall[0]));
		json_object_set_new(lg, "server_loop_stall_max_us_during",
		    json_integer(run.login_stall[1]));
		json_object_set_new(o, "login", lg);
		json_object_set_new(o, "latency_quiet_us", hist_json(&run.lat_quiet));
		json_object_set_new(o, "latency_during_logins_us",
		    hist_json(&run.lat_login));
	}
	if (run.nstall > 0) {
		json_t	*st = json_object();

		json_object_set_new(st, "connections", json_integer(run.nstall));
		json_object_set_new(st, "rcvbuf", json_integer(opts.stall_rcvbuf));
		json_object_set_new(st, "closed_1013", json_integer(
		    run.stall_close_1013));
		json_object_set_new(st, "closed_other", json_integer(
		    run.stall_close_other));
		json_object_set_new(st, "eof_without_close", json_integer(
		    run.stall_eof));
		json_object_set_new(st, "reset", json_integer(run.stall_reset));
		json_object_set_new(st, "caught_up", json_integer(
		    run.stall_caught_up));
		json_object_set_new(st, "events_read", json_integer(
		    (json_int_t)run.stall_received));
		json_object_set_new(st, "server_send_queues_peak_bytes",
		    json_integer(run.srv_sndq_peak));
		json_object_set_new(o, "stalled", st);
	}
	if (proc_strace_table() != NULL) {
		json_t	*sc = json_object();
		double	 d = (double)run.total_deliveries;

		json_object_set_new(sc, "file", json_string(opts.strace));
		json_object_set_new(sc, "calls",
		    json_incref(proc_strace_table()));
		json_object_set_new(sc, "deliveries", json_integer(
		    (json_int_t)run.total_deliveries));
		json_object_set_new(sc, "writev_per_delivery", json_real(per_s(
		    (double)proc_strace_count("writev"), d)));
		json_object_set_new(sc, "write_per_delivery", json_real(per_s(
		    (double)proc_strace_count("write"), d)));
		json_object_set_new(sc, "epoll_ctl_per_delivery", json_real(per_s(
		    (double)proc_strace_count("epoll_ctl"), d)));
		json_object_set_new(sc, "epoll_wait_per_delivery", json_real(
		    per_s((double)proc_strace_count("epoll_wait"), d)));
		json_object_set_new(o, "strace", sc);
	}
	if (opts.scenario == SC_CEILING) {
		json_object_set_new(o, "server_write_calls",
		    json_integer(ceiling_writes()));
		json_object_set_new(o, "deliveries_per_write", json_real(per_s(
		    (double)run.total_deliveries, (double)ceiling_writes())));
	} else if (opts.server_pid > 0 && run.srv_syscw[0] >= 0 &&
	    run.srv_syscw[1] >= 0) {
		int64_t	w = run.srv_syscw[1] - run.srv_syscw[0];

		json_object_set_new(o, "server_write_calls", json_integer(w));
		json_object_set_new(o, "server_read_calls", json_integer(
		    run.srv_syscr[1] - run.srv_syscr[0]));
		if (IS_FANOUT(opts.scenario))
			json_object_set_new(o, "deliveries_per_write", json_real(
			    per_s((double)run.total_deliveries, (double)w)));
	}

	json_object_set_new(o, "server_cpu_s", nb.server_cpu >= 0 ?
	    json_real(nb.server_cpu) : json_null());
	if (nb.server_cpu > 0) {
		json_object_set_new(o, "deliveries_per_server_cpu_s", json_real(
		    per_s((double)run.total_deliveries, nb.server_cpu)));
		json_object_set_new(o, "published_per_server_cpu_s", json_real(
		    per_s((double)run.total_confirmed, nb.server_cpu)));
	}
	if (opts.server_pid > 0) {
		json_object_set_new(o, "server_rss_kb_before", json_integer(run.srv_rss0));
		json_object_set_new(o, "server_rss_kb_after", json_integer(run.srv_rss1));
		json_object_set_new(o, "server_rss_kb_peak", json_integer(
		    run.srv_rss_peak));
		json_object_set_new(o, "server_loop_cpu_s", run.srv_loop_cpu[0] >= 0 &&
		    run.srv_loop_cpu[1] >= 0 ? json_real(run.srv_loop_cpu[1] -
		    run.srv_loop_cpu[0]) : json_null());
		if (opts.scenario == SC_CONNECTIONS) {
			json_object_set_new(o, "server_cpu_idle_s", json_real(
			    run.srv_cpu1 - run.srv_cpu_conn));
			json_object_set_new(o, "server_rss_kb_connected",
			    json_integer(run.srv_rss_conn));
			json_object_set_new(o, "server_rss_per_connection_bytes",
			    json_real(run.nconns > 0 ? (double)(run.srv_rss1 -
			    run.srv_rss0) * 1024.0 / run.nconns : 0));
		}
	}
	return (o);
}
