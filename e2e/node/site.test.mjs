// The web site in a real browser (Debian's chromium, driven by playwright-core): two people in
// one group chat see each other's messages and likes appear without a reload. Screenshots of
// each step go to $PARLOR_E2E_ARTIFACTS (default: the server's data directory).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
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

async function shot(page, step) {
  await page.screenshot({ path: join(artifacts, `${step}.png`), fullPage: true });
}

test("two people in a group chat see each other's messages and likes without a reload", async () => {
  const alice = await person("alice");
  const bob = await person("bob");

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
  await alice.page.getByRole("button", { name: "Send" }).click();
  await alice.page.waitForURL(chatUrl);
  const onBobs = bob.page.locator("#messages .text", { hasText: "Hello Bob, see you at eight?" });
  await onBobs.waitFor({ timeout: 5000 });
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

  assert.deepEqual([...alice.errors, ...bob.errors], [], "no script errors or CSP violations");
});
