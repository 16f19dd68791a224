// The Broadcast view in headless Debian Chromium: tests/broadcast.rs starts the appliance and an
// RTMP server.
//
//   node tests/web/broadcast.mjs BASE_URL USER PASSWORD RTMP_URL KEY
//
// Adds a destination and a stream through the forms, starts the stream and waits until the page
// shows its destination live, takes camera1 and back, pushes an overlay's value, and stops the
// stream.

import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, rtmpUrl, key] = process.argv.slice(2);
assert.ok(base && user && password && rtmpUrl && key, 'usage: broadcast.mjs BASE_URL USER PASSWORD RTMP_URL KEY');

await runBrowserTest(base, 'Broadcast', async ({ log, newPage, login }) => {
  const page = await newPage();
  log('sign in');
  await login(page, { user, password });
  await page.click('#nav a[href="#/broadcast"]');
  await page.waitForSelector('#destination-form');

  log('a bad destination URL is refused at its field');
  await page.fill('#destination-form [name=name]', 'Studio');
  await page.fill('#destination-form [name=url]', 'http://example.invalid/live');
  await page.click('#destination-form button[type=submit]');
  await until('the url error', async () => (await page.textContent('#destination-form [data-field=url] .error')).includes('rtmp'));

  log('add the destination');
  await page.fill('#destination-form [name=url]', rtmpUrl);
  await page.fill('#destination-form [name=stream_key]', key);
  await page.click('#destination-form button[type=submit]');
  await page.waitForSelector('#destinations li[data-destination]');
  const listed = await page.textContent('#destinations');
  assert.ok(listed.includes('key set') && !listed.includes(key), `the key shows or is missing: ${listed}`);

  log('add a stream');
  await page.fill('#stream-form [name=name]', 'From the page');
  await page.check('#stream-form input[name=destinations]');
  await page.check('#stream-form input[name=overlays]');
  await page.selectOption('#stream-form [name=size]', '640x360');
  await page.fill('#stream-form [name=fps]', '15');
  await page.fill('#stream-form [name=bitrate_kbps]', '800');
  await page.click('#stream-form button[type=submit]');
  await page.waitForSelector('#streams tr[data-stream]');

  log('start it and see it live');
  await page.click('#streams tr[data-stream] button[data-action=start]');
  await page.waitForSelector('#streams li[data-state=live]', { timeout: 40000 });

  log('take camera1 and back');
  await page.click('#streams tr[data-stream] button[data-take=camera1]');
  await page.waitForSelector('#streams tr[data-stream][data-on-air=camera1]');
  await page.click('#streams tr[data-stream] button[data-take=camera0]');
  await page.waitForSelector('#streams tr[data-stream][data-on-air=camera0]');
  assert.ok(await page.isVisible('#streams li[data-state=live]'), 'a take dropped the destination');

  log('push a value');
  await page.fill('#overlays form[data-overlay] input', 'Home 2 - 1 Away');
  await page.click('#overlays form[data-overlay] button');
  await page.waitForSelector('.toast:has-text("value set")');

  log('stop it');
  await page.click('#streams tr[data-stream] button[data-action=stop]');
  await page.waitForSelector('#streams tr[data-stream][data-running=false]');
});
