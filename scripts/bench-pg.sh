#!/usr/bin/env bash
# bench-pg.sh — PostgreSQL scale-out figures: two ledger nodes and one public
# node on one PostgreSQL (scripts/pg.sh's cluster), driven by
# `publicmask rush --target L1,L2 --read-target P`. Prints durable sales/s
# over HTTP through both ledger nodes with their p99 beside the in-process
# ceiling of the same run (go test -bench LedgerSales ./postgres, 4 writers,
# no HTTP), the ledger nodes' CPU per acknowledged sale (from /proc, over the
# whole capacity rush including its setup), and the freshness from a ledger
# node's acknowledgement to the public node's answer.
#
#   scripts/bench-pg.sh        # about two minutes; needs PostgreSQL installed
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_env /tmp/publicmask-bench-pg 18180 20
P1=$PORT

build_pm "$DIR"
pg_schema bench
trap stop_all EXIT
say "== in-process ceiling: go test -bench LedgerSales ./postgres (4 writers)"
CEIL=$(PUBLICMASK_TEST_POSTGRES="$DSN" go test -run '^$' -bench 'LedgerSales/writers=4' -benchtime 20000x ./postgres | tee "$DIR/ledger-bench.txt" |
	awk '/sales\/s/ { for (i = 1; i < NF; i++) if ($(i+1) == "sales/s") v = $i } END { print v + 0 }')
new_secret "$DIR/secret"
COMMON=(--db "$NODE_DSN" --secret-file "$DIR/secret" --admin-token "$TOKEN" --seed none --clock 2020-03-11T08:00:00+09:00 --log-level warn)
"$PM" serve --addr "127.0.0.1:$P1" --role ledger "${COMMON[@]}" 2>"$DIR/ledger1.err" >/dev/null & PIDS+=($!)
sleep 2 # the first node applies the migrations
"$PM" serve --addr "127.0.0.1:$((P1 + 1))" --role ledger "${COMMON[@]}" 2>"$DIR/ledger2.err" >/dev/null & PIDS+=($!)
"$PM" serve --addr "127.0.0.1:$((P1 + 2))" --role public "${COMMON[@]}" 2>"$DIR/public.err" >/dev/null & PIDS+=($!)
for port in $P1 $((P1 + 1)) $((P1 + 2)); do wait_ready "http://127.0.0.1:$port" "$DIR"/*.err; done
L="http://127.0.0.1:$P1,http://127.0.0.1:$((P1 + 1))"
P="http://127.0.0.1:$((P1 + 2))"

say "== sales capacity through two ledger nodes (4,000/s offered, few reads)"
C0=$(awk -v a="$(cpu "${PIDS[0]}")" -v b="$(cpu "${PIDS[1]}")" 'BEGIN { print a + b }')
"$PM" rush --target "$L" --read-target "$P" --admin-token "$TOKEN" --duration "${SECS}s" --outlets 5000 \
	--sales-rate 4000 --read-rate 200 --sales-workers 512 --streams 2 --scrapers 0 --quiet --seed 11 --report "$DIR/rush-sales" ||
	say "   (rush reported violations: see $DIR/rush-sales)"
C1=$(awk -v a="$(cpu "${PIDS[0]}")" -v b="$(cpu "${PIDS[1]}")" 'BEGIN { print a + b }')
SALES=$(jget "$DIR/rush-sales/report.json" sales.per_sec)
CPU_SALE=$(awk -v c="$(awk -v a="$C0" -v b="$C1" 'BEGIN { print b - a }')" -v n="$(jget "$DIR/rush-sales/report.json" sales.ok)" 'BEGIN { if (n > 0) printf "%.0f", c * 1e6 / n; else print "n/a" }')
say "== mixed: 1,500 sales/s (half the target), 2,000 reads/s on the public node"
"$PM" rush --target "$L" --read-target "$P" --admin-token "$TOKEN" --duration "${SECS}s" --outlets 5000 \
	--sales-rate 1500 --read-rate 2000 --quiet --seed 12 --report "$DIR/rush-mixed" ||
	say "   (rush reported violations: see $DIR/rush-mixed)"

echo
echo "publicmask PostgreSQL scale-out — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, 2 ledger + 1 public node + PostgreSQL on this machine"
printf '%-52s %s\n' "durable sales/s over HTTP, two ledger nodes" "$SALES (p99 $(jget "$DIR/rush-sales/report.json" sales.p99_ms) ms; target ≥ 3,000/s, p99 ≤ 50 ms at 1,500/s)"
printf '%-52s %s\n' "  in-process ceiling (BenchmarkLedgerSales, 4 writers)" "$CEIL/s; ratio $(awk -v a="$SALES" -v b="$CEIL" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
printf '%-52s %s\n' "  ledger nodes' CPU per acknowledged sale (µs)" "$CPU_SALE (both nodes, whole capacity rush incl. setup)"
printf '%-52s %s\n' "  at 1,500/s offered: sales/s, p99" "$(jget "$DIR/rush-mixed/report.json" sales.per_sec), $(jget "$DIR/rush-mixed/report.json" sales.p99_ms) ms"
printf '%-52s %s\n' "freshness ledger ack → public node v2 answer, p50/p99" "$(jget "$DIR/rush-mixed/report.json" freshness.p50_ms) / $(jget "$DIR/rush-mixed/report.json" freshness.p99_ms) ms (n=$(jget "$DIR/rush-mixed/report.json" freshness.samples); target ≤ 1 s)"
printf '%-52s %s\n' "public node reads/s, p99" "$(jget "$DIR/rush-mixed/report.json" reads.per_sec), $(jget "$DIR/rush-mixed/report.json" reads.p99_ms) ms"
printf '%-52s %s\n' "violations (both runs)" "$(python3 -c 'import json,sys; print(sum(len(json.load(open(f))["violations"]) for f in sys.argv[1:]))' "$DIR"/rush-*/report.json)"
echo "details: $DIR"
