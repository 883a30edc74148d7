// Voronka's pages in a real browser: Debian's chromium (headless) driven by
// playwright-core, against the real `voronka serve --demo` binary on a
// temporary SQLite file and a free port. Screenshots go to
// target/browser-artifacts/. Every test has its own timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useVoronka } from "./harness.mjs";

const TEST_TIMEOUT = 240_000;
const voronka = useVoronka("sale");
const { open, signIn, shot, submit } = voronka;

const text = (s) => (s || "").replace(/\u00a0/g, " ");

async function stageNow(page) {
  return text(await page.locator(".stage-now").textContent()).trim();
}

async function move(page, stage) {
  await submit(page, `ul.moves button[data-stage="${stage}"]`);
}

async function saveFields(page, values) {
  for (const [selector, value] of Object.entries(values)) {
    const tag = await page.locator(selector).evaluate((el) => el.tagName);
    if (tag === "SELECT") await page.selectOption(selector, value);
    else await page.fill(selector, value);
  }
  await submit(page, "#fields form button[type=submit]");
}

async function logActivity(page, { kind, outcome, subject, result }) {
  await page.selectOption("#log-kind", kind);
  await page.selectOption("#log-status", "done");
  if (kind === "call") await page.selectOption("#log-call-outcome", outcome);
  if (kind === "meeting") await page.selectOption("#log-meeting-outcome", outcome);
  await page.fill("#log-subject", subject);
  if (result) await page.fill("#log-result", result);
  await submit(page, "form.log button[type=submit]");
}

async function addDocument(page, kind, line, price) {
  await page.selectOption("#doc-kind", kind);
  await page.fill("#doc-line", line);
  await page.fill("#doc-price", price);
  await submit(page, "#documents form.card button[type=submit]");
}

async function documentAction(page, kind, action) {
  await submit(page, `#documents li[data-kind="${kind}"] button[data-action="${action}"]`);
}

/** The whole sale through the pages; `tag` names the artifacts. */
async function dealFlow(page, tag) {
  const suffix = `${tag}-${Date.now()}`;
  // A company, a contact of it, a deal for them.
  await page.goto(`${voronka.base}/companies/new`);
  await page.fill("#c-name", `ООО «Тест ${suffix}»`);
  await page.selectOption("#c-industry", "it");
  await submit(page, "form.card button[type=submit]");
  assert.match(page.url(), /\/companies\/[0-9a-f-]{36}/);
  await page.click("a[href^='/contacts/new?company=']");
  await page.fill("#p-surname", "Смирнова");
  await page.fill("#p-name", `Ольга ${tag}`);
  await page.fill("#p-phone", "8 (912) 555-01-02");
  await submit(page, "form.card button[type=submit]");
  assert.match(page.url(), /\/contacts\/[0-9a-f-]{36}/);
  const contactId = page.url().match(/contacts\/([0-9a-f-]{36})/)[1];
  await page.click("a[href^='/deals/new?contact=']");
  await page.fill("#d-title", `Лицензии ${suffix}`);
  await page.fill("#d-amount", "250000");
  await page.selectOption("#d-source", "website");
  await submit(page, "form.card button[type=submit]");
  assert.match(page.url(), /\/deals\/[0-9a-f-]{36}/);
  assert.equal(await stageNow(page), "New lead");
  await shot(page, `${tag}-01-new-deal`);

  // New lead -> qualifying call: company, contact and responsible are set.
  await move(page, "qualifying");
  assert.equal(await stageNow(page), "Qualifying call");

  // Too early for needs analysis: the checklist says what is missing.
  await move(page, "needs");
  const refusal = page.locator("#refusal");
  await refusal.waitFor();
  const missing = await refusal.locator("ul.checklist li").allTextContents();
  assert.ok(missing.length >= 2, `checklist: ${missing}`);
  assert.ok(await refusal.locator("a[href='#log-activity']").count() >= 1);
  assert.equal(await stageNow(page), "Qualifying call");
  await shot(page, `${tag}-02-checklist-needs`);

  // Log the call with its outcome, fill the industry, move on.
  await logActivity(page, { kind: "call", outcome: "reached", subject: "Qualifying call" });
  await saveFields(page, { "#f-industry": "it" });
  await move(page, "needs");
  assert.equal(await stageNow(page), "Needs analysis");

  // The meeting, the needs; then the proposal stage.
  await logActivity(page, { kind: "meeting", outcome: "needs_identified", subject: "Needs meeting", result: "Needs 20 licences" });
  await saveFields(page, { "#f-needs_summary": "20 licences, integration with 1C" });
  await move(page, "proposal");
  assert.equal(await stageNow(page), "Proposal");

  // Create and send the proposal; the decision maker and close date.
  await addDocument(page, "proposal", "Licence, 1 year", "12500");
  await documentAction(page, "proposal", "sent");
  const close = new Date(Date.now() + 30 * 86400_000).toISOString().slice(0, 10);
  await saveFields(page, { "#f-decision_maker": contactId, "#f-close": close });
  await move(page, "negotiation");
  assert.equal(await stageNow(page), "Negotiation");

  // The contract, sent; its number; the contract stage.
  await addDocument(page, "contract", "Licence contract", "250000");
  await documentAction(page, "contract", "sent");
  await saveFields(page, { "#f-contract_number": `D-${suffix}` });
  await move(page, "contract");
  assert.equal(await stageNow(page), "Contract");

  // Invoice too early: the contract is not signed and no invoice is issued.
  await move(page, "invoice");
  await page.locator("#refusal").waitFor();
  const early = await page.locator("#refusal ul.checklist li").allTextContents();
  assert.ok(early.length >= 2, `invoice checklist: ${early}`);
  assert.ok(await page.locator("#refusal a[href='#documents']").count() >= 1);
  assert.equal(await stageNow(page), "Contract");
  await shot(page, `${tag}-03-checklist-invoice`);

  // Sign the contract, issue and pay the invoice, win.
  await documentAction(page, "contract", "signed");
  await addDocument(page, "invoice", "Licences", "250000");
  await documentAction(page, "invoice", "issued");
  await move(page, "invoice");
  assert.equal(await stageNow(page), "Invoice issued");
  await submit(page, `#documents li[data-kind="invoice"] button[data-action="pay"]`);
  assert.equal(await page.locator('#documents li[data-kind="invoice"]').getAttribute("data-status"), "paid");
  await move(page, "won");
  assert.equal(await stageNow(page), "Paid, won");
  await shot(page, `${tag}-04-won`);
  return page.url();
}

