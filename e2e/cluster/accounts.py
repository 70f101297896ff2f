"""What both cluster suites need: fresh accounts, their bearer header, and a tiny picture."""

import uuid

import requests

PASSWORD = "correct horse battery"
# A 1×1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def register(base):
    """A new account registered through `base`: its identifier and the session's data."""
    identifier = f"cl_{uuid.uuid4().hex[:12]}"
    response = requests.post(f"{base}/api/v1/auth/register", json={"identifier": identifier, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return identifier, response.json()["data"]


def bearer(session):
    return {"Authorization": f"Bearer {session['access_token']}"}
