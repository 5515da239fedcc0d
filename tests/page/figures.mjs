// The page's figures, run by scripts/page-figures.sh: the time to first
// render on loopback (five cold loads, each in a fresh browser context so
// nothing is cached), then the page's live tail of a busy topic for
// FIGURES_SECONDS while the script samples the service's memory.
//
// Environment: CHROMIUM, PAGE_URL, PAGE_TOPIC, FIGURES_SECONDS.
// Prints one JSON line.

import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM;
const URL_ = process.env.PAGE_URL;
const TOPIC = process.env.PAGE_TOPIC;
const SECONDS = Number(process.env.FIGURES_SECONDS || '60');

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
try {
  const loads = [];
  for (let i = 0; i < 5; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(URL_);
    await page.waitForSelector('#topics tbody tr');
    loads.push(await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      return {
        firstRender: performance.getEntriesByName('kafka-records:first-render')[0].startTime,
        firstContentfulPaint: fcp ? fcp.startTime : null,
        domContentLoaded: nav.domContentLoadedEventEnd,
      };
    }));
    await context.close();
  }
  const median = (k) => {
    const v = loads.map((l) => l[k]).sort((a, b) => a - b);
    return Math.round(v[Math.floor(v.length / 2)] * 10) / 10;
  };

  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${URL_}/#/records/${TOPIC}`);
  await page.waitForSelector('#records');
  await page.click('#tail');
  console.error(`tailing ${TOPIC} for ${SECONDS} s`);
  await page.waitForTimeout(SECONDS * 1000);
  const status = await page.locator('#status').textContent();
  const tailed = Number((status.match(/(\d+) new record/) || [0, 0])[1]);
  await page.click('#tail');
  console.log(JSON.stringify({
    firstRenderMs: median('firstRender'),
    firstContentfulPaintMs: median('firstContentfulPaint'),
    domContentLoadedMs: median('domContentLoaded'),
    loads,
    tailSeconds: SECONDS,
    tailedRecords: tailed,
  }));
} finally {
  await browser.close();
}
