# lib.sh — what the bench-*.sh scripts share; sourced, never run:
#   . scripts/lib.sh
# Call it from the repository root (the scripts cd there first).

say() { printf '%s\n' "$*" >&2; }

# ratio A B: A/B with two decimals, n/a when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# jget FILE a.b.c: one field of a JSON file (a rush's report.json).
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$1" "$2"; }

# cpu PID: user+system seconds of a process (/proc/PID/stat fields 14, 15).
cpu() { awk '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$1/stat"; }

# cpu_flt PID: cpu's seconds and the process's minor page faults (field 10).
cpu_flt() { awk '{ sub(/.*\) /, ""); printf "%.2f %d\n", ($12 + $13) / 100, $8 }' "/proc/$1/stat"; }

# rss_mb PID: resident memory of a process in MB.
rss_mb() { awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$1/status"; }

# build_pm DIR: builds the publicmask binary into DIR and sets PM to it.
build_pm() { go build -o "$1/publicmask" ./cmd/publicmask; PM="$1/publicmask"; }

# wait_ready BASE [LOG...]: waits up to two minutes for BASE/readyz; if it
# never answers, prints the LOG files and fails.
wait_ready() {
	local base=$1
	shift
	for _ in $(seq 1 600); do
		curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	say "$base did not become ready"
	cat "$@" >&2
	return 1
}

# pg_schema PREFIX: a fresh schema on scripts/pg.sh's cluster. Sets DSN,
# BINDIR (PostgreSQL's binaries), SCHEMA and NODE_DSN (the DSN into the
# schema); drop_schema removes it (call it from the script's cleanup).
pg_schema() {
	DSN=$(scripts/pg.sh | tail -n 1)
	BINDIR=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
	SCHEMA="$1_$(date +%s)"
	"$BINDIR/psql" "$DSN" -qc "CREATE SCHEMA $SCHEMA"
	NODE_DSN="$DSN&search_path=$SCHEMA"
}
drop_schema() { "$BINDIR/psql" "$DSN" -qc "DROP SCHEMA $SCHEMA CASCADE" >/dev/null 2>&1 || true; }

# new_secret FILE: a node's HMAC secret, 32 random bytes for the owner only.
new_secret() { head -c 32 /dev/urandom >"$1"; chmod 600 "$1"; }

# PIDS holds the background processes a script starts (PIDS+=($!));
# stop_all, trapped on EXIT, stops them and drops pg_schema's schema.
PIDS=()
stop_all() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "${SCHEMA:-}" ]; then drop_schema; fi
}

# bench_env DIR PORT SECONDS: BENCH_DIR, BENCH_PORT and BENCH_SECONDS with
# these defaults. Sets DIR (emptied), PORT, SECS, BASE (the server at PORT)
# and TOKEN (a fresh admin token).
bench_env() {
	DIR=${BENCH_DIR:-$1}
	PORT=${BENCH_PORT:-$2}
	SECS=${BENCH_SECONDS:-$3}
	BASE="http://127.0.0.1:$PORT"
	TOKEN="bench-$(date +%s)-$$"
	rm -rf "$DIR"
	mkdir -p "$DIR"
}

# need_tools TOOL...: fails at once, saying what to install, unless every
# TOOL is on PATH (rather than minutes into a run at the step that needs it).
need_tools() {
	local missing=()
	for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "$(basename "$0"): needs ${missing[*]} on PATH (Debian: apt-get install ${missing[*]})" >&2
		exit 1
	fi
}

# geo_lua FILE M: a wrk script asking storesByGeo at radius M around random
# points in central Seoul, so that answers are not all one cache entry.
geo_lua() {
	cat >"$1" <<LUA
math.randomseed(2020)
request = function()
  local lat = 37.50 + math.random() * 0.10
  local lng = 126.92 + math.random() * 0.14
  return wrk.format("GET", string.format("/corona19-masks/v1/storesByGeo/json?lat=%.5f&lng=%.5f&m=$2", lat, lng))
end
LUA
}

# wrk_rate and wrk_p99 FILE: requests/s and p99 (ms) of a wrk --latency report.
wrk_rate() { awk '/Requests\/sec/ { print $2 }' "$1"; }
wrk_p99() { awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } print v }' "$1"; }

# hist_p99 BEFORE AFTER METRIC [FILTER]: the p99 (ms) of a histogram METRIC
# (seconds) between two /metrics scrapes, over its series whose labels
# contain FILTER (e.g. 'hop="commit"'); as server_p99.
hist_p99() {
	python3 - "$@" <<'PY'
import sys
def buckets(path, name, flt):
    b = {}
    for line in open(path):
        if line.startswith(name + "_bucket{") and flt in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            b[float(le)] = b.get(float(le), 0) + float(line.rsplit(" ", 1)[1])
    return b
flt = sys.argv[4] if len(sys.argv) > 4 else ""
b0, b1 = buckets(sys.argv[1], sys.argv[3], flt), buckets(sys.argv[2], sys.argv[3], flt)
n = b1.get(float("inf"), 0) - b0.get(float("inf"), 0)
prev_le, prev = 0.0, 0.0
for le in sorted(b1):
    c = b1[le] - b0.get(le, 0)
    if n > 0 and c >= 0.99 * n:
        top = le if le != float("inf") else prev_le
        print(f"{(prev_le + (top - prev_le) * (0.99 * n - prev) / max(c - prev, 1e-9)) * 1000:.2f}")
        break
    prev_le, prev = le, c
else:
    print("n/a")
PY
}

