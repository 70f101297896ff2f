"""Parlor against third-party clients: authlib's OAuth 2.0 client and openapi-spec-validator."""

import glob
import json
import os
import uuid

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from openapi_spec_validator import validate

BASE = os.environ["PARLOR_E2E_URL"]
DATA_DIR = os.environ["PARLOR_E2E_DATA_DIR"]
TOKEN_URL = f"{BASE}/oauth/token"
REVOKE_URL = f"{BASE}/oauth/revoke"
PASSWORD = "correct horse battery"


@pytest.fixture
def account():
    username = f"e2e_{uuid.uuid4().hex[:12]}"
    response = requests.post(f"{BASE}/api/v1/auth/register", json={"identifier": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "success"
    return username


def client():
    # A public client: Parlor accepts the client id and has no secret to check.
    return OAuth2Session(client_id="parlor-e2e", token_endpoint_auth_method="none")


def test_password_grant_then_api_call_then_refresh_then_revoke(account):
    session = client()
    token = session.fetch_token(TOKEN_URL, username=account, password=PASSWORD)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    assert "access_token" in token and "refresh_token" in token

    me = session.get(f"{BASE}/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["data"]["user"]["username"] == account

    old_refresh = token["refresh_token"]
    refreshed = session.refresh_token(TOKEN_URL, refresh_token=old_refresh)
    assert refreshed["refresh_token"] != old_refresh
    assert session.get(f"{BASE}/api/v1/me").status_code == 200

    # Presented again at once, it is its holder racing itself (auth.refresh_reuse_grace_secs):
    # refused, and the session lives.
    again = requests.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": old_refresh})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert session.get(f"{BASE}/api/v1/me").status_code == 200

    # Once the session has rotated again, replaying the first token is a reuse: refused, and the
    # session ends (RFC 9700).
    session.refresh_token(TOKEN_URL, refresh_token=refreshed["refresh_token"])
    replay = requests.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": old_refresh})
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    gone = session.get(f"{BASE}/api/v1/me")
    assert gone.status_code == 401
    assert gone.json()["data"]["reason"] == "session_revoked"


def test_revocation_with_the_client_library(account):
    session = client()
    token = session.fetch_token(TOKEN_URL, username=account, password=PASSWORD)
    revoked = session.revoke_token(REVOKE_URL, token=token["refresh_token"], token_type_hint="refresh_token")
    assert revoked.status_code == 200
    assert session.get(f"{BASE}/api/v1/me").status_code == 401


def test_wrong_password_is_an_oauth_error(account):
    from authlib.integrations.base_client.errors import OAuthError

    with pytest.raises(OAuthError) as raised:
        client().fetch_token(TOKEN_URL, username=account, password="not the password")
    assert raised.value.error == "invalid_grant"


def test_the_served_openapi_document_is_valid_openapi_3_1():
    spec = requests.get(f"{BASE}/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_requests_are_logged_as_json_lines_without_secrets(account):
    session = client()
    token = session.fetch_token(TOKEN_URL, username=account, password=PASSWORD)
    requests.get(f"{BASE}/api/v1/me", params={"access_token": token["access_token"]})
    assert session.get(f"{BASE}/api/v1/me").status_code == 200

    files = glob.glob(os.path.join(DATA_DIR, "logs", "parlor.json*"))
    assert files, "no JSON log file"
    text = "".join(open(f, encoding="utf-8").read() for f in files)
    for secret in (token["access_token"], token["refresh_token"], PASSWORD):
        assert secret not in text, "a secret reached the log"
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    requests_logged = [l for l in lines if l.get("target") == "parlor::request"]
    me = [l for l in requests_logged if l.get("path") == "/api/v1/me" and l.get("status") == 200]
    assert me, "no log line for GET /api/v1/me"
    line = me[-1]
    for field in ("request_id", "method", "path", "status", "latency_ms", "user_id"):
        assert field in line, f"{field} missing from {line}"
    assert any(l.get("path") == "/api/v1/me?access_token=[REDACTED]" for l in requests_logged)
