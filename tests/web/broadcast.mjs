// The Broadcast view in headless Debian Chromium: tests/broadcast.rs starts the appliance and an
// RTMP server.
//
//   node tests/web/broadcast.mjs BASE_URL USER PASSWORD RTMP_URL KEY SCREENSHOT
//
// Adds a destination and a stream through the forms; in the overlay editor, sees the stream's
// composited picture, adds a text overlay, places it by clicking the picture and fades it with its
// slider (each change saved, the picture reloaded); starts the stream and waits until the page
// shows its destination live, takes camera1 and back (by a dissolve), pushes an overlay's value,
// and stops the stream. Then gives it a program on the timeline editor: a time of day that does not exist is
// refused at its field, two entries are saved, reordered and saved again.

import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, rtmpUrl, key, shot] = process.argv.slice(2);
assert.ok(base && user && password && rtmpUrl && key && shot, 'usage: broadcast.mjs BASE_URL USER PASSWORD RTMP_URL KEY SCREENSHOT');

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

  log('the overlay editor shows the stream\'s picture');
  const previewLoaded = async (after) => until('the preview picture', async () => page.evaluate((prev) => {
    const i = document.querySelector('#overlay-preview');
    return i && i.complete && i.naturalWidth > 0 && i.src !== prev ? i.src : null;
  }, after));
  let src = await previewLoaded('');
  assert.equal(await page.evaluate(() => document.querySelector('#overlay-preview').naturalWidth), 640);

  log('add an overlay and place it by clicking the picture');
  await page.fill('#overlay-form [name=id]', 'banner');
  await page.fill('#overlay-form [name=text]', 'HELLO {camera}');
  await page.click('#overlay-form button[type=submit]');
  const editor = page.locator('[data-overlay-editor=banner]');
  await editor.waitFor();
  await editor.locator('input[name=text]').focus();
  src = await previewLoaded(src);
  const box = await page.locator('#overlay-preview').boundingBox();
  await page.mouse.click(box.x + box.width * 0.5, box.y + box.height * 0.25);
  const overlay = () => page.evaluate(async () => (await fetch('/api/overlays/banner')).json());
  await until('the click to move the overlay', async () => {
    const o = await overlay();
    return Math.abs(o.x - 0.5) < 0.02 && Math.abs(o.y - 0.25) < 0.02;
  });
  // The page's own answer to its save may come after the test's read of the overlay.
  const saved = (await overlay()).x;
  await until('the x slider to show the saved place', async () => {
    const shown = Number(await editor.locator('input[name=x]').inputValue());
    return Math.abs(shown - saved) < 0.006;
  });
  src = await previewLoaded(src);

  log('fade it with its slider');
  await editor.locator('input[name=opacity]').evaluate((el) => {
    el.value = '0.5';
    el.dispatchEvent(new Event('input'));
    el.dispatchEvent(new Event('change'));
  });
  await until('the opacity saved', async () => (await overlay()).opacity === 0.5);
  await previewLoaded(src);
  await page.locator('#overlays').screenshot({ path: shot });

  log('start it and see it live');
  await page.click('#streams tr[data-stream] button[data-action=start]');
  await page.waitForSelector('#streams li[data-state=live]', { timeout: 40000 });

  log('take camera1 by a cut and back by a dissolve');
  await page.click('#streams tr[data-stream] button[data-take=camera1]');
  await page.waitForSelector('#streams tr[data-stream][data-on-air=camera1]');
  await page.selectOption('#streams tr[data-stream] select[name=take-transition]', 'dissolve');
  const [cue] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/api/program/cue') && r.method() === 'POST'),
    page.click('#streams tr[data-stream] button[data-take=camera0]'),
  ]);
  assert.equal(JSON.parse(cue.postData()).transition, 'dissolve', 'the take says how');
  await page.waitForSelector('#streams tr[data-stream][data-on-air=camera0]');
  assert.ok(await page.isVisible('#streams li[data-state=live]'), 'a take dropped the destination');

  log('push a value');
  await page.fill('#overlays form[data-overlay=score] input', 'Home 2 - 1 Away');
  await page.click('#overlays form[data-overlay=score] button');
  await page.waitForSelector('.toast:has-text("value set")');

  log('stop it');
  await page.click('#streams tr[data-stream] button[data-action=stop]');
  await page.waitForSelector('#streams tr[data-stream][data-running=false]');

  log('a program: a time that does not exist is refused at its field');
  const id = await page.getAttribute('#streams tr[data-stream]', 'data-stream');
  await page.selectOption('#program-stream', id);
  await page.click('#program-form button[data-action=add-entry]');
  await page.click('#program-form button[data-action=add-entry]');
  const entry = (i) => page.locator(`#program-form li[data-entry="${i}"]`);
  await entry(0).locator('input[name="program[0].secs"]').fill('5');
  await entry(1).locator('select[name="program[1].camera"]').selectOption('camera1');
  await entry(1).locator('input[name="program[1].secs"]').fill('');
  await entry(1).locator('input[name="program[1].at"]').fill('25:00');
  await page.click('#program-form button[type=submit]');
  await until('the error at program[1].at', async () =>
    ((await page.textContent('#program-form [data-field="program[1].at"] .error')) || '').length > 0);

  log('two entries saved, then reordered');
  await entry(1).locator('input[name="program[1].at"]').fill('');
  await entry(1).locator('input[name="program[1].secs"]').fill('4');
  await entry(1).locator('select[name="program[1].transition"]').selectOption('fade');
  await page.click('#program-form button[type=submit]');
  const program = () => page.evaluate(async (s) => (await (await fetch(`/api/streams/${s}`)).json()).program, id);
  await until('the program saved', async () => {
    const p = await program();
    return p.length === 2 && p[0].camera === 'camera0' && p[0].secs === 5 && p[1].camera === 'camera1' &&
      p[1].secs === 4 && p[1].transition === 'fade' && !('at' in p[1]);
  });
  // The page clears the error once its own save has answered, which may come after the read above.
  await until('the error at program[1].at cleared', async () =>
    (await page.textContent('#program-form [data-field="program[1].at"] .error')) === '');
  await entry(1).locator('button[data-action=up]').click();
  await page.click('#program-form button[type=submit]');
  await until('the program reordered', async () => {
    const p = await program();
    return p.length === 2 && p[0].camera === 'camera1' && p[0].transition === 'fade' && p[1].camera === 'camera0';
  });
});
