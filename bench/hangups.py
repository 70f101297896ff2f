"""Hang-up load for bench/hangups.sh, against a running Parlor.

    hangups.py storm BASE_URL HANGUPS ACKED STATE   two users, a group, ACKED messages, then
                                                    HANGUPS requests whose clients close the
                                                    connection 0-10 ms after sending
    hangups.py like BASE_URL STATE                  the second user likes each of the ACKED
                                                    messages, every like acknowledged

STATE is a JSON file the first call writes and the second reads. Each prints one JSON line.
"""

import asyncio
import json
import random
import sys
import urllib.request
from urllib.parse import urlparse

PASSWORD = "correct horse battery"


def api(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + "/api/v1" + path, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(request, data) as response:
        return json.load(response)["data"]


def person(base, name):
    data = api(base, "POST", "/auth/register", {"identifier": name, "password": PASSWORD})
    return data["user"]["id"], data["access_token"]


async def hang_up(host, port, method, path, body, token, after):
    """Sends one request and closes the connection `after` seconds later, answered or not."""
    reader, writer = await asyncio.open_connection(host, port)
    payload = json.dumps(body).encode()
    head = (
        f"{method} /api/v1{path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
    )
    writer.write(head.encode() + payload)
    await writer.drain()
    await asyncio.sleep(after)
    writer.transport.abort()


async def storm(base, hangups, alice, bob, chat, target):
    url = urlparse(base)
    limit = asyncio.Semaphore(16)
    rng = random.Random(7)

    async def one(i):
        kind = i % 3
        if kind == 0:
            args = ("POST", f"/chats/{chat}/messages", {"text": f"hung up {i}"}, alice)
        elif kind == 1:
            args = ("PUT" if i % 2 else "DELETE", f"/chats/{chat}/messages/{target}/like", {}, bob)
        else:
            args = ("PATCH", "/me", {"first_name": f"N{i}"}, alice)
        async with limit:
            await hang_up(url.hostname, url.port, *args, after=rng.uniform(0, 0.01))

    await asyncio.gather(*(one(i) for i in range(hangups)))


def main():
    mode, base = sys.argv[1], sys.argv[2]
    if mode == "storm":
        hangups, acked, state = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        (_, alice), (bob_id, bob) = person(base, "alice"), person(base, "bob")
        body = {"type": "group", "title": "Hang-ups", "member_ids": [bob_id]}
        chat = api(base, "POST", "/chats", body, alice)["chat"]["id"]
        ids = [
            api(base, "POST", f"/chats/{chat}/messages", {"text": f"acked {i}"}, alice)["message"]["id"]
            for i in range(acked)
        ]
        asyncio.run(storm(base, hangups, alice, bob, chat, ids[0]))
        with open(state, "w") as f:
            json.dump({"chat_id": chat, "bob_id": bob_id, "bob": bob, "ids": ids}, f)
        print(json.dumps({"hung_up": hangups}))
    else:
        with open(sys.argv[3]) as f:
            state = json.load(f)
        for message in state["ids"]:
            api(base, "PUT", f"/chats/{state['chat_id']}/messages/{message}/like", None, state["bob"])
        print(json.dumps({"likes_acknowledged": len(state["ids"]), "bob_id": state["bob_id"]}))


if __name__ == "__main__":
    main()
