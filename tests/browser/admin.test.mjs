// The process designer and the administration pages in a real browser:
// Debian's chromium (headless) driven by playwright-core against the real
// `voronka serve --demo` binary on a temporary SQLite file and a free port.
// A problem is shown beside the text, fixed, simulated and published; a
// user is added at 375 px and signs in. Screenshots go to
// target/browser-artifacts/admin-*.png. Every test has its own timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { useVoronka, artifacts } from "./harness.mjs";

const TEST_TIMEOUT = 180_000;
const voronka = useVoronka("admin");
const { open, signIn, shot, submit } = voronka;

/** Nothing on the page is wider than the window (no sideways scrolling). */
async function fitsTheWidth(page) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  assert.ok(scroll <= width + 1, `the page is ${scroll}px wide in a ${width}px window`);
}

test("a designer sees a problem beside the text, fixes it, simulates and publishes", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, dialogs } = await open();
  await signIn(page, "admin@demo.voronka");
  await page.click('header.top nav a[href="/processes"]');
  await page.waitForURL(`${voronka.base}/processes`);
  await submit(page, 'a[href="/processes/b2b-sale/edit"]');
  const original = await page.inputValue("#yaml");
  assert.match(original, /process: b2b-sale/);

  // A typo in a transition: the server names the line and column.
  const broken = original.replace("- { from: new, to: [qualifying] }", "- { from: new, to: [qualifyin] }");
  assert.notEqual(broken, original);
  const brokenLine = broken.split("\n").findIndex((l) => l.includes("qualifyin]")) + 1;
  await page.fill("#yaml", broken);
  await submit(page, "form#designer button:not(.primary)");
  const problem = page.locator(`ol.des-problems li.des-error a.des-pos[data-line="${brokenLine}"]`).first();
  await problem.waitFor();
  assert.match(await problem.textContent(), new RegExp(`^${brokenLine}:\\d+$`));
  assert.equal(await page.inputValue("#yaml"), broken, "the text is kept");
  assert.equal(await page.locator("svg.des-diagram").count(), 0);
  // Beside the text on a desktop: the list is to the right of the editor.
  const editorBox = await page.locator(".des-code").boundingBox();
  const listBox = await page.locator("#diagnostics").boundingBox();
  assert.ok(listBox.x >= editorBox.x + editorBox.width - 1, "the problems are beside the editor");
  // The gutter marks the line; the position puts the caret on it.
  assert.ok((await page.locator(".des-gutter .des-bad").allTextContents()).includes(String(brokenLine)));
  await problem.click();
  const caretLine = await page.evaluate(() => {
    const area = document.getElementById("yaml");
    return area.value.slice(0, area.selectionStart).split("\n").length;
  });
  assert.equal(caretLine, brokenLine);
  assert.equal(await page.evaluate(() => document.activeElement.id), "yaml");
  await shot(page, "designer-error");

  // Fixed, and stricter: qualifying now needs a contract number too.
  const draft = original
    .replace(/^version: 1$/m, "version: 2")
    .replace("      fields: [company, contact, responsible]\n", "      fields: [company, contact, responsible, contract_number]\n");
  assert.notEqual(draft, original);
  await page.fill("#yaml", draft);
  await submit(page, "form#designer button:not(.primary)");
  await page.locator("svg.des-diagram").waitFor();
  assert.equal(await page.locator("svg.des-diagram g.des-node").count(), 9, "a box per stage");
  assert.equal(await page.locator("ol.des-problems li.des-error").count(), 0);
  const blocked = page.locator("ul.des-blocked li");
  assert.ok((await blocked.count()) > 0, "the demo's deals that entered qualifying would have been blocked");
  const link = await blocked.first().locator("a").getAttribute("href");
  assert.match(link, /^\/deals\/[0-9a-f-]{36}$/);
  await shot(page, "designer-simulation");
  await page.locator("#diagram").screenshot({ path: join(artifacts, "admin-designer-diagram.png") });
  await page.locator("#simulation").screenshot({ path: join(artifacts, "admin-designer-simulation-section.png") });

  await submit(page, "form#designer button.primary");
  assert.equal(new URL(page.url()).pathname, "/processes");
  assert.match(await page.locator("p.ok").textContent(), /b2b-sale, version 2/);
  const response = await page.request.get(`${voronka.base}/processes/b2b-sale/edit`);
  assert.equal(response.status(), 200);
  assert.match(await response.text(), /name="base" value="2"/);
  await shot(page, "designer-published");
  assert.deepEqual(dialogs, []);
  await context.close();
});

test("an administrator adds a user at 375 px, who then signs in", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, dialogs } = await open({ width: 375, height: 812 });
  await signIn(page, "admin@demo.voronka");
  await page.goto(`${voronka.base}/admin`);
  await fitsTheWidth(page);
  await submit(page, 'ul.adm-links a[href="/admin/users"]');
  await fitsTheWidth(page);
  await page.fill("#u-name", "Ольга <b>Новикова</b>");
  await page.fill("#u-email", "olga@demo.voronka");
  await page.fill("#u-password", "olga-strong-password-1");
  const department = await page.locator("#u-department option").nth(1).getAttribute("value");
  await page.selectOption("#u-department", department);
  await page.check("#u-role-manager");
  await submit(page, "form[action='/admin/users'] button.primary");
  assert.match(await page.locator("p.ok").textContent(), /added/);
  const added = page.locator('li.adm-user[data-email="olga@demo.voronka"] strong');
  assert.equal(await added.textContent(), "Ольга <b>Новикова</b>", "shown as text");
  await fitsTheWidth(page);
  await shot(page, "users-375");

  await page.goto(`${voronka.base}/processes/b2b-sale/edit`);
  await fitsTheWidth(page);
  await submit(page, "form#designer button:not(.primary)");
  await page.locator("svg.des-diagram").waitFor();
  await fitsTheWidth(page);
  await page.locator("#diagram").screenshot({ path: join(artifacts, "admin-designer-diagram-375.png") });
  await page.goto(`${voronka.base}/admin/roles`);
  await fitsTheWidth(page);
  await shot(page, "roles-375");

  const other = await open({ width: 375, height: 812 });
  await signIn(other.page, "olga@demo.voronka", "olga-strong-password-1");
  assert.equal(await other.page.locator('header.top nav a[href="/admin"]').count(), 0, "no administration for a manager");
  const refused = await other.page.goto(`${voronka.base}/admin/users`);
  assert.equal(refused.status(), 403);
  assert.equal(await other.page.locator("h1").textContent(), "Forbidden");
  await other.context.close();
  assert.deepEqual(dialogs, []);
  await context.close();
});
