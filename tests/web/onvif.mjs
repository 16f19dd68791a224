// The ONVIF switch (Settings → Device) in headless Debian Chromium: tests/onvif_face.rs starts
// the appliance.
//
//   node tests/web/onvif.mjs BASE_URL USER PASSWORD SCREENSHOT
//
// Signs in as an administrator, finds ONVIF off, switches it on and sees the device service
// answer, switches it off and sees it gone; the switch stays as set after a reload.

import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, shot] = process.argv.slice(2);
assert.ok(base && user && password && shot, 'usage: onvif.mjs BASE_URL USER PASSWORD SCREENSHOT');

const CLOCK = '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
  + '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>';

// What an ONVIF client gets from the device service right now.
async function deviceService(page) {
  return page.evaluate(async (body) => {
    // As an ONVIF client sends it: without the page's session cookie.
    const r = await fetch('/onvif/device_service', { method: 'POST', credentials: 'omit', headers: { 'Content-Type': 'application/soap+xml' }, body });
    return { status: r.status, text: await r.text() };
  }, CLOCK);
}

await runBrowserTest(base, 'the ONVIF switch', async ({ log, newPage, login }) => {
  const page = await newPage();
  log('sign in');
  await login(page, { user, password });
  await page.goto(`${base}/#/settings/device`);
  const box = page.locator('#onvif-enabled');
  await box.waitFor();
  assert.equal(await box.isChecked(), false, 'ONVIF is off by default');
  assert.match(await page.locator('#onvif-state').innerText(), /Off/);
  assert.equal((await deviceService(page)).status, 404);

  log('switch it on');
  await box.check();
  await until('the card to say it is on', async () => /On:.*\/onvif\/device_service/s.test(await page.locator('#onvif-state').innerText()));
  const on = await deviceService(page);
  assert.equal(on.status, 200, on.text);
  assert.match(on.text, /UTCDateTime/);
  await page.locator('#onvif-card').screenshot({ path: shot });

  log('it stays on after a reload');
  await page.reload();
  await page.locator('#onvif-enabled').waitFor();
  assert.equal(await page.locator('#onvif-enabled').isChecked(), true);

  log('switch it off');
  await page.locator('#onvif-enabled').uncheck();
  await until('the card to say it is off', async () => /Off/.test(await page.locator('#onvif-state').innerText()));
  assert.equal((await deviceService(page)).status, 404);
});
