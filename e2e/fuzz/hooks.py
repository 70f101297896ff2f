"""Schemathesis hooks for scripts/fuzz-api: every request carries the token of a live account.

Generated requests log out, change passwords and delete accounts, so one token would soon be
dead and every later request a 401. The auth provider registers a fresh account every couple
of seconds and signs requests with its token instead.
"""

import os
import uuid

import requests
import schemathesis

BASE = os.environ["PARLOR_FUZZ_URL"]


@schemathesis.auth(refresh_interval=2)
class FreshAccount:
    def get(self, case, ctx):
        identifier = f"fz_{uuid.uuid4().hex[:12]}"
        response = requests.post(
            f"{BASE}/api/v1/auth/register", json={"identifier": identifier, "password": "correct horse battery"}, timeout=10
        )
        response.raise_for_status()
        return response.json()["data"]["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
