// The web site in a real browser (Debian's chromium, driven by playwright-core): two people in
// one group chat see each other's messages and likes appear without a reload, and an
// administrator deletes an account and reads the deletion in the audit log. Screenshots of
// each step go to $PARLOR_E2E_ARTIFACTS (default: the server's data directory).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { deflateSync } from "node:zlib";
import { mkdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.PARLOR_E2E_URL ?? "http://127.0.0.1:8080";
const artifacts = process.env.PARLOR_E2E_ARTIFACTS ?? join(process.env.PARLOR_E2E_DATA_DIR ?? ".", "screenshots");
mkdirSync(artifacts, { recursive: true });
const password = "correct horse battery";

const browser = await chromium.launch({ executablePath: process.env.PARLOR_E2E_CHROMIUM ?? "/usr/bin/chromium" });
after(() => browser.close());

async function person(prefix) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
  const name = `${prefix}_${randomBytes(3).toString("hex")}`;
  await page.goto(`${base}/register`);
  await page.getByLabel("Username, e-mail or phone").fill(name);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Create the account" }).click();
  await page.waitForURL(`${base}/chats`);
  return { name, page, errors };
}

/** A solid-colour PNG, made here so the test needs no fixture file. */
function png(size, [r, g, b]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => [r, g, b]).flat())]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: size }, () => row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", pixels),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function shot(page, step) {
  await page.screenshot({ path: join(artifacts, `${step}.png`), fullPage: true });
}

test("two people in a group chat see each other's messages, pictures and likes without a reload", async () => {
  const alice = await person("alice");
  const bob = await person("bob");

  // Alice's picture, uploaded on her profile page, is shown there at once.
  await alice.page.goto(`${base}/profile`);
  await alice.page.getByLabel("A new picture (JPEG, PNG, GIF or WebP)")
    .setInputFiles({ name: "alice.png", mimeType: "image/png", buffer: png(96, [200, 40, 40]) });
  await alice.page.getByRole("button", { name: "Upload" }).click();
  await alice.page.waitForURL(`${base}/profile`);
  await alice.page.getByRole("img", { name: "Your picture" }).waitFor();
  await shot(alice.page, "00-profile-with-picture");
  await alice.page.goto(`${base}/chats`);

  await alice.page.getByLabel("Group title").fill("Book club");
  await alice.page.getByLabel("Members (usernames, separated by commas)").fill(bob.name);
  await alice.page.getByRole("button", { name: "Create the group" }).click();
  await alice.page.waitForURL(/\/chats\/[0-9a-f-]{36}$/);
  const chatUrl = alice.page.url();

  await bob.page.reload();
  await shot(bob.page, "01-chat-list");
  await bob.page.getByRole("link", { name: "Book club" }).click();
  await bob.page.waitForURL(chatUrl);
  for (const who of [alice, bob]) {
    await who.page.waitForFunction(() => document.body.dataset.live === "yes", null, { timeout: 5000 });
  }
  // Bob's page must not reload from here on: what arrives, arrives over the socket.
  let bobLoads = 0;
  bob.page.on("load", () => { bobLoads += 1; });

  await alice.page.getByRole("textbox", { name: "Message" }).fill("Hello Bob, see you at eight?");
  await alice.page.getByRole("button", { name: "Send", exact: true }).click();
  await alice.page.waitForURL(chatUrl);
  const onBobs = bob.page.locator("#messages .text", { hasText: "Hello Bob, see you at eight?" });
  await onBobs.waitFor({ timeout: 5000 });
  // Her picture is next to her message on his page.
  const avatar = bob.page.locator("#messages li.message", { hasText: "Hello Bob" }).locator("img.avatar");
  assert.match(await avatar.getAttribute("src"), /\/media\/avatars\/.+\/50x50\.jpg$/);
  assert.ok(await avatar.evaluate((img) => img.complete && img.naturalWidth === 50), "the picture loaded");
  await shot(bob.page, "02-message-arrives-live");
  assert.equal(bobLoads, 0, "the message arrived without a reload");

  // Bob likes it (a form post: his page reloads); Alice's page shows the count live.
  const message = bob.page.locator("#messages li.message", { hasText: "Hello Bob" });
  await message.getByRole("button", { name: "Like" }).click();
  await bob.page.waitForLoadState();
  let aliceLoads = 0;
  alice.page.on("load", () => { aliceLoads += 1; });
  await alice.page.locator("#messages li.message", { hasText: "Hello Bob" }).locator(".likes", { hasText: "1 likes" })
    .waitFor({ timeout: 5000 });
  await shot(alice.page, "03-like-arrives-live");
  assert.equal(aliceLoads, 0, "the like arrived without a reload");

  // Bob types: Alice sees it. Alice renames the group and adds Carol: Bob sees both live.
  await bob.page.getByRole("textbox", { name: "Message" }).pressSequentially("On my");
  await alice.page.locator("#typing", { hasText: `${bob.name} is typing` }).waitFor({ timeout: 5000 });
  const carol = await person("carol");
  await alice.page.getByLabel("Title").fill("Book club (June)");
  await alice.page.getByRole("button", { name: "Rename" }).click();
  await alice.page.waitForURL(chatUrl);
  await alice.page.getByLabel("Add members (usernames, separated by commas)").fill(carol.name);
  await alice.page.getByRole("button", { name: "Add", exact: true }).click();
  await alice.page.waitForURL(chatUrl);
  await bob.page.getByRole("heading", { level: 1, name: "Book club (June)" }).waitFor({ timeout: 5000 });
  await bob.page.locator("#members li", { hasText: carol.name }).waitFor({ timeout: 5000 });
  await bob.page.locator("#messages .text", { hasText: "renamed the group to “Book club (June)”" }).waitFor();
  await bob.page.locator("#messages .text", { hasText: "added 1 member(s)" }).waitFor();
  await shot(bob.page, "03b-members-change-live");
  assert.equal(bobLoads, 1, "only his own like reloaded his page");
  // What his open page showed is read: his chat list has nothing unread for it.
  await bob.page.waitForLoadState("networkidle");
  await bob.page.goto(`${base}/chats`);
  const row = bob.page.locator("#chats li", { hasText: "Book club (June)" });
  await row.waitFor();
  assert.equal(await row.locator(".unread").count(), 0, "read as it arrived");

  assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], [], "no script errors or CSP violations");
});

