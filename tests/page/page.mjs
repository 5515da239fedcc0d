// Drives Debian's chromium, headless, through the page that kafka-records
// serves at GET /, against the real service and broker. Run by
// tests/page.rs, which prepares the topic and the group with kcat, starts
// the services and checks what the page wrote with kcat afterwards.
//
// Environment (all set by tests/page.rs):
//   CHROMIUM            the browser binary
//   PAGE_URL            a service that writes
//   PAGE_RO_URL         the same cluster through a --read-only service
//   PAGE_TOKEN_URL      a service with --auth-token, and PAGE_TOKEN its token
//   PAGE_BOOTSTRAP      the brokers, for kcat
//   PAGE_TOPIC          a topic kcat created and wrote PAGE_RECORDS records to,
//                       each with a header trace=t<i>
//   PAGE_GROUP          a group with a committed offset on PAGE_TOPIC, lag PAGE_LAG
//   PAGE_WRITE_VALUE    the value the page writes (tests/page.rs finds it with kcat)
//   PAGE_AVRO_TOPIC     a topic the page writes an Avro record to and reads it
//                       back from (PAGE_URL's service has a Schema Registry)
//   PAGE_NEW_TOPIC      a topic the page creates, and whose records it deletes
//   PAGE_SCREENSHOTS    where the screenshots go
//
// It prints one JSON line per step ({"step", "ms"}) and a last line
// {"figures": ...}; it exits non-zero at the first failed check.

import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const URL_ = env('PAGE_URL');
const RO_URL = env('PAGE_RO_URL');
const TOKEN_URL = env('PAGE_TOKEN_URL');
const TOKEN = env('PAGE_TOKEN');
const BOOTSTRAP = env('PAGE_BOOTSTRAP');
const TOPIC = env('PAGE_TOPIC');
const RECORDS = Number(env('PAGE_RECORDS'));
const GROUP = env('PAGE_GROUP');
const LAG = env('PAGE_LAG');
const WRITE_VALUE = env('PAGE_WRITE_VALUE');
const AVRO_TOPIC = env('PAGE_AVRO_TOPIC');
const NEW_TOPIC = env('PAGE_NEW_TOPIC');
const AVRO_SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Visit',
  fields: [{ name: 'name', type: 'string' }, { name: 'count', type: 'int' }],
});
const SHOTS = env('PAGE_SCREENSHOTS');
mkdirSync(SHOTS, { recursive: true });

const figures = {};
let started = Date.now();
function step(name) {
  console.log(JSON.stringify({ step: name, ms: Date.now() - started }));
  started = Date.now();
}
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** Runs the curl command the view shows, as a user who copies it would; its JSON. */
async function runCurl(page) {
  return JSON.parse(execFileSync('sh', ['-c', await page.locator('.curl-text').textContent()]));
}

