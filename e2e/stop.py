"""A graceful stop, run last by e2e/run: with a plain WebSocket and a socket.io-client (Node)
connected and a request in flight, `parlor serve` gets SIGTERM. The WebSocket must be closed with
1012 (service restart), the Socket.IO client must lose its transport and be about to reconnect by
itself (not be told to stay away), the request in flight must be answered, the process must exit,
and its log must end with "parlor stopped". (e2e/run checks the exit status: 0.)

    PARLOR_E2E_URL        the server's base URL
    PARLOR_E2E_PID        its process
    PARLOR_E2E_DATA_DIR   its data directory (server.log)
"""

import asyncio
import os
import signal
import sys
import time
import uuid

import requests
import websockets

URL = os.environ["PARLOR_E2E_URL"]
PID = int(os.environ["PARLOR_E2E_PID"])
LOG = os.path.join(os.environ["PARLOR_E2E_DATA_DIR"], "server.log")


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


async def main():
    identifier = f"stop_{uuid.uuid4().hex[:10]}"
    response = requests.post(
        f"{URL}/api/v1/auth/register", json={"identifier": identifier, "password": "correct horse battery"}
    )
    assert response.status_code == 201, response.text
    token = response.json()["data"]["access_token"]

    ws = await websockets.connect(URL.replace("http://", "ws://", 1) + "/api/v1/ws", additional_headers={
        "Authorization": f"Bearer {token}"})
    client = os.path.join(os.path.dirname(__file__), "node", "stop-client.mjs")
    sio = await asyncio.create_subprocess_exec("node", client, URL, token, stdout=asyncio.subprocess.PIPE)
    line = (await asyncio.wait_for(sio.stdout.readline(), 10)).decode().strip()
    if line != "connected":
        fail(f"the Socket.IO client did not connect: {line}")

    # A request in flight when the signal comes: an upload trickled over two seconds.
    def trickle():
        def body():
            yield b'{"first_name": '
            time.sleep(2)
            yield b'"Stopping"}'
        return requests.patch(f"{URL}/api/v1/me", data=body(), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    in_flight = asyncio.get_running_loop().run_in_executor(None, trickle)
    await asyncio.sleep(0.5)
    started = time.monotonic()
    os.kill(PID, signal.SIGTERM)

    try:
        await asyncio.wait_for(ws.recv(), 5)
        fail("the WebSocket got a frame instead of a close")
    except websockets.ConnectionClosed as closed:
        code, reason = closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else None
    if code != 1012:
        fail(f"the WebSocket was closed with {code} {reason!r}, not 1012")
    # socket.io-client names the cause: the transport closed, not a Socket.IO disconnect packet
    # (`io server disconnect`, after which it would not reconnect).
    reason = (await asyncio.wait_for(sio.stdout.readline(), 5)).decode().strip()
    if reason != "disconnect transport close reconnecting=true":
        fail(f"the Socket.IO client saw {reason!r}: it would not reconnect")
    await sio.wait()
    answer = await asyncio.wait_for(in_flight, 10)
    if answer.status_code != 200:
        fail(f"the request in flight got {answer.status_code}: {answer.text}")

    # The process is e2e/run's child, which collects its exit status: here it is done once it is
    # gone or a zombie.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{PID}/stat", encoding="utf-8") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        await asyncio.sleep(0.05)
    else:
        fail("parlor did not exit within 30 s of SIGTERM")
    stopped = time.monotonic() - started
    with open(LOG, encoding="utf-8") as log:
        last = [line for line in log if line.strip()][-1]
    if "parlor stopped" not in last:
        fail(f"the log does not end with 'parlor stopped': {last!r}")
    print(f"   SIGTERM: WebSocket closed 1012 'restarting', Socket.IO client: {reason},"
          f" the request in flight answered {answer.status_code}, exited after {stopped:.2f} s, log ends 'parlor stopped'")


asyncio.run(main())
