"""A rolling restart behind nginx while clients work: A is stopped with SIGTERM and started again,
then, once nginx takes A again (its `fail_timeout`, 10 s), B. Through nginx the whole time, four
senders post messages at 1.5 a second each, under the per-user rate (retrying, with the same
`client_id`, only what any client retries: a refused connection, 502, 503, 504), and twenty plain
WebSocket clients reconnect whenever they are closed. Then: no request failed, every socket was
told 1012 at least once and is connected again, each back within seconds, and every acknowledged
message is in the history.

    PARLOR_E2E_NGINX     nginx's base URL
    PARLOR_E2E_RESTART   a command that restarts one instance: `$PARLOR_E2E_RESTART a` (or b)
                         returns once the new process answers /healthz
"""

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
import uuid

import requests
import websockets

sys.path.insert(0, os.path.dirname(__file__))
from accounts import bearer, register  # noqa: E402

NGINX = os.environ["PARLOR_E2E_NGINX"]
RESTART = os.environ["PARLOR_E2E_RESTART"]
SENDERS, SOCKETS = 4, 20
RETRIED = {502, 503, 504}


def sender(session, chat, stop, acked, failures, retries):
    http = requests.Session()
    n = 0
    while not stop.is_set():
        n += 1
        time.sleep(0.65)
        body = {"text": f"restart {n}", "client_id": uuid.uuid4().hex}
        while True:
            try:
                response = http.post(f"{NGINX}/api/v1/chats/{chat}/messages", json=body, headers=bearer(session), timeout=10)
            except requests.ConnectionError:
                retries.append("connection")
                time.sleep(0.2)
                continue
            if response.status_code in RETRIED:
                retries.append(response.status_code)
                time.sleep(0.2)
                continue
            if response.status_code in (200, 201):
                acked.append((chat, response.json()["data"]["message"]["id"]))
            else:
                failures.append((response.status_code, response.text[:200]))
            break


async def socket_client(session, stop, record):
    url = NGINX.replace("http://", "ws://", 1) + "/api/v1/ws"
    closed_at = None
    while not stop.is_set():
        try:
            ws = await websockets.connect(url, additional_headers=bearer(session), open_timeout=5)
        except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake, asyncio.TimeoutError):
            await asyncio.sleep(0.1 + random.random() * 0.4)
            continue
        if closed_at is not None:
            record["gaps"].append(time.monotonic() - closed_at)
        record["connected"] = True
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 0.2)
                except asyncio.TimeoutError:
                    pass
        except websockets.ConnectionClosed as closed:
            record["closes"].append(closed.rcvd.code if closed.rcvd else None)
            record["connected"] = False
            closed_at = time.monotonic()
            # Backoff with jitter, as clients should after 1012.
            await asyncio.sleep(0.1 + random.random() * 0.4)
            continue
        await ws.close()


async def main():
    _, bob = register(NGINX)
    senders, chats = [], {}
    for _ in range(SENDERS):
        _, someone = register(NGINX)
        chat = requests.post(
            f"{NGINX}/api/v1/chats", headers=bearer(someone), json={"type": "direct", "user_id": bob["user"]["id"]})
        assert chat.status_code == 201, chat.text
        senders.append(someone)
        chats[chat.json()["data"]["chat"]["id"]] = someone
    alice = senders[0]

    stop = threading.Event()
    acked, failures, retries = [], [], []
    threads = [threading.Thread(target=sender, args=(session, chat, stop, acked, failures, retries))
               for chat, session in chats.items()]
    for thread in threads:
        thread.start()
    sockets_stop = asyncio.Event()
    records = [{"closes": [], "gaps": [], "connected": False} for _ in range(SOCKETS)]

    class Flag:  # the sockets' stop, readable like the threads' Event
        def is_set(self):
            return sockets_stop.is_set()

    tasks = [asyncio.create_task(socket_client(alice if i % 2 else bob, Flag(), records[i])) for i in range(SOCKETS)]
    await asyncio.sleep(1.5)
    assert all(r["connected"] for r in records), "not every socket connected before the restart"

    timings = []
    for name, then in (("a", 11), ("b", 2)):
        started = time.monotonic()
        await asyncio.to_thread(subprocess.run, [*RESTART.split(), name], check=True)
        timings.append((name, time.monotonic() - started))
        await asyncio.sleep(then)
    deadline = time.monotonic() + 10
    while not all(r["connected"] for r in records) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    sockets_stop.set()
    for thread in threads:
        thread.join()
    await asyncio.gather(*tasks)

    # Every acknowledged message, in the history read back through nginx.
    found = set()
    for chat, session in chats.items():
        query = {"limit": 100}
        while True:
            page = requests.get(f"{NGINX}/api/v1/chats/{chat}/messages", params=query, headers=bearer(session))
            assert page.status_code == 200, page.text
            data = page.json()["data"]
            found.update((chat, m["id"]) for m in data["messages"])
            if not data.get("next_before"):
                break
            query = {"limit": 100, "before": data["next_before"]}
    lost = set(acked) - found
    closes = [code for r in records for code in r["closes"]]
    gaps = sorted(gap for r in records for gap in r["gaps"])
    print(f"   rolling restart ({', '.join(f'{n.upper()} back in {t:.1f} s' for n, t in timings)}): "
          f"{len(acked)} messages acknowledged, {len(lost)} lost, {len(failures)} requests failed, "
          f"{len(retries)} retried ({', '.join(sorted({str(r) for r in retries})) or 'none'}); "
          f"{SOCKETS} sockets closed {len(closes)} times ({', '.join(sorted({str(c) for c in closes}))}), "
          f"all back: {all(r['connected'] for r in records)}, reconnect gap max {gaps[-1] if gaps else 0:.2f} s")
    assert not failures, failures[:5]
    assert not lost, f"acknowledged but not in the history: {sorted(lost)[:5]}"
    assert all(r["connected"] for r in records), "a socket did not come back"
    assert all(1012 in r["closes"] for r in records), [r["closes"] for r in records]
    assert set(closes) <= {1012}, f"sockets were closed otherwise than with 1012: {closes}"
    assert gaps and gaps[-1] < 5, f"a socket took {gaps[-1]:.2f} s to come back"


asyncio.run(main())