/** Writes one record with kcat (librdkafka), as an independent producer. */
function kcatProduce(value, header, topic = TOPIC) {
  return new Promise((resolve, reject) => {
    const args = ['-b', BOOTSTRAP, '-P', '-t', topic, '-p', '0'];
    if (header) args.push('-H', header);
    const p = spawn('kcat', args, { stdio: ['pipe', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kcat exited ${code}`))));
    p.stdin.end(value + '\n');
  });
}

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  // As root (CI), chromium runs only without its sandbox. rebind.example
  // resolves to loopback, as a DNS-rebinding attacker's name would.
  args: ['--no-sandbox', '--host-resolver-rules=MAP rebind.example 127.0.0.1'],
});

const problems = [];
// Requests sent and not yet answered, across pages (see the failure report).
const pending = new Set();
// Console errors a step provokes on purpose (a refused cross-origin call).
let expectedErrors = null;
async function newPage(viewport = { width: 1366, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => pending.add(`${r.method()} ${r.url()}`));
  const answered = (r) => pending.delete(`${r.method()} ${r.url()}`);
  page.on('requestfinished', answered);
  page.on('requestfailed', answered);
  page.on('console', (m) => {
    // A blocked script, style or request shows here: the policy must never bite.
    if (m.type() === 'error'
      && !/Failed to load resource: the server responded with a status of (401|403|404|421)/.test(m.text())
      && !(expectedErrors && expectedErrors.test(m.text()))) {
      problems.push(`console: ${m.text()}`);
    }
  });
  return page;
}

/** Every form control on the page has a label a screen reader reads. */
async function checkLabels(page, view) {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => e.offsetParent !== null)
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.textContent || '').trim())
    .map((e) => e.outerHTML.slice(0, 80)));
  check(unlabelled.length === 0, `${view}: controls without a label: ${unlabelled.join(' ')}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

try {
  // --- the topics list, and the time to first render ---
  const page = await newPage();
  const response = await page.goto(URL_);
  check(response.status() === 200, `GET / answered ${response.status()}`);
  const csp = response.headers()['content-security-policy'] || '';
  check(csp.includes("script-src 'self'") && csp.includes("default-src 'none'"), `CSP: ${csp}`);
  await page.waitForSelector(`#topics tr[data-topic="${TOPIC}"]`);
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const mark = performance.getEntriesByName('kafka-records:first-render')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return {
      responseEnd: nav.responseEnd,
      domContentLoaded: nav.domContentLoadedEventEnd,
      firstContentfulPaint: fcp ? fcp.startTime : null,
      firstRender: mark ? mark.startTime : null,
      transferred: performance.getEntriesByType('resource').reduce((s, r) => s + r.transferSize, nav.transferSize),
    };
  });
  figures.timing = timing;
  check(timing.firstRender !== null, 'the page marks its first render');
  const countCell = page.locator(`#topics tr[data-topic="${TOPIC}"] td[data-records]`);
  await countCell.waitFor();
  check(await countCell.getAttribute('data-records') === String(RECORDS), `${TOPIC} shows ${RECORDS} records`);
  const partitionsCell = await page.locator(`#topics tr[data-topic="${TOPIC}"] td[data-label="Partitions"]`).textContent();
  check(partitionsCell === '1', `${TOPIC} shows its one partition: ${partitionsCell}`);
  await checkLabels(page, 'topics');
  // The filter box keeps the matching topics only.
  await page.fill('#topic-filter', TOPIC);
  const visible = await page.locator('#topics tbody tr:visible').count();
  check(visible === 1, `the filter leaves one topic, not ${visible}`);
  await page.fill('#topic-filter', 'no-such-topic-anywhere');
  check(await page.locator('#topics tbody tr:visible').count() === 0, 'the filter hides the others');
  await page.fill('#topic-filter', TOPIC);
  // The curl command shown gets the same list.
  const curlTopics = await runCurl(page);
  check(curlTopics.topics.some((t) => t.name === TOPIC), 'the curl command lists the topic');
  await shot(page, '1-topics');
  step('topics list, filter, record count, curl');

  // --- the topic ---
  await page.click(`#topics tr[data-topic="${TOPIC}"] th a`);
  await page.waitForSelector('#partitions tbody tr');
  // kcat's auto-created topic: the broker's default of one partition.
  check(await page.locator('#partitions tbody tr').count() === 1, 'one partition shown');
  const cells = await page.locator('#partitions tbody tr').first().locator('td').allTextContents();
  check(/^\d+$/.test(cells[0]), `a leader is shown: ${cells[0]}`);
  check(cells[6] === String(RECORDS), `the end offset is shown: ${cells}`);
  check(await page.locator('#configs, p:text("default value")').count() === 1, 'the configs are shown');
  check(!(await page.locator('main').textContent()).includes('null'), 'nothing shows as null');
  const curlTopic = await runCurl(page);
  check(curlTopic.name === TOPIC && curlTopic.partitions[0].endOffset === RECORDS, 'the curl command describes the topic');
  await checkLabels(page, 'topic');
  await shot(page, '2-topic');
  step('topic view');

  // --- records written by kcat, with their headers ---
  await page.click('a.button:text("Records")');
  await page.waitForSelector('#records tbody tr');
  const rows = page.locator('#records tbody tr');
  check(await rows.count() === RECORDS, `${RECORDS} records shown, not ${await rows.count()}`);
  const text = await page.locator('#records').textContent();
  for (let i = 0; i < RECORDS; i++) {
    check(text.includes(`"n": ${i}`), `record ${i} formatted as JSON`);
    check(text.includes(`t${i}`), `record ${i}'s header`);
  }
  check(text.includes('trace'), 'header keys shown');
  // Each record's timestamp, as the API gives it.
  const stored = await page.evaluate(async (t) => (await (await fetch(`records/${t}?distanceFromBeginning=0&limit=100&timeout=0s`)).json()).records, TOPIC);
  const times = await rows.evaluateAll((r) => r.map((x) => [x.dataset.offset, x.querySelector('time').getAttribute('datetime')]));
  for (const [offset, time] of times) {
    const want = new Date(stored.find((r) => String(r.offset) === offset).timestamp).toISOString();
    check(time === want, `record ${offset} shows timestamp ${time}, expected ${want}`);
  }
  // The curl command shown gets the same records.
  const curlRecords = await runCurl(page);
  check(curlRecords.records.length === RECORDS, 'the curl command reads the same records');
  await checkLabels(page, 'records');
  await shot(page, '3-records');
  step('records with headers');

  // --- the live tail: a record kcat writes appears within two seconds ---
  await page.click('#tail');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('waiting'));
  // The stream is open once the service has answered its head.
  await page.waitForTimeout(300);
  const tailStart = Date.now();
  await kcatProduce('{"live": 1}', 'trace=live');
  await page.waitForSelector('#records tbody tr.live', { timeout: 2000 });
  figures.tailMs = Date.now() - tailStart;
  check(figures.tailMs <= 2000, `the live record appeared after ${figures.tailMs} ms`);
  await shot(page, '4-live-tail');
  // Paused, nothing comes; resumed, it goes on from where it stopped.
  await page.click('#tail');
  check(await page.getAttribute('#tail', 'aria-pressed') === 'false', 'the tail is paused');
  await kcatProduce('{"live": 2}');
  await page.waitForTimeout(1000);
  check(await page.locator('#records tbody tr.live').count() === 1, 'nothing comes while paused');
  await page.click('#tail');
  await page.waitForFunction(() => document.querySelectorAll('#records tbody tr.live').length === 2, null, { timeout: 3000 });
  await page.click('#tail');
  step('live tail, pause and resume');

  // --- a jq filter, and the other views of values ---
  await page.selectOption("#r-value", "json");
  await page.fill("#r-filter", ".value.n == 1");
  await page.click('#records-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#records tbody tr').length === 1
    && document.querySelector('#records tbody tr').dataset.offset === '1');
  await shot(page, '5-filter');
  await page.fill('#r-filter', '');
  await page.selectOption('#r-view', 'hex');
  await page.click('#records-form button[type=submit]');
  await page.waitForFunction(() => (document.querySelector('#records tbody') || {}).textContent?.includes('00000000  7b 22 6e 22'));
  await shot(page, '6-hex');
  step('jq filter and hex view');

  // --- older and newer pages ---
  await page.goto(`${URL_}/#/records/${TOPIC}?partition=0&limit=2&from=beginning`);
  await page.waitForFunction(() => document.querySelectorAll('#records tbody tr').length === 2);
  const firstPage = await page.locator('#records tbody tr').evaluateAll((r) => r.map((x) => x.dataset.offset).join());
  await page.click('#newer');
  await page.waitForFunction((f) => [...document.querySelectorAll('#records tbody tr')].map((x) => x.dataset.offset).join() !== f, firstPage);
  const secondPage = await page.locator('#records tbody tr').evaluateAll((r) => r.map((x) => x.dataset.offset).join());
  check(firstPage === '0,1' && secondPage === '2,3', `pages ${firstPage} then ${secondPage}`);
  await page.click('#older');
  await page.waitForFunction((f) => [...document.querySelectorAll('#records tbody tr')].map((x) => x.dataset.offset).join() === f, firstPage);
  // From the latest: the last two records (five from kcat, two from the
  // tail), then the two before them.
  const offsets = () => page.locator('#records tbody tr').evaluateAll((r) => r.map((x) => x.dataset.offset).join());
  await page.goto(`${URL_}/#/records/${TOPIC}?limit=2`);
  await page.waitForFunction(() => document.querySelector('#records-caption')?.textContent.includes('the latest'));
  check(await offsets() === '5,6', `the latest two: ${await offsets()}`);
  await page.click('#older');
  await page.waitForFunction(() => document.querySelector('#records-caption').textContent.includes('older'));
  check(await offsets() === '3,4', `the two before: ${await offsets()}`);
  // From a time: the first record at or after it.
  const all = await page.evaluate(async (t) => (await (await fetch(`records/${t}?distanceFromBeginning=0&limit=100&timeout=0s`)).json()).records, TOPIC);
  const second = Math.floor(all[3].timestamp / 1000) * 1000; // the form takes whole seconds
  const expected = all.find((r) => r.timestamp >= second).offset;
  const local = await page.evaluate((ms) => {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }, second);
  await page.goto(`${URL_}/#/records/${TOPIC}?from=time&time=${encodeURIComponent(local)}&limit=1`);
  await page.waitForFunction(() => document.querySelector('#records-caption')?.textContent.includes('from time'));
  check(await offsets() === String(expected), `from ${local}: ${await offsets()}, expected ${expected}`);
  // A datetime-local input leaves out seconds that are zero: compare times.
  const shown = await page.evaluate(() => new Date(document.querySelector('#r-time').value).getTime());
  check(shown === second, `the form shows the time: ${await page.inputValue('#r-time')}, expected ${local}`);
  // From an offset, values as the text they were written as.
  await page.goto(`${URL_}/#/records/${TOPIC}?partition=0&from=offset&offset=3&limit=2&view=text`);
  await page.waitForFunction(() => document.querySelector('#records-caption')?.textContent.includes('offset'));
  check(await offsets() === '3,4', `from offset 3: ${await offsets()}`);
  const asText = await page.locator('#records tbody tr[data-offset="3"] td[data-label="Value"] pre').textContent();
  check(asText === '{"n": 3}', `the text view shows what kcat wrote: ${asText}`);
  step('older and newer pages, from an offset, text view');

  // --- write a record through the page ---
  await page.goto(`${URL_}/#/write?topic=${TOPIC}`);
  await page.waitForSelector('#write-form');
  await page.fill('#w-key', 'from-the-page');
  await page.fill('#w-value', WRITE_VALUE);
  await page.click('#write-form button:text("Add a header")');
  await page.locator('#w-headers .header-key').fill('origin');
  await page.locator('#w-headers .header-value').fill('page');
  check((await page.locator('.curl-text').textContent()).includes(WRITE_VALUE), 'the curl command holds the value');
  await checkLabels(page, 'write');
  await page.click('#write-form button[type=submit]');
  await page.waitForSelector('#written-offset');
  figures.writtenOffset = Number(await page.locator('#written-offset').textContent());
  await shot(page, '7-write');
  step('write a record');

  // --- schema formats: an Avro record written and read back through the page ---
  await page.goto(`${URL_}/#/write?topic=${AVRO_TOPIC}`);
  await page.waitForSelector(`#w-topic[value="${AVRO_TOPIC}"]`);
  check(await page.locator('#w-value-format option[value="avro"]').count() === 1, 'avro is offered with a registry');
  await page.selectOption('#w-value-format', 'avro');
  await page.fill('#w-schema', AVRO_SCHEMA);
  await page.fill('#w-value', '{"name": "page", "count": 3}');
  await page.click('#write-form button[type=submit]');
  await page.waitForSelector('#written-offset');
  await page.goto(`${URL_}/#/records/${AVRO_TOPIC}?value=avro&from=beginning`);
  await page.waitForSelector('#records tbody tr');
  const avro = await page.locator('#records tbody').textContent();
  check(avro.includes('"name": "page"') && avro.includes('"count": 3'), `the Avro value decoded: ${avro}`);
  check(/schema ids – \/ \d+/.test(avro), `the schema id shown: ${avro}`);
  await shot(page, '7b-avro');
  step('Avro through the page');

  // --- a topic created, then its records deleted, each after a confirmation ---
  await page.goto(`${URL_}/#/create-topic`);
  await page.waitForSelector('#create-topic');
  await checkLabels(page, 'create a topic');
  await page.fill('#new-name', NEW_TOPIC);
  await page.fill('#new-partitions', '2');
  await page.click('#create-topic button[type=submit]');
  await page.waitForSelector('#confirm[open]');
  await checkLabels(page, 'the confirmation');
  await page.click('#confirm-cancel');
  const exists = async (topic) => page.evaluate(async (t) => (await fetch(`topics/${t}`)).status, topic);
  check(await exists(NEW_TOPIC) === 404, 'cancelled: no topic');
  await page.click('#create-topic button[type=submit]');
  await page.waitForSelector('#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForSelector('#partitions tbody tr');
  check(await page.locator('#partitions tbody tr').count() === 2, 'the new topic has two partitions');
  for (let i = 0; i < 3; i++) await kcatProduce(`old ${i}`, null, NEW_TOPIC);
  await page.reload();
  await page.waitForSelector('#partitions tbody tr');
  await page.click('main button:text("Delete every record")');
  await page.waitForSelector('#confirm[open]');
  // The topic's name must be typed: anything else keeps the dialog open.
  await page.fill('#confirm-typed', 'not the name');
  await page.click('#confirm-ok');
  check(await page.locator('#confirm[open]').count() === 1, 'a wrong name does not confirm');
  await page.fill('#confirm-typed', NEW_TOPIC);
  await shot(page, '8a-confirm');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('partition 0 now starts at 3'));
  step('create a topic, delete its records');

  // --- a view left before its answer came never replaces the next one ---
  const slowTopic = `**/topics/${TOPIC}`;
  await page.route(slowTopic, async (r) => {
    await new Promise((done) => setTimeout(done, 1500));
    await r.continue();
  });
  await page.goto(`${URL_}/#/topics/${TOPIC}`);
  await page.waitForSelector(`#view-title:text("${TOPIC}")`);
  await page.goto(`${URL_}/#/groups`);
  await page.waitForSelector('#groups tbody tr');
  await page.waitForTimeout(2500);
  check(await page.locator('#groups').count() === 1, `the groups were replaced by the slower topic view: ${await page.title()}`);
  await page.unroute(slowTopic);
  step('a slow view left behind');

  // --- a group's lag ---
  await page.goto(`${URL_}/#/groups`);
  await page.waitForSelector('#groups tbody tr');
  await checkLabels(page, 'groups');
  await page.fill('#group-filter', GROUP);
  await page.click(`#groups a:text("${GROUP}")`);
  await page.waitForSelector('#offsets tbody tr');
  const lag = await page.locator(`#offsets tr[data-topic="${TOPIC}"][data-partition="0"] td.lag`).textContent();
  check(lag === LAG, `lag ${lag}, expected ${LAG}`);
  const curlGroup = await runCurl(page);
  check(String(curlGroup.lag) === LAG, `the curl command gets the group's lag: ${curlGroup.lag}`);
  const state = await page.evaluate(async (g) => (await (await fetch(`groups/${g}`)).json()).state, GROUP);
  check(await page.locator('#group-state').textContent() === state, `the group's state ${state} is shown`);
  check((await page.locator('main').textContent()).includes('No members.'), 'a group without members says so');
  await checkLabels(page, 'group');
  await shot(page, '8-group');
  // A live member: kcat consuming in a group of its own.
  const liveGroup = `page-live-member-${Date.now()}`;
  const member = spawn('kcat', ['-b', BOOTSTRAP, '-G', liveGroup, '-o', 'end', '-q', TOPIC], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    const stable = Date.now();
    while ((await page.evaluate(async (g) => (await fetch(`groups/${g}`)).ok
      && (await (await fetch(`groups/${g}`)).json()).state === 'Stable', liveGroup)) === false) {
      check(Date.now() - stable < 60000, `kcat's group ${liveGroup} is not stable after 60 s`);
      await page.waitForTimeout(250);
    }
    await page.goto(`${URL_}/#/groups/${liveGroup}`);
    await page.waitForSelector('#members tbody tr');
    check(await page.locator('#group-state').textContent() === 'Stable', 'the live group is Stable');
    const memberCells = await page.locator('#members tbody tr').first().locator('td').allTextContents();
    check(memberCells[0] === 'rdkafka' && memberCells[2] === `${TOPIC}/0`, `kcat's member and its partition: ${memberCells}`);
    check(await page.locator('#members tbody tr').count() === 1, 'one member');
    await shot(page, '8b-group-members');
  } finally {
    member.kill();
  }
  step('group lag, state and members');

  // --- keyboard: the skip link first, then the sections ---
  const keys = await newPage();
  await keys.goto(URL_);
  await keys.waitForSelector('#topics');
  await keys.keyboard.press('Tab');
  check(await keys.evaluate(() => document.activeElement.className) === 'skip', 'Tab reaches the skip link first');
  await keys.keyboard.press('Tab');
  check(await keys.evaluate(() => document.activeElement.textContent) === 'kafka-records', 'then the sections');
  await keys.focus('nav a[data-section="groups"]');
  await keys.keyboard.press('Enter');
  await keys.waitForSelector('#groups');
  check(await keys.evaluate(() => document.activeElement.id) === 'view-title', 'a new view focuses its heading');
  // The group, its lag, by keyboard alone: Tab to the filter, type, Tab to the link.
  await keys.focus('#group-filter');
  await keys.keyboard.type(GROUP);
  await keys.keyboard.press('Tab');
  await keys.keyboard.press('Tab');
  check(await keys.evaluate(() => document.activeElement.textContent) === GROUP, 'Tab reaches the group');
  await keys.keyboard.press('Enter');
  await keys.waitForSelector('#offsets');
  step('keyboard');

  // --- a phone ---
  const phone = await newPage({ width: 390, height: 844 });
  await phone.goto(`${URL_}/#/records/${TOPIC}`);
  await phone.waitForSelector('#records tbody tr');
  const tooWide = () => phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(await tooWide() <= 0, `the phone's records view is ${await tooWide()} px too wide`);
  await shot(phone, '9-phone-records');
  for (const [view, ready] of [['topics', '#topics tbody tr'], [`topics/${TOPIC}`, '#partitions tbody tr'], [`groups/${GROUP}`, '#offsets tbody tr']]) {
    await phone.goto(`${URL_}/#/${view}`);
    await phone.waitForSelector(ready);
    check(await tooWide() <= 0, `the phone's ${view} view is ${await tooWide()} px too wide`);
  }
  step('phone');

  // --- read-only: no writes shown, and the server refuses them ---
  const ro = await newPage();
  await ro.goto(`${RO_URL}/#/topics/${TOPIC}`);
  await ro.waitForSelector('#partitions');
  check(await ro.locator('nav li.writes').isHidden(), 'read-only: the write link is hidden');
  check(await ro.locator('main button.danger').count() === 0, 'read-only: no truncate or delete buttons');
  check(await ro.locator('a.button:text("Write a record")').count() === 0, 'read-only: no write button');
  await ro.goto(`${RO_URL}/#/topics`);
  await ro.waitForSelector('#topics');
  check(await ro.locator('a:text("Create a topic")').count() === 0, 'read-only: no topic creation');
  const refused = await ro.evaluate(async (topic) => {
    const post = await fetch('records', { method: 'POST', body: JSON.stringify({ records: [{ topic, value: 'x' }] }) });
    const del = await fetch(`records/${topic}`, { method: 'DELETE' });
    const create = await fetch('topics', { method: 'POST', body: JSON.stringify({ name: 'page-never' }) });
    return [post.status, del.status, create.status];
  }, TOPIC);
  check(refused.join() === '403,403,403', `read-only refuses writes: ${refused}`);
  await shot(ro, '10-read-only');
  step('read-only');

  // --- the browser protections: another host name, another origin ---
  const rebind = await newPage();
  const rebound = await rebind.goto(URL_.replace('127.0.0.1', 'rebind.example'));
  check(rebound.status() === 421, `a page under another host name: ${rebound.status()}`);
  // A page of another site (served here by the browser itself) cannot call
  // the service: it answers 403 without CORS headers, and the browser
  // hands the script nothing.
  const other = await newPage();
  await other.route('http://other.example/', (r) => r.fulfill({ contentType: 'text/html', body: '<p>another site</p>' }));
  await other.goto('http://other.example/');
  expectedErrors = /blocked by CORS policy|net::ERR_FAILED|status of 403/;
  const crossed = await other.evaluate(async (url) => {
    try {
      await fetch(`${url}/topics`);
      return 'read';
    } catch {
      return 'refused';
    }
  }, URL_);
  expectedErrors = null;
  check(crossed === 'refused', `a page of another origin read the API: ${crossed}`);
  step('Host and origin checks');

  // --- a token: asked for, kept for the tab only ---
  const tok = await newPage();
  await tok.goto(TOKEN_URL);
  await tok.waitForSelector('#token-form');
  await checkLabels(tok, 'token');
  await shot(tok, '11-token');
  await tok.fill('#token', TOKEN);
  await tok.click('#token-form button[type=submit]');
  await tok.waitForSelector(`#topics tr[data-topic="${TOPIC}"]`);
  const kept = await tok.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie]);
  check(kept[0] === 1 && kept[1] === 0 && kept[2] === '', `the token is in sessionStorage only: ${kept}`);
  check((await tok.locator('.curl-text').textContent()).includes('$KAFKA_RECORDS_TOKEN'), 'curl names the token, never shows it');
  check(!(await tok.content()).includes(TOKEN), 'the token is not in the page');
  step('token');

  check(problems.length === 0, `the browser reported: ${problems.join(' | ')}`);
  console.log(JSON.stringify({ figures }));
} catch (e) {
  // What each open page showed when a check failed, and its requests still
  // waiting: enough to tell a slow answer from a page that broke.
  for (const [i, open] of browser.contexts().flatMap((c) => c.pages()).entries()) {
    const seen = await open.evaluate(() => ({
      url: location.href,
      status: document.querySelector('#status')?.textContent,
      main: document.querySelector('main')?.textContent.slice(0, 300),
    })).catch((err) => ({ error: String(err) }));
    console.error(`page ${i} when it failed: ${JSON.stringify(seen)}`);
    await open.screenshot({ path: join(SHOTS, `failed-${i}.png`), fullPage: true }).catch(() => {});
  }
  console.error(`requests without an answer: ${JSON.stringify([...pending])}`);
  console.error(`the browser reported: ${JSON.stringify(problems)}`);
  throw e;
} finally {
  await browser.close();
}
