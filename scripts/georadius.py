#!/usr/bin/env python3
"""georadius.py BASE TARGET LUA: the storesByGeo workload of bench-scale.sh at equal answer size.

The workload is 256 fixed points of central Seoul (lat 37.50-37.60, lng 126.92-127.06, the
area of lib.sh's geo_lua), written into the wrk script LUA. TARGET is the mean count of
outlets an answer should hold over those points: "-" takes m=1000 (the national size's
workload) and reports its mean; a number searches the radius (whole metres, 50...5000)
whose mean count over the same points is nearest to it. So the two sizes are compared at
the answer size wrk actually asks for, not at a radius scaled by an assumed density.
Prints: radius, mean count over the points, count at Seoul City Hall (37.5665, 126.978).
"""
import http.client, json, random, sys, urllib.parse

base, target, lua = sys.argv[1:4]
conn = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=30)
rng = random.Random(2020)
points = [(37.50 + rng.random() * 0.10, 126.92 + rng.random() * 0.14) for _ in range(256)]


def count(lat, lng, m):
    conn.request("GET", f"/corona19-masks/v1/storesByGeo/json?lat={lat:.5f}&lng={lng:.5f}&m={m}")
    r = conn.getresponse()
    if r.status != 200:
        sys.exit(f"storesByGeo answered {r.status}")
    return json.load(r)["count"]


def mean(m):
    return sum(count(lat, lng, m) for lat, lng in points) / len(points)


if target == "-":
    m = 1000
else:
    # The mean grows with the radius: bisect for the first radius whose
    # mean reaches the target, then keep whichever neighbour is nearer.
    want, lo, hi = float(target), 50, 5000
    while lo < hi:
        mid = (lo + hi) // 2
        if mean(mid) < want:
            lo = mid + 1
        else:
            hi = mid
    m = lo
    if m > 50 and abs(mean(m - 1) - want) < abs(mean(m) - want):
        m -= 1

with open(lua, "w") as f:
    f.write("local pts = {\n")
    for lat, lng in points:
        f.write(f"  {{{lat:.5f}, {lng:.5f}}},\n")
    f.write("}\nlocal i = 0\nrequest = function()\n  i = i % #pts + 1\n")
    f.write("  return wrk.format(\"GET\", string.format(\"/corona19-masks/v1/storesByGeo/json?lat=%.5f&lng=%.5f&m=")
    f.write(f"{m}\", pts[i][1], pts[i][2]))\nend\n")
print(m, f"{mean(m):.2f}", count(37.5665, 126.978, m))