# server_p99 BEFORE AFTER ROUTE: the p99 (ms) that the server itself measured
# (publicmask_http_request_duration_seconds, from the request read to the
# answer written) for ROUTE between two /metrics scrapes; linear within the
# bucket, as Prometheus' histogram_quantile.
server_p99() { hist_p99 "$1" "$2" publicmask_http_request_duration_seconds "route=\"$3\""; }

# settle PID FILE...: before a latency step, lets the write-back of the step
# before it (a load of hundreds of MB, a capacity rush) finish, so that the
# step measures its own writes and not the disk catching up: waits until
# neither FILE... (the store's files: size, mtime) nor the server PID's
# /proc/PID/io write_bytes has changed for BENCH_SETTLE_QUIET seconds
# (default 5, more than the background checkpoint's 4 s; at most 60 s),
# then flushes FILE... (sync FILE) and prints three figures: seconds from
# the call to the last change seen, MB the server wrote meanwhile (what
# write_bytes saw), seconds the flush took. BENCH_SETTLE=0 skips it and
# prints "n/a n/a n/a".
settle() {
	local pid=$1
	shift
	if [ "${BENCH_SETTLE:-1}" = 0 ]; then
		echo "n/a n/a n/a"
		return
	fi
	python3 - "$pid" "${BENCH_SETTLE_QUIET:-5}" "$@" <<'PY'
import os, subprocess, sys, time
pid, quiet, files = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
def written():
    for line in open(f"/proc/{pid}/io"):
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
def state():
    st = []
    for f in files:
        try:
            s = os.stat(f)
            st.append((s.st_size, s.st_mtime_ns))
        except FileNotFoundError:
            st.append(None)
    return written(), st
t0 = time.monotonic()
w0 = written()
last, last_t = state(), t0
while time.monotonic() - last_t < quiet and time.monotonic() - t0 < 60:
    time.sleep(0.1)
    now = state()
    if now != last:
        last, last_t = now, time.monotonic()
t1 = time.monotonic()
subprocess.run(["sync", *files], check=True)
print(f"{last_t - t0:.1f} {(last[0] - w0) / 1e6:.0f} {time.monotonic() - t1:.2f}")
PY
}

# counter_delta BEFORE AFTER METRIC: how much a counter (summed over its
# series) grew between two /metrics scrapes; n/a when it is in neither.
counter_delta() {
	awk -v m="$3" 'FNR == 1 { f++ } ($1 == m || index($1, m "{") == 1) { v[f] += $NF; seen = 1 }
		END { if (seen) printf "%.1f", v[2] - v[1]; else print "n/a" }' "$1" "$2"
}

# flood_step BIN BASE DIR GEO_LUA: §5's isolation step — outlet sales at
# 300/s alone (DIR/rush-alone), then under a storesByGeo flood of wrk -c256
# (DIR/rush-flood, DIR/wrk-flood.txt), with the server's metrics before the
# flood and after its rush (DIR/metrics-flood0.txt, -flood1.txt). The flood
# starts when the rush's sales do: its set-up (outlet list, tokens, opening
# deliveries) takes 10–20 s under a flood, so a flood started with the rush
# was over before its first sale (runs before 2026-12-01 13:30Z measured
# sales after the flood); the rush prints "… outlets stocked" when ready.
# Sets ALONE_P99, FLOOD_P99 and FLOOD_TARGET (§5: "within 2x its unloaded
# value or 50 ms, whichever is larger"); RUSHPID and WRK while they run.
flood_step() {
	local bin=$1 base=$2 d=$3 lua=$4
	"$bin" rush --target "$base" --admin-token "$TOKEN" --duration 10s --sales-rate 300 --read-rate 0 --streams 0 --scrapers 0 \
		--report "$d/rush-alone" --quiet --seed 3 || say "   (rush reported violations: see $d/rush-alone)"
	"$bin" rush --target "$base" --admin-token "$TOKEN" --duration 10s --sales-rate 300 --read-rate 0 --streams 0 --scrapers 0 \
		--report "$d/rush-flood" --seed 4 >"$d/rush-flood.log" 2>&1 &
	RUSHPID=$!
	for _ in $(seq 1 1200); do
		grep -q 'outlets stocked' "$d/rush-flood.log" 2>/dev/null && break
		kill -0 $RUSHPID 2>/dev/null || break
		sleep 0.05
	done
	curl -fsS "$base/metrics" >"$d/metrics-flood0.txt"
	wrk -t2 -c256 -d11s --latency -s "$lua" "$base" >"$d/wrk-flood.txt" &
	WRK=$!
	wait $RUSHPID || say "   (rush reported violations: see $d/rush-flood)"
	curl -fsS "$base/metrics" >"$d/metrics-flood1.txt"
	wait $WRK
	RUSHPID= WRK=
	ALONE_P99=$(jget "$d/rush-alone/report.json" sales.p99_ms)
	FLOOD_P99=$(jget "$d/rush-flood/report.json" sales.p99_ms)
	FLOOD_TARGET=$(awk -v a="$ALONE_P99" 'BEGIN { t = 2 * a; if (t < 50) t = 50; printf "%.1f", t }')
}
