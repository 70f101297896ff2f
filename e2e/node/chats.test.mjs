// Two official socket.io-client connections in one group: each sees the other's messages
// (sent over the socket with an acknowledgement), likes and renames, live; and a chat run over
// sockets alone, from socket.io-client and a plain WebSocket (ws).
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import WebSocket from "ws";

const BASE = process.env.PARLOR_E2E_URL;
const LIMIT = { timeout: 30_000 };
const PASSWORD = "correct horse battery";

async function api(method, path, { token, json } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${BASE}${path}`, { method, headers, body: json && JSON.stringify(json) });
  return { status: response.status, body: await response.json() };
}

async function register() {
  const identifier = `chat_${Math.random().toString(36).slice(2, 12)}`;
  const { status, body } = await api("POST", "/api/v1/auth/register", { json: { identifier, password: PASSWORD } });
  assert.equal(status, 201, JSON.stringify(body));
  return { identifier, token: body.data.access_token, id: body.data.user.id };
}

function connect(token) {
  const socket = io(BASE, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

// The next `event` whose payload satisfies `match`.
function next(socket, event, match = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching ${event} within ${ms} ms`)), ms);
    const listener = (data) => {
      if (!match(data)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(data);
    };
    socket.on(event, listener);
  });
}

test("two socket.io clients in one group see each other's messages, likes and renames", LIMIT, async () => {
  const [alice, bob] = [await register(), await register()];
  const [aliceSocket, bobSocket] = [await connect(alice.token), await connect(bob.token)];
  try {
    const bobHearsChat = next(bobSocket, "chat.created");
    const created = await api("POST", "/api/v1/chats", {
      token: alice.token,
      json: { type: "group", title: "Node club", member_ids: [bob.id] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const chatId = created.body.data.chat.id;
    assert.equal((await bobHearsChat).chat.id, chatId);

    // Alice sends over the socket; the acknowledgement carries the stored message.
    const bobHears = next(bobSocket, "message.created", (e) => e.message.type === "text");
    const ack = await aliceSocket.timeout(5000).emitWithAck("message.send", { chat_id: chatId, text: "hello bob" });
    assert.equal(ack.status, "success", JSON.stringify(ack));
    const heard = await bobHears;
    assert.equal(heard.message.id, ack.data.message.id);
    assert.equal(heard.message.author.id, alice.id);

    // Bob answers; alice hears it.
    const aliceHears = next(aliceSocket, "message.created", (e) => e.message.author.id === bob.id);
    const reply = await bobSocket.timeout(5000).emitWithAck("message.send", {
      chat_id: chatId,
      text: "hi alice",
      reply_to: ack.data.message.id,
    });
    assert.equal((await aliceHears).message.reply_to, ack.data.message.id);

    // Bob likes alice's message.
    const liked = next(aliceSocket, "message.liked");
    const put = await api("PUT", `/api/v1/chats/${chatId}/messages/${ack.data.message.id}/like`, { token: bob.token });
    assert.equal(put.status, 200);
    assert.deepEqual(await liked, { chat_id: chatId, message_id: ack.data.message.id, user_id: bob.id, like_count: 1 });

    // Alice renames the group; bob's client hears the new title.
    const renamed = next(bobSocket, "chat.updated");
    await api("PATCH", `/api/v1/chats/${chatId}`, { token: alice.token, json: { title: "Node club (Thursdays)" } });
    assert.equal((await renamed).chat.title, "Node club (Thursdays)");

    // Typing reaches the other member.
    const typing = next(bobSocket, "typing");
    aliceSocket.emit("typing", { chat_id: chatId });
    assert.deepEqual(await typing, { chat_id: chatId, user_id: alice.id });

    const refused = await aliceSocket.timeout(5000).emitWithAck("message.send", { chat_id: chatId, text: "" });
    assert.equal(refused.status, "fail");
    assert.equal(typeof refused.data.text, "string");
    assert.equal(reply.status, "success");
  } finally {
    aliceSocket.close();
    bobSocket.close();
  }
});

// A plain WebSocket frame's answer: the `ack` frame carrying `id`.
function command(ws, event, data, id) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event} within 5 s`)), 5000);
    const listener = (raw) => {
      const frame = JSON.parse(raw.toString());
      if (frame.event !== "ack" || frame.id !== id) return;
      clearTimeout(timer);
      ws.off("message", listener);
      resolve(frame.data);
    };
    ws.on("message", listener);
    ws.send(JSON.stringify({ event, data, id }));
  });
}

test("a chat over sockets alone: socket.io-client and a plain WebSocket create, list, page, edit, like, react and delete", LIMIT, async () => {
  const alice = await register();
  const bob = await register();
  const aliceSocket = await connect(alice.token);
  const ws = new WebSocket(`${BASE.replace(/^http/, "ws")}/api/v1/ws`, { headers: { authorization: `Bearer ${bob.token}` } });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  try {
    const emit = (event, data) => aliceSocket.timeout(5000).emitWithAck(event, data);
    const created = await emit("chat.create", { type: "group", title: "Sockets only", member_ids: [bob.id] });
    assert.equal(created.status, "success", JSON.stringify(created));
    const chatId = created.data.chat.id;

    const sent = await command(ws, "message.send", { chat_id: chatId, text: "from a plain WebSocket" }, "m1");
    assert.equal(sent.status, "success", JSON.stringify(sent));
    const messageId = sent.data.message.id;
    const liked = await emit("message.like", { chat_id: chatId, message_id: messageId });
    assert.equal(liked.data.message.like_count, 1);
    const edited = await command(ws, "message.edit", { chat_id: chatId, message_id: messageId, text: "edited" }, 2);
    assert.equal(edited.data.message.text, "edited");
    const reacted = await command(ws, "message.react", { chat_id: chatId, message_id: messageId, emoji: "🎉" }, "r");
    assert.deepEqual(reacted.data.message.reactions, [{ emoji: "🎉", count: 1, me: true }]);
    const also = await emit("message.react", { chat_id: chatId, message_id: messageId, emoji: "🎉" });
    assert.deepEqual(also.data.message.reactions, [{ emoji: "🎉", count: 2, me: true }]);

    const page = await emit("messages.history", { chat_id: chatId, limit: 1 });
    assert.equal(page.data.messages[0].text, "edited");
    assert.equal(page.data.messages[0].like_count, 1);
    const list = await command(ws, "chats.list", {}, 3);
    assert.equal(list.data.chats[0].id, chatId);
    const aliceList = await aliceSocket.timeout(5000).emitWithAck("chats.list");
    assert.equal(aliceList.data.chats[0].last_message.text, "edited");

    const refused = await command(ws, "message.delete", { chat_id: chatId, message_id: "not-an-id" }, 4);
    assert.equal(refused.status, "fail");
    assert.equal(typeof refused.data.message_id, "string", JSON.stringify(refused));
    const removed = await command(ws, "message.delete", { chat_id: chatId, message_id: messageId }, 5);
    assert.equal(removed.data.message.deleted, true);
  } finally {
    aliceSocket.close();
    ws.close();
  }
});
