"""Crash safety: `parlor serve` is killed with SIGKILL in the middle of a send load, restarted on
the same data, and checked. Run by `scripts/crash-check`, once per backend.

Each round: four HTTP senders and four Socket.IO senders post messages into direct chats and one
group (each message with its own `client_id`), and one client replaces its avatar over and over;
after a random 1–3 s the server is killed. Then, with the server started again:

- every message whose send was acknowledged (201, or a Socket.IO ack with `status: success`) is
  in the history, with the text it was sent with;
- nothing unacknowledged is half-visible: each message in the history was sent by a client, is
  whole (its text is the one sent under its `client_id`), appears once, and is the chat's
  `last_message` if newest; sending an unacknowledged message again with its `client_id` gives
  the one stored, never a second copy;
- unread counts agree with the messages: the receiving member never reads, so their
  `unread_count` is the number of messages of others in the history;
- no media object is orphaned: every stored object's prefix is a user's avatar, an attachment's,
  or queued for collection in `media_garbage`.

    PARLOR_BIN            the server binary
    PARLOR_CRASH_DATA     its data directory (SQLite file and media)
    PARLOR_CRASH_PORT     its port
    PARLOR_CRASH_DB       optional: a postgres:// URL (else SQLite in the data directory)
    PARLOR_CRASH_ROUNDS   kills (default 3)
"""

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict

import requests
import socketio

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))
from accounts import PNG, bearer, register  # noqa: E402

BIN = os.environ["PARLOR_BIN"]
DATA = os.environ["PARLOR_CRASH_DATA"]
PORT = int(os.environ["PARLOR_CRASH_PORT"])
DB = os.environ.get("PARLOR_CRASH_DB")
ROUNDS = int(os.environ.get("PARLOR_CRASH_ROUNDS", "3"))
BASE = f"http://127.0.0.1:{PORT}"
HTTP_SENDERS, SIO_SENDERS = 4, 4


def start():
    env = dict(os.environ, PARLOR_BIND=f"127.0.0.1:{PORT}", PARLOR_DATA_DIR=DATA, PARLOR_CONFIG="/nonexistent.toml",
               PARLOR_LIMITS__MESSAGES_PER_MINUTE="1000000", PARLOR_LIMITS__UPLOADS_PER_HOUR="1000000",
               PARLOR_LIMITS__REGISTRATIONS_PER_HOUR="1000000", PARLOR_REALTIME__COMMANDS_PER_SECOND="1000")
    if DB:
        env["PARLOR_DATABASE_URL"] = DB
    log = open(os.path.join(DATA, "server.log"), "ab")
    process = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            if requests.get(f"{BASE}/healthz", timeout=1).status_code == 200:
                return process
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"parlor did not start; see {DATA}/server.log")


