"""Soak: mixed load against one running `parlor serve`, first as fast as this client can (the
peak), then for a long run at half that rate. Run by `scripts/soak`.

The mix, per request: 45 % sends (HTTP), 35 % history pages, 15 % chat lists, 5 % token
refreshes; besides, one login a second (Argon2 costs tens of milliseconds each, so logins are
paced rather than mixed), and sockets: half WebSocket, half Socket.IO, every one of them in a
chat that receives sends, and one socket a second closed and opened again.

Printed every window: requests, errors, p50/p99 latency, server RSS and open descriptors,
socket deliveries. The first WARMUP seconds (sockets opening, pools and caches filling) are
printed but not judged. At the end: the whole series as JSON, and whether it held: 0 errors;
p99 stable (every window under 250 ms, and the last third's mean p99 at most twice the first
third's plus 5 ms: a trend, not one noisy window, is what fails); RSS flat (the last window
within 10 % + 2 MiB of the first window after warm-up); the server's own descriptors (all but
the connections on its port) flat, within 4 of the first judged window, and the connections it
serves never more than the client can hold open (its 64 pooled connections, its sockets and a
few being replaced).

    PARLOR_SOAK_URL       the server's base URL
    PARLOR_SOAK_PID       its process id (RSS and descriptors are read from /proc)
    PARLOR_SOAK_SECONDS   length of the soak (default 600)
    PARLOR_SOAK_PEAK_SECONDS  length of the peak measurement (default 20)
    PARLOR_SOAK_SOCKETS   sockets held open (default 200)
    PARLOR_SOAK_WARMUP    seconds of load not judged (default 60)
"""

import asyncio
import json
import os
import random
import sys
import time
import uuid

import aiohttp
import socketio

BASE = os.environ["PARLOR_SOAK_URL"]
PID = int(os.environ["PARLOR_SOAK_PID"])
SECONDS = int(os.environ.get("PARLOR_SOAK_SECONDS", "600"))
PEAK_SECONDS = int(os.environ.get("PARLOR_SOAK_PEAK_SECONDS", "20"))
SOCKETS = int(os.environ.get("PARLOR_SOAK_SOCKETS", "200"))
WINDOW = 30
WARMUP = int(os.environ.get("PARLOR_SOAK_WARMUP", "60"))
PASSWORD = "correct horse battery"
USERS = 40
CLIENT_CONNECTIONS = 64  # the requests' connection pool


