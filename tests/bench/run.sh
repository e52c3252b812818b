#!/bin/sh
# run.sh: the standard benchmark matrix (`make bench`).
#
# Every scenario gets a fresh wschatd with its own temporary config and
# database (rate_limit = 0, generous connection and output limits, no
# quotas per address or user: every client is 127.0.0.1), on
# loopback only. The matrix:
#   fanout    S in 10 100 1000, closed loop      (the server)
#   ceiling   the same S, P, window, size, time  (raw TCP fan-out in-process)
#   fanout    S = 100 open loop at 2000 msgs/s   (latency at a fixed load)
#   resume    S = 100 open loop, each subscriber reconnecting with RESUME
#             about every 200 ms                 (replay correctness, cost)
#   ingest    journal_sync = normal, then full   (CONFIRM round trips),
#             16 x window 4, and 1 x window 1
#   connections 5000 idle, 100 and 1000 handshakes in flight
#                                                (connect rate, RSS/conn)
# With BENCH_TARGETS=1, then the performance issue's targets (about 100 s
# more; docs/BENCHMARKS.md, "Targets"):
#   strace    strace -c -f on the server during fanout S = 100 and 1000
#   latency   open loop, 1000 subscribers x 20 msgs/s, 5000 x 4 msgs/s,
#             and the raw TCP ceiling at the same loads
#   ingest    16/32 publishers x window 8/32, journal_sync normal and full
#   connections 50000 idle, both processes under prlimit --nofile=200000
#   replay    one client resumes across 300000 events during a fan-out
#   stalled   100 subscribers that never read, max_output = 1M (and 0)
# and writes targets.md, the Targets table, from the runs.
#
# Results: $BENCH_OUT (default ./bench-results)/results.json, results.csv
# (one line per run, with the exact command and the server's config) and,
# if gnuplot is installed, fanout.png. Exit status: 0 if every run passed
# its checks and every server exited 0 on SIGTERM.
#
# Environment: WSCHATD and WSCHAT_BENCH (set by make bench), BENCH_OUT,
# BENCH_DURATION (seconds per publishing run, default 4), BENCH_SUBS
# (default "10 100 1000"), BENCH_CONNECTIONS (default 5000), BENCH_TARGETS
# (1: the targets too), BENCH_ONLY_TARGETS (1: the targets alone).
set -u

die() { echo "run.sh: $*" >&2; exit 1; }

[ -n "${WSCHATD:-}" ] && [ -x "$WSCHATD" ] || die "WSCHATD is not an executable"
[ -n "${WSCHAT_BENCH:-}" ] && [ -x "$WSCHAT_BENCH" ] ||
	die "WSCHAT_BENCH is not an executable"
PYTHON=${PYTHON3:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3) ||
	die "python3 is needed to collect the results"

OUT=${BENCH_OUT:-bench-results}
DURATION=${BENCH_DURATION:-4}
SUBS=${BENCH_SUBS:-10 100 1000}
CONNECTIONS=${BENCH_CONNECTIONS:-5000}
PUBS=2
WINDOW=16
SIZE=100
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)

