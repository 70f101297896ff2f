// Live events with the unmodified official clients: socket.io-client (both transports) and ws,
// against a running Parlor at PARLOR_E2E_URL; and the AsyncAPI document checked by the
// AsyncAPI project's own parser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { Parser } from "@asyncapi/parser";

const BASE = process.env.PARLOR_E2E_URL;
// Per-test limits work on every Node with `node:test` (18+), unlike the command-line flags.
const LIMIT = { timeout: 30_000 };
const PASSWORD = "correct horse battery";

async function api(method, path, { token, json, body, headers = {} } = {}) {
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(`${BASE}${path}`, { method, headers, body });
  return { status: response.status, body: await response.json() };
}

async function register() {
  const identifier = `node_${Math.random().toString(36).slice(2, 12)}`;
  const { status, body } = await api("POST", "/api/v1/auth/register", { json: { identifier, password: PASSWORD } });
  assert.equal(status, 201, JSON.stringify(body));
  return { identifier, ...body.data };
}

// A 1×1 red PNG.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC",
  "base64",
);

async function uploadAvatar(token) {
  const form = new FormData();
  form.append("file", new Blob([PNG], { type: "image/png" }), "a.png");
  const { status, body } = await api("PUT", "/api/v1/me/avatar", { token, body: form });
  assert.equal(status, 200, JSON.stringify(body));
  return body.data.avatar;
}

function connect(token, transports) {
  const socket = io(BASE, { auth: { token }, transports, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

function next(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

for (const transports of [["websocket"], ["polling"]]) {
  test(`socket.io-client over ${transports[0]}: the avatar event, then logout disconnects`, LIMIT, async () => {
    const me = await register();
    const socket = await connect(me.access_token, transports);
    assert.equal(socket.io.engine.transport.name, transports[0]);

    const heard = next(socket, "user.avatar_updated");
    const avatar = await uploadAvatar(me.access_token);
    const [event] = await heard;
    assert.equal(event.user_id, me.user.id);
    assert.deepEqual(event.avatar, avatar);

    const revoked = next(socket, "session.revoked");
    const gone = next(socket, "disconnect");
    await api("POST", "/api/v1/auth/logout", { token: me.access_token });
    const [notice] = await revoked;
    assert.equal(typeof notice.session_id, "string");
    const [reason] = await gone;
    assert.equal(reason, "io server disconnect");
  });
}

test("socket.io-client: refused handshakes get connect_error with a stable reason", LIMIT, async () => {
  await assert.rejects(connect("not-a-token", ["websocket"]), (err) => err.message.startsWith("invalid_token:"));
  await assert.rejects(connect("", ["polling"]), (err) => err.message.startsWith("missing_token:"));
});

test("ws: bearer header, JSON frames, the avatar event and the close on account deletion", LIMIT, async () => {
  const me = await register();
  const ws = new WebSocket(`${BASE.replace(/^http/, "ws")}/api/v1/ws`, {
    headers: { authorization: `Bearer ${me.access_token}` },
  });
  await next(ws, "open");
  const frames = [];
  ws.on("message", (data) => frames.push(JSON.parse(data.toString())));

  await uploadAvatar(me.access_token);
  const closed = next(ws, "close");
  const { status } = await api("DELETE", "/api/v1/me", { token: me.access_token });
  assert.equal(status, 200);
  const [code, reason] = await closed;
  assert.equal(code, 4001);
  assert.equal(reason.toString(), "account_deleted");
  assert.deepEqual(
    frames.map((f) => f.event),
    ["user.avatar_updated", "user.deleted"],
  );
  assert.equal(frames[1].data.user_id, me.user.id);
});

test("ws: a refused handshake is an HTTP 401 with a JSend body", LIMIT, async () => {
  const ws = new WebSocket(`${BASE.replace(/^http/, "ws")}/api/v1/ws?access_token=nope`);
  const [request, response] = await next(ws, "unexpected-response");
  assert.equal(response.statusCode, 401);
  const chunks = [];
  for await (const chunk of response) chunks.push(chunk);
  request.destroy();
  ws.on("error", () => {}); // terminating a refused handshake reports one
  ws.terminate();
  const body = JSON.parse(Buffer.concat(chunks).toString());
  assert.equal(body.status, "fail");
  assert.equal(body.data.reason, "invalid_token");
});

test("the AsyncAPI document is valid AsyncAPI 3.0 and lists every event", LIMIT, async () => {
  const response = await fetch(`${BASE}/api/v1/asyncapi.json`);
  const text = await response.text();
  const { document, diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === 0);
  assert.deepEqual(errors, [], JSON.stringify(errors, null, 2));
  assert.equal(document.version(), "3.0.0");
  const names = document.messages().all().map((m) => m.name());
  for (const event of ["user.avatar_updated", "session.revoked", "user.deleted", "error"]) {
    assert.ok(names.includes(event), `${event} missing from ${names}`);
  }
});
