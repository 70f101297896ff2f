"""Schemathesis hooks for scripts/fuzz-api: every request carries the token of a live account.

Generated requests log out, change passwords and delete accounts, so one token would soon be
dead and every later request a 401. The auth provider registers a fresh account every couple
of seconds and signs requests with its token instead.
"""

import ast
import os
import threading
import uuid

import requests
import schemathesis

BASE = os.environ["PARLOR_FUZZ_URL"]

# CPython 3.11 (the version here) counts the AST constructor's recursion in state that every
# thread shares, so two workers describing a strategy's lambda at once (Hypothesis parses its
# source) can fail a run with "SystemError: AST constructor recursion depth mismatch" (see
# python/cpython#106905). One parse at a time keeps `--workers 2`; a parse is rare and short.
_parse, _parse_lock = ast.parse, threading.Lock()


def _serialised_parse(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _serialised_parse


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
