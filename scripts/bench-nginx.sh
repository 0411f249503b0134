#!/usr/bin/env bash
# bench-nginx.sh — the 08:00 rush through nginx: deploy/nginx/publicmask.conf
# (listen address, upstreams and cache directory swapped, TLS dropped, as
# e2e/deploy_nginx_test.go does) in front of one ledger node and two public
# nodes on PostgreSQL (scripts/pg.sh's cluster), driven by
# `publicmask rush --target http://nginx…`. Prints the rush's figures and
# the micro-cache's hit rate from nginx's access log.
#
#   scripts/bench-nginx.sh     # about a minute; needs nginx and PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bench_env /tmp/publicmask-bench-nginx 18280 20
P1=$PORT
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
chmod 755 "$DIR" # nginx workers read it

build_pm "$DIR"
pg_schema bench_ng
trap stop_all EXIT
new_secret "$DIR/secret"
COMMON=(--db "$NODE_DSN" --seed none --clock 2020-03-11T08:00:00+09:00 --log-level warn --trust-proxy 127.0.0.1)
"$PM" serve --addr "127.0.0.1:$P1" --role ledger --secret-file "$DIR/secret" --admin-token "$TOKEN" "${COMMON[@]}" 2>"$DIR/ledger.err" >/dev/null & PIDS+=($!)
wait_ready "http://127.0.0.1:$P1" "$DIR/ledger.err"
"$PM" serve --addr "127.0.0.1:$((P1 + 1))" --role public "${COMMON[@]}" 2>"$DIR/public1.err" >/dev/null & PIDS+=($!)
"$PM" serve --addr "127.0.0.1:$((P1 + 2))" --role public "${COMMON[@]}" 2>"$DIR/public2.err" >/dev/null & PIDS+=($!)
for port in $((P1 + 1)) $((P1 + 2)); do wait_ready "http://127.0.0.1:$port" "$DIR"/public*.err; done

NG=$((P1 + 3))
python3 - "$DIR" "$P1" "$NG" <<'PY'
import re, sys
d, p1, ng = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = open("deploy/nginx/publicmask.conf").read()
c = re.sub(r"(?m)(^\s*server 10\.0\.1\.\d+:8080[^\n]*\n)+", f"    server 127.0.0.1:{p1};\n", c)
c = re.sub(r"(?m)(^\s*server 10\.0\.2\.\d+:8080[^\n]*\n)+", f"    server 127.0.0.1:{p1+1};\n    server 127.0.0.1:{p1+2};\n", c)
c = re.sub(r"(?m)^\s*listen 443 ssl http2;\n", f"    listen 127.0.0.1:{ng};\n", c)
c = re.sub(r"(?m)^\s*listen \[::\]:443 ssl http2;\n", "", c)
c = re.sub(r"(?m)^\s*ssl_[a-z_]+\s[^\n]*\n", "", c)
c = c.replace("/var/cache/nginx/publicmask", d + "/cache")
# The committed access log (JSON lines, with the request ID), buffered here.
c = c.replace("/var/log/nginx/publicmask.access.log publicmask;", d + "/access.log publicmask buffer=64k;")
open(d + "/publicmask.conf", "w").write(c)
user = "user root;" if __import__("os").geteuid() == 0 else ""
open(d + "/nginx.conf", "w").write(f"""{user}
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    include {d}/publicmask.conf;
}}
""")
PY
"$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/error.log" & PIDS+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$NG/healthz" 2>/dev/null && break; sleep 0.1; done

say "== rush through nginx: 500 sales/s, 3,000 reads/s at the peak, 2,000 outlets"
"$PM" rush --target "http://127.0.0.1:$NG" --admin-token "$TOKEN" --duration "${SECS}s" --outlets 2000 \
	--sales-rate 500 --read-rate 3000 --quiet --seed 21 --report "$DIR/rush" ||
	say "   (rush reported violations: see $DIR/rush)"
say "== the same rush straight to the nodes (ledger, one public node), for the ratio"
"$PM" rush --target "http://127.0.0.1:$P1" --read-target "http://127.0.0.1:$((P1 + 1))" --admin-token "$TOKEN" --duration "${SECS}s" --outlets 2000 \
	--sales-rate 500 --read-rate 3000 --quiet --seed 22 --report "$DIR/direct" ||
	say "   (rush reported violations: see $DIR/direct)"
kill -QUIT "$(cat "$DIR/nginx.pid")" 2>/dev/null || true; sleep 1 # flush the access log

R="$DIR/rush/report.json"
echo
echo "publicmask behind nginx — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, nginx + 1 ledger + 2 public nodes + PostgreSQL + the generator on this machine"
printf '%-58s %s\n' "sales/s through nginx, p50/p99" "$(jget "$R" sales.per_sec), $(jget "$R" sales.p50_ms) / $(jget "$R" sales.p99_ms) ms"
printf '%-58s %s\n' "public reads/s through nginx, p99" "$(jget "$R" reads.per_sec), $(jget "$R" reads.p99_ms) ms"
printf '%-58s %s\n' "freshness, ack → answer through the micro-cache, p50/p99" "$(jget "$R" freshness.p50_ms) / $(jget "$R" freshness.p99_ms) ms (n=$(jget "$R" freshness.samples))"
D="$DIR/direct/report.json"
printf '%-58s %s\n' "  straight to the nodes: sales/s, p50/p99" "$(jget "$D" sales.per_sec), $(jget "$D" sales.p50_ms) / $(jget "$D" sales.p99_ms) ms"
printf '%-58s %s\n' "  straight to the nodes: reads/s, p99" "$(jget "$D" reads.per_sec), $(jget "$D" reads.p99_ms) ms"
printf '%-58s %s\n' "  straight to the nodes: freshness p50/p99" "$(jget "$D" freshness.p50_ms) / $(jget "$D" freshness.p99_ms) ms"
printf '%-58s %s\n' "violations" "$(python3 -c 'import json,sys; print(sum(len(json.load(open(f))["violations"]) for f in sys.argv[1:]))' "$R" "$D") (both runs)"
python3 - "$DIR/access.log" <<'PY'
import sys, collections, json
by = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f["method"] != "GET":
        continue
    st, uri = f["cache"] or "-", f["path"]
    kind = ("v1 storesByGeo" if "storesByGeo" in uri else "v1 storesByAddr" if "storesByAddr" in uri
            else "v1 stores/sales pages" if uri.startswith("/corona19-masks/") else "v2 near" if uri.endswith("/near")
            else "v2 outlet" if uri.startswith("/api/v2/outlets/") else None)
    if kind:
        by[kind][st] += 1
        by["all cached routes"][st] += 1
for k in sorted(by):
    c = by[k]; n = sum(c.values()); hit = c["HIT"] + c["UPDATING"] + c["STALE"]
    print(f"micro-cache {k:<22} {n:>8} requests, {100*hit/n:5.1f}% served by nginx ({dict(c)})")
PY
echo "details: $DIR"
