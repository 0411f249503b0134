#!/usr/bin/env bash
# bench-scale.sh — the read model and loading at the size of a country:
# for each outlet count (default 26263 and $BENCH_SCALE, default 540000), in
# one run on this machine:
#
#   1. a fresh server (SQLite, --seed none, clock at Wednesday 2020-03-11
#      08:00) and `publicmask gen outlets --count N` as CSV;
#   2. import: PUT /api/v2/admin/outlets in bodies of 100,000 rows cut in
#      code order (BENCH_IMPORT_ORDER), two in flight
#      (BENCH_IMPORT_PARALLEL, load.py) → seconds, and the snapshot
#      holds every outlet when the last PUT returns;
#   3. opening deliveries: POST /api/v2/admin/deliveries in bodies of 50,000
#      cut from the outlets in code order (BENCH_DELIVER_ORDER, load.py)
#      → seconds; RSS (VmRSS) once stocked;
#   3b. settle: wait until the server has written nothing for 5 s, then
#      sync its files (lib.sh), so that the rush does not measure the disk
#      catching up with the load → seconds to the server's last write, MB
#      written meanwhile, sync seconds (BENCH_SETTLE=0: a 2 s pause instead);
#   4. a 500 sales/s rush (200 reads/s, ${BENCH_SECONDS:-15}s) at 2,000 of
#      the outlets → sale p99, freshness p99; snapshot apply p99 and mean
#      from publicmask_snapshot_apply_seconds over the rush;
#   5. storesByGeo (wrk -t2 -c16) at 256 points of central Seoul: m=1000
#      for the first size, for the others the radius whose answers hold as
#      many outlets on average over the same points (scripts/georadius.py
#      searches it, on each size's server after its rush). Every size's
#      server stays up until all are stocked; then wrk alternates between
#      them, BENCH_GEO_ROUNDS rounds (default 8) of BENCH_GEO_SECONDS
#      (default 2) a server, the sizes' order reversed every other round,
#      so that a change of the machine's load between two runs no longer
#      decides the ratio (short runs: a server waiting its turn must not
#      be quiet for 3 s, after which app's quiet watch may force a
#      collection and return its free pages — a cost no serving node pays) → per round req/s, p99, the
#      server's CPU µs and minor faults a request, and the ratios to the
#      first size; the medians over the rounds are the figures (the ratio:
#      the median of the rounds' ratios); the radius, the mean answer and the
#      count at City Hall;
#   6. once wrk is done, every server is stopped, then each size in turn is
#      restarted alone on its store → seconds to ready, RSS at rest 8 s later.
#
# Steps 1-4 and the RSS figures of a size are taken while the servers of the
# sizes before it are up but idle (nothing is asked of them); a process's RSS
# is its own.
#
# Then the figures side by side with the ratio (largest / first).
#   BENCH_SCALE=540000 scripts/bench-scale.sh     # ~4 minutes
# Environment: BENCH_DIR (default /tmp/publicmask-scale), BENCH_PORT (18090;
# the i-th size serves on BENCH_PORT + 2i, its debug address one above),
# BENCH_COUNTS (the sizes, first the reference), BENCH_PM (a publicmask
# binary to run instead of building this tree's), BENCH_GEO_ROUNDS,
# BENCH_GEO_SECONDS.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib.sh
need_tools wrk curl python3
bench_env /tmp/publicmask-scale 18090 15
COUNTS=${BENCH_COUNTS:-"26263 ${BENCH_SCALE:-540000}"}

if [ -n "${BENCH_PM:-}" ]; then # a binary built elsewhere (another commit, to alternate)
	PM=$BENCH_PM
else
	say "== building"
	build_pm "$DIR"
