// The settings' "USB and CSI cameras" in headless Debian Chromium: tests/media.rs starts the
// appliance with the test device provider, whose devices are the files in DEVICES_DIR.
//
//   node tests/web/devices.mjs BASE_URL USER PASSWORD DEVICES_DIR
//
// Opens Settings → Cameras with nothing plugged in, plugs a camera in (writes its file) and
// waits for it to show without a reload, adds it in one click and sees it listed as added,
// then pulls it out and sees it go.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, dir] = process.argv.slice(2);
assert.ok(base && user && password && dir, 'usage: devices.mjs BASE_URL USER PASSWORD DEVICES_DIR');

await runBrowserTest(base, 'USB cameras', async ({ log, newPage, login }) => {
  const page = await newPage();
  log('sign in');
  await login(page, { user, password });
  log('nothing plugged in');
  await page.goto(`${base}/#/settings/cameras`);
  await page.waitForSelector('#local-devices :text("No USB or CSI camera is plugged in")');

  log('plug a camera in: it shows without a reload');
  fs.writeFileSync(path.join(dir, 'Desk Camera'), '/dev/video43');
  const row = page.locator('[data-local-device="/dev/video43"]');
  await row.waitFor();
  assert.match(await row.textContent(), /Desk Camera/);
  assert.match(await row.textContent(), /1280x720/);

  log('add it in one click');
  await row.locator('button.add-local').click();
  await page.waitForSelector('#camera-list td:text("/dev/video43")');
  await until('the device shown as added', async () => /Added as Desk Camera/.test(await page.locator('[data-local-device="/dev/video43"]').textContent()));

  log('pull it out: it goes');
  fs.rmSync(path.join(dir, 'Desk Camera'));
  await page.locator('[data-local-device="/dev/video43"]').waitFor({ state: 'detached' });
  await page.waitForSelector('#local-devices :text("No USB or CSI camera is plugged in")');
});
