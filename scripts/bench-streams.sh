#!/usr/bin/env bash
# bench-streams.sh — the live stream under load (DESIGN.md §5 freshness with
# the fan-out of issue "adversarial"): one server with the national demo,
# then in one run, alternating,
#
#   A. publicmask rush --target … --sales-rate 1000 --streams 0      (unloaded)
#   B. publicmask rush --target … --sales-rate 1000 --streams 10000  (10,000 SSE subscribers)
#   (A and B twice each: A B A B; medians reported by the caller)
#
# The server runs with --streams-per-client 20000: every subscriber comes from
# 127.0.0.1 (DESIGN.md §6.5 lets benchmarks raise the per-address cap).
#
#   scripts/bench-streams.sh     # about 2 minutes; from the repository root
#
# Environment: BENCH_DIR (default /tmp/publicmask-bench-streams), BENCH_PORT
# (18090), BENCH_SECONDS (rush length, default 15), BENCH_STREAMS (10000).
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${BENCH_DIR:-/tmp/publicmask-bench-streams}
PORT=${BENCH_PORT:-18090}
SECS=${BENCH_SECONDS:-15}
STREAMS=${BENCH_STREAMS:-10000}
BASE="http://127.0.0.1:$PORT"
TOKEN="bench-$(date +%s)-$$"
rm -rf "$DIR"
mkdir -p "$DIR"

go build -o "$DIR/publicmask" ./cmd/publicmask
"$DIR/publicmask" serve --addr "127.0.0.1:$PORT" --db "$DIR/pm.db" --admin-token "$TOKEN" \
	--clock 2020-03-11T08:00:00+09:00 --streams-per-client 20000 >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
	curl -sf "$BASE/readyz" >/dev/null && break
	sleep 0.1
done

run() { # name streams
	"$DIR/publicmask" rush --target "$BASE" --admin-token "$TOKEN" --duration "${SECS}s" \
		--sales-rate 1000 --read-rate 1000 --streams "$2" --report "$DIR/$1" >"$DIR/$1.log" 2>&1 || true
	jq -r --arg n "$1" '[$n, .streams.subscribers, .streams.connects, .streams.events, .streams.errors,
		.sales.per_sec, .sales.p99_ms, .freshness.samples, .freshness.p50_ms, .freshness.p99_ms,
		(.violations | length)] | @tsv' "$DIR/$1/report.json"
}
printf 'run\tsubscribers\tconnects\tevents\tstream_errors\tsales/s\tsale_p99_ms\tfresh_n\tfresh_p50_ms\tfresh_p99_ms\tviolations\n'
run unloaded-1 0
run streams-1 "$STREAMS"
run unloaded-2 0
run streams-2 "$STREAMS"
