"""Live events with the official python-socketio client and the `websockets` library."""

import asyncio
import json
import os
import uuid

import requests
import socketio
import websockets

from test_avatar_upload import png

BASE = os.environ["PARLOR_E2E_URL"]
WS_BASE = BASE.replace("http://", "ws://", 1)
PASSWORD = "correct horse battery"


def register():
    username = f"py_{uuid.uuid4().hex[:12]}"
    response = requests.post(f"{BASE}/api/v1/auth/register", json={"identifier": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return username, response.json()["data"]


def upload_avatar(access_token):
    files = {"file": ("a.png", png(20, 20, (0, 128, 0)), "image/png")}
    response = requests.put(
        f"{BASE}/api/v1/me/avatar", headers={"Authorization": f"Bearer {access_token}"}, files=files
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["avatar"]


async def connected_client(access_token, transports):
    client = socketio.AsyncClient(reconnection=False)
    heard = {name: asyncio.Queue() for name in ("user.avatar_updated", "session.revoked", "disconnect")}
    client.on("user.avatar_updated", heard["user.avatar_updated"].put)
    client.on("session.revoked", heard["session.revoked"].put)

    async def on_disconnect(reason=None):
        await heard["disconnect"].put(reason)

    client.on("disconnect", on_disconnect)
    await client.connect(BASE, auth={"token": access_token}, transports=transports, wait_timeout=5)
    return client, heard


def test_python_socketio_hears_another_devices_avatar_and_is_closed_on_logout():
    async def scenario():
        username, laptop = register()
        phone = requests.post(f"{BASE}/api/v1/auth/login", json={"identifier": username, "password": PASSWORD})
        phone = phone.json()["data"]
        client, heard = await connected_client(phone["access_token"], ["websocket"])
        polling, polling_heard = await connected_client(phone["access_token"], ["polling"])

        avatar = await asyncio.to_thread(upload_avatar, laptop["access_token"])
        for queue in (heard, polling_heard):
            event = await asyncio.wait_for(queue["user.avatar_updated"].get(), 5)
            assert event["user_id"] == laptop["user"]["id"]
            assert event["avatar"] == avatar

        await asyncio.to_thread(
            requests.post, f"{BASE}/api/v1/auth/logout", headers={"Authorization": f"Bearer {phone['access_token']}"}
        )
        for queue in (heard, polling_heard):
            notice = await asyncio.wait_for(queue["session.revoked"].get(), 5)
            assert isinstance(notice["session_id"], str)
            await asyncio.wait_for(queue["disconnect"].get(), 5)
        assert not client.connected and not polling.connected
        await client.shutdown()
        await polling.shutdown()

    asyncio.run(scenario())


def test_python_socketio_refusal_carries_the_reason():
    async def scenario():
        client = socketio.AsyncClient(reconnection=False)
        refusals = asyncio.Queue()
        client.on("connect_error", refusals.put)
        try:
            await client.connect(BASE, auth={"token": "forged"}, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            pass
        else:
            raise AssertionError("a forged token connected")
        refusal = await asyncio.wait_for(refusals.get(), 5)
        assert refusal["message"].startswith("invalid_token:"), refusal
        await client.shutdown()

    asyncio.run(scenario())


def test_websockets_client_gets_json_frames_and_error_replies():
    async def scenario():
        _, me = register()
        async with websockets.connect(
            f"{WS_BASE}/api/v1/ws", additional_headers={"Authorization": f"Bearer {me['access_token']}"}
        ) as ws:
            await ws.send(json.dumps({"event": "nonsense", "data": {}}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply == {"event": "error", "data": {"reason": "unknown_event", "message": "no such event: `nonsense`"}}
            avatar = await asyncio.to_thread(upload_avatar, me["access_token"])
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["event"] == "user.avatar_updated" and frame["data"]["avatar"] == avatar
            # The keep-alive: the server answers our ping like any WebSocket peer.
            await asyncio.wait_for(await ws.ping(), 5)

    asyncio.run(scenario())