def rss_kib():
    with open(f"/proc/{PID}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1])


PORT = int(BASE.rsplit(":", 1)[1].split("/")[0])


def descriptors():
    """(all open descriptors, the TCP sockets on the server's port: its listener and the
    connections it serves). The rest are its own: files, the database's and Redis's
    connections, pipes."""
    fds, inodes = 0, set()
    for fd in os.listdir(f"/proc/{PID}/fd"):
        try:
            target = os.readlink(f"/proc/{PID}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        fds += 1
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    served = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == PORT and fields[9] in inodes:
                    served += 1
    return fds, served


def pct(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


class Stats:
    def __init__(self):
        self.latencies, self.errors, self.deliveries, self.reconnects = [], [], 0, 0

    def take(self):
        taken = (self.latencies, self.errors, self.deliveries, self.reconnects)
        self.latencies, self.errors, self.deliveries, self.reconnects = [], [], 0, 0
        return taken


async def call(http, stats, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.perf_counter()
    try:
        async with http.request(method, BASE + path, headers=headers, **kwargs) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        stats.errors.append(f"{method} {path}: {err!r}")
        return None
    stats.latencies.append(time.perf_counter() - started)
    if status >= 400:
        stats.errors.append(f"{method} {path}: {status} {body[:200]!r}")
        return None
    return json.loads(body)["data"] if body else {}


async def setup(http, stats):
    people = []
    for _ in range(USERS):
        identifier = f"soak_{uuid.uuid4().hex[:12]}"
        data = await call(http, stats, "POST", "/api/v1/auth/register", json={"identifier": identifier,
                                                                               "password": PASSWORD})
        assert data, stats.errors
        people.append({"identifier": identifier, "id": data["user"]["id"], "access": data["access_token"],
                       "refresh": data["refresh_token"]})
    chats = []
    for i in range(0, USERS, 2):
        a, b = people[i], people[i + 1]
        data = await call(http, stats, "POST", "/api/v1/chats", a["access"], json={"type": "direct", "user_id": b["id"]})
        assert data, stats.errors
        chats.append((data["chat"]["id"], a, b))
    return people, chats


async def one_request(http, stats, people, chats):
    chat, a, b = random.choice(chats)
    who = random.choice((a, b))
    roll = random.random()
    if roll < 0.45:
        await call(http, stats, "POST", f"/api/v1/chats/{chat}/messages", who["access"],
                   json={"text": f"soak {uuid.uuid4().hex[:8]}", "client_id": uuid.uuid4().hex})
    elif roll < 0.80:
        await call(http, stats, "GET", f"/api/v1/chats/{chat}/messages?limit=50", who["access"])
    elif roll < 0.95:
        await call(http, stats, "GET", "/api/v1/chats", who["access"])
    else:
        person = random.choice(people)
        if person.get("busy"):
            return
        person["busy"] = True
        data = await call(http, stats, "POST", "/api/v1/auth/refresh", json={"refresh_token": person["refresh"]})
        if data:
            person["access"], person["refresh"] = data["access_token"], data["refresh_token"]
        person["busy"] = False


async def closed_loop(http, stats, people, chats, workers, seconds):
    deadline = time.monotonic() + seconds

    async def worker():
        while time.monotonic() < deadline:
            await one_request(http, stats, people, chats)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def open_loop(http, stats, people, chats, rate, seconds, stop):
    """`rate` requests a second, each started on schedule whatever the others do."""
    interval, started, n, pending = 1 / rate, time.monotonic(), 0, set()
    while time.monotonic() - started < seconds and not stop.is_set():
        due = started + n * interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one_request(http, stats, people, chats))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
    await asyncio.gather(*pending)


async def logins(http, stats, people, stop):
    while not stop.is_set():
        person = random.choice(people)
        await call(http, stats, "POST", "/api/v1/auth/login", json={"identifier": person["identifier"],
                                                                     "password": PASSWORD})
        await asyncio.sleep(1)


async def ws_socket(http, person, stats, stop):
    url = BASE.replace("http://", "ws://", 1) + "/api/v1/ws"
    while not stop.is_set():
        try:
            async with http.ws_connect(url, headers={"Authorization": f"Bearer {person['access']}"},
                                       heartbeat=None) as ws:
                lifetime = time.monotonic() + random.uniform(5, SOCKETS)  # about one reopen a second in all
                while not stop.is_set() and time.monotonic() < lifetime:
                    try:
                        message = await ws.receive(timeout=1)
                    except asyncio.TimeoutError:
                        continue
                    if message.type == aiohttp.WSMsgType.TEXT:
                        stats.deliveries += 1
                    elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        stats.errors.append(f"websocket closed: {message.data!r}")
                        break
        except aiohttp.ClientError as err:
            stats.errors.append(f"websocket: {err!r}")
            await asyncio.sleep(1)
        stats.reconnects += 1


async def sio_socket(person, stats, stop):
    while not stop.is_set():
        client = socketio.AsyncClient(reconnection=False)

        @client.on("*")
        async def any_event(event, data):
            stats.deliveries += 1

        try:
            await client.connect(BASE, auth={"token": person["access"]}, transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError as err:
            stats.errors.append(f"socket.io: {err!r}")
            await asyncio.sleep(1)
            continue
        lifetime = time.monotonic() + random.uniform(5, SOCKETS)
        while not stop.is_set() and time.monotonic() < lifetime and client.connected:
            await asyncio.sleep(0.5)
        if not client.connected and not stop.is_set():
            stats.errors.append("socket.io disconnected by the server")
        await client.disconnect()
        stats.reconnects += 1


async def main():
    connector = aiohttp.TCPConnector(limit=CLIENT_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=30)
    # Sockets get a session of their own: each WebSocket holds its connection for its whole life
    # and would otherwise starve the requests' pool.
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as sockets_http:
        stats = Stats()
        people, chats = await setup(http, stats)
        stats.take()

        # The peak: this client, 16 requests in flight, no sockets.
        await closed_loop(http, stats, people, chats, 16, 3)  # warm-up
        stats.take()
        started = time.monotonic()
        await closed_loop(http, stats, people, chats, 16, PEAK_SECONDS)
        latencies, errors, _, _ = stats.take()
        peak = len(latencies) / (time.monotonic() - started)
        assert not errors, errors[:5]
        rate = peak / 2
        print(f"   peak: {peak:.0f} requests/s (p99 {pct(latencies, 0.99):.1f} ms); soaking at {rate:.0f}/s "
              f"for {SECONDS} s with {SOCKETS} sockets and a login a second", flush=True)

        stop = asyncio.Event()
        # Tokens live two minutes (scripts/soak): refreshes in the mix keep them fresh; sockets
        # use the session's latest token when they reconnect.
        background = [asyncio.create_task(logins(http, stats, people, stop))]
        for i in range(SOCKETS):
            person = people[i % USERS]
            background.append(asyncio.create_task(
                ws_socket(sockets_http, person, stats, stop) if i % 2 else sio_socket(person, stats, stop)))
        load = asyncio.create_task(open_loop(http, stats, people, chats, rate, SECONDS, stop))
        series, began = [], time.monotonic()
        while not load.done():
            await asyncio.wait([load], timeout=WINDOW)
            latencies, errors, deliveries, reconnects = stats.take()
            t = round(time.monotonic() - began)
            fds, served = descriptors()
            window = {"t": t, "warmup": t <= WARMUP, "requests": len(latencies), "errors": len(errors),
                      "p50_ms": round(pct(latencies, 0.5), 1), "p99_ms": round(pct(latencies, 0.99), 1),
                      "rss_mib": round(rss_kib() / 1024, 1), "fds": fds, "served": served, "deliveries": deliveries,
                      "socket_reopens": reconnects}
            series.append(window)
            print("   " + json.dumps(window), flush=True)
            for error in errors[:3]:
                print(f"     error: {error}", flush=True)
        stop.set()
        await asyncio.gather(*background)

    # Judged: full windows after the warm-up (the last, partial window aside).
    judged = [w for w in series if not w["warmup"] and w["requests"] > 0.5 * rate * WINDOW] or series[-1:]
    base, last = judged[0], judged[-1]
    third = max(1, len(judged) // 3)
    p99_first = sum(w["p99_ms"] for w in judged[:third]) / third
    p99_last = sum(w["p99_ms"] for w in judged[-third:]) / third
    worst_p99 = max(w["p99_ms"] for w in judged)
    verdict = {
        "errors": sum(w["errors"] for w in series),
        "p99_first_third_ms": round(p99_first, 1), "p99_last_third_ms": round(p99_last, 1),
        "p99_worst_ms": worst_p99,
        "rss_mib": [base["rss_mib"], last["rss_mib"]], "fds": [base["fds"], last["fds"]],
        "deliveries": sum(w["deliveries"] for w in series), "requests": sum(w["requests"] for w in series),
    }
    print("soak: " + json.dumps(verdict))
    print("series: " + json.dumps(series))
    problems = []
    if verdict["errors"]:
        problems.append(f"{verdict['errors']} errors")
    if worst_p99 > 250:
        problems.append(f"a window's p99 reached {worst_p99} ms")
    if p99_last > 2 * p99_first + 5:
        problems.append(f"p99 climbed from {p99_first:.1f} to {p99_last:.1f} ms")
    if last["rss_mib"] > base["rss_mib"] * 1.10 + 2:
        problems.append(f"RSS grew {base['rss_mib']} → {last['rss_mib']} MiB")
    # Connections served follow the client: its pool keeps up to 64 open and opens more of them
    # after a slow moment, besides the sockets it holds. The server's own descriptors (files,
    # database and Redis connections, pipes) must not grow, and the connections it serves must
    # not outnumber what the client can hold open.
    own = [w["fds"] - w["served"] for w in judged]
    if max(own) > own[0] + 4:
        problems.append(f"the server's own descriptors grew {own[0]} → {max(own)}")
    most_served = max(w["served"] for w in judged)
    if most_served > CLIENT_CONNECTIONS + SOCKETS + 16:
        problems.append(f"{most_served} connections served, more than this client holds")
    if problems:
        print("soak failed: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


asyncio.run(main())
