"""Two instances, one PostgreSQL and one Redis: A and B must behave as one service."""

import asyncio
import json
import os
import time

import requests
import socketio
import websockets

from accounts import PASSWORD, PNG, bearer, register

A = os.environ["PARLOR_E2E_A"]
B = os.environ["PARLOR_E2E_B"]
REDIS = os.environ["PARLOR_E2E_REDIS"]
BUS = os.environ["PARLOR_E2E_BUS"]


class BusListener:
    """What the instances publish on the bus: Redis SUBSCRIBE spoken directly (RESP)."""

    async def __aenter__(self):
        host, port = REDIS.rsplit(":", 1)
        self.reader, self.writer = await asyncio.open_connection(host, int(port))
        self.writer.write(f"*2\r\n$9\r\nSUBSCRIBE\r\n${len(BUS)}\r\n{BUS}\r\n".encode())
        await self.writer.drain()
        await self.reply()  # the subscription's confirmation
        return self

    async def __aexit__(self, *exc):
        self.writer.close()

    async def reply(self):
        line = (await self.reader.readline()).rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"*":
            return [await self.reply() for _ in range(int(rest))]
        if kind == b"$":
            data = await self.reader.readexactly(int(rest) + 2)
            return data[:-2]
        return rest

    async def message(self, timeout=5):
        """The next bus message, parsed."""
        _, _, payload = await asyncio.wait_for(self.reply(), timeout)
        return json.loads(payload)


async def socketio_on(base, session):
    client = socketio.AsyncClient(reconnection=False)
    events = asyncio.Queue()
    for name in ("user.avatar_updated", "session.revoked", "user.deleted"):
        client.on(name, lambda data, name=name: events.put_nowait((name, data)))
    client.on("disconnect", lambda *reason: events.put_nowait(("disconnect", None)))
    await client.connect(base, auth={"token": session["access_token"]}, transports=["websocket"], wait_timeout=5)
    return client, events


async def websocket_on(base, session):
    url = base.replace("http://", "ws://", 1) + "/api/v1/ws"
    return await websockets.connect(url, additional_headers=bearer(session))


def test_an_avatar_uploaded_on_a_reaches_sockets_on_b():
    async def scenario():
        _, me = register(A)
        # B caches the account as it is now, without an avatar.
        before = requests.get(f"{B}/api/v1/users/{me['user']['id']}").json()["data"]["user"]
        assert before["avatar"] is None
        client, events = await socketio_on(B, me)
        ws = await websocket_on(B, me)
        upload = await asyncio.to_thread(
            requests.put, f"{A}/api/v1/me/avatar", headers=bearer(me), files={"file": ("a.png", PNG, "image/png")}
        )
        assert upload.status_code == 200, upload.text
        avatar = upload.json()["data"]["avatar"]

        name, data = await asyncio.wait_for(events.get(), 5)
        assert (name, data["avatar"]) == ("user.avatar_updated", avatar)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (frame["event"], frame["data"]["avatar"]) == ("user.avatar_updated", avatar)
        # B's HTTP side agrees at once: its cached copy of the user was dropped too.
        profile = requests.get(f"{B}/api/v1/users/{me['user']['id']}").json()["data"]["user"]
        assert profile["avatar"] == avatar
        await ws.close()
        await client.disconnect()

    asyncio.run(scenario())


def test_a_logout_on_a_refuses_the_token_and_closes_the_sockets_on_b_within_a_second():
    async def scenario():
        _, me = register(A)
        # B has the session cached as live.
        assert requests.get(f"{B}/api/v1/me", headers=bearer(me)).status_code == 200
        client, events = await socketio_on(B, me)
        ws = await websocket_on(B, me)

        started = time.monotonic()
        assert requests.post(f"{A}/api/v1/auth/logout", headers=bearer(me)).status_code == 200
        assert (await asyncio.wait_for(events.get(), 1))[0] == "session.revoked"
        assert (await asyncio.wait_for(events.get(), 1))[0] == "disconnect"
        frame = json.loads(await asyncio.wait_for(ws.recv(), 1))
        assert frame["event"] == "session.revoked"
        with_close = websockets.exceptions.ConnectionClosed
        try:
            await asyncio.wait_for(ws.recv(), 1)
            raise AssertionError("the WebSocket on B stayed open")
        except with_close as closed:
            assert (closed.rcvd.code, closed.rcvd.reason) == (4001, "session_revoked")
        assert time.monotonic() - started < 1.0

        refused = requests.get(f"{B}/api/v1/me", headers=bearer(me))
        assert refused.status_code == 401 and refused.json()["data"]["reason"] == "session_revoked"
        await client.shutdown()

    asyncio.run(scenario())


def test_deleting_the_account_on_a_kills_its_tokens_and_sockets_on_b():
    async def scenario():
        identifier, laptop = register(A)
        phone = requests.post(f"{B}/api/v1/auth/login", json={"identifier": identifier, "password": PASSWORD})
        phone = phone.json()["data"]
        for session in (laptop, phone):
            assert requests.get(f"{B}/api/v1/me", headers=bearer(session)).status_code == 200
        client, events = await socketio_on(B, phone)
        ws = await websocket_on(B, laptop)

        assert requests.delete(f"{A}/api/v1/me", headers=bearer(laptop)).status_code == 200
        assert (await asyncio.wait_for(events.get(), 1))[0] == "user.deleted"
        assert (await asyncio.wait_for(events.get(), 1))[0] == "disconnect"
        assert json.loads(await asyncio.wait_for(ws.recv(), 1))["event"] == "user.deleted"
        try:
            await asyncio.wait_for(ws.recv(), 1)
            raise AssertionError("the WebSocket on B stayed open")
        except websockets.exceptions.ConnectionClosed as closed:
            assert closed.rcvd.reason == "account_deleted"
        for session in (laptop, phone):
            assert requests.get(f"{B}/api/v1/me", headers=bearer(session)).status_code == 401
        assert requests.get(f"{B}/api/v1/users/{laptop['user']['id']}").status_code == 404
        await client.shutdown()

    asyncio.run(scenario())