class Ledger:
    """What the clients sent and what the server acknowledged, by `client_id`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}  # client_id -> (chat, text)
        self.acked = {}  # client_id -> message id

    def send(self, chat, text):
        client_id = uuid.uuid4().hex
        with self.lock:
            self.sent[client_id] = (chat, text)
        return client_id

    def ack(self, client_id, message_id):
        with self.lock:
            self.acked[client_id] = message_id


def http_sender(session, chat, ledger, stop):
    http = requests.Session()
    n = 0
    while not stop.is_set():
        n += 1
        text = f"http {uuid.uuid4().hex[:6]} {n}"
        client_id = ledger.send(chat, text)
        try:
            response = http.post(f"{BASE}/api/v1/chats/{chat}/messages", headers=bearer(session),
                                 json={"text": text, "client_id": client_id}, timeout=5)
        except requests.RequestException:
            return  # the server is gone
        if response.status_code == 201:
            ledger.ack(client_id, response.json()["data"]["message"]["id"])
        else:
            raise AssertionError(f"a send was refused: {response.status_code} {response.text[:200]}")


async def sio_sender(session, chat, ledger, stop):
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(BASE, auth={"token": session["access_token"]}, transports=["websocket"], wait_timeout=5)
    n = 0
    try:
        while not stop.is_set() and client.connected:
            n += 1
            text = f"sio {uuid.uuid4().hex[:6]} {n}"
            client_id = ledger.send(chat, text)
            try:
                ack = await client.call("message.send", {"chat_id": chat, "text": text, "client_id": client_id},
                                        timeout=5)
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
                    socketio.exceptions.DisconnectedError):
                return
            if ack.get("status") == "success":
                ledger.ack(client_id, ack["data"]["message"]["id"])
            else:
                raise AssertionError(f"a socket send was refused: {ack}")
    finally:
        try:
            await client.disconnect()
        except Exception:  # noqa: BLE001 - the server was killed under it
            pass


def avatar_changer(session, stop, uploads):
    http = requests.Session()
    while not stop.is_set():
        try:
            response = http.put(f"{BASE}/api/v1/me/avatar", headers=bearer(session),
                                files={"file": ("a.png", PNG, "image/png")}, timeout=5)
        except requests.RequestException:
            return
        assert response.status_code == 200, response.text[:200]
        uploads.append(1)


def login(identifier):
    response = requests.post(f"{BASE}/api/v1/auth/login", json={"identifier": identifier,
                                                                "password": "correct horse battery"})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def history(session, chat):
    messages, query = [], {"limit": 100}
    while True:
        page = requests.get(f"{BASE}/api/v1/chats/{chat}/messages", params=query, headers=bearer(session))
        assert page.status_code == 200, page.text
        data = page.json()["data"]
        messages += data["messages"]
        if not data.get("next_before"):
            return messages
        query = {"limit": 100, "before": data["next_before"]}


def stored_prefixes():
    """The prefix (`avatars/<user>/<version>`, `attachments/<id>`) of every stored object."""
    prefixes = set()
    root = os.path.join(DATA, "media")
    for directory, _, files in os.walk(root):
        for name in files:
            if name.startswith("."):
                continue  # a temporary file of a write in progress
            key = os.path.relpath(os.path.join(directory, name), root)
            parts = key.split("/")
            prefixes.add("/".join(parts[:3]) if parts[0] == "avatars" else "/".join(parts[:2]))
    return prefixes


def query(sql):
    if DB:
        out = subprocess.run(["psql", DB, "-Atc", sql], check=True, capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if line]
    with sqlite3.connect(os.path.join(DATA, "parlor.db")) as db:
        return [row[0] for row in db.execute(sql)]


def accounted_prefixes():
    return (set(query("select avatar_key from users where avatar_key is not null"))
            | set(query("select storage_key from attachments"))
            | set(query("select prefix from media_garbage")))


async def one_round(number, people, chats, reader):
    """Load, kill, restart, check. Returns the round's figures."""
    process = start()
    # Sessions are made anew each round: tokens survive a restart, but this also checks login.
    sessions = {name: login(identifier) for name, identifier in people.items()}
    ledger, stop, uploads = Ledger(), threading.Event(), []
    threads = [threading.Thread(target=http_sender, args=(sessions[sender], chat, ledger, stop), daemon=True)
               for chat, sender in list(chats.items())[:HTTP_SENDERS]]
    threads.append(threading.Thread(target=avatar_changer, args=(sessions["avatar"], stop, uploads), daemon=True))
    for thread in threads:
        thread.start()
    sio_stop = asyncio.Event()

    class Flag:
        def is_set(self):
            return sio_stop.is_set()

    tasks = [asyncio.create_task(sio_sender(sessions[sender], chat, ledger, Flag()))
             for chat, sender in list(chats.items())[HTTP_SENDERS:]]
    await asyncio.sleep(1 + 2 * random.random())
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_with = (len(ledger.sent), len(ledger.acked))
    stop.set()
    sio_stop.set()
    for thread in threads:
        thread.join(10)
    await asyncio.gather(*tasks, return_exceptions=False)

    process = start()
    try:
        reader_session = login(reader)
        texts = {}
        for chat in chats:
            messages = history(reader_session, chat)
            ids = [m["id"] for m in messages]
            assert len(ids) == len(set(ids)), f"a message appears twice in {chat}"
            for m in messages:
                texts[m["id"]] = m
        by_client = {m["client_id"]: m for m in texts.values() if m.get("client_id")}
        with ledger.lock:
            sent, acked = dict(ledger.sent), dict(ledger.acked)
        lost = [cid for cid, mid in acked.items() if mid not in texts]
        assert not lost, f"{len(lost)} acknowledged messages are not in the history, e.g. {lost[:3]}"
        for cid, mid in acked.items():
            assert texts[mid]["text"] == sent[cid][1], f"message {mid} lost its text"
        for cid, message in by_client.items():
            if cid in sent:
                assert message["text"] == sent[cid][1] and message["chat_id"] == sent[cid][0], message
        unacked = [cid for cid in sent if cid not in acked]
        stored_unacked = [cid for cid in unacked if cid in by_client]

        # The unread counts of the member who never reads.
        listing = requests.get(f"{BASE}/api/v1/chats", headers=bearer(reader_session))
        assert listing.status_code == 200, listing.text
        me = reader_session["user"]["id"]
        unread = {c["id"]: c["unread_count"] for c in listing.json()["data"]["chats"]}
        for chat in chats:
            messages = [m for m in texts.values() if m["chat_id"] == chat]
            others = sum(1 for m in messages if (m.get("author") or {}).get("id") != me)
            assert unread[chat] == others, f"unread {unread[chat]} but {others} messages of others in {chat}"
            newest = max(messages, key=lambda m: (m["created_at"], m["id"]), default=None)
            last = next(c for c in listing.json()["data"]["chats"] if c["id"] == chat).get("last_message")
            assert (last or {}).get("id") == (newest or {}).get("id"), f"last_message of {chat} is not its newest"

        # A client retrying what it never heard back about gets the one stored, never a copy.
        retried = 0
        for cid in random.sample(unacked, min(20, len(unacked))):
            chat, text = sent[cid]
            session = sessions[chats[chat]]
            session = login(people[chats[chat]])
            response = requests.post(f"{BASE}/api/v1/chats/{chat}/messages", headers=bearer(session),
                                     json={"text": text, "client_id": cid})
            assert response.status_code in (200, 201), response.text
            if cid in by_client:
                assert response.json()["data"]["message"]["id"] == by_client[cid]["id"], "a retry made a copy"
            retried += 1

        orphans = stored_prefixes() - accounted_prefixes()
        assert not orphans, f"media objects no row accounts for: {sorted(orphans)[:5]}"
        return {"sent": killed_with[0], "acked": len(acked), "found": len(acked) - len(lost),
                "unacked_stored": len(stored_unacked), "unacked": len(unacked), "retried": retried,
                "avatars": len(uploads), "messages": len(texts)}
    finally:
        process.terminate()
        process.wait()


