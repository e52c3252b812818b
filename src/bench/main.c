/*
 * main.c: wschat-bench, the load generator and checker for wschatd.
 *
 * One process and one libevent loop drive many real WebSocket clients:
 * the handshake, masked client frames built with the shared codec
 * (ws_header/ws_mask, optionally fragmented) and server frames read back
 * with ws_parse in client role, so fragments and pings from the server are
 * handled like any client must. Nothing received is taken on trust: every
 * reply is matched against the command it answers (one reply per command,
 * in order), every EVENT is parsed (its JSON too), each subscriber's seqs
 * must strictly increase, and each publisher's messages must reach every
 * subscriber exactly once and in order, which a PING round trip after a
 * bounded drain proves (nothing extra was queued). Any deviation is an
 * error, and any error makes the exit status non-zero.
 *
 * Scenarios: fanout (S subscribers, P publishers, one channel, closed or
 * open loop, end-to-end latency from a send timestamp in the text),
 * ingest (P publishers, closed loop, CONFIRM round trips), connections
 * (N idle connections: connect rate, server RSS per connection),
 * ceiling (the same frames fanned out by a raw in-process TCP server
 * thread and checked by the same receiving code: what this machine can do
 * with no WebSocket or protocol work on the server side), and resume and
 * replay (fanout across reconnects with RESUME).
 *
 * The send timestamp is CLOCK_MONOTONIC in nanoseconds: sender and
 * receivers are this one process, on loopback only.
 *
 * main.c is the outline: the options, the setup, the run, the report and
 * the exit status. The rest, by job: opts.c (the command line), run.c
 * (setup, phases, errors), conn.c (the WebSocket client), check.c (the
 * checker of what arrives) and js.c (its JSON scanner), pub.c (the
 * publishers), resume.c and stall.c (their scenarios), ceiling.c (the raw
 * fan-out thread), hist.c, proc.c and report.c (measuring and reporting).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>

#include <jansson.h>

#include "bench.h"

int
main(int argc, char **argv)
{
	json_t	*o;
	int	 rc;

	signal(SIGPIPE, SIG_IGN);
	opts_parse(argc, argv);
	run_setup();
	run_loop();

	report_print();
	if (opts.json != NULL) {
		o = report_json();
		if (json_dump_file(o, opts.json, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) != 0) {
			fprintf(stderr, "wschat-bench: cannot write %s\n", opts.json);
			run.errors++;
		}
		json_decref(o);
	}
	rc = run.errors > 0 ? 1 : 0;
	fflush(stdout);
	/* Connections are torn down by exit; the server sees them close. */
	return (rc);
}