/** Runs `parlor create-admin` against the server's data directory; returns the username. */
function createAdmin() {
  const bin = process.env.PARLOR_E2E_BIN;
  const dataDir = process.env.PARLOR_E2E_DATA_DIR;
  assert.ok(bin && dataDir, "PARLOR_E2E_BIN and PARLOR_E2E_DATA_DIR name the server's binary and data");
  const username = `operator_${randomBytes(3).toString("hex")}`;
  execFileSync(bin, ["create-admin", "--username", username], {
    env: { ...process.env, PARLOR_DATA_DIR: dataDir, PARLOR_CONFIG: "/nonexistent.toml", PARLOR_ADMIN_PASSWORD: password },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return username;
}

test("an administrator deletes an account and the audit page shows the deletion", async () => {
  const doomed = await person("doomed");
  const username = createAdmin();
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
  await page.goto(`${base}/login`);
  await page.getByLabel("Username, e-mail or phone").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/chats`);

  await page.getByRole("link", { name: "Admin" }).click();
  await page.getByLabel("Username, e-mail or phone contains").fill(doomed.name.toUpperCase());
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator("#users").getByRole("link", { name: doomed.name }).waitFor();
  await shot(page, "04-admin-users");
  await page.locator("#users").getByRole("link", { name: doomed.name }).click();
  await page.getByRole("heading", { level: 1, name: doomed.name }).waitFor();
  await page.getByLabel(/Type “delete” to delete this account/).fill("delete");
  await page.getByRole("button", { name: "Delete the account" }).click();
  await page.waitForURL(/\/admin\/audit\?entity=user&action=delete$/);
  const entry = page.locator("#audit li.entry").first();
  await entry.locator(".action", { hasText: "delete" }).waitFor();
  assert.match(await entry.innerText(), new RegExp(username), "the administrator is named as the actor");
  const username_row = entry.locator("table.diff tr", { hasText: "username" });
  assert.equal(await username_row.locator("td.before").innerText(), "[deleted]", "no personal data outlives the account");
  await shot(page, "05-admin-audit");

  // The deleted person's open page is signed out on its next request.
  await doomed.page.goto(`${base}/chats`);
  await doomed.page.waitForURL(/\/login\?next=/);
  assert.deepEqual([...errors, ...doomed.errors], [], "no script errors or CSP violations");
});

test("Swagger UI's Authorize dialog signs in with username and password and tries an endpoint", async () => {
  const who = await person("swagger");
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
  const docs = await page.goto(`${base}/docs/`);
  assert.match(docs.headers()["content-security-policy"], /script-src 'self'/, "the page has its own policy");
  await page.getByRole("button", { name: "Authorize" }).first().click();
  const flow = page.locator(".auth-container", { hasText: "password (OAuth2, password)" });
  await flow.locator("#oauth_username").fill(who.name);
  await flow.locator("#oauth_password").fill(password);
  await flow.getByRole("button", { name: "Apply given OAuth2 credentials" }).click();
  await flow.getByText("Authorized", { exact: true }).waitFor({ timeout: 5000 });
  await page.locator(".modal-ux").screenshot({ path: join(artifacts, "06-docs-signed-in.png") });
  await page.getByRole("button", { name: "Close" }).first().click();

  const me = page.locator(".opblock-get", { has: page.locator(".opblock-summary-path", { hasText: /^\/api\/v1\/me$/ }) });
  await me.locator(".opblock-summary").click();
  await me.getByRole("button", { name: "Try it out" }).click();
  await me.getByRole("button", { name: "Execute" }).click();
  const status = me.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: 5000 });
  assert.equal((await status.innerText()).trim(), "200");
  const body = await me.locator(".live-responses-table .response-col_description pre").first().innerText();
  assert.match(body, new RegExp(`"username": "${who.name}"`), "the answer is the signed-in person's profile");
  await me.screenshot({ path: join(artifacts, "07-docs-tried-me.png") });
  assert.deepEqual(errors, [], "no script errors or CSP violations on the documentation page");
});
