// The integration pages in a real browser (Debian's chromium, headless,
// driven by playwright-core) against the real `voronka serve --demo`
// binary: a CSV is chosen in the file input, checked (the report polled in
// place), then imported from its report; a segment and a mailing are
// created, an unknown placeholder is shown beside the kept text. The demo
// has no SMTP, so sending says so beside the button. Screenshots go to
// target/browser-artifacts/integrations-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useVoronka } from "./harness.mjs";

const TEST_TIMEOUT = 60_000;
const voronka = useVoronka("integrations");
const { open, signIn, shot, submit } = voronka;

/** A valid 10-digit INN (legal entity) from `seed`'s digits. */
function legalInn(seed) {
  const digits = String(seed).padStart(9, "7").slice(-9).split("").map(Number);
  const weights = [2, 4, 10, 3, 5, 9, 4, 6, 8];
  const check = (digits.reduce((sum, d, i) => sum + d * weights[i], 0) % 11) % 10;
  return digits.join("") + String(check);
}

async function count(page, name) {
  return Number((await page.locator(`#job [data-count="${name}"]`).textContent()).trim());
}

/** Nothing on the page is wider than the window (no sideways scrolling). */
async function fitsTheWidth(page) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  assert.ok(scroll <= width + 1, `the page is ${scroll}px wide in a ${width}px window`);
}

test("an administrator checks a CSV, sees the problem rows, then imports it", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open();
  await signIn(page, "admin@demo.voronka");
  await submit(page, 'header.top nav a[href="/integrations"]');
  await submit(page, 'main a[href="/imports"]');

  const inn = legalInn(Date.now());
  const name = `ООО «Импорт ${inn}»`;
  const csv = `ИНН;Название\n${inn};${name}\n12345;ООО «Кривой ИНН»\n${inn};${name} ещё раз\n`;
  await page.setInputFiles("#i-file", { name: "base.csv", mimeType: "text/csv", buffer: Buffer.from(csv, "utf8") });
  await page.selectOption("#i-kind", "companies");
  await page.fill("#i-new-name", "browser-companies");
  await page.fill("#i-pairs", "ИНН = inn\nНазвание = name");
  await submit(page, '#import-form button[value="check"]');
  assert.match(new URL(page.url()).pathname, /^\/imports\/jobs\/[0-9a-f-]{36}$/);
  const checkUrl = page.url();
  // The page polls its job until it is finished (no reload by hand).
  await page.locator('#job[data-status="finished"]').waitFor();
  assert.equal(await count(page, "rows"), 3);
  assert.equal(await count(page, "would_create"), 1);
  assert.equal(await count(page, "invalid"), 1);
  assert.equal(await count(page, "duplicates"), 1);
  assert.equal(await page.locator('#invalid-rows tr[data-line="3"]').count(), 1, "the bad INN by its line");
  assert.equal(await page.locator('#duplicate-rows tr[data-line="4"]').count(), 1, "the repeat by its line");
  await shot(page, "import-check");

  await submit(page, '#job form button.primary');
  assert.notEqual(page.url(), checkUrl);
  await page.locator('#job[data-status="finished"]').waitFor();
  assert.equal(await count(page, "created"), 1);
  await shot(page, "import-done");

  // The company is in the base.
  await page.goto(`${voronka.base}/companies?q=${encodeURIComponent(`Импорт ${inn}`)}`);
  assert.equal(await page.getByText(name, { exact: true }).count() >= 1, true, "the imported company is listed");

  // The import page fits a phone.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(`${voronka.base}/imports`);
  await fitsTheWidth(page);
  assert.equal(await page.locator('li[data-mapping="browser-companies"]').count(), 1, "the typed mapping was saved");
  await shot(page, "import-phone");
  await context.close();
});

test("an administrator creates a segment and a mailing, fixing a placeholder", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open({ locale: "ru-RU" });
  await signIn(page, "admin@demo.voronka");
  await page.goto(`${voronka.base}/mailings`);
  await page.fill("#s-name", "ИТ-компании <b>");
  await page.selectOption("#s-industry", "it");
  await submit(page, "#segment-form button[type=submit]");
  assert.match(new URL(page.url()).pathname, /^\/mailings\/segments\//);
  assert.match(await page.locator("main h1").textContent(), /ИТ-компании <b>/, "the name is text");
  assert.match(await page.locator("#recipients").textContent(), /\d+/);

  await page.goto(`${voronka.base}/mailings`);
  await page.fill("#m-subject", "Новости для {{company}}");
  await page.fill("#m-body", "Здравствуйте, {{nmae}}!");
  await page.selectOption("#m-segment", { label: "ИТ-компании <b>" });
  await submit(page, "#mailing-form button[type=submit]");
  const alert = page.locator("#refusal .alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /nmae/);
  assert.equal(await page.inputValue("#m-body"), "Здравствуйте, {{nmae}}!", "the text is kept");

  await page.fill("#m-body", "Здравствуйте, {{name}}!");
  await submit(page, "#mailing-form button[type=submit]");
  assert.match(new URL(page.url()).pathname, /^\/mailings\/[0-9a-f-]{36}$/);
  assert.equal(await page.locator('#mailing[data-status="draft"]').count(), 1);
  await shot(page, "mailing-draft");
  // No SMTP in the demo: said beside the button, the draft stays a draft.
  await submit(page, "#mailing form button.primary");
  assert.match(await page.locator("#refusal .alert").textContent(), /почта/);
  assert.equal(await page.locator('#mailing[data-status="draft"]').count(), 1);
  await context.close();
});
