#!/usr/bin/env bash
# bench-before-after.sh — the public read benchmarks (BenchmarkStoresByGeo:
# v1 storesByGeo and v2 near, through the handler, 26,289 outlets) of a
# base revision and of the working tree, interleaved in one run so that the
# noise of a shared machine falls on both alike; prints each round and the
# median ns/op of each side and their ratio.
#
#   scripts/bench-before-after.sh [BASE]   # BASE defaults to main; ~2 minutes
#
# The working tree's public/bench_test.go is used on both sides, so both run
# the same cases. Environment: ROUNDS (default 5), BENCHTIME (default 2s).
set -euo pipefail
BASE=${1:-main}
ROUNDS=${ROUNDS:-5}
BENCHTIME=${BENCHTIME:-2s}
ROOT=$(git rev-parse --show-toplevel)
TMP=$(mktemp -d)
trap 'git -C "$ROOT" worktree remove --force "$TMP/base" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
git -C "$ROOT" worktree add --detach "$TMP/base" "$BASE" >/dev/null 2>&1
cp "$ROOT/public/bench_test.go" "$TMP/base/public/bench_test.go"
export PUBLICMASK_DATA=${PUBLICMASK_DATA:-$(cd "$ROOT/../../shared/data" 2>/dev/null && pwd || echo /work/shared/data)}
(cd "$TMP/base" && go test -c -o "$TMP/before.test" ./public)
(cd "$ROOT" && go test -c -o "$TMP/after.test" ./public)
for i in $(seq "$ROUNDS"); do
  for side in before after; do
    (cd "$ROOT/public" && "$TMP/$side.test" -test.run '^$' -test.bench 'BenchmarkStoresByGeo' -test.benchtime "$BENCHTIME" -test.benchmem) |
      awk -v side="$side" '/^Benchmark/ {print side, $1, $3}' | tee -a "$TMP/results"
  done
done
echo
echo "median ns/op over $ROUNDS rounds (base $BASE → working tree):"
awk '{v[$2" "$1]=v[$2" "$1]" "$3} END {for (k in v) print k, v[k]}' "$TMP/results" | sort |
  while read -r name side vals; do
    med=$(echo "$vals" | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$name $side $med"
  done | awk '{m[$1" "$2]=$3; names[$1]=1} END {for (n in names) printf "%-40s before %10d  after %10d  after/before %.3f\n", n, m[n" before"], m[n" after"], m[n" after"]/m[n" before"]}'
