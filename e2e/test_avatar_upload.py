"""Avatar upload over real HTTP with `requests`' own multipart encoder, and the files served."""

import base64
import os
import struct
import uuid
import zlib

import requests

BASE = os.environ["PARLOR_E2E_URL"]
PASSWORD = "correct horse battery"


def png(width, height, rgb):
    """A one-colour PNG, built by hand so the test needs no imaging library."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def token():
    username = f"e2e_{uuid.uuid4().hex[:12]}"
    response = requests.post(f"{BASE}/api/v1/auth/register", json={"identifier": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()["data"]["access_token"]


def test_multipart_then_base64_upload_and_the_served_files():
    headers = {"Authorization": f"Bearer {token()}"}
    # The declared name and type lie; the bytes decide.
    files = {"file": ("avatar.gif", png(300, 200, (200, 40, 40)), "image/gif")}
    first = requests.put(f"{BASE}/api/v1/me/avatar", headers=headers, files=files)
    assert first.status_code == 200, first.text
    avatar = first.json()["data"]["avatar"]
    assert set(avatar) == {"original", "50x50", "100x100", "400x400"}
    for url in avatar.values():
        served = requests.get(url)
        assert served.status_code == 200, url
        assert served.headers["Content-Type"] == "image/jpeg"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "immutable" in served.headers["Cache-Control"]
        assert served.content[:3] == b"\xff\xd8\xff"
        assert requests.get(url, headers={"If-None-Match": served.headers["ETag"]}).status_code == 304

    encoded = base64.b64encode(png(64, 64, (10, 10, 200))).decode()
    second = requests.put(f"{BASE}/api/v1/me/avatar", headers=headers, json={"image": f"data:image/png;base64,{encoded}"})
    assert second.status_code == 200, second.text
    assert requests.get(avatar["original"]).status_code == 404, "the replaced avatar's files are gone"
    assert requests.get(second.json()["data"]["url"]).status_code == 200
