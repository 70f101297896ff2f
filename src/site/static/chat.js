// Live updates of a chat page (/chats/{id}) over Parlor's WebSocket. The page works without
// this script: every action is a form post. With it, messages, likes, deletions, edits,
// typing, member changes, renames and the chat's deletion appear without a reload, and typing
// here is told to the others.
"use strict";
(function () {
  const list = document.getElementById("messages");
  if (!list) return;
  const chatId = list.dataset.chatId;
  const me = list.dataset.me;
  const csrf = document.querySelector('#send input[name="csrf_token"]');
  const typing = document.getElementById("typing");
  const names = new Map();
  for (const member of document.querySelectorAll("#members li[data-user-id]")) {
    names.set(member.dataset.userId, member.dataset.name);
  }
  let retry = 1000;
  let typingTimer = null;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/api/v1/ws");
    socket.onopen = () => { retry = 1000; document.body.dataset.live = "yes"; };
    socket.onmessage = (frame) => {
      const { event, data } = JSON.parse(frame.data);
      handle(event, data);
    };
    socket.onclose = (closed) => {
      document.body.dataset.live = "no";
      // 4001: the session ended; a reload shows the login page.
      if (closed.code === 4001) return;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  function handle(event, data) {
    const about = data.chat_id || (data.message && data.message.chat_id) || (data.chat && data.chat.id);
    if (about !== chatId) return;
    if (event === "message.created") append(data.message);
    else if (event === "message.liked" || event === "message.unliked") setLikes(data.message_id, data.like_count);
    else if (event === "message.deleted") tombstone(data.message_id);
    else if (event === "message.updated") edited(data.message_id, data.text);
    else if (event === "typing" && data.user_id !== me) showTyping(data.user_id);
    else if (event === "chat.member_added") for (const member of data.members) addMember(member);
    else if (event === "chat.member_removed") removeMember(data.user_id);
    else if (event === "chat.updated") updated(data.chat);
    else if (event === "chat.deleted") notice("This chat was deleted.");
  }

  function notice(text) {
    const node = document.getElementById("chat-notice");
    if (node) node.textContent = text;
    for (const form of document.querySelectorAll("main form")) form.hidden = true;
  }

  function memberItem(member) {
    const item = element("li");
    item.dataset.userId = member.id;
    item.dataset.name = member.username || "deleted account";
    if (member.avatar) {
      const avatar = element("img");
      avatar.src = member.avatar["50x50"];
      avatar.alt = "";
      avatar.width = 50;
      avatar.height = 50;
      item.append(avatar);
    }
    item.append(element("span", "name", item.dataset.name), " ", element("span", "role", member.role));
    return item;
  }

  function addMember(member) {
    const members = document.getElementById("members");
    names.set(member.id, member.username || "deleted account");
    if (!members || members.querySelector('li[data-user-id="' + member.id + '"]')) return;
    members.append(memberItem(member));
  }

  function removeMember(userId) {
    if (userId === me) { notice("You are no longer in this chat."); return; }
    const item = document.querySelector('#members li[data-user-id="' + userId + '"]');
    if (item) item.remove();
  }

  function updated(chat) {
    const title = document.getElementById("chat-name");
    if (title && chat.title) {
      title.textContent = chat.title;
      document.title = chat.title + " · Parlor";
    }
    for (const member of chat.members) {
      const role = document.querySelector('#members li[data-user-id="' + member.id + '"] .role');
      if (role) role.textContent = member.role;
    }
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function actionForm(messageId, action, label) {
    const form = element("form");
    form.method = "post";
    form.action = "/chats/" + chatId + "/messages/" + messageId + "/" + action;
    const token = element("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrf ? csrf.value : "";
    const button = element("button", null, label);
    button.type = "submit";
    form.append(token, button);
    return form;
  }

  function append(message) {
    if (document.getElementById("message-" + message.id)) return;
    const item = element("li", "message");
    item.id = "message-" + message.id;
    const author = message.author;
    if (author && author.avatar) {
      const avatar = element("img", "avatar");
      avatar.src = author.avatar["50x50"];
      avatar.alt = "";
      avatar.width = 50;
      avatar.height = 50;
      item.append(avatar);
    }
    const name = author ? (author.username || "deleted account") : "Parlor";
    item.append(element("span", "author", name), " ");
    const text = message.text || (message.system && systemText(message.system));
    if (text) item.append(element("span", "text", text));
    if (message.attachment) {
      const link = element("a", "attachment");
      link.href = message.attachment.url;
      if (message.attachment.preview_url) {
        const preview = element("img", "preview");
        preview.src = message.attachment.preview_url;
        preview.alt = message.attachment.file_name;
        link.append(preview);
      } else {
        link.textContent = message.attachment.file_name;
      }
      item.append(" ", link);
    }
    if (message.type !== "system") {
      const likes = element("span", "likes", message.like_count + " likes");
      likes.id = "likes-" + message.id;
      item.append(" ", likes, actionForm(message.id, "like", "Like"));
      if (author && author.id === me) item.append(actionForm(message.id, "delete", "Delete"));
    }
    list.append(item);
    item.scrollIntoView({ block: "nearest" });
    if (list.dataset.atEnd === "yes") {
      newest = message.id;
      markRead();
    }
  }

  // What a system message records, in the words the server renders it with (chats.rs).
  function systemText(system) {
    const count = (system.user_ids || []).length;
    switch (system.action) {
      case "created": return "created the group “" + system.title + "”";
      case "renamed": return "renamed the group to “" + system.title + "”";
      case "members_added": return "added " + count + " member(s)";
      case "member_left": return "left the group";
      case "member_removed": return "removed a member";
      default: return "";
    }
  }

  function setLikes(messageId, count) {
    const likes = document.getElementById("likes-" + messageId);
    if (likes) likes.textContent = count + " likes";
  }

  function tombstone(messageId) {
    const item = document.getElementById("message-" + messageId);
    if (!item) return;
    for (const node of item.querySelectorAll(".text, .likes, form")) node.remove();
    item.append(element("em", null, "message deleted"));
  }

  function edited(messageId, text) {
    const node = document.querySelector("#message-" + messageId + " .text");
    if (node) node.textContent = text || "";
  }

  function showTyping(userId) {
    if (!typing) return;
    typing.textContent = (names.get(userId) || "Someone") + " is typing…";
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { typing.textContent = ""; }, 5000);
  }

  // What this page shows is read: the newest message, when the page is the chat's newest, and
  // each one that arrives while the page is in view. The marker only moves forward (server side).
  let newest = list.dataset.newest || null;
  function markRead() {
    if (!newest || !csrf || document.visibilityState !== "visible") return;
    const body = new URLSearchParams({ csrf_token: csrf.value, message_id: newest, quiet: "1" });
    fetch("/chats/" + chatId + "/read", { method: "POST", body, credentials: "same-origin" })
      .then(() => { const button = document.getElementById("mark-read"); if (button) button.remove(); })
      .catch(() => {});
  }
  document.addEventListener("visibilitychange", markRead);
  markRead();

  // Typing here is told to the others at most every three seconds, as a form post the server
  // checks like any other (same session, same CSRF token).
  const input = document.getElementById("text");
  let toldAt = 0;
  if (input && csrf) {
    input.addEventListener("input", () => {
      const now = Date.now();
      if (now - toldAt < 3000 || !input.value) return;
      toldAt = now;
      const body = new URLSearchParams({ csrf_token: csrf.value });
      fetch("/chats/" + chatId + "/typing", { method: "POST", body, credentials: "same-origin" }).catch(() => {});
    });
  }

  connect();
})();
