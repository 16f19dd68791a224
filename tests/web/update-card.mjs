// The Updates card (Settings → Device) in headless Debian Chromium, against an appliance whose
// update agent talks to the real RAUC: tests/ota.rs starts both and says what the card must show.
//
//   [UPDATE_PROGRESS=MIN-MAX] node tests/web/update-card.mjs BASE_URL USER PASSWORD SCREENSHOT PATTERN...
//
// Signs in as an administrator, opens the device settings and waits, without reloading, until
// the card's text matches every PATTERN (regular expressions) and, with UPDATE_PROGRESS, its
// progress bar shows a value in that range. Prints the text and the progress it showed.

import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, shot, ...patterns] = process.argv.slice(2);
assert.ok(base && user && password && shot && patterns.length,
  'usage: update-card.mjs BASE_URL USER PASSWORD SCREENSHOT PATTERN...');

const [progressMin, progressMax] = (process.env.UPDATE_PROGRESS || '').split('-').map(Number);

await runBrowserTest(base, 'updates card', async ({ log, newPage, login }) => {
  const page = await newPage();
  log('sign in');
  await login(page, { user, password });
  log('settings: device, the updates card');
  await page.goto(`${base}/#/settings/device`);
  await page.waitForSelector('#update-status');
  const card = page.locator('section.card:has(#update-status)');
  let seen = '';
  let progress = null;
  const text = await until(`the card to match ${patterns.join(', ')}`, async () => {
    seen = (await card.innerText()).replace(/\s+/g, ' ');
    const bar = card.locator('progress');
    progress = (await bar.count()) ? Number(await bar.getAttribute('value')) : null;
    const progressOk = !process.env.UPDATE_PROGRESS
      || (progress !== null && progress >= progressMin && progress <= progressMax);
    return patterns.every((p) => new RegExp(p).test(seen)) && progressOk && seen;
  }).catch((e) => {
    throw new Error(`${e.message}; the card showed: ${seen} (progress ${progress})`);
  });
  console.log(`card: ${text}`);
  console.log(`progress: ${progress}`);
  await card.screenshot({ path: shot });
});
