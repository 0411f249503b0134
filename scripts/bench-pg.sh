#!/usr/bin/env bash
# bench-pg.sh — PostgreSQL scale-out figures: two ledger nodes and one public
# node on one PostgreSQL (a cluster of its own, started by scripts/pg.sh on
# BENCH_PG_PORT, default 55481, in BENCH_DIR/pg, stopped at the end), driven by
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
# A cluster of its own: nothing else's queries in its CPU figure. Durable as
# scripts/pg.sh makes it (fsync and synchronous_commit on).
PGP=${BENCH_PG_PORT:-55481}
PGDIR="$DIR/pg"
stop_pg() { PGPORT=$PGP scripts/pg.sh stop "$PGDIR" >/dev/null 2>&1 || true; }
trap 'stop_all; stop_pg' EXIT
DSN=$(PGPORT=$PGP scripts/pg.sh start "$PGDIR" 2>"$DIR/pg.err" | tail -n 1)
BINDIR=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
SCHEMA="bench_$(date +%s)"
"$BINDIR/psql" "$DSN" -qc "CREATE SCHEMA $SCHEMA"
NODE_DSN="$DSN&search_path=$SCHEMA"
# pg_cpu: CPU seconds of the whole cluster: the postmaster, its live
# children (backends, WAL writer, checkpointer…) and the children it reaped.
pg_cpu() {
	local pm
	pm=$(head -n 1 "$PGDIR/data/postmaster.pid")
	{
		awk '{ sub(/.*\) /, ""); print ($12 + $13 + $14 + $15) / 100 }' "/proc/$pm/stat"
		for c in $(pgrep -P "$pm"); do awk '{ sub(/.*\) /, ""); print ($12 + $13) / 100 }' "/proc/$c/stat" 2>/dev/null || true; done
	} | awk '{ s += $1 } END { printf "%.2f", s }'
}
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
G0=$(pg_cpu)
"$PM" rush --target "$L" --read-target "$P" --admin-token "$TOKEN" --duration "${SECS}s" --outlets 5000 \
	--sales-rate 4000 --read-rate 200 --sales-workers 512 --streams 2 --scrapers 0 --quiet --seed 11 --report "$DIR/rush-sales" ||
	say "   (rush reported violations: see $DIR/rush-sales)"
C1=$(awk -v a="$(cpu "${PIDS[0]}")" -v b="$(cpu "${PIDS[1]}")" 'BEGIN { print a + b }')
G1=$(pg_cpu)
SALES=$(jget "$DIR/rush-sales/report.json" sales.per_sec)
OK=$(jget "$DIR/rush-sales/report.json" sales.ok)
per_sale() { awk -v a="$1" -v b="$2" -v n="$OK" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1e6 / n; else print "n/a" }'; }
CPU_SALE=$(per_sale "$C0" "$C1")
PG_SALE=$(per_sale "$G0" "$G1")
say "== mixed: 1,500 sales/s (half the target), 2,000 reads/s on the public node"
"$PM" rush --target "$L" --read-target "$P" --admin-token "$TOKEN" --duration "${SECS}s" --outlets 5000 \
	--sales-rate 1500 --read-rate 2000 --quiet --seed 12 --report "$DIR/rush-mixed" ||
	say "   (rush reported violations: see $DIR/rush-mixed)"

echo
echo "publicmask PostgreSQL scale-out — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, 2 ledger + 1 public node + PostgreSQL on this machine"
printf '%-52s %s\n' "durable sales/s over HTTP, two ledger nodes" "$SALES (p99 $(jget "$DIR/rush-sales/report.json" sales.p99_ms) ms; target ≥ 3,000/s, p99 ≤ 50 ms at 1,500/s)"
printf '%-52s %s\n' "  in-process ceiling (BenchmarkLedgerSales, 4 writers)" "$CEIL/s; ratio $(awk -v a="$SALES" -v b="$CEIL" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
printf '%-52s %s\n' "  ledger nodes' CPU per acknowledged sale (µs)" "$CPU_SALE (both nodes, whole capacity rush incl. setup)"
printf '%-52s %s\n' "  PostgreSQL's CPU per acknowledged sale (µs)" "$PG_SALE (whole cluster, same interval)"
printf '%-52s %s\n' "  at 1,500/s offered: sales/s, p99" "$(jget "$DIR/rush-mixed/report.json" sales.per_sec), $(jget "$DIR/rush-mixed/report.json" sales.p99_ms) ms"
printf '%-52s %s\n' "freshness ledger ack → public node v2 answer, p50/p99" "$(jget "$DIR/rush-mixed/report.json" freshness.p50_ms) / $(jget "$DIR/rush-mixed/report.json" freshness.p99_ms) ms (n=$(jget "$DIR/rush-mixed/report.json" freshness.samples); target ≤ 1 s)"
printf '%-52s %s\n' "public node reads/s, p99" "$(jget "$DIR/rush-mixed/report.json" reads.per_sec), $(jget "$DIR/rush-mixed/report.json" reads.p99_ms) ms"
printf '%-52s %s\n' "violations (both runs)" "$(python3 -c 'import json,sys; print(sum(len(json.load(open(f))["violations"]) for f in sys.argv[1:]))' "$DIR"/rush-*/report.json)"
echo "details: $DIR"
