#!/usr/bin/env bash
# bench-load.sh — steps 1–3 of bench-scale.sh alone (import in bodies of
# 100,000 rows, BENCH_IMPORT_ROWS, then opening deliveries in bodies of
# 50,000, into a fresh SQLite server), for several binaries in one run, alternating, so that a
# change of the loading path is compared on one machine at one load.
#   BENCH_BINS="before=/tmp/pm-main after=/tmp/pm-new" BENCH_COUNTS=540000 \
#     BENCH_ROUNDS=2 scripts/bench-load.sh
# Without BENCH_BINS it builds the working tree as "this". Prints one line
# per run and the median import and delivery seconds of each binary.
# BENCH_LOAD_PARALLEL (default 2) is how many bodies load.py keeps in flight
# at once; BENCH_PARALLELS="1 2" runs every binary at each of them.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_env /tmp/publicmask-load 18095 0
COUNTS=${BENCH_COUNTS:-"26263 540000"}
ROUNDS=${BENCH_ROUNDS:-1}
if [ -z "${BENCH_BINS:-}" ]; then
	build_pm "$DIR"
	BENCH_BINS="this=$PM"
fi
SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; wait 2>/dev/null || true' EXIT

PARALLELS=${BENCH_PARALLELS:-${BENCH_LOAD_PARALLEL:-2}}
RUNS=""
for pair in $BENCH_BINS; do
	for p in $PARALLELS; do
		RUNS="$RUNS ${pair%%=*}-p$p=$p=${pair#*=}"
	done
done

for N in $COUNTS; do
	first=${BENCH_BINS%% *}
	"${first#*=}" gen outlets --count "$N" --format csv >"$DIR/outlets-$N.csv"
	for round in $(seq 1 "$ROUNDS"); do
		for run in $RUNS; do
			name=${run%%=*}
			rest=${run#*=}
			export BENCH_LOAD_PARALLEL=${rest%%=*}
			PM=${rest#*=}
			D="$DIR/$N-$name-$round"
			mkdir -p "$D"
			"$PM" serve --addr "127.0.0.1:$PORT" --db "$D/bench.db" --seed none \
				--clock 2020-03-11T08:00:00+09:00 --admin-token "$TOKEN" --log-level warn \
				>"$D/serve.out" 2>"$D/serve.err" &
			SERVER=$!
			wait_ready "$BASE" "$D/serve.err"
			python3 scripts/load.py "$BASE" "$TOKEN" "$DIR/outlets-$N.csv" "$D" "$SERVER"
			kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=""
			say "$N $name round $round: $(tr -d '\n ' <"$D/load.json")"
		done
	done
done

python3 - "$DIR" "$ROUNDS" "$RUNS" $COUNTS <<'PY'
import json, statistics, sys
d, rounds, runs, counts = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
names = [r.split("=", 1)[0] for r in runs]
print(f"{'outlets':>8} {'binary-bodies':>14} {'import s':>9} {'deliver s':>10} {'together':>9} {'server CPU s':>13}  (medians of {rounds}; -pN: N bodies in flight)")
for n in counts:
    for name in names:
        f = [json.load(open(f"{d}/{n}-{name}-{r}/load.json")) for r in range(1, rounds + 1)]
        for x in f:
            assert x["delivered"] == int(n), x
            if x["visible_after_import"] != int(n):
                print(f"   {name}: only {x['visible_after_import']:,} of {n} outlets visible when the import returned")
        i = statistics.median(x["import_s"] for x in f)
        v = statistics.median(x["deliver_s"] for x in f)
        c = statistics.median(x["import_cpu_s"] + x["deliver_cpu_s"] for x in f)
        print(f"{n:>8} {name:>14} {i:9.1f} {v:10.1f} {i + v:9.1f} {c:13.1f}")
PY
