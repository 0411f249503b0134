#!/usr/bin/env bash
# bench-streams.sh — freshness and sales with 10,000 live stream subscribers
# (DESIGN.md §5), beside the same figures without them, in one run against one
# server (national demo, Wednesday 2020-03-11 08:00):
#
#   A1. publicmask rush --target … --sales-rate 1000 --read-rate 1000   (no streams)
#   B.  the same while scripts/streamhold holds 10,000 streams open (spread
#       over Korea, 2 km circles; they read and discard their events)
#   A2. the same again without streams
#
# The server runs with --streams-per-client 20000 (every subscriber comes from
# 127.0.0.1; DESIGN.md §6.5 lets benchmarks raise the cap). streamhold rather
# than rush --streams: rush parses every event line, and on two cores its
# 10,000 readers would measure the generator.
#
#   scripts/bench-streams.sh     # about 2 minutes; from the repository root
#
# Environment: BENCH_DIR (default /tmp/publicmask-bench-streams), BENCH_PORT
# (18090), BENCH_SECONDS (rush length, default 15), BENCH_STREAMS (10000),
# BENCH_MEMORY_LIMIT (server --memory-limit, default its own default).
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_env /tmp/publicmask-bench-streams 18090 15
STREAMS=${BENCH_STREAMS:-10000}

build_pm "$DIR"
go build -o "$DIR/streamhold" ./scripts/streamhold
MEM=()
[ -n "${BENCH_MEMORY_LIMIT:-}" ] && MEM=(--memory-limit "$BENCH_MEMORY_LIMIT")
"$DIR/publicmask" serve --addr "127.0.0.1:$PORT" --db "$DIR/pm.db" --admin-token "$TOKEN" \
	--clock 2020-03-11T08:00:00+09:00 --streams-per-client 20000 "${MEM[@]}" >"$DIR/server.log" 2>&1 &
SERVER=$!
HOLD=
trap 'kill $SERVER $HOLD 2>/dev/null; wait 2>/dev/null || true' EXIT
wait_ready "$BASE" "$DIR/server.log"

rss() { rss_mb "$SERVER"; }
run() { # name
	"$DIR/publicmask" rush --target "$BASE" --admin-token "$TOKEN" --duration "${SECS}s" \
		--sales-rate 1000 --read-rate 1000 --streams 0 --report "$DIR/$1" >"$DIR/$1.log" 2>&1 || true
	local streams
	streams=$(curl -s "$BASE/metrics" | awk '/^publicmask_http_in_flight\{class="stream"\}/ { print $2 }')
	jq -r --arg n "$1" --arg s "$streams" --arg rss "$(rss)" '[$n, $s, .sales.per_sec, .sales.p50_ms, .sales.p99_ms,
		.reads.per_sec, .reads.p99_ms, .freshness.samples, .freshness.p50_ms, .freshness.p99_ms, $rss,
		(.violations | length)] | @tsv' "$DIR/$1/report.json"
}
printf 'run\tstreams\tsales/s\tsale_p50_ms\tsale_p99_ms\treads/s\tread_p99_ms\tfresh_n\tfresh_p50_ms\tfresh_p99_ms\trss_mb\tviolations\n'
run A1
"$DIR/streamhold" "127.0.0.1:$PORT" "$STREAMS" >"$DIR/streamhold.log" 2>&1 &
HOLD=$!
for _ in $(seq 1 1200); do
	grep -q '^open' "$DIR/streamhold.log" && break
	sleep 0.1
done
run B
kill $HOLD
wait $HOLD 2>/dev/null || true
HOLD=
sleep 2
run A2
curl -s "$BASE/metrics" | grep '^publicmask_stream_subscribers_dropped_total' || true
