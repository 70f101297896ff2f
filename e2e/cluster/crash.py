"""Presence survives a crash: a user whose only socket is on instance A is online for a member
connected to B; after A is killed with SIGKILL (no clean shutdown, so A withdraws nothing), B must
report them offline, and tell the member, within `realtime.presence_expiry_secs`.

    PARLOR_E2E_A, PARLOR_E2E_B    the instances' base URLs
    PARLOR_E2E_A_PID              A's process, to kill
    PARLOR_E2E_PRESENCE_EXPIRY    the expiry both instances were started with, seconds
"""

import asyncio
import json
import os
import signal
import sys
import time

import requests
import websockets

sys.path.insert(0, os.path.dirname(__file__))
from accounts import bearer, register  # noqa: E402

A, B = os.environ["PARLOR_E2E_A"], os.environ["PARLOR_E2E_B"]
A_PID = int(os.environ["PARLOR_E2E_A_PID"])
EXPIRY = float(os.environ["PARLOR_E2E_PRESENCE_EXPIRY"])


def status(viewer, user):
    response = requests.get(f"{B}/api/v1/presence", params={"user_ids": user["user"]["id"]}, headers=bearer(viewer))
    assert response.status_code == 200, response.text
    return response.json()["data"]["presence"][0]


async def main():
    _, alice = register(B)
    _, bob = register(B)
    chat = requests.post(f"{B}/api/v1/chats", headers=bearer(alice), json={"type": "direct", "user_id": bob["user"]["id"]})
    assert chat.status_code == 201, chat.text
    ws_url = lambda base: base.replace("http://", "ws://", 1) + "/api/v1/ws"  # noqa: E731
    bob_on_b = await websockets.connect(ws_url(B), additional_headers=bearer(bob))
    alice_on_a = await websockets.connect(ws_url(A), additional_headers=bearer(alice))
    deadline = time.monotonic() + 5
    while status(bob, alice)["status"] != "online":
        assert time.monotonic() < deadline, "alice never came online on B"
        await asyncio.sleep(0.05)

    os.kill(A_PID, signal.SIGKILL)
    killed = time.monotonic()
    heard = None
    while heard is None:
        frame = json.loads(await asyncio.wait_for(bob_on_b.recv(), EXPIRY + 5))
        if frame["event"] == "presence.changed" and frame["data"]["user_id"] == alice["user"]["id"]:
            if frame["data"]["status"] == "offline":
                heard = time.monotonic() - killed
    view = status(bob, alice)
    assert view["status"] == "offline" and view["last_seen_at"], view
    print(f"   A killed (SIGKILL): B told the member alice is offline after {heard:.2f} s "
          f"(expiry {EXPIRY:g} s); GET /presence on B: {view['status']}, last_seen_at {view['last_seen_at']}")
    assert heard <= EXPIRY + 0.5, f"offline after {heard:.2f} s, more than the {EXPIRY:g} s expiry"
    del alice_on_a  # its connection died with A
    await bob_on_b.close()


asyncio.run(main())
