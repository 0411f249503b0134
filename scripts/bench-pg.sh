#!/usr/bin/env bash
# bench-pg.sh — PostgreSQL scale-out figures: two ledger nodes and one public
# node on one PostgreSQL (a cluster of its own, started by scripts/pg.sh on
# BENCH_PG_PORT, default 55481, in BENCH_DIR/pg, stopped at the end), driven by
# `publicmask rush --target L1,L2 --read-target P`. Prints durable sales/s
# over HTTP through both ledger nodes with their p99 beside the in-process
# ceiling of the same run (go test -bench LedgerSales ./postgres, 4 writers:
# one ledger with as many writers as the two nodes' 2 each together,
# no HTTP), the ledger nodes' and PostgreSQL's CPU per acknowledged sale
# (from /proc, over the whole capacity rush including its setup), and the
# freshness from a ledger node's acknowledgement to the public node's answer.
#
#   scripts/bench-pg.sh        # about two minutes; needs PostgreSQL installed
#   BENCH_AB="/tmp/old/publicmask /tmp/new/publicmask" scripts/bench-pg.sh
#                              # only the capacity step, binaries alternating
#   BENCH_PG_OUTLETS=26000 …   # outlets the rushes create (default 5000;
#                              # the real data has about 26,000)
#   BENCH_PM=/tmp/x/publicmask … # that binary instead of one built here
#   BENCH_PG_WAITS=1 …          # also what PostgreSQL's backends wait for
#                              # in the 1,500/s step (pg_stat_activity)
# Ports: BENCH_PORT (default 18180; the nodes take it and the next two) and
# BENCH_PG_PORT (the cluster, default 55481); BENCH_DIR for the files.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_env /tmp/publicmask-bench-pg 18180 20
P1=$PORT

if [ -n "${BENCH_PM:-}" ]; then # a binary built elsewhere (another commit)
	PM=$BENCH_PM
else
	build_pm "$DIR"
fi
# A cluster of its own: nothing else's queries in its CPU figure. Durable as
# scripts/pg.sh makes it (fsync and synchronous_commit on).
PGP=${BENCH_PG_PORT:-55481}
PGDIR="$DIR/pg"
stop_pg() { PGPORT=$PGP scripts/pg.sh stop "$PGDIR" >/dev/null 2>&1 || true; }
trap 'stop_all; stop_pg' EXIT
DSN=$(PGPORT=$PGP scripts/pg.sh start "$PGDIR" 2>"$DIR/pg.err" | tail -n 1)
BINDIR=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
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
# sched PID...: seconds the processes' threads ran and waited for a CPU
# (/proc/PID/task/*/schedstat: run ns, run-queue wait ns), summed.
sched() {
	local p
	for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done | awk '{ r += $1; w += $2 } END { printf "%.3f %.3f", r / 1e9, w / 1e9 }'
}
# pg_pids: the postmaster and its live children.
pg_pids() {
	local pm
	pm=$(head -n 1 "$PGDIR/data/postmaster.pid")
	echo "$pm" $(pgrep -P "$pm")
}
# waitratio "R0 W0" "R1 W1": run-queue wait per second run between two sched readings.
waitratio() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); r = y[1] - x[1]; if (r > 0) printf "%.1f", (y[2] - x[2]) / r; else print "n/a" }'; }
new_secret "$DIR/secret"