fi
SERVER=""   # the server being stocked or restarted
declare -A LIVE=() # size → pid of its stocked server, up until step 5 ends
GEO_WANT=""        # the first size's mean answer, which the others match
stop_live() {
	local p
	for p in "${LIVE[@]}" $SERVER; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop_live EXIT
GEO_ROUNDS=${BENCH_GEO_ROUNDS:-8}
GEO_SECS=${BENCH_GEO_SECONDS:-2}

# apply_hist prints "count sum" and the cumulative buckets of the apply histogram.
apply_hist() { curl -fsS "$BASE/metrics" | awk '/^publicmask_snapshot_apply_seconds_(bucket|sum|count)/'; }

# at_size I: the i-th size's port and base URL (PORT + 2i).
at_size() {
	SPORT=$((PORT + 2 * $1))
	BASE="http://127.0.0.1:$SPORT"
}

# serve_store NAME [FLAG…]: serve $D/bench.db on $SPORT, logging to
# $D/NAME.out and NAME.err; sets SERVER once the node is ready.
serve_store() {
	local name=$1
	shift
	"$PM" serve --addr "127.0.0.1:$SPORT" --db "$D/bench.db" --seed none "$@" \
		--clock 2020-03-11T08:00:00+09:00 --admin-token "$TOKEN" --log-level warn \
		>"$D/$name.out" 2>"$D/$name.err" &
	SERVER=$!
	wait_ready "$BASE" "$D/$name.err"
}

I=0
for N in $COUNTS; do
	D="$DIR/$N"
	mkdir -p "$D"
	at_size $I
	I=$((I + 1))
	say "== $N outlets"
	"$PM" gen outlets --count "$N" --format csv >"$D/outlets.csv"
	serve_store serve --debug-addr "127.0.0.1:$((SPORT + 1))"
	python3 scripts/load.py "$BASE" "$TOKEN" "$D/outlets.csv" "$D" "$SERVER"
	# The rush measures its own writes, not the disk catching up with the
	# load's (settle, lib.sh; BENCH_SETTLE=0: two seconds, as before).
	read -r SETTLE_S SETTLE_MB SYNC_S < <(settle "$SERVER" "$D"/bench.db* "$D/outlets.csv")
	say "   settle: the server's last write ${SETTLE_S} s after the load's answer, $SETTLE_MB MB meanwhile; sync $SYNC_S s"
	if [ "${BENCH_SETTLE:-1}" = 0 ]; then sleep 2; fi
	RSS=$(rss_mb "$SERVER")
	apply_hist >"$D/apply-before.txt"
	"$PM" rush --target "$BASE" --admin-token "$TOKEN" --duration "${SECS}s" --sales-rate 500 --read-rate 200 \
		--outlets 2000 --streams 2 --scrapers 0 --report "$D/rush" --quiet --seed 1 || say "   (rush reported violations: see $D/rush)"
	apply_hist >"$D/apply-after.txt"
	RSS_AFTER=$(rss_mb "$SERVER")
	# The first size asks m=1000 at 256 points of central Seoul; the others
	# at the radius whose answers hold as many outlets on average over the
	# same points (searched on this server), so that wrk compares equal
	# answer sizes.
	read -r M GEO_MEAN GEO_COUNT < <(python3 scripts/georadius.py "$BASE" "${GEO_WANT:--}" "$D/geo.lua")
	GEO_WANT=${GEO_WANT:-$GEO_MEAN}
	say "   storesByGeo: m=$M, $GEO_MEAN outlets an answer (target $GEO_WANT), $GEO_COUNT at City Hall"
	python3 - "$D" "$RSS" "$RSS_AFTER" "$M" "$GEO_COUNT" "$GEO_MEAN" "$SETTLE_S" "$SETTLE_MB" "$SYNC_S" <<'PY'
import json, sys
d, rss, rss_after, m, geo_count, geo_mean, settle_s, settle_mb, sync_s = sys.argv[1:10]
num = lambda v: None if v == "n/a" else float(v)
def hist(path):
    b, s, c = [], 0.0, 0
    for line in open(path):
        name, v = line.rsplit(" ", 1)
        if "_bucket" in name:
            le = name.split('le="')[1].split('"')[0]
            b.append((float("inf") if le == "+Inf" else float(le), float(v)))
        elif name.endswith("_sum"):
            s = float(v)
        elif name.endswith("_count"):
            c = float(v)
    return b, s, c
b0, s0, c0 = hist(f"{d}/apply-before.txt")
b1, s1, c1 = hist(f"{d}/apply-after.txt")
n = c1 - c0
p99 = None
prev_le, prev_cum = 0.0, 0.0
for (le, v1), (_, v0) in zip(b1, b0):
    cum = v1 - v0
    if n > 0 and cum >= 0.99 * n:
        # Linear within the bucket, as Prometheus' histogram_quantile does.
        top = le if le != float("inf") else prev_le
        p99 = prev_le + (top - prev_le) * ((0.99 * n - prev_cum) / max(cum - prev_cum, 1e-9))
        break
    prev_le, prev_cum = le, cum
load = json.load(open(f"{d}/load.json"))
r = json.load(open(f"{d}/rush/report.json"))
load.update({"rss_mb": int(rss), "rss_after_rush_mb": int(rss_after), "applies": n,
             "apply_mean_ms": (s1 - s0) / n * 1000 if n else None, "apply_p99_ms": p99 * 1000 if p99 is not None else None,
             "sale_p99_ms": r["sales"]["p99_ms"], "sales_per_sec": r["sales"]["per_sec"],
             "fresh_p99_ms": r["freshness"]["p99_ms"], "fresh_n": r["freshness"]["samples"],
             "violations": len(r["violations"]), "geo_m": int(m), "geo_count": int(geo_count),
             "geo_mean": float(geo_mean),
             "settle_s": num(settle_s), "settle_mb": num(settle_mb), "sync_s": num(sync_s)})
json.dump(load, open(f"{d}/figures.json", "w"), indent=1)
PY
	LIVE[$N]=$SERVER
	SERVER=""
done

# 5. storesByGeo: wrk alternates between the stocked servers, round after
# round, each size against its own points file. The server's own CPU a
# request and minor faults a 1,000 over a run (/proc/PID/stat): unlike
# req/s, which shares two cores with wrk and whatever else runs, they
# hardly move with the machine's load. A line a run in $D/geo-rounds.txt:
# round, req/s, p99 ms, CPU µs a request, faults a 1,000, 1-min load.
if command -v wrk >/dev/null 2>&1; then
	read -r -a SIZES <<<"$COUNTS"
	for R in $(seq 1 "$GEO_ROUNDS"); do
		# Odd rounds in the sizes' order, even rounds reversed (ABBA), so
		# that a load that rises or falls through the step favours neither.
		ORDER=$(seq 0 $((${#SIZES[@]} - 1)))
		if [ $((R % 2)) = 0 ]; then ORDER=$(seq $((${#SIZES[@]} - 1)) -1 0); fi
		for I in $ORDER; do
			N=${SIZES[$I]}
			D="$DIR/$N"
			at_size "$I"
			LOAD1=$(cut -d' ' -f1 /proc/loadavg)
			read -r C0 F0 < <(cpu_flt "${LIVE[$N]}")
			wrk -t2 -c16 -d"${GEO_SECS}s" --latency -s "$D/geo.lua" "$BASE" >"$D/wrk-geo-$R.txt"
			read -r C1 F1 < <(cpu_flt "${LIVE[$N]}")
			awk -v r="$R" -v c0="$C0" -v c1="$C1" -v f0="$F0" -v f1="$F1" -v l="$LOAD1" \
				-v rate="$(wrk_rate "$D/wrk-geo-$R.txt")" -v p99="$(wrk_p99 "$D/wrk-geo-$R.txt")" \
				'/ requests in / { printf "%d %s %s %.2f %.1f %s\n", r, rate, p99, (c1 - c0) / $1 * 1e6, (f1 - f0) / $1 * 1000, l }' \
				"$D/wrk-geo-$R.txt" >>"$D/geo-rounds.txt"
			say "   storesByGeo round $R, $N outlets: $(tail -n 1 "$D/geo-rounds.txt" | awk '{ printf "%s req/s, %s µs CPU a request (load %s)", $2, $4, $6 }')"
		done
	done
fi
stop_live
LIVE=()

I=0
for N in $COUNTS; do
	D="$DIR/$N"
	at_size $I
	I=$((I + 1))
	# 6. a restart on the stocked store, alone: seconds to ready, and RSS at
	# rest once the start's garbage is released (a few quiet seconds, app's
	# quiet watch) — a node restarted the next morning holds what it holds.
	T0=$(date +%s.%N)
	serve_store restart
	READY_S=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	sleep 8
	RSS_RESTART=$(rss_mb "$SERVER")
	kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=""
	python3 - "$D" "$READY_S" "$RSS_RESTART" <<'PY'
import json, os, statistics, sys
d, ready, rss = sys.argv[1:4]
f = json.load(open(f"{d}/figures.json"))
f.update({"restart_ready_s": float(ready), "rss_restart_mb": int(rss)})
# The storesByGeo rounds: each run's figures, and their medians as the size's figures.
rounds = []
if os.path.exists(f"{d}/geo-rounds.txt"):
    for line in open(f"{d}/geo-rounds.txt"):
        r, rate, p99, us, flt, load1 = line.split()
        rounds.append({"round": int(r), "rps": float(rate), "p99_ms": float(p99) if p99 else None,
                       "cpu_us": float(us), "minflt_k": float(flt), "load1": float(load1)})
med = lambda k: statistics.median(x[k] for x in rounds) if rounds and None not in [x[k] for x in rounds] else None
f.update({"geo_rounds": rounds, "geo_rps": med("rps"), "geo_p99_ms": med("p99_ms"),
          "geo_cpu_us": med("cpu_us"), "geo_minflt_k": med("minflt_k")})
json.dump(f, open(f"{d}/figures.json", "w"), indent=1)
PY
	say "   $(cat "$D/figures.json" | tr -d '\n ')"
done

python3 - "$DIR" $COUNTS <<'PY'
import json, statistics, sys
d, counts = sys.argv[1], sys.argv[2:]
f = [json.load(open(f"{d}/{n}/figures.json")) for n in counts]
rows = [("import (s)", "import_s", "≤ 15 s with deliveries"), ("opening deliveries (s)", "deliver_s", ""),
        ("import: server CPU (s)", "import_cpu_s", ""), ("opening deliveries: server CPU (s)", "deliver_cpu_s", ""),
        ("import: MB written by the server", "import_mb", ""), ("opening deliveries: MB written", "deliver_mb", ""),
        ("import bodies in flight", "import_parallel", ""),
        ("delivery lists in flight", "parallel", ""),
        ("order of the import's rows", "import_order", "(load.py: BENCH_IMPORT_ORDER)"),
        ("order of the delivery lines", "deliver_order", "(load.py: BENCH_DELIVER_ORDER)"),
        ("visible right after the import", "visible_after_import", "= outlets"),
        ("RSS stocked (MB)", "rss_mb", "≤ 512 MB at 540k, ≤ 100 MB at 26k"), ("RSS after the rush (MB)", "rss_after_rush_mb", ""),
        ("restart: seconds to ready", "restart_ready_s", ""), ("RSS at rest after a restart (MB)", "rss_restart_mb", "≤ 512 MB at 540k, ≤ 100 MB at 26k"),
        ("snapshot apply p99 (ms)", "apply_p99_ms", "within 2×"), ("snapshot apply mean (ms)", "apply_mean_ms", ""),
        ("applies in the rush", "applies", ""),
        ("settle: last server write after load (s)", "settle_s", "(BENCH_SETTLE=0: n/a)"),
        ("settle: MB written meanwhile", "settle_mb", ""), ("settle: sync of the files (s)", "sync_s", ""),
        ("sale p99 at 500/s (ms)", "sale_p99_ms", "≤ 50 ms"),
        ("sales/s", "sales_per_sec", ""), ("freshness p99 (ms)", "fresh_p99_ms", "≤ 100 ms"),
        ("freshness samples", "fresh_n", ""), ("violations", "violations", "0"),
        ("storesByGeo radius (m) / outlets at City Hall", None, ""),
        ("storesByGeo outlets an answer (wrk's points)", "geo_mean", "same answer size"),
        ("storesByGeo req/s (wrk -c16, median of rounds)", "geo_rps", "≥ 0.9×"), ("storesByGeo p99 (ms)", "geo_p99_ms", ""),
        ("storesByGeo: server CPU a request (µs)", "geo_cpu_us", "(load-independent: ≤ 1.11× ~ 0.9× req/s)"),
        ("storesByGeo: server minor faults /1,000 req", "geo_minflt_k", "")]
# The storesByGeo ratios are the medians of the rounds' ratios: each round's
# runs of the two sizes are seconds apart, so the load changes less within a
# round than between rounds.
def round_ratios(k):
    first, last = f[0].get("geo_rounds") or [], f[-1].get("geo_rounds") or []
    return [b[k] / a[k] for a, b in zip(first, last) if a[k]]
median = lambda v: statistics.median(v) if v else None
judged = {"geo_rps": median(round_ratios("rps")), "geo_cpu_us": median(round_ratios("cpu_us"))}
print(f"publicmask scale — {len(counts)} sizes in one run")
print(f"{'figure':44}" + "".join(f"{n + ' outlets':>18}" for n in counts) + f"{'ratio':>9}   target")
for label, k, target in rows:
    if k is None:
        vals = [f"{x['geo_m']} / {x['geo_count']}" for x in f]
        print(f"{label:44}" + "".join(f"{v:>18}" for v in vals) + f"{'':>9}   {target}")
        continue
    vals = [x.get(k) for x in f]
    fmt = lambda v: "n/a" if v is None else (f"{v:,.1f}" if isinstance(v, float) else v if isinstance(v, str) else f"{v:,}")
    ratio = "n/a" if None in vals or not vals[0] or isinstance(vals[0], str) else f"{vals[-1] / vals[0]:.2f}"
    if k in judged:
        ratio = "n/a" if judged[k] is None else f"{judged[k]:.2f}"
    print(f"{label:44}" + "".join(f"{fmt(v):>18}" for v in vals) + f"{ratio:>9}   {target}")
rounds = [x.get("geo_rounds") or [] for x in f]
if any(rounds):
    print()
    print(f"storesByGeo rounds (wrk -t2 -c16, alternating servers; ratio: {counts[-1]} / {counts[0]})")
    print(f"{'round':>5}" + "".join(f"{n + ' req/s':>16}" for n in counts) + f"{'ratio':>7}" +
          "".join(f"{n + ' µs CPU':>16}" for n in counts) + f"{'ratio':>7}" + "".join(f"{'load ' + n:>14}" for n in counts))
    rr, cr = round_ratios("rps"), round_ratios("cpu_us")
    for i in range(min(len(r) for r in rounds)):
        row = [r[i] for r in rounds]
        print(f"{i + 1:>5}" + "".join(f"{x['rps']:>16,.1f}" for x in row) + f"{rr[i]:>7.2f}" +
              "".join(f"{x['cpu_us']:>16.2f}" for x in row) + f"{cr[i]:>7.2f}" + "".join(f"{x['load1']:>14.2f}" for x in row))
    print(f"{'median':>5}" + "".join(f"{x['geo_rps']:>16,.1f}" for x in f) + f"{judged['geo_rps']:>7.2f}" +
          "".join(f"{x['geo_cpu_us']:>16.2f}" for x in f) + f"{judged['geo_cpu_us']:>7.2f}" +
          "   (judged: req/s ratio ≥ 0.9; CPU ratio ≤ 1.11)")
PY
