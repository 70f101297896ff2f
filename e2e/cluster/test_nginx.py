"""nginx in front of the two instances, with the repository's deploy/nginx/parlor.conf.

NGINX is the only address a client uses; A and B are the instances themselves, used here to
raise events on one instance or the other. Parlor sets `x-request-id` on every answer it gives,
so an answer without one came from nginx itself (a file) or from the bucket.
"""

import asyncio
import json
import os
import re
import uuid

import requests
import socketio
import websockets

import accounts
from accounts import PASSWORD, PNG, bearer

NGINX = os.environ["PARLOR_E2E_NGINX"]
A = os.environ["PARLOR_E2E_A"]
B = os.environ["PARLOR_E2E_B"]
IMMUTABLE = "public, max-age=31536000, immutable"


def register(base=NGINX):
    return accounts.register(base)


def from_parlor(response):
    return "x-request-id" in response.headers


def served_by_nginx(url):
    """GETs a file through nginx and checks it came from nginx or the bucket, not an instance."""
    assert url.startswith(f"{NGINX}/"), url
    response = requests.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    assert not from_parlor(response), f"{url} was answered by an instance: {dict(response.headers)}"
    assert response.headers.get("server", "").startswith("nginx")
    return response


def test_login_and_the_api_go_through_nginx_to_the_instances():
    identifier, _ = register()
    login = requests.post(f"{NGINX}/api/v1/auth/login", json={"identifier": identifier, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert from_parlor(login)
    session = login.json()["data"]
    me = requests.get(f"{NGINX}/api/v1/me", headers=bearer(session))
    assert me.status_code == 200, me.text
    assert me.json()["data"]["user"]["username"] == identifier
    # The refresh token works through nginx too, on whichever instance answers.
    refreshed = requests.post(f"{NGINX}/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


def test_an_avatar_uploaded_through_nginx_is_then_served_by_nginx_from_the_bucket():
    _, me = register()
    upload = requests.put(f"{NGINX}/api/v1/me/avatar", headers=bearer(me), files={"file": ("a.png", PNG, "image/png")})
    assert upload.status_code == 200, upload.text
    avatar = upload.json()["data"]["avatar"]
    urls = [url for url in json.dumps(avatar).split('"') if url.startswith("http")]
    assert len(urls) >= 2, avatar
    for url in urls:
        assert url.startswith(f"{NGINX}/media/"), url
        response = served_by_nginx(url)
        assert response.headers["content-type"] == "image/jpeg"
        assert response.content[:3] == b"\xff\xd8\xff"
        # Parlor's headers for media, once each (the bucket's own Cache-Control is replaced).
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert "content-disposition" not in response.headers
    # The bucket answers objects only: no listing, nothing made up, nothing written.
    assert requests.get(f"{NGINX}/media/").status_code == 404
    assert requests.get(f"{NGINX}/media/avatars/{uuid.uuid4()}/x/original.jpg").status_code == 404
    # (nginx refuses other methods; the refusal, like the bucket's, reads as "no such file").
    assert requests.put(urls[0], data=b"overwritten").status_code == 404
    assert requests.delete(urls[0]).status_code == 404
    assert requests.get(urls[0]).content[:3] == b"\xff\xd8\xff"


def test_an_attached_file_opens_through_nginx_only_with_its_signed_link():
    _, me = register()
    upload = requests.post(
        f"{NGINX}/api/v1/attachments", headers=bearer(me), files={"file": ("page.html", b"<script>alert(1)</script>", "text/html")}
    )
    assert upload.status_code == 201, upload.text
    attachment = upload.json()["data"]["attachment"]
    assert attachment["type"] == "file"
    url = attachment["url"]
    assert url.startswith(f"{NGINX}/media/attachments/") and "signature=" in url, url
    # An instance checks the link, then streams the file from the bucket with its own headers.
    response = requests.get(url)
    assert response.status_code == 200, response.text
    assert from_parlor(response)
    assert response.content == b"<script>alert(1)</script>"
    assert response.headers["content-disposition"] == "attachment"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"].startswith("private, max-age="), response.headers["cache-control"]
    # Without its query, or by another spelling of the path, nothing comes from the bucket.
    bare = url.split("?")[0]
    for attempt in [bare, bare.replace("/media/attachments/", "/media/avatars/../attachments/"),
                    bare.replace("/media/attachments/", "/media/%61ttachments/"),
                    bare.replace("/media/attachments/", "/media//attachments/")]:
        refused = requests.get(attempt)
        assert refused.status_code in (403, 404), (attempt, refused.status_code, refused.text[:200])
        assert refused.content != b"<script>alert(1)</script>"
    refused = requests.get(bare)
    assert refused.status_code == 403 and refused.json()["data"]["reason"] == "media_link_invalid", refused.text


def test_a_body_over_the_limit_is_refused_by_nginx_with_a_jsend_fail():
    _, me = register()
    big = b"\0" * (27 * 1024 * 1024)
    response = requests.post(f"{NGINX}/api/v1/attachments", headers=bearer(me), files={"file": ("big.bin", big)})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "status": "fail",
        "data": {"reason": "body_too_large", "message": "the request body is too large"},
    }


def test_the_sites_static_files_are_served_by_nginx_from_the_exported_directory():
    page = requests.get(f"{NGINX}/login")
    assert page.status_code == 200 and from_parlor(page)
    linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert any(path.endswith(".css") for path in linked), linked
    for path in linked:
        response = served_by_nginx(f"{NGINX}{path}")
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.content == requests.get(f"{A}{path}").content
    css = next(path for path in linked if path.endswith(".css"))
    assert served_by_nginx(f"{NGINX}{css}").headers["content-type"].startswith("text/css")
    # A name the export does not hold is asked of an instance, which knows no such file either.
    missing = requests.get(f"{NGINX}/static/site.000000000000.css")
    assert missing.status_code == 404 and from_parlor(missing)


def test_socketio_on_polling_and_on_websocket_through_nginx_hears_events_raised_on_either_instance():
    async def scenario():
        _, me = register()
        clients, queues = [], []
        # Polling is a run of separate requests of one session: each must reach the instance that
        # holds it, or the instance answers "unknown session" (nginx's ip_hash keeps them together).
        for transports in (["polling"], ["websocket"]):
            client = socketio.AsyncClient(reconnection=False)
            heard = asyncio.Queue()
            client.on("user.avatar_updated", lambda data, heard=heard: heard.put_nowait(data))
            await client.connect(NGINX, auth={"token": me["access_token"]}, transports=transports, wait_timeout=5)
            assert client.transport() == transports[0]
            clients.append(client)
            queues.append(heard)
        for instance in (A, B):
            upload = await asyncio.to_thread(
                requests.put, f"{instance}/api/v1/me/avatar", headers=bearer(me), files={"file": ("a.png", PNG, "image/png")}
            )
            assert upload.status_code == 200, upload.text
            avatar = upload.json()["data"]["avatar"]
            for heard in queues:
                data = await asyncio.wait_for(heard.get(), 5)
                assert data["avatar"] == avatar
        for client in clients:
            assert client.connected
            await client.shutdown()

    asyncio.run(scenario())


def test_a_plain_websocket_through_nginx_hears_messages_sent_through_either_instance():
    async def scenario():
        _, alice = register()
        _, bob = register()
        created = requests.post(f"{NGINX}/api/v1/chats", headers=bearer(alice), json={"type": "direct", "user_id": bob["user"]["id"]})
        assert created.status_code == 201, created.text
        chat_id = created.json()["data"]["chat"]["id"]
        url = NGINX.replace("http://", "ws://", 1) + "/api/v1/ws"
        async with websockets.connect(url, additional_headers=bearer(bob)) as socket:
            # One of the two sends is on the instance nginx did not pick for this socket.
            for instance in (A, B):
                text = f"through {instance}"
                sent = await asyncio.to_thread(
                    requests.post, f"{instance}/api/v1/chats/{chat_id}/messages", headers=bearer(alice), json={"type": "text", "text": text}
                )
                assert sent.status_code == 201, sent.text
                while True:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
                    if frame["event"] == "message.created":
                        break
                assert frame["data"]["message"]["text"] == text

    asyncio.run(scenario())
