// The report pages in a real browser: Debian's chromium (headless) driven by
// playwright-core against the real `voronka serve --demo` binary on a
// temporary SQLite file and a free port. The funnel's SVG has a bar per
// stage, plan-vs-fact fits a 375 px phone, and a report built in the
// builder form is saved and listed. Screenshots go to
// target/browser-artifacts/. Every test has its own timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useVoronka } from "./harness.mjs";

const TEST_TIMEOUT = 180_000;
const voronka = useVoronka("reports");
const { open, signIn, shot } = voronka;

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
    const response = await page.request.get(`${voronka.base}${csv}`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()["content-type"], /^text\/csv/);
    await shot(page, "funnel-desktop");
  } finally {
    await context.close();
  }
});

test("plan-vs-fact fits a 375 px phone", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open({ width: 375, height: 740, locale: "ru-RU" });
  try {
    await signIn(page, "head@demo.voronka");
    await page.goto(`${voronka.base}/reports/plans`);
    await page.waitForSelector("form.report-filter");
    assert.equal(await page.locator("h1").textContent(), "План-факт");
    assert.ok(await page.locator("section.plan-group").count() > 0, "managers of the department are listed");
    assert.equal(await overflowsSideways(page), false, "the page does not scroll sideways");
    await page.selectOption("#rep-period", "week");
    await Promise.all([page.waitForNavigation(), page.click("form.report-filter button[type=submit]")]);
    assert.match(page.url(), /period=week/);
    assert.equal(await overflowsSideways(page), false);
    await shot(page, "plans-375");
    await page.goto(`${voronka.base}/reports/funnel`);
    await page.waitForSelector("svg.funnel");
    assert.equal(await overflowsSideways(page), false, "the funnel scales down");
    await shot(page, "funnel-375");
  } finally {
    await context.close();
  }
});

test("a report built in the builder form is saved and listed", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open();
  try {
    await signIn(page, "head@demo.voronka");
    await page.goto(`${voronka.base}/reports/builder`);
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
    await shot(page, "saved");
    await page.goto(`${voronka.base}/reports`);
    assert.equal(await page.locator("#saved-reports a.saved-name", { hasText: name }).count(), 1);
    await shot(page, "index");
  } finally {
    await context.close();
  }
});