mkdir -p "$OUT/runs" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/runs/*
TMP=$(mktemp -d "${TMPDIR:-/tmp}/wschat-bench.XXXXXX") || die "mktemp failed"
SERVER_PID=
CAT_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Descriptors: 5000 connections on each side of loopback.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

FAILED=0

# Both processes run under $WRAP when it is set (prlimit, for 50000
# connections).
WRAP=

# start_server NAME [key=value ...]: a fresh wschatd; sets PORT, SERVER_PID.
# A key=value replaces the default of the same key (wschatd refuses a
# setting given twice).
start_server() {
	dir=$TMP/$1
	shift
	mkdir -p "$dir"
	{
		for kv in "listen=127.0.0.1:0" "db=$dir/wschat.db" "rate_limit=0" \
		    "max_connections=100000" "max_output=256M" "max_line=65536" \
		    "max_handshakes=100000" "max_connections_per_address=0" \
		    "max_unidentified_per_address=0" "max_creates_per_hour=0" \
		    "max_channels_owned=0" "max_channels_joined=0"; do
			case " $* " in
			*" ${kv%%=*}="*) ;;
			*) echo "${kv%%=*} = ${kv#*=}" ;;
			esac
		done
		for kv in "$@"; do
			echo "${kv%%=*} = ${kv#*=}"
		done
	} >"$dir/wschatd.conf"
	SERVER_CONF=$(grep -v '^db = ' "$dir/wschatd.conf" | tr '\n' ';' |
	    sed 's/;$//; s/;/; /g')
	# The port comes from the "listening on" line: read it, never sleep.
	mkfifo "$dir/log.fifo" || die "mkfifo failed"
	# shellcheck disable=SC2086
	$WRAP "$WSCHATD" -f "$dir/wschatd.conf" 2>"$dir/log.fifo" </dev/null &
	SERVER_PID=$!
	exec 3<"$dir/log.fifo"
	PORT=
	while IFS= read -r line <&3; do
		printf '%s\n' "$line" >>"$dir/wschatd.log"
		case $line in
		*"listening on 127.0.0.1:"*)
			PORT=${line##*listening on 127.0.0.1:}
			PORT=${PORT%%[!0-9]*}
			break
			;;
		esac
	done
	cat <&3 >>"$dir/wschatd.log" &
	CAT_PID=$!
	exec 3<&-
	if [ -z "$PORT" ]; then
		cat "$dir/wschatd.log" >&2
		die "wschatd did not start"
	fi
}

# stop_server NAME: SIGTERM and the exit status, which must be 0.
stop_server() {
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID"
	rc=$?
	wait "$CAT_PID"
	SERVER_PID=
	echo "$rc" >"$OUT/runs/$1.server-exit"
	cp "$TMP/$1/wschatd.log" "$OUT/runs/$1.wschatd.log" 2>/dev/null
	if [ "$rc" -ne 0 ]; then
		echo "run.sh: $1: wschatd exited $rc after SIGTERM" >&2
		FAILED=1
	fi
}

# bench NAME SCENARIO [options]: one run, its command and config recorded.
bench() {
	name=$1
	shift
	cmd="${WRAP:+$WRAP }wschat-bench $* --json $OUT/runs/$name.json"
	echo "== $name: $cmd"
	# shellcheck disable=SC2086
	$WRAP "$WSCHAT_BENCH" "$@" --json "$OUT/runs/$name.json"
	rc=$?
	printf '%s\n' "$cmd" >"$OUT/runs/$name.command"
	printf '%s\n' "${SERVER_CONF:-}" >"$OUT/runs/$name.config"
	echo "$rc" >"$OUT/runs/$name.exit"
	if [ "$rc" -ne 0 ]; then
		echo "run.sh: $name: wschat-bench exited $rc" >&2
		FAILED=1
	fi
}

# server_bench NAME [key=value ...] -- SCENARIO [options]
server_bench() {
	name=$1
	shift
	set_kv=
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		set_kv="$set_kv $1"
		shift
	done
	shift
	# shellcheck disable=SC2086
	start_server "$name" $set_kv
	scenario=$1
	shift
	bench "$name" "$scenario" --url "ws://127.0.0.1:$PORT/ws" \
	    --server-pid "$SERVER_PID" "$@"
	stop_server "$name"
}

T0=$(date +%s)
# The targets alone: target 1 needs the fanout/ceiling pairs of S = 100, 1000.
if [ "${BENCH_ONLY_TARGETS:-0}" = 1 ]; then
	SUBS="100 1000"
	BENCH_TARGETS=1
fi
for s in $SUBS; do
	server_bench "fanout-$s" -- fanout --subscribers "$s" \
	    --publishers "$PUBS" --window "$WINDOW" --size "$SIZE" \
	    --duration "$DURATION"
	SERVER_CONF=
	bench "ceiling-$s" ceiling --subscribers "$s" --publishers "$PUBS" \
	    --window "$WINDOW" --size "$SIZE" --duration "$DURATION"
done
if [ "${BENCH_ONLY_TARGETS:-0}" != 1 ]; then
	# Open loop at a fixed rate: latency under a load the server can carry.
	server_bench "fanout-100-open" -- fanout --subscribers 100 \
	    --publishers "$PUBS" --rate 2000 --size "$SIZE" --duration "$DURATION"
	# Subscribers leaving and coming back with RESUME while publishing goes on.
	server_bench "resume-100" -- resume --subscribers 100 \
	    --publishers "$PUBS" --rate 5000 --reconnect-ms 200 --size "$SIZE" \
	    --duration "$DURATION"
	# Throughput with many writers in flight (group commit), then one writer
	# with one MSG in flight: the cost of a single commit.
	for sync in normal full; do
		server_bench "ingest-$sync" journal_sync="$sync" -- ingest \
		    --publishers 16 --window 4 --size "$SIZE" --duration "$DURATION"
		server_bench "ingest-$sync-w1" journal_sync="$sync" -- ingest \
		    --publishers 1 --window 1 --size "$SIZE" --duration "$DURATION"
	done
	# Steady (100 handshakes in flight) and a reconnect burst (1000 in flight).
	server_bench "connections-$CONNECTIONS" -- connections \
	    --connections "$CONNECTIONS" --concurrency 100 --duration 2
	server_bench "connections-$CONNECTIONS-burst" -- connections \
	    --connections "$CONNECTIONS" --concurrency 1000 --duration 2
fi

if [ "${BENCH_TARGETS:-0}" = 1 ]; then
	# 2. Syscalls per delivery: strace -c -f on the server while
	# publishing and draining (the bench starts and stops it). strace
	# slows the server: only the counts per delivery mean anything.
	if command -v strace >/dev/null 2>&1; then
		for s in 100 1000; do
			server_bench "strace-fanout-$s" -- fanout --subscribers "$s" \
			    --publishers "$PUBS" --window "$WINDOW" --size "$SIZE" \
			    --duration 3 --strace "$OUT/runs/strace-fanout-$s.strace"
		done
	else
		echo "run.sh: strace not installed: no syscall counts" >&2
	fi
	# Runs longer than handshake_timeout (10 s) raise it: wschatd drops a
	# client that has sent a frame after the upgrade and then stays silent
	# that long (a read timeout left over from evhttp; BENCHMARKS.md,
	# Findings), and subscribers never talk.
	LONG=handshake_timeout=3600
	# 3. Latency at 20000 deliveries/s, open loop, one publisher.
	server_bench "latency-1000" "$LONG" -- fanout --subscribers 1000 \
	    --publishers 1 --rate 20 --size "$SIZE" --duration 10
	server_bench "latency-5000" "$LONG" -- fanout --subscribers 5000 \
	    --publishers 1 --rate 4 --size "$SIZE" --duration 10
	# The same loads on the raw TCP ceiling: what this machine allows.
	SERVER_CONF=
	bench "latency-ceiling-1000" ceiling --subscribers 1000 --publishers 1 \
	    --rate 20 --size "$SIZE" --duration 10
	bench "latency-ceiling-5000" ceiling --subscribers 5000 --publishers 1 \
	    --rate 4 --size "$SIZE" --duration 10
	# 4. Ingest with many publishers: group commit at both sync levels.
	for sync in normal full; do
		for pw in 16x8 16x32 32x8 32x32; do
			server_bench "ingest-$sync-$pw" journal_sync="$sync" -- \
			    ingest --publishers "${pw%x*}" --window "${pw#*x}" \
			    --size "$SIZE" --duration "$DURATION"
		done
	done
	# 6. 50000 idle connections on one server process, if this machine
	# lets a process have that many descriptors (raising the hard limit
	# needs CAP_SYS_RESOURCE); else as many as it does.
	if prlimit --nofile=200000:200000 true 2>/dev/null; then
		WRAP="prlimit --nofile=200000:200000"
		BIG=50000
	else
		BIG=$(($(ulimit -Hn) - 100))
		echo "run.sh: cannot raise RLIMIT_NOFILE above $(ulimit -Hn):" \
		    "$BIG connections instead of 50000" >&2
	fi
	server_bench "connections-big" -- connections --connections "$BIG" \
	    --concurrency 1000 --duration 2
	WRAP=
	# 7. One client resumes across 300000 missed events while 100
	# subscribers get 2000 msgs/s; the replay starts 3 s in.
	server_bench "replay-300k" resume_max_events=2000000 max_output=1M "$LONG" -- \
	    replay --subscribers 100 --publishers "$PUBS" --rate 2000 \
	    --size "$SIZE" --duration 6 --replay-at 3 --replay-events 300000
	# 8. 100 subscribers that never read, beside 100 that do (400-byte
	# texts, so that they pass max_output within about 1.5 s); then the
	# same without them, for the others' latency.
	for n in 100 0; do
		server_bench "stalled-$n" max_output=1M "$LONG" -- fanout \
		    --subscribers 100 --stalled "$n" --publishers "$PUBS" \
		    --rate 5000 --size 400 --duration 4
	done
fi
T1=$(date +%s)

# Collect: results.json (machine + every run), results.csv, the chart data.
"$PYTHON" - "$OUT" "$SRCDIR" "$((T1 - T0))" <<'EOF' || FAILED=1
import csv, glob, json, os, platform, re, resource, subprocess, sys

out, srcdir, wall = sys.argv[1], sys.argv[2], int(sys.argv[3])

def read(path, default=""):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return default

cpu = next((l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo").splitlines()
            if l.startswith("model name")), platform.processor())
mem_kb = next((int(l.split()[1]) for l in read("/proc/meminfo").splitlines()
               if l.startswith("MemTotal:")), 0)
try:
    rev = subprocess.run(["git", "-C", srcdir, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
except OSError:
    rev = ""
machine = {"nproc": os.cpu_count(), "cpu": cpu, "mem_mb": mem_kb // 1024,
           "kernel": platform.release(), "source": rev, "loopback_only": True}

runs = []
for path in sorted(glob.glob(os.path.join(out, "runs", "*.command"))):
    name = os.path.basename(path)[:-len(".command")]
    base = os.path.join(out, "runs", name)
    try:
        with open(base + ".json", encoding="utf-8") as f:
            r = json.load(f)
    except (OSError, ValueError):
        r = {"errors": None}
    r["name"] = name
    r["command"] = read(base + ".command")
    r["server_config"] = read(base + ".config") or None
    r["bench_exit"] = int(read(base + ".exit", "-1"))
    se = read(base + ".server-exit")
    r["server_exit"] = int(se) if se else None
    r["ok"] = r["bench_exit"] == 0 and r["server_exit"] in (0, None)
    # wschatd logs its longest event-loop stall when it exits.
    log = read(base + ".wschatd.log")
    m = re.search(r"longest loop stall: (\d+) us", log)
    r["server_loop_stall_max_us"] = int(m.group(1)) if m else None
    r["server_closed_1013"] = log.count("closing: 1013 slow consumer")
    runs.append(r)

by = {r["name"]: r for r in runs}
def num(r, k):
    v = r.get(k) if r else None
    return v if isinstance(v, (int, float)) else None

# Each fanout against the ceiling measured with the same S in this run.
ratios = []
def closed_fanout(r):
    # strace runs are slowed down by strace: never compared.
    return (r.get("scenario") == "fanout" and not r["params"].get("rate") and
            not r.get("strace") and not r["params"].get("stalled"))

for r in runs:
    if not closed_fanout(r):
        continue
    s = r["params"]["subscribers"]
    c = by.get("ceiling-%d" % s)
    row = {"subscribers": s}
    for k in ("deliveries_per_s", "deliveries_per_server_cpu_s",
              "deliveries_per_write"):
        a, b = num(r, k), num(c, k)
        row[k + "_ratio"] = round(a / b, 4) if a and b else None
    a = (r.get("latency_us") or {}).get("p99")
    b = ((c or {}).get("latency_us") or {}).get("p99")
    row["p99_latency_ratio"] = round(a / b, 3) if a and b else None
    ratios.append(row)

results = {"date": runs[0].get("date") if runs else None, "machine": machine,
           "wall_s": wall, "runs": runs, "fanout_vs_ceiling": ratios}
with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, indent=2)

cols = ["name", "scenario", "ok", "errors", "subscribers", "publishers",
        "connections", "published", "published_per_s", "deliveries",
        "deliveries_per_s", "p50_us", "p99_us", "p999_us", "max_us",
        "confirm_p50_us", "confirm_p99_us", "server_cpu_s",
        "deliveries_per_server_cpu_s", "published_per_server_cpu_s",
        "server_rss_kb_before", "server_rss_kb_after", "connects_per_s",
        "server_rss_per_connection_bytes", "deliveries_per_write",
        "server_write_calls", "server_loop_stall_max_us", "reconnects",
        "replayed", "client_cpu_s", "client_send_late_max_us",
        "server_loop_cpu_s", "server_rss_kb_peak",
        "strace_writev_per_delivery", "strace_epoll_ctl_per_delivery",
        "replay_events_per_s", "p99_quiet_us", "p99_during_replay_us",
        "stalled_closed", "other_cpu_s", "server_config",
        "command"]
with open(os.path.join(out, "results.csv"), "w", newline="",
          encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(cols)
    for r in runs:
        p, lat, rtt = r.get("params", {}), r.get("latency_us") or {}, \
            r.get("confirm_latency_us") or {}
        st, rp, sl = r.get("strace") or {}, r.get("replay") or {}, \
            r.get("stalled") or {}
        row = dict(r, subscribers=p.get("subscribers"),
                   publishers=p.get("publishers"),
                   connections=p.get("connections"),
                   p50_us=lat.get("p50"), p99_us=lat.get("p99"),
                   p999_us=lat.get("p999"), max_us=lat.get("max"),
                   confirm_p50_us=rtt.get("p50"), confirm_p99_us=rtt.get("p99"),
                   strace_writev_per_delivery=st.get("writev_per_delivery"),
                   strace_epoll_ctl_per_delivery=st.get("epoll_ctl_per_delivery"),
                   replay_events_per_s=rp.get("events_per_s"),
                   p99_quiet_us=(r.get("latency_quiet_us") or {}).get("p99"),
                   p99_during_replay_us=(r.get("latency_during_replay_us")
                                         or {}).get("p99"),
                   stalled_closed=(sl.get("closed_1013", 0) +
                                   sl.get("closed_other", 0) +
                                   sl.get("eof_without_close", 0) +
                                   sl.get("reset", 0)) if sl else None)
        w.writerow(["" if row.get(c) is None else row.get(c) for c in cols])

# Chart data: subscribers, wschatd deliveries/s, ceiling deliveries/s, p99s.
with open(os.path.join(out, "fanout.dat"), "w", encoding="utf-8") as f:
    f.write("# subscribers wschatd_deliveries_per_s ceiling_deliveries_per_s "
            "wschatd_p99_ms ceiling_p99_ms\n")
    for r in sorted((r for r in runs if closed_fanout(r)),
                    key=lambda r: r["params"]["subscribers"]):
        s = r["params"]["subscribers"]
        c = by.get("ceiling-%d" % s) or {}
        f.write("%d %s %s %s %s\n" % (
            s, num(r, "deliveries_per_s") or "NaN",
            num(c, "deliveries_per_s") or "NaN",
            (r.get("latency_us") or {}).get("p99", float("nan")) / 1000,
            (c.get("latency_us") or {}).get("p99", float("nan")) / 1000))

print("\nrun                    ok  deliveries/s  p99 ms    msgs/s  srv cpu-s"
      "  other cpu-s  note")
for r in runs:
    lat = (r.get("latency_us") or {}).get("p99")
    note = ""
    if r.get("scenario") == "resume":
        note = "%d reconnects, %d replayed, close->RESUMED p99 %.1f ms" % (
            r.get("reconnects", 0), r.get("replayed", 0),
            (r.get("resume_latency_us") or {}).get("p99", 0) / 1000)
    if r.get("scenario") == "connections":
        note = "%.0f conn/s, %.0f B/conn" % (
            num(r, "connects_per_s") or 0,
            num(r, "server_rss_per_connection_bytes") or 0)
    print("%-22s %-3s %12s %7s %9s %10s %12s  %s" % (
        r["name"], "yes" if r["ok"] else "NO",
        "%.0f" % r["deliveries_per_s"] if num(r, "deliveries_per_s") else "-",
        "%.2f" % (lat / 1000) if lat and r.get("deliveries") else "-",
        "%.0f" % r["published_per_s"] if num(r, "published_per_s") else "-",
        "%.2f" % r["server_cpu_s"] if num(r, "server_cpu_s") else "-",
        "%.2f" % r["other_cpu_s"] if num(r, "other_cpu_s") is not None else "-",
        note))
for row in ratios:
    print("fanout/ceiling S=%-5d deliveries/s %s, per server cpu-s %s" % (
        row["subscribers"], row["deliveries_per_s_ratio"],
        row["deliveries_per_server_cpu_s_ratio"]))

# The performance issue's targets, from the runs that measure them.
targets = []
def target(n, what, measured, names, met):
    have = [x for x in names if x in by]
    if not have:
        return
    targets.append({"n": n, "target": what, "measured": measured,
                    "runs": have, "met": met,
                    "commands": [by[x]["command"] for x in have],
                    "other_cpu_s": [by[x].get("other_cpu_s") for x in have]})

def ms(us):
    return "%.2f ms" % (us / 1000.0) if isinstance(us, (int, float)) else "-"

def p99(r):
    return ((r or {}).get("latency_us") or {}).get("p99")

for s in (10, 100, 1000):
    f, c = by.get("fanout-%d" % s), by.get("ceiling-%d" % s)
    a, b = num(f, "deliveries_per_server_cpu_s"), num(c, "deliveries_per_server_cpu_s")
    if f and c and a and b:
        target(1, "fan-out S=%d, journal on: >= 750k deliveries per server "
               "CPU-s and >= 50%% of the ceiling's" % s,
               "%.0fk per CPU-s; ceiling %.0fk: %.0f%%" % (a / 1e3, b / 1e3,
                                                          100 * a / b),
               ["fanout-%d" % s, "ceiling-%d" % s],
               a >= 750e3 and a / b >= 0.5)
for s in (100, 1000):
    r = by.get("strace-fanout-%d" % s)
    st = (r or {}).get("strace")
    if st:
        wv, ec = st["writev_per_delivery"], st["epoll_ctl_per_delivery"]
        target(2, "syscalls per delivery, fan-out S=%d (strace -c -f)" % s,
               "writev %.4f (%.1f deliveries per writev), epoll_ctl %.5f, "
               "epoll_wait %.4f" % (wv, 1 / wv if wv else 0, ec,
                                    st["epoll_wait_per_delivery"]),
               ["strace-fanout-%d" % s], None)
for name, limit in (("latency-1000", 5000), ("latency-5000", 20000)):
    r = by.get(name)
    c = by.get(name.replace("latency-", "latency-ceiling-"))
    if r and r.get("latency_us"):
        p = r["latency_us"]["p99"]
        target(3, "%s subscribers at 20k deliveries/s: p99 < %d ms" % (
               r["params"]["subscribers"], limit // 1000),
               "p99 %s (p50 %s); bench CPU %.0f%%, server CPU %.0f%%; the "
               "raw TCP ceiling at the same load: p99 %s (p50 %s)" % (
                   ms(p), ms(r["latency_us"]["p50"]),
                   100 * r["client_cpu_s"] / max(r["elapsed_s"], 1e-9),
                   100 * (r.get("server_cpu_s") or 0) /
                   max(r["elapsed_s"], 1e-9), ms(p99(c)),
                   ms(((c or {}).get("latency_us") or {}).get("p50"))),
               [x for x in (name, c and c["name"]) if x],
               r["ok"] and p < limit)
for sync, limit in (("normal", 100e3), ("full", 20e3)):
    cand = [r for r in runs if r.get("scenario") == "ingest" and r["ok"] and
            r["name"].startswith("ingest-%s" % sync) and
            not r["name"].endswith("-w1")]
    if cand:
        best = max(cand, key=lambda r: r.get("published_per_s") or 0)
        target(4, "ingest, journal_sync=%s: >= %dk msgs/s" % (sync, limit // 1e3),
               "%.0fk msgs/s at %d publishers x window %d" % (
                   best["published_per_s"] / 1e3, best["params"]["publishers"],
                   best["params"]["window"]),
               [best["name"]], best["published_per_s"] >= limit)
# SQLite runs on the loop thread only for RESUME/SNAPSHOT/HISTORY reads:
# the replay run asks /healthz for the longest stall in the seconds before
# the replay and in those during it (the server keeps a per-second
# maximum), so its window is told apart from the prefill, the joins and
# the closes; resume-100 (many short replays) gives a whole-run bound.
other = [r for r in runs if r.get("scenario") not in ("resume", "replay",
                                                     "ceiling") and
         not r.get("strace") and r.get("server_loop_stall_max_us") is not None]
o = max(other, key=lambda r: r["server_loop_stall_max_us"]) if other else None
r, rs = by.get("replay-300k"), by.get("resume-100")
if r and r.get("replay") and r["replay"].get("server_loop_stall_max_us_during"):
    b = r["replay"]["server_loop_stall_max_us_before"]
    a = r["replay"]["server_loop_stall_max_us_during"]
    bound = a
    target(5, "no loop stall > 5 ms caused by SQLite",
           "%s; resume-100 (1900 short replays): at most %s in the whole run;"
           " without SQLite on the loop: up to %s (%s)" % (
               "during the 300k-event replay the longest stall was %s "
               "(%s in the seconds before it)" % (ms(a), ms(b)),
               ms((rs or {}).get("server_loop_stall_max_us")),
               ms(o["server_loop_stall_max_us"]) if o else "-",
               o["name"] if o else "-"),
           ["replay-300k", "resume-100"],
           bound <= 5000 and ((rs or {}).get("server_loop_stall_max_us") or 0)
           <= 5000)
r = by.get("connections-big")
if r:
    b = num(r, "server_rss_per_connection_bytes") or 0
    n = r["params"]["connections"]
    target(6, "<= 4 KB of server memory per idle WebSocket",
           "%.0f bytes each at %d connections (RSS %d -> %d kB)" % (
               b, r.get("connected", 0), r.get("server_rss_kb_before", 0),
               r.get("server_rss_kb_after", 0)),
           ["connections-big"], r["ok"] and b <= 4096)
    target(6, "50,000 concurrent connections on one server process",
           "%d of %d connected%s" % (
               r.get("connected", 0), n, "" if n >= 50000 else
               " (50000 not possible here: RLIMIT_NOFILE hard limit %d, no "
               "CAP_SYS_RESOURCE to raise it)" %
               resource.getrlimit(resource.RLIMIT_NOFILE)[1]),
           ["connections-big"],
           (r["ok"] and r.get("connected") == 50000) if n >= 50000 else
           "not measurable here")
r = by.get("replay-300k")
if r and r.get("replay"):
    q = (r.get("latency_quiet_us") or {}).get("p99")
    d = (r.get("latency_during_replay_us") or {}).get("p99")
    eps = r["replay"]["events_per_s"]
    target(7, "replay >= 300k events/s while a fan-out's p99 rises < 5 ms",
           "%d events at %.0fk/s; fan-out p99 %s quiet, %s during the replay"
           % (r["replay"]["events"], eps / 1e3, ms(q), ms(d)),
           ["replay-300k"], r["ok"] and eps >= 300e3 and q is not None and
           d is not None and d - q < 5000)
r, r0 = by.get("stalled-100"), by.get("stalled-0")
if r and r.get("stalled"):
    sl = r["stalled"]
    p0 = p99(r0) if r0 else None
    closed = sl["closed_1013"] + sl["eof_without_close"] + sl["reset"]
    grow = (r.get("server_rss_kb_peak") or 0) - (r.get("server_rss_kb_before") or 0)
    target(8, "slow consumers cost at most max_output each (100 x 1 MiB)",
           "%d of %d closed (server log: %d closed 1013 slow consumer; %d "
           "read the close frame, the rest EOF after the 2 s close wait); RSS "
           "peak %d kB over %d kB before (+%.0f KiB per stalled); kernel send "
           "queues of the server's sockets up to %.0f MB; the other 100 got "
           "every message, p99 %s (%s without stalled ones)" % (
               closed, sl["connections"], r.get("server_closed_1013", 0),
               sl["closed_1013"],
               r.get("server_rss_kb_peak") or 0,
               r.get("server_rss_kb_before") or 0, grow / sl["connections"],
               (sl.get("server_send_queues_peak_bytes") or 0) / 1e6,
               ms(p99(r)), ms(p0)),
           ["stalled-100", "stalled-0"], r["ok"] and
           closed == sl["connections"] and
           grow <= 1.1 * 1024 * sl["connections"])
if targets:
    results["targets"] = targets
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(out, "targets.md"), "w", encoding="utf-8") as f:
        f.write("| # | target | measured | run | met |\n|---|---|---|---|---|\n")
        for t in targets:
            f.write("| %d | %s | %s | %s | %s |\n" % (
                t["n"], t["target"], t["measured"], ", ".join(t["runs"]),
                t["met"] if isinstance(t["met"], str) else
                {True: "**met**", False: "**not met**",
                 None: "reported (no threshold)"}[t["met"]]))
        f.write("\nCommands:\n\n")
        seen = set()
        for t in targets:
            for c in t["commands"]:
                if c not in seen:
                    seen.add(c)
                    f.write("    %s\n" % c)
    print("\ntargets (%s):" % os.path.join(out, "targets.md"))
    for t in targets:
        print("  %d %-9s %s: %s" % (t["n"], "-" if isinstance(t["met"], str)
                                   else {True: "met", False: "NOT MET",
                                         None: "-"}[t["met"]],
                                   t["target"], t["measured"]))
sys.exit(0 if all(r["ok"] for r in runs) else 1)
EOF

if command -v gnuplot >/dev/null 2>&1; then
	gnuplot <<EOF || { echo "run.sh: gnuplot failed" >&2; FAILED=1; }
set terminal pngcairo size 900,560 font ",10"
set output "$OUT/fanout.png"
set title "wschatd fan-out vs raw TCP ceiling (loopback, closed loop, $PUBS publishers x window $WINDOW)"
set logscale x
set xlabel "subscribers"
set ylabel "deliveries/s (millions)"
set y2label "p99 latency (ms)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set format y "%.1f"
set key below
set grid
plot "$OUT/fanout.dat" using 1:(\$2/1e6) with linespoints lw 2 title "wschatd deliveries/s", \
     "$OUT/fanout.dat" using 1:(\$3/1e6) with linespoints lw 2 dt 2 title "ceiling deliveries/s", \
     "$OUT/fanout.dat" using 1:4 axes x1y2 with linespoints lw 2 title "wschatd p99 ms", \
     "$OUT/fanout.dat" using 1:5 axes x1y2 with linespoints lw 2 dt 2 title "ceiling p99 ms"
EOF
	[ -f "$OUT/fanout.png" ] && echo "chart: $OUT/fanout.png"
else
	echo "run.sh: gnuplot not installed (apt-get install gnuplot-nox): no chart"
fi

echo "results: $OUT/results.json $OUT/results.csv (matrix took $((T1 - T0)) s)"
exit "$FAILED"
