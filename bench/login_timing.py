"""Login timing: does a wrong password for an existing account take as long as an unknown account?

Usage: python3 bench/login_timing.py http://127.0.0.1:8080
The server must have an account `timing_user` and login limits raised above 120 failures, e.g.
PARLOR_LIMITS__LOGIN_FAILURES_PER_ACCOUNT=1000 PARLOR_LIMITS__LOGIN_FAILURES_PER_ADDRESS=1000.
Requests alternate between the two cases so machine noise falls on both alike.
"""
import json, statistics, sys, time, urllib.request, urllib.error
def login(ident):
    req = urllib.request.Request(sys.argv[1].rstrip("/") + "/api/v1/auth/login", data=json.dumps({"identifier": ident, "password": "wrong password!"}).encode(), headers={"content-type": "application/json"})
    t = time.perf_counter()
    try: urllib.request.urlopen(req)
    except urllib.error.HTTPError as e: body = e.read(); code = e.code
    return (time.perf_counter() - t) * 1000, code, body
known, unknown, bodies = [], [], set()
for i in range(60):
    pair = [("k", "timing_user"), ("u", f"nobody_{i}")]
    if i % 2: pair.reverse()
    for kind, ident in pair:
        ms, code, body = login(ident); bodies.add((code, body))
        (known if kind == "k" else unknown).append(ms)
q = lambda xs: f"median {statistics.median(xs):.2f} ms  p10 {sorted(xs)[6]:.2f}  p90 {sorted(xs)[54]:.2f}"
print("existing account, wrong password:", q(known))
print("unknown account:                 ", q(unknown))
print("distinct (status, body) pairs:", len(bodies))