def test_login_failures_count_across_instances():
    identifier, _ = register(A)
    statuses = []
    for attempt in range(11):
        base = A if attempt % 2 == 0 else B
        response = requests.post(f"{base}/api/v1/auth/login", json={"identifier": identifier, "password": "wrong guess"})
        statuses.append(response.status_code)
    # Ten failures in all, five on each instance, then both refuse.
    assert statuses[:10] == [401] * 10, statuses
    assert statuses[10] == 429, statuses
    on_b = requests.post(f"{B}/api/v1/auth/login", json={"identifier": identifier, "password": PASSWORD})
    assert on_b.status_code == 429 and int(on_b.headers["Retry-After"]) > 0


def test_a_message_sent_on_a_reaches_a_member_socket_on_b_and_a_removal_on_b_stops_the_next():
    async def scenario():
        _, alice = register(A)
        _, bob = register(B)
        created = requests.post(
            f"{A}/api/v1/chats",
            headers=bearer(alice),
            json={"type": "group", "title": "across", "member_ids": [bob["user"]["id"]]},
        )
        assert created.status_code == 201, created.text
        chat_id = created.json()["data"]["chat"]["id"]

        bob_on_b = socketio.AsyncClient(reconnection=False)
        heard = asyncio.Queue()
        for name in ("message.created", "chat.member_removed"):
            bob_on_b.on(name, lambda data, name=name: heard.put_nowait((name, data)))
        await bob_on_b.connect(B, auth={"token": bob["access_token"]}, transports=["websocket"], wait_timeout=5)
        alice_on_a = socketio.AsyncClient(reconnection=False)
        await alice_on_a.connect(A, auth={"token": alice["access_token"]}, transports=["websocket"], wait_timeout=5)

        async with BusListener() as bus:
            ack = await alice_on_a.call("message.send", {"chat_id": chat_id, "text": "from A"}, timeout=5)
            assert ack["status"] == "success", ack
            name, data = await asyncio.wait_for(heard.get(), 5)
            assert (name, data["message"]["id"], data["message"]["text"]) == ("message.created", ack["data"]["message"]["id"], "from A")
            # The bus carries the chat and its roster version, not its members' ids: B found
            # bob among the members itself.
            while (published := (await bus.message())["message"]).get("event", {}).get("event") != "message.created":
                pass
            audience = published["event"]["to"]
            assert list(audience) == ["members"] and audience["members"]["chat_id"] == chat_id, audience

        # Removed on B, while A keeps the chat's member list from the send: B's socket hears
        # the removal, then nothing more of the chat, though the next send is made on A.
        removed = requests.delete(f"{B}/api/v1/chats/{chat_id}/members/{bob['user']['id']}", headers=bearer(alice))
        assert removed.status_code == 200, removed.text
        name, data = await asyncio.wait_for(heard.get(), 5)
        assert (name, data["user_id"]) == ("chat.member_removed", bob["user"]["id"])
        await alice_on_a.call("message.send", {"chat_id": chat_id, "text": "after bob left"}, timeout=5)
        try:
            extra = await asyncio.wait_for(heard.get(), 0.5)
            raise AssertionError(f"bob heard {extra} after his removal")
        except asyncio.TimeoutError:
            pass
        await alice_on_a.shutdown()
        await bob_on_b.shutdown()

    asyncio.run(scenario())


def presence_of(base, viewer, user):
    response = requests.get(f"{base}/api/v1/presence", params={"user_ids": user["user"]["id"]}, headers=bearer(viewer))
    assert response.status_code == 200, response.text
    return response.json()["data"]["presence"][0]


async def next_presence_change(events, user):
    while True:
        name, data = await asyncio.wait_for(events.get(), 5)
        if name == "presence.changed" and data["user_id"] == user["user"]["id"]:
            return data


def test_a_socket_on_a_makes_its_user_online_for_a_member_on_b_and_closing_it_offline():
    async def scenario():
        _, alice = register(A)
        _, bob = register(B)
        created = requests.post(f"{A}/api/v1/chats", headers=bearer(alice), json={"type": "direct", "user_id": bob["user"]["id"]})
        assert created.status_code == 201, created.text
        bob_on_b = socketio.AsyncClient(reconnection=False)
        heard = asyncio.Queue()
        bob_on_b.on("presence.changed", lambda data: heard.put_nowait(("presence.changed", data)))
        await bob_on_b.connect(B, auth={"token": bob["access_token"]}, transports=["websocket"], wait_timeout=5)
        assert presence_of(B, bob, alice)["status"] == "offline"

        alice_on_a = await websocket_on(A, alice)
        assert (await next_presence_change(heard, alice))["status"] == "online"
        assert presence_of(B, bob, alice)["status"] == "online"
        assert presence_of(A, bob, alice)["status"] == "online"

        await alice_on_a.close()
        offline = await next_presence_change(heard, alice)
        assert offline["status"] == "offline" and offline["last_seen_at"], offline
        assert presence_of(B, bob, alice) == offline
        await bob_on_b.shutdown()

    asyncio.run(scenario())
