"""Password reset through a real SMTP server: aiosmtpd on loopback receives Parlor's mail and
the code is read from what it received."""

import email
import os
import re
import time
import uuid
from email import policy

import pytest
import requests
from aiosmtpd.controller import Controller

BASE = os.environ["PARLOR_E2E_URL"]
SMTP_PORT = int(os.environ["PARLOR_E2E_SMTP_PORT"])
PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple fence orbit"


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def wait_for(self, recipient, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mail_from, rcpt_tos, content in self.messages:
                if recipient in rcpt_tos:
                    return mail_from, email.message_from_bytes(content, policy=policy.default)
            time.sleep(0.05)
        raise AssertionError(f"no mail for {recipient} within {timeout} s")


@pytest.fixture(scope="module")
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    yield handler
    controller.stop()


def test_reset_code_arrives_by_smtp_and_sets_the_password(inbox):
    address = f"e2e-{uuid.uuid4().hex[:10]}@example.org"
    registered = requests.post(f"{BASE}/api/v1/auth/register", json={"identifier": address, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    old_token = registered.json()["data"]["access_token"]

    asked = requests.post(f"{BASE}/api/v1/auth/password-reset", json={"email": address})
    assert asked.status_code == 202, asked.text

    mail_from, message = inbox.wait_for(address)
    assert mail_from == "noreply@parlor.test"
    assert message["Subject"] == "Your Parlor password reset code"
    code = re.search(r"\b(\d{8})\b", message.get_content()).group(1)

    confirmed = requests.post(
        f"{BASE}/api/v1/auth/password-reset/confirm",
        json={"email": address, "code": code, "new_password": NEW_PASSWORD},
    )
    assert confirmed.status_code == 200, confirmed.text
    me = requests.get(f"{BASE}/api/v1/me", headers={"Authorization": f"Bearer {old_token}"})
    assert me.status_code == 401
    login = requests.post(f"{BASE}/api/v1/auth/login", json={"identifier": address, "password": NEW_PASSWORD})
    assert login.status_code == 200, login.text
    again = requests.post(
        f"{BASE}/api/v1/auth/password-reset/confirm",
        json={"email": address, "code": code, "new_password": "yet another password"},
    )
    assert again.status_code == 400
    assert again.json()["data"]["reason"] == "invalid_code"


def test_no_mail_for_an_unknown_address(inbox):
    address = f"ghost-{uuid.uuid4().hex[:10]}@example.org"
    asked = requests.post(f"{BASE}/api/v1/auth/password-reset", json={"email": address})
    assert asked.status_code == 202
    time.sleep(0.5)
    assert all(address not in rcpts for _, rcpts, _ in inbox.messages)
