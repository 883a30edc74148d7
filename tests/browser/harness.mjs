// What every browser test file shares: the real `voronka serve --demo`
// binary on a temporary SQLite file and a free port, Debian's chromium
// (headless) driven by playwright-core, and the few page helpers all tests
// use. `useVoronka(name)` registers the start and the stop as the file's
// `before` and `after` hooks; screenshots go to target/browser-artifacts/.
import { before, after } from "node:test";
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
export const artifacts = join(repo, "target", "browser-artifacts");
export const PASSWORD = "voronka-demo-2026";

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

async function waitForHealth(server, url, deadline) {
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

/**
 * Starts Voronka and chromium before the file's tests and stops them after.
 * Returns the handle the tests use: `base` (set once started), `open`,
 * `signIn`, `shot` and `submit`. `name` prefixes the temporary folder and
 * the screenshots.
 */
export function useVoronka(name) {
  let server;
  let workdir;
  let browser;
  const voronka = {
    base: undefined,

    /** A new browser context (own cookies) with a viewport and a language;
     * dialogs are dismissed and their messages kept. */
    async open({ width = 1280, height = 860, locale = "en-US" } = {}) {
      const context = await browser.newContext({ viewport: { width, height }, locale });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const dialogs = [];
      page.on("dialog", async (dialog) => { dialogs.push(dialog.message()); await dialog.dismiss(); });
      return { context, page, dialogs };
    },

    async signIn(page, email, password = PASSWORD) {
      await page.goto(`${voronka.base}/login`);
      await page.fill("#email", email);
      await page.fill("#password", password);
      await Promise.all([page.waitForURL(`${voronka.base}/`), page.click("form.card button[type=submit]")]);
    },

    async shot(page, shotName) {
      await page.screenshot({ path: join(artifacts, `${name}-${shotName}.png`), fullPage: true });
    },

    /** Submits a form by clicking `button` and waits for the next page. */
    async submit(page, button) {
      await Promise.all([page.waitForLoadState("load"), page.waitForNavigation(), page.click(button)]);
    },
  };

  before(async () => {
    assert.ok(existsSync(binary), `build the binary first: ${binary}`);
    mkdirSync(artifacts, { recursive: true });
    workdir = mkdtempSync(join(tmpdir(), `voronka-${name}-`));
    const port = await freePort();
    voronka.base = `http://127.0.0.1:${port}`;
    server = spawn(binary, ["serve", "--demo", "--addr", `127.0.0.1:${port}`, "--db", `sqlite://${join(workdir, "voronka.db")}`], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, VORONKA_LOG: "warn" },
    });
    let log = "";
    server.stderr.on("data", (chunk) => { log = (log + chunk).slice(-4000); });
    try {
      await waitForHealth(server, voronka.base, Date.now() + 120_000);
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

  return voronka;
}