async def main():
    os.makedirs(DATA, exist_ok=True)
    process = start()
    people, chats = {}, {}
    reader_identifier, reader = register(BASE)
    for i in range(HTTP_SENDERS + SIO_SENDERS):
        identifier, someone = register(BASE)
        people[f"s{i}"] = identifier
        if i < HTTP_SENDERS + SIO_SENDERS - 1:
            response = requests.post(f"{BASE}/api/v1/chats", headers=bearer(someone),
                                     json={"type": "direct", "user_id": reader["user"]["id"]})
        else:
            response = requests.post(f"{BASE}/api/v1/chats", headers=bearer(someone),
                                     json={"type": "group", "title": "crash", "member_ids": [reader["user"]["id"]]})
        assert response.status_code == 201, response.text
        chats[response.json()["data"]["chat"]["id"]] = f"s{i}"
    people["avatar"], _ = register(BASE)
    process.terminate()
    process.wait()

    backend = "PostgreSQL" if DB else "SQLite"
    totals = defaultdict(int)
    for number in range(1, ROUNDS + 1):
        figures = await one_round(number, people, chats, reader_identifier)
        for key, value in figures.items():
            totals[key] += value
        print(f"   {backend} kill {number}: {figures['acked']} sends acknowledged, {figures['found']} found; "
              f"{figures['unacked']} in flight, {figures['unacked_stored']} of them stored whole, none half; "
              f"{figures['retried']} retried without a copy; {figures['avatars']} avatars uploaded; "
              f"history {figures['messages']}; unread counts and last messages agree; no orphaned media",
              flush=True)
    print(f"crash-check {backend}: {ROUNDS} SIGKILLs, {totals['acked']} acknowledged sends, "
          f"{totals['acked'] - totals['found']} lost")


asyncio.run(main())
