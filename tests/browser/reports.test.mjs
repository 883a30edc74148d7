// The report pages in a real browser: Debian's chromium (headless) driven by
// playwright-core against the real `voronka serve --demo` binary on a
// temporary SQLite file and a free port. The funnel's SVG has a bar per
// stage, plan-vs-fact fits a 375 px phone, and a report built in the
// builder form is saved and listed. Screenshots go to
// target/browser-artifacts/. Every test has its own timeout.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, "target");
const binary = process.env.VORONKA_BIN || join(targetDir, "debug", "voronka");
const artifacts = join(repo, "target", "browser-artifacts");
const PASSWORD = "voronka-demo-2026";
const TEST_TIMEOUT = 180_000;

let server;
let base;
let workdir;
let browser;

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

async function waitForHealth(url, deadline) {
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`voronka exited with ${server.exitCode}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("voronka did not become healthy in time");
}

before(async () => {
  assert.ok(existsSync(binary), `build the binary first: ${binary}`);
  mkdirSync(artifacts, { recursive: true });
  workdir = mkdtempSync(join(tmpdir(), "voronka-reports-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ["serve", "--demo", "--addr", `127.0.0.1:${port}`, "--db", `sqlite://${join(workdir, "voronka.db")}`], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, VORONKA_LOG: "warn" },
  });
  let log = "";
  server.stderr.on("data", (chunk) => { log = (log + chunk).slice(-4000); });
  try {
    await waitForHealth(base, Date.now() + 120_000);
  } catch (error) {
    throw new Error(`${error.message}\n${log}`);
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}, { timeout: 180_000 });

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => { server.once("exit", r); setTimeout(r, 5000); });
  }
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

/** A new browser context (own cookies) with a viewport and a language. */
async function open({ width = 1280, height = 860, locale = "en-US" } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, locale });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  return { context, page };
}

async function signIn(page, email) {
  await page.goto(`${base}/login`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(`${base}/`), page.click("form.card button[type=submit]")]);
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Whether the page scrolls sideways (it must not on a phone). */
async function overflowsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
}

test("the funnel is an SVG with a bar per stage and numbers that match the table", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open();
  try {
    await signIn(page, "director@demo.voronka");
    await page.click("header.top nav a[href='/reports']");
    await page.click(".report-tabs a[href='/reports/funnel']");
    await page.waitForSelector("svg.funnel");
    const stages = await page.locator("#funnel-table tbody tr").count();
    assert.ok(stages >= 5, `stages in the table: ${stages}`);
    assert.equal(await page.locator("svg.funnel g.stage").count(), stages);
    assert.equal(await page.locator("svg.funnel g.stage rect.entered").count(), stages);
    // Each bar carries its numbers; the first stage's count matches the table.
    const firstEntered = await page.locator("svg.funnel g.stage").first().getAttribute("data-entered");
    const tableEntered = (await page.locator("#funnel-table tbody tr td.entered").first().textContent()).replace(/\D/g, "");
    assert.equal(firstEntered, tableEntered);
    assert.ok(Number(firstEntered) > 0, "the demo has deals");
    const title = await page.locator("svg.funnel g.stage title").first().textContent();
    assert.match(title, /entered/);
    // The filter is keyboard-operable and keeps its values in the link.
    await page.selectOption("#rep-process", "b2b-sale");
    await Promise.all([page.waitForNavigation(), page.click("form.report-filter button[type=submit]")]);
    assert.match(page.url(), /process=b2b-sale/);
    const csv = await page.locator("a[href*='format=csv']").getAttribute("href");
    assert.match(csv, /process=b2b-sale/);
    const response = await page.request.get(`${base}${csv}`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()["content-type"], /^text\/csv/);
    await shot(page, "reports-funnel-desktop");
  } finally {
    await context.close();
  }
});

test("plan-vs-fact fits a 375 px phone", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open({ width: 375, height: 740, locale: "ru-RU" });
  try {
    await signIn(page, "head@demo.voronka");
    await page.goto(`${base}/reports/plans`);
    await page.waitForSelector("form.report-filter");
    assert.equal(await page.locator("h1").textContent(), "План-факт");
    assert.ok(await page.locator("section.plan-group").count() > 0, "managers of the department are listed");
    assert.equal(await overflowsSideways(page), false, "the page does not scroll sideways");
    await page.selectOption("#rep-period", "week");
    await Promise.all([page.waitForNavigation(), page.click("form.report-filter button[type=submit]")]);
    assert.match(page.url(), /period=week/);
    assert.equal(await overflowsSideways(page), false);
    await shot(page, "reports-plans-375");
    await page.goto(`${base}/reports/funnel`);
    await page.waitForSelector("svg.funnel");
    assert.equal(await overflowsSideways(page), false, "the funnel scales down");
    await shot(page, "reports-funnel-375");
  } finally {
    await context.close();
  }
});

test("a report built in the builder form is saved and listed", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open();
  try {
    await signIn(page, "head@demo.voronka");
    await page.goto(`${base}/reports/builder`);
    // Changing the source redraws the field lists (the page script).
    await Promise.all([page.waitForNavigation(), page.selectOption("#b-source", "activities")]);
    assert.equal(await page.locator("#b-source").inputValue(), "activities");
    assert.ok(await page.locator("#b-g0-field option[value='kind']").count() === 1);
    await page.selectOption("#b-g0-field", "kind");
    await page.selectOption("#b-m0-fn", "count");
    await Promise.all([page.waitForNavigation(), page.click("button[name=action][value=run]")]);
    await page.waitForSelector("#result-table");
    assert.ok(await page.locator("#result-table tbody tr").count() > 0, "activities grouped by kind");
    // A wrong value is shown beside its input.
    await page.selectOption("#b-f0-field", "reschedule_count");
    await page.selectOption("#b-f0-op", "gte");
    await page.fill("#b-f0-value", "many");
    await Promise.all([page.waitForNavigation(), page.click("button[name=action][value=run]")]);
    assert.ok(await page.locator("#f0-error").isVisible());
    await page.fill("#b-f0-value", "0");
    const name = `Activities by kind ${Date.now()}`;
    await page.fill("#b-name", name);
    await page.check("#b-share-manager");
    await Promise.all([page.waitForNavigation(), page.click("button[name=action][value=save]")]);
    assert.match(page.url(), /\/reports\/saved\//);
    assert.equal(await page.locator("#saved-name").textContent(), name);
    await page.waitForSelector("#result-table");
    await shot(page, "reports-saved");
    await page.goto(`${base}/reports`);
    assert.equal(await page.locator("#saved-reports a.saved-name", { hasText: name }).count(), 1);
    await shot(page, "reports-index");
  } finally {
    await context.close();
  }
});
