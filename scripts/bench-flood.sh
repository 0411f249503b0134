#!/usr/bin/env bash
# bench-flood.sh — bench.sh's steps 5 and 6 alone (the mixed rush, then outlet
# sales at 300/s alone and under a storesByGeo flood), on one or more
# binaries, alternating, so that A/B pairs share a spell:
#
#   BENCH_AB="bin/a bin/b" BENCH_ROUNDS=3 scripts/bench-flood.sh
#
# Each run starts a fresh server (demo seed, SQLite) per binary and round
# and prints one line: load average, mixed rush sale p99 and freshness p99,
# sale p99 alone and under the flood with the §5 target max(2× alone, 50 ms),
# and where the flooded sale's time went (the server's own histograms: the
# sale route's p99, the ledger's queue / commit / wake hops, mean batch).
# Without BENCH_AB it builds and measures the working tree.
# Environment: BENCH_DIR (default /tmp/publicmask-flood), BENCH_PORT (18280),
# BENCH_SECONDS (mixed rush length, default 20), BENCH_MIXED=0 skips step 5.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib.sh
need_tools wrk curl python3
bench_env /tmp/publicmask-flood 18280 20
ROUNDS=${BENCH_ROUNDS:-1}
if [ -z "${BENCH_AB:-}" ]; then
	build_pm "$DIR"
	BENCH_AB=$PM
fi

SERVER=
# On any exit (set -e included) the flood's rush and wrk go with the server.
trap 'for p in ${RUSHPID:-} ${WRK:-} ${SERVER:-}; do kill $p 2>/dev/null || true; wait $p 2>/dev/null || true; done' EXIT
geo_lua "$DIR/geo.lua" 1000

# hops BEFORE AFTER: p99 of the sale route and of the ledger's hops (ms).
hops() {
	printf '%s/%s/%s/%s' "$(server_p99 "$1" "$2" "POST /api/v2/outlet/sales")" \
		"$(hist_p99 "$1" "$2" publicmask_ledger_wait_seconds 'hop="queue"')" \
		"$(hist_p99 "$1" "$2" publicmask_ledger_wait_seconds 'hop="commit"')" \
		"$(hist_p99 "$1" "$2" publicmask_ledger_wait_seconds 'hop="wake"')"
}
# batch BEFORE AFTER: mean requests per commit.
batch() {
	awk -v a="$(counter_delta "$1" "$2" publicmask_ledger_batch_size_sum)" \
		-v b="$(counter_delta "$1" "$2" publicmask_ledger_batch_size_count)" \
		'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'
}

# held BEFORE AFTER: batches gather held / requests that joined them (n/a:
# a binary without the metrics).
held() {
	printf '%s/%s' "$(counter_delta "$1" "$2" publicmask_ledger_gathered_batches_total)" \
		"$(counter_delta "$1" "$2" publicmask_ledger_gather_joined_total)"
}

printf '%-6s %-14s %-16s %9s %9s %9s %9s %8s %8s %6s %6s  %s\n' round binary load \
	mixed_p99 fresh_p99 alone_p99 flood_p99 target ok/s geo/s 503s "flood: server/queue/commit/wake p99, batch, cpu/rqwait s, held/joined; mixed held/joined"
for r in $(seq 1 "$ROUNDS"); do
	for bin in $BENCH_AB; do
		name=$(basename "$bin")
		D="$DIR/$r-$name"
		mkdir -p "$D"
		"$bin" serve --addr "127.0.0.1:$PORT" --db "$D/bench.db" --seed demo \
			--clock 2020-03-11T08:00:00+09:00 --admin-token "$TOKEN" --log-level warn \
			>"$D/serve.out" 2>"$D/serve.err" &
		SERVER=$!
		wait_ready "$BASE" "$D/serve.err"
		LOAD0=$(cut -d' ' -f1 /proc/loadavg)
		M_P99=n/a FRESH=n/a
		if [ "${BENCH_MIXED:-1}" != 0 ]; then
			curl -fsS "$BASE/metrics" >"$D/metrics-mixed0.txt"
			"$bin" rush --target "$BASE" --admin-token "$TOKEN" --duration "${SECS}s" --report "$D/rush-mixed" --quiet --seed 2 ||
				say "   (rush reported violations: see $D/rush-mixed)"
			curl -fsS "$BASE/metrics" >"$D/metrics-mixed1.txt"
			M_P99=$(jget "$D/rush-mixed/report.json" sales.p99_ms)
			FRESH=$(jget "$D/rush-mixed/report.json" freshness.p99_ms)
		fi
		flood_step "$bin" "$BASE" "$D" "$DIR/geo.lua"
		LOAD1=$(cut -d' ' -f1 /proc/loadavg)
		printf '%-6s %-14s %-16s %9s %9s %9s %9s %8s %8s %6s %6s  %s, %s, %s/%s, %s; %s\n' "$r" "$name" "$LOAD0-$LOAD1" \
			"$M_P99" "$FRESH" "$ALONE_P99" "$FLOOD_P99" "$FLOOD_TARGET" \
			"$(jget "$D/rush-flood/report.json" sales.per_sec)" "$(wrk_rate "$D/wrk-flood.txt" | cut -d. -f1)" \
			"$(awk '/Non-2xx/ { print $NF }' "$D/wrk-flood.txt")" \
			"$(hops "$D/metrics-flood0.txt" "$D/metrics-flood1.txt")" \
			"$(batch "$D/metrics-flood0.txt" "$D/metrics-flood1.txt")" \
			"$(counter_delta "$D/metrics-flood0.txt" "$D/metrics-flood1.txt" process_cpu_seconds_total)" \
			"$(counter_delta "$D/metrics-flood0.txt" "$D/metrics-flood1.txt" publicmask_process_run_queue_wait_seconds_total)" \
			"$(held "$D/metrics-flood0.txt" "$D/metrics-flood1.txt")" \
			"$( [ -f "$D/metrics-mixed1.txt" ] && held "$D/metrics-mixed0.txt" "$D/metrics-mixed1.txt" || echo n/a)"
		kill $SERVER
		wait $SERVER 2>/dev/null || true
		SERVER=
	done
done