# start_nodes BIN: two ledger nodes and a public node of BIN on a fresh
# schema; sets NODES (their pids), L and P (their URLs).
start_nodes() {
	SCHEMA="bench_$(date +%s%N)"
	"$BINDIR/psql" "$DSN" -qc "CREATE SCHEMA $SCHEMA"
	NODE_DSN="$DSN&search_path=$SCHEMA"
	local common=(--db "$NODE_DSN" --secret-file "$DIR/secret" --admin-token "$TOKEN" --seed none --clock 2020-03-11T08:00:00+09:00 --log-level warn)
	NODES=()
	"$1" serve --addr "127.0.0.1:$P1" --role ledger "${common[@]}" 2>"$DIR/ledger1.err" >/dev/null & NODES+=($!)
	# The first node applies the migrations; the others start once it is
	# ready (a fixed wait was too short on a loaded machine: a public node
	# found no schema and exited).
	wait_ready "http://127.0.0.1:$P1" "$DIR/ledger1.err"
	"$1" serve --addr "127.0.0.1:$((P1 + 1))" --role ledger "${common[@]}" 2>"$DIR/ledger2.err" >/dev/null & NODES+=($!)
	"$1" serve --addr "127.0.0.1:$((P1 + 2))" --role public "${common[@]}" 2>"$DIR/public.err" >/dev/null & NODES+=($!)
	PIDS+=("${NODES[@]}")
	for port in $((P1 + 1)) $((P1 + 2)); do wait_ready "http://127.0.0.1:$port" "$DIR"/*.err; done
	L="http://127.0.0.1:$P1,http://127.0.0.1:$((P1 + 1))"
	P="http://127.0.0.1:$((P1 + 2))"
}
stop_nodes() {
	kill "${NODES[@]}" 2>/dev/null || true
	wait "${NODES[@]}" 2>/dev/null || true
	"$BINDIR/psql" "$DSN" -qc "DROP SCHEMA $SCHEMA CASCADE" >/dev/null 2>&1 || true
}

# capacity BIN REPORT: the capacity rush through the nodes of BIN; sets
# SALES, P99, CPU_SALE (both ledger nodes) and PG_SALE (the cluster), per
# acknowledged sale in µs over the whole rush including its setup.
capacity() {
	local c0 c1 g0 g1 ok
	c0=$(awk -v a="$(cpu "${NODES[0]}")" -v b="$(cpu "${NODES[1]}")" 'BEGIN { print a + b }')
	g0=$(pg_cpu)
	"$1" rush --target "$L" --read-target "$P" --admin-token "$TOKEN" --duration "${SECS}s" --outlets "${BENCH_PG_OUTLETS:-5000}" \
		--sales-rate "${BENCH_PG_OFFER:-8000}" --read-rate 200 --sales-workers 512 --streams 2 --scrapers 0 --quiet --seed 11 --report "$2" >/dev/null ||
		say "   (rush reported violations: see $2)"
	c1=$(awk -v a="$(cpu "${NODES[0]}")" -v b="$(cpu "${NODES[1]}")" 'BEGIN { print a + b }')
	g1=$(pg_cpu)
	SALES=$(jget "$2/report.json" sales.per_sec)
	P99=$(jget "$2/report.json" sales.p99_ms)
	ok=$(jget "$2/report.json" sales.ok)
	CPU_SALE=$(awk -v a="$c0" -v b="$c1" -v n="$ok" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1e6 / n; else print "n/a" }')
	PG_SALE=$(awk -v a="$g0" -v b="$g1" -v n="$ok" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1e6 / n; else print "n/a" }')
}

# BENCH_AB="BIN1 BIN2 …": only the capacity step, the binaries alternating
# for BENCH_ROUNDS rounds (default 3) on this cluster; one line per run,
# then the medians of each binary.
if [ -n "${BENCH_AB:-}" ]; then
	read -r -a BINS <<<"$BENCH_AB"
	for r in $(seq 1 "${BENCH_ROUNDS:-3}"); do
		for i in "${!BINS[@]}"; do
			start_nodes "${BINS[$i]}"
			capacity "${BINS[$i]}" "$DIR/ab-$r-$i"
			stop_nodes
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "${BINS[$i]}" "$SALES" "$P99" "$CPU_SALE" "$PG_SALE" | tee -a "$DIR/ab.tsv"
		done
	done
	echo "medians over ${BENCH_ROUNDS:-3} rounds: binary, sales/s, p99 ms, ledger µs/sale, PostgreSQL µs/sale"
	python3 - "$DIR/ab.tsv" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
for b in dict.fromkeys(r[1] for r in rows):
    m = lambda i: statistics.median(float(r[i]) for r in rows if r[1] == b)
    print(f"{b}\t{m(2):.0f}\t{m(3):.0f}\t{m(4):.0f}\t{m(5):.0f}")
PY
	exit 0
fi

say "== in-process ceiling: go test -bench LedgerSales ./postgres (4 writers)"
CEIL=$(PUBLICMASK_TEST_POSTGRES="$DSN" go test -run '^$' -bench 'LedgerSales/writers=4' -benchtime 20000x ./postgres | tee "$DIR/ledger-bench.txt" |
	awk '/sales\/s/ { for (i = 1; i < NF; i++) if ($(i+1) == "sales/s") v = $i } END { print v + 0 }')
start_nodes "$PM"
say "== sales capacity through two ledger nodes (${BENCH_PG_OFFER:-8000}/s offered, few reads: more than both nodes can take, about a quarter of it refused by the rules)"
capacity "$PM" "$DIR/rush-sales"
say "== mixed: 1,500 sales/s (half the target), 2,000 reads/s on the public node"
# Where a slow sale's time goes is mostly a wait for a CPU on this machine
# (BENCHMARKS.md, PostgreSQL write path, 6th pass): the step's run-queue
# wait per second of CPU of the ledger nodes and of PostgreSQL says how
# much. BENCH_PG_WAITS=1 also samples what PostgreSQL's backends wait for
# (pg_stat_activity every 50 ms for 15 s of the step).
LS0=$(sched "${NODES[0]}" "${NODES[1]}")
PS0=$(sched $(pg_pids))
SAMPLER=
if [ -n "${BENCH_PG_WAITS:-}" ]; then
	(sleep 3; "$BINDIR/psql" "$DSN" -qAt -F $'\t' -c "CREATE TEMP TABLE w (st text, q text)" \
		-c "DO \$\$ BEGIN FOR i IN 1..300 LOOP INSERT INTO w SELECT CASE WHEN state LIKE 'idle in%' THEN 'idle in transaction' ELSE coalesce(wait_event_type || ':' || wait_event, 'CPU') END, left(regexp_replace(query, '\s+', ' ', 'g'), 40) FROM pg_stat_activity WHERE backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid(); PERFORM pg_stat_clear_snapshot(); COMMIT; PERFORM pg_sleep(0.05); END LOOP; END \$\$" \
		-c "SELECT st, round(100.0 * count(*) / sum(count(*)) OVER (), 1) FROM w GROUP BY st ORDER BY 2 DESC LIMIT 8" \
		-c "SELECT st, q, round(100.0 * count(*) / sum(count(*)) OVER (), 1) FROM w GROUP BY st, q ORDER BY 3 DESC LIMIT 12" >"$DIR/pg-waits.txt" 2>&1) &
	SAMPLER=$!
fi
"$PM" rush --target "$L" --read-target "$P" --admin-token "$TOKEN" --duration "${SECS}s" --outlets "${BENCH_PG_OUTLETS:-5000}" \
	--sales-rate 1500 --read-rate 2000 --quiet --seed 12 --report "$DIR/rush-mixed" ||
	say "   (rush reported violations: see $DIR/rush-mixed)"
LS1=$(sched "${NODES[0]}" "${NODES[1]}")
PS1=$(sched $(pg_pids))
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
if [ -n "$SAMPLER" ]; then wait "$SAMPLER" || true; fi
# The first ledger node's group commits (batch sizes, commit times) over both rushes.
curl -s "${L%%,*}/metrics" | grep -E '^publicmask_ledger_(batch_size|commit_seconds)' >"$DIR/ledger1-commits.txt" || true

echo
echo "publicmask PostgreSQL scale-out — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, 2 ledger + 1 public node + PostgreSQL on this machine"
printf '%-52s %s\n' "durable sales/s over HTTP, two ledger nodes" "$SALES (p99 $P99 ms; target ≥ 3,000/s, p99 ≤ 50 ms at 1,500/s)"
printf '%-52s %s\n' "  in-process ceiling (BenchmarkLedgerSales, 4 writers)" "$CEIL/s; ratio $(awk -v a="$SALES" -v b="$CEIL" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
printf '%-52s %s\n' "  ledger nodes' CPU per acknowledged sale (µs)" "$CPU_SALE (both nodes, whole capacity rush incl. setup)"
printf '%-52s %s\n' "  PostgreSQL's CPU per acknowledged sale (µs)" "$PG_SALE (whole cluster, same interval)"
printf '%-52s %s\n' "  at 1,500/s offered: sales/s, p99" "$(jget "$DIR/rush-mixed/report.json" sales.per_sec), $(jget "$DIR/rush-mixed/report.json" sales.p99_ms) ms"
# 1,500/s is the peak of the rush's morning surge (25% at the start, the
# peak from a fifth of the run to 70%, then down to 70%), and the sale mix
# has wrong weekdays, mistyped IDs and second purchases the rules refuse:
# acknowledged sales/s are well below 1,500 by design, not for want of
# capacity (dropped counts the sales the generator could not send).
printf '%-52s %s\n' "    sales offered on average (ok, refused, errors, dropped)" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["sales"]; n=s["ok"]+s["rejected"]+s["errors"]+s["dropped"]; print("%.0f/s (%d, %d, %d, %d)" % (n / d["duration_s"], s["ok"], s["rejected"], s["errors"], s["dropped"]))' "$DIR/rush-mixed/report.json")"
printf '%-52s %s\n' "    CPU wait per CPU second, ledger nodes / PostgreSQL" "$(waitratio "$LS0" "$LS1") / $(waitratio "$PS0" "$PS1") (schedstat over the step; its tail follows this; load $LOAD1 at its end)"
printf '%-52s %s\n' "freshness ledger ack → public node v2 answer, p50/p99" "$(jget "$DIR/rush-mixed/report.json" freshness.p50_ms) / $(jget "$DIR/rush-mixed/report.json" freshness.p99_ms) ms (n=$(jget "$DIR/rush-mixed/report.json" freshness.samples); target ≤ 1 s)"
printf '%-52s %s\n' "public node reads/s, p99" "$(jget "$DIR/rush-mixed/report.json" reads.per_sec), $(jget "$DIR/rush-mixed/report.json" reads.p99_ms) ms"
printf '%-52s %s\n' "violations (both runs)" "$(python3 -c 'import json,sys; print(sum(len(json.load(open(f))["violations"]) for f in sys.argv[1:]))' "$DIR"/rush-*/report.json)"
if [ -s "$DIR/pg-waits.txt" ]; then
	echo "PostgreSQL's backends at 1,500/s (share of samples in a transaction: CPU = running or runnable):"
	sed 's/^/  /' "$DIR/pg-waits.txt"
fi
echo "details: $DIR"
