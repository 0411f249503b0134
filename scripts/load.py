#!/usr/bin/env python3
"""load.py BASE TOKEN CSV OUTDIR [PID]: import an outlet CSV through PUT /api/v2/admin/outlets
(bodies of BENCH_IMPORT_ROWS rows, default 100,000), then open every outlet with a delivery
list (bodies of 50,000 lines); writes OUTDIR/load.json with the server's import and delivery
times. Used by bench-scale.sh and bench-load.sh. BENCH_LOAD_PARALLEL (default 2) delivery lists are in
flight at once, as an operator's client would send them, so that the server reads and checks one list,
or answers it, while it writes another (1: one after another; on a quiet machine, 540,000 outlets'
deliveries took 9.5 / 9.8 / 11.2 s one at a time and 9.7 / 8.2 / 9.3 s two at a time).
The import keeps BENCH_IMPORT_PARALLEL bodies in flight (default: BENCH_LOAD_PARALLEL if set, else 2), as
an operator's client would: the server writes import bodies one after another, each whole (the one
written last wins for a code in both), and reads and checks the next body, or merges the last
one into the snapshot, while it writes one.
With the server's PID it also records the CPU seconds the server used in each phase, and the bytes it
caused to be written (write_bytes of /proc/PID/io: the WAL and the checkpoints).
The import's bodies and the delivery lists are cut from the outlets in code order (BENCH_IMPORT_ORDER and
BENCH_DELIVER_ORDER, default code; =file keeps the CSV's order), as a client that sorts its input by
outlet before cutting it would send them. The server sorts each body and list by code, but cannot order
one against the next: 50,000 codes spread over the whole registry touch ~70% of the outlets' pages in
every delivery list, where a list of consecutive codes rewrites one eleventh of them, and an import
body of consecutive codes appends its rows (measured at 540,000 in process, BENCHMARKS.md, branch
load19h: the deliveries ~0.78× the CPU a line and ~0.35× the bytes, the import ~0.85× and ~0.77×).
A delivery list's answer (~12 MB for 50,000 lines) is not decoded: the lines that were delivered
are counted in its bytes (the server writes compact JSON, one "ok" a line, and the count of both
answers must be the list's length). json.loads of every answer took ~1.8 s of the client's CPU,
on the two cores the server loads with (a child process decoded them, so that the interpreter's
lock did not hold the next list back)."""
import json, os, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, token, csv, d = sys.argv[1:5]
pid = sys.argv[5] if len(sys.argv) > 5 else None
def written():
    if pid is None:
        return 0.0
    for line in open(f"/proc/{pid}/io"):
        if line.startswith("write_bytes:"):
            return int(line.split()[1]) / 1e6
    return 0.0
def cpu():
    if pid is None:
        return 0.0
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def own():
    t = os.times()
    return t.user + t.system
parallel = int(os.environ.get("BENCH_LOAD_PARALLEL", "2"))
import_parallel = int(os.environ.get("BENCH_IMPORT_PARALLEL", os.environ.get("BENCH_LOAD_PARALLEL", "2")))
pool = ThreadPoolExecutor(max_workers=parallel)
rows = open(csv, encoding="utf-8").read().splitlines()
head, rows = rows[0], rows[1:]
def send(method, path, body, ctype):
    req = urllib.request.Request(base + path, data=body, method=method,
        headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()
def call(method, path, body, ctype):
    return json.loads(send(method, path, body, ctype))
# Bodies are prepared before the clock starts: the server's time is measured.
per = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
import_order = os.environ.get("BENCH_IMPORT_ORDER", "code")
deliver_order = os.environ.get("BENCH_DELIVER_ORDER", "code")
if import_order == "code":
    rows.sort(key=lambda r: r.split(",", 1)[0])
bodies = [("\n".join([head] + rows[i:i + per]) + "\n").encode() for i in range(0, len(rows), per)]
t0, c0, w0, o0 = time.monotonic(), cpu(), written(), own()
with ThreadPoolExecutor(max_workers=import_parallel) as ipool:
    up = sum(r["upserted"] for r in ipool.map(lambda b: call("PUT", "/api/v2/admin/outlets", b, "text/csv"), bodies))
imp, imp_cpu, imp_mb, imp_own = time.monotonic() - t0, cpu() - c0, written() - w0, own() - o0
total = json.load(urllib.request.urlopen(base + "/api/v2/summary"))["national"]["total"]
codes = [r.split(",", 1)[0] for r in rows]
if deliver_order == "code":
    codes.sort()
bodies = [json.dumps([{"outlet": c, "quantity": 500, "txn_id": "open-" + c} for c in codes[i:i + 50_000]]).encode()
          for i in range(0, len(codes), 50_000)]
t0, c0, w0, o0 = time.monotonic(), cpu(), written(), own()
def delivered(body, lines):
    raw = send("POST", "/api/v2/admin/deliveries", body, "application/json")
    ok, failed = raw.count(b'"ok":true'), raw.count(b'"ok":false')
    if ok + failed != lines:
        sys.exit(f"load.py: a delivery list of {lines} lines was answered with {ok + failed} results")
    return ok
ok = sum(pool.map(delivered, bodies, [len(codes[i:i + 50_000]) for i in range(0, len(codes), 50_000)]))
dlv, dlv_cpu, dlv_mb, dlv_own = time.monotonic() - t0, cpu() - c0, written() - w0, own() - o0
json.dump({"parallel": parallel, "import_parallel": import_parallel, "import_rows": per, "import_s": imp, "upserted": up, "visible_after_import": total, "deliver_s": dlv, "delivered": ok,
           "import_cpu_s": imp_cpu, "deliver_cpu_s": dlv_cpu, "import_mb": imp_mb, "deliver_mb": dlv_mb,
           "client_import_cpu_s": imp_own, "client_deliver_cpu_s": dlv_own,
           "import_order": import_order, "deliver_order": deliver_order},
          open(f"{d}/load.json", "w"))
