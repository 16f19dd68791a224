// The camera view's "Listen" in headless Debian Chromium: tests/media.rs starts the appliance
// with an IP camera that sends sound.
//
//   node tests/web/listen.mjs BASE_URL USER PASSWORD CAMERA [mse|hls]
//
// Signs in, opens the camera's view, waits for the Listen button (offered for a camera with
// audio), presses it and waits until the picture plays and its sound has been decoded; then
// stops and checks the MJPEG view is back.
//
// `mse` (the default) plays the live WebSocket through Media Source Extensions, as Chromium and
// Firefox do. `hls` takes MediaSource away from the page, as on an iPhone, so the view falls back
// to HLS, which Chromium plays itself.
//
// With SIGNAL_DIR set (mse only), after the sound plays the script writes `listening` there and
// waits for `switched` (the test has turned the camera's microphone off), then waits until the
// player has started over on the picture alone and plays it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, camera, mode = 'mse'] = process.argv.slice(2);
assert.ok(base && user && password && camera, 'usage: listen.mjs BASE_URL USER PASSWORD CAMERA [mse|hls]');
assert.ok(mode === 'mse' || mode === 'hls', `mode ${mode}`);
const signals = process.env.SIGNAL_DIR;

await runBrowserTest(base, `Listen (${mode})`, async ({ log, newPage, login }) => {
  const page = await newPage();
  if (mode === 'hls') await page.addInitScript(() => { window.MediaSource = undefined; });
  log('sign in');
  await login(page, { user, password });
  log('open the camera');
  await page.goto(`${base}/#/camera/${encodeURIComponent(camera)}`);
  await page.waitForSelector('button.listen:not([hidden])');
  log(`listen through ${mode}`);
  await page.click('button.listen');
  const player = () => page.evaluate(() => {
    const v = document.querySelector('video.preview');
    return v && {
      t: v.currentTime, err: v.error && v.error.message, w: v.videoWidth, sound: v.webkitAudioDecodedByteCount,
      muted: v.muted, via: v.dataset.via, mime: v.dataset.mime,
    };
  });
  await until('the picture and its sound play', async () => {
    const s = await player();
    assert.ok(s, 'no player in the view');
    assert.ok(!s.err, `the player failed: ${JSON.stringify(s)}`);
    assert.equal(s.muted, false, 'the player is muted');
    assert.equal(s.via, mode, 'played the other way');
    return s.t > 2 && s.w > 0 && s.sound > 0;
  }, 40000);
  if (mode === 'mse') assert.match((await player()).mime, /mp4a\.40\.2/);

  if (signals) {
    log('the microphone is switched off: the player starts over on the picture alone');
    fs.writeFileSync(path.join(signals, 'listening'), '');
    await until('the test to switch the microphone off', () => fs.existsSync(path.join(signals, 'switched')), 60000);
    await until('the picture alone plays', async () => {
      const s = await player();
      assert.ok(s, 'the player went away');
      assert.ok(!s.err, `the player failed: ${JSON.stringify(s)}`);
      return s.mime && !s.mime.includes('mp4a') && s.w > 0;
    }, 60000);
    const t = (await player()).t;
    await until('the picture moves on', async () => (await player()).t > t + 1, 20000);
  }

  log('stop');
  await page.click('button.listen');
  await page.waitForSelector('.live img.preview');
  assert.equal(await page.locator('video.preview').count(), 0, 'the player is still there');
});