test("a manager runs a whole sale on a desktop", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, dialogs } = await open();
  try {
    await signIn(page, "anna@demo.voronka");
    assert.equal(await page.locator("h1").textContent(), "My day");
    await shot(page, "desktop-00-my-day");
    const card = await dealFlow(page, "desktop");
    // The timeline tells the story, newest first.
    const history = await page.locator("ol.timeline li").allTextContents();
    assert.ok(history.some((line) => line.includes("Stage changed")), history.join("\n"));
    // The won deal is on the board, in the won column.
    await page.goto(`${voronka.base}/board/b2b-sale`);
    const id = card.match(/deals\/([0-9a-f-]{36})/)[1];
    assert.equal(await page.locator(`section[data-stage="won"] a[href="/deals/${id}"]`).count(), 1);
    await shot(page, "desktop-05-board");
    assert.deepEqual(dialogs, []);
  } finally {
    await context.close();
  }
});

test("the same sale at 375 px on a phone", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open({ width: 375, height: 740 });
  try {
    await signIn(page, "ivan@demo.voronka");
    await dealFlow(page, "phone");
    // Nothing is wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
    await page.goto(`${voronka.base}/`);
    await shot(page, "phone-05-my-day");
  } finally {
    await context.close();
  }
});

test("the Russian interface, and switching language", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page } = await open({ locale: "ru-RU" });
  try {
    await signIn(page, "maria@demo.voronka");
    assert.equal(await page.locator("h1").textContent(), "Мой день");
    assert.equal(await page.locator("html").getAttribute("lang"), "ru");
    await page.goto(`${voronka.base}/board`);
    assert.equal(await page.locator("h1").textContent(), "Воронка: Продажа B2B");
    const sum = text(await page.locator("section.column .sum").first().textContent());
    assert.match(sum, /^[\d ]+,\d\d ₽/, sum);
    await shot(page, "ru-01-board");
    await submit(page, "header form.lang-switch button[value=en]");
    assert.equal(await page.locator("h1").textContent(), "Pipeline: B2B sale");
    await submit(page, "header form.lang-switch button[value=ru]");
    assert.equal(await page.locator("html").getAttribute("lang"), "ru");
  } finally {
    await context.close();
  }
});

test("a manager is refused another department's deal", { timeout: TEST_TIMEOUT }, async () => {
  const moscow = await open();
  const spb = await open();
  try {
    await signIn(moscow.page, "anna@demo.voronka");
    await moscow.page.goto(`${voronka.base}/board/b2b-sale`);
    const href = await moscow.page.locator(".deal-card a.title").first().getAttribute("href");
    assert.match(href, /^\/deals\//);
    await signIn(spb.page, "sergey@demo.voronka");
    const response = await spb.page.goto(`${voronka.base}${href}`);
    assert.equal(response.status(), 404);
    assert.equal(await spb.page.locator("h1").textContent(), "Not found");
    await shot(spb.page, "denied-other-department");
  } finally {
    await moscow.context.close();
    await spb.context.close();
  }
});

test("a contact named <script>alert(1)</script> shows as text", { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, dialogs } = await open();
  try {
    await signIn(page, "elena@demo.voronka");
    await page.goto(`${voronka.base}/contacts/new`);
    await page.fill("#p-surname", "<script>alert(1)</script>");
    await page.fill("#p-name", "<img src=x onerror=alert(2)>");
    await submit(page, "form.card button[type=submit]");
    const title = await page.locator("h1").textContent();
    assert.ok(title.includes("<script>alert(1)</script>"), title);
    await page.goto(`${voronka.base}/contacts?q=script`);
    const row = await page.locator("ul.list li").first().textContent();
    assert.ok(row.includes("<script>alert(1)</script>"), row);
    assert.equal(await page.locator("ul.list img").count(), 0);
    await shot(page, "xss-as-text");
    assert.deepEqual(dialogs, []);
  } finally {
    await context.close();
  }
});
