#!/bin/sh
# run.sh: the standard benchmark matrix (`make bench`).
#
# Every scenario gets a fresh wschatd with its own temporary config and
# database (rate_limit = 0, generous connection and output limits), on
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
# Results: $BENCH_OUT (default ./bench-results)/results.json, results.csv
# (one line per run, with the exact command and the server's config) and,
# if gnuplot is installed, fanout.png. Exit status: 0 if every run passed
# its checks and every server exited 0 on SIGTERM.
#
# Environment: WSCHATD and WSCHAT_BENCH (set by make bench), BENCH_OUT,
# BENCH_DURATION (seconds per publishing run, default 4), BENCH_SUBS
# (default "10 100 1000"), BENCH_CONNECTIONS (default 5000).
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

# start_server NAME [key=value ...]: a fresh wschatd; sets PORT, SERVER_PID.
start_server() {
	dir=$TMP/$1
	shift
	mkdir -p "$dir"
	{
		echo "listen = 127.0.0.1:0"
		echo "db = $dir/wschat.db"
		echo "rate_limit = 0"
		echo "max_connections = 100000"
		echo "max_output = 256M"
		echo "max_line = 65536"
		for kv in "$@"; do
			echo "${kv%%=*} = ${kv#*=}"
		done
	} >"$dir/wschatd.conf"
	SERVER_CONF=$(grep -v '^db = ' "$dir/wschatd.conf" | tr '\n' ';' |
	    sed 's/;$//; s/;/; /g')
	# The port comes from the "listening on" line: read it, never sleep.
	mkfifo "$dir/log.fifo" || die "mkfifo failed"
	"$WSCHATD" -f "$dir/wschatd.conf" 2>"$dir/log.fifo" </dev/null &
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
	cmd="wschat-bench $* --json $OUT/runs/$name.json"
	echo "== $name: $cmd"
	"$WSCHAT_BENCH" "$@" --json "$OUT/runs/$name.json"
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
for s in $SUBS; do
	server_bench "fanout-$s" -- fanout --subscribers "$s" \
	    --publishers "$PUBS" --window "$WINDOW" --size "$SIZE" \
	    --duration "$DURATION"
	SERVER_CONF=
	bench "ceiling-$s" ceiling --subscribers "$s" --publishers "$PUBS" \
	    --window "$WINDOW" --size "$SIZE" --duration "$DURATION"
done
# Open loop at a fixed rate: latency under a load the server can carry.
server_bench "fanout-100-open" -- fanout --subscribers 100 --publishers "$PUBS" \
    --rate 2000 --size "$SIZE" --duration "$DURATION"
# Subscribers leaving and coming back with RESUME while publishing goes on.
server_bench "resume-100" -- resume --subscribers 100 --publishers "$PUBS" \
    --rate 5000 --reconnect-ms 200 --size "$SIZE" --duration "$DURATION"
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
T1=$(date +%s)

# Collect: results.json (machine + every run), results.csv, the chart data.
"$PYTHON" - "$OUT" "$SRCDIR" "$((T1 - T0))" <<'EOF' || FAILED=1
import csv, glob, json, os, platform, re, subprocess, sys

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
    m = re.search(r"longest loop stall: (\d+) us", read(base + ".wschatd.log"))
    r["server_loop_stall_max_us"] = int(m.group(1)) if m else None
    runs.append(r)

by = {r["name"]: r for r in runs}
def num(r, k):
    v = r.get(k) if r else None
    return v if isinstance(v, (int, float)) else None

# Each fanout against the ceiling measured with the same S in this run.
ratios = []
def closed_fanout(r):
    return r.get("scenario") == "fanout" and not r["params"].get("rate")

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
        "replayed", "client_cpu_s",
        "other_cpu_s", "server_config",
        "command"]
with open(os.path.join(out, "results.csv"), "w", newline="",
          encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(cols)
    for r in runs:
        p, lat, rtt = r.get("params", {}), r.get("latency_us") or {}, \
            r.get("confirm_latency_us") or {}
        row = dict(r, subscribers=p.get("subscribers"),
                   publishers=p.get("publishers"),
                   connections=p.get("connections"),
                   p50_us=lat.get("p50"), p99_us=lat.get("p99"),
                   p999_us=lat.get("p999"), max_us=lat.get("max"),
                   confirm_p50_us=rtt.get("p50"), confirm_p99_us=rtt.get("p99"))
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
