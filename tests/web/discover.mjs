// "Discover cameras" (Settings → Cameras) in headless Debian Chromium, against an appliance that
// can reach a foreign ONVIF device: tests/onvif.rs starts both.
//
//   node tests/web/discover.mjs BASE_URL USER PASSWORD DEVICE_URL DEVICE_USER DEVICE_PASSWORD SCREENSHOT
//
// Signs in as an administrator, discovers, tests the connection with a wrong and then the right
// password, adds the camera with its main stream, and finds it in the camera list.

import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, deviceUrl, deviceUser, devicePassword, shot] = process.argv.slice(2);
assert.ok(base && user && password && deviceUrl && deviceUser && devicePassword && shot,
  'usage: discover.mjs BASE_URL USER PASSWORD DEVICE_URL DEVICE_USER DEVICE_PASSWORD SCREENSHOT');

await runBrowserTest(base, 'discover cameras', async ({ log, newPage, login }) => {
  const page = await newPage();
  log('sign in');
  await login(page, { user, password });
  await page.goto(`${base}/#/settings/cameras`);
  await page.waitForSelector('#discover');

  log('discover');
  await page.click('#discover');
  const device = page.locator(`.device[data-device="${deviceUrl}"]`);
  await device.waitFor();
  assert.match(await device.innerText(), /discovered/);

  log('a wrong password is refused clearly');
  await device.locator('[name=username]').fill(deviceUser);
  await device.locator('[name=password]').fill('wrong-password');
  await device.locator('button[type=submit]').click();
  await until('the refusal', async () => /password/i.test(await device.locator('.test-result').innerText()));

  log('the right password shows the profiles');
  await device.locator('[name=password]').fill(devicePassword);
  await device.locator('button[type=submit]').click();
  await until('the profiles', async () => (await device.locator('tr[data-profile]').count()) >= 2);
  assert.match(await device.locator('.test-result').innerText(), /main \(recording\)/);
  log('the connection test shows a picture from the camera');
  await until('the snapshot', async () => device.locator('img.device-snapshot').evaluate((i) => i.complete && i.naturalWidth > 0));
  await page.screenshot({ path: shot });

  log('add it');
  await device.locator('button.add-device').click();
  await until('the new camera in the list', async () => {
    const rows = await page.locator('#camera-list tr[data-camera]').allInnerTexts();
    return rows.some((r) => r.includes('rtsp'));
  });
});
