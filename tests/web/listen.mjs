// The camera view's "Listen" in headless Debian Chromium: tests/media.rs starts the appliance
// with an IP camera that sends sound.
//
//   node tests/web/listen.mjs BASE_URL USER PASSWORD CAMERA
//
// Signs in, opens the camera's view, waits for the Listen button (offered for a camera with
// audio where the browser plays HLS), presses it and waits until the picture plays and its sound
// has been decoded; then stops and checks the MJPEG view is back.

import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, user, password, camera] = process.argv.slice(2);
assert.ok(base && user && password && camera, 'usage: listen.mjs BASE_URL USER PASSWORD CAMERA');

await runBrowserTest(base, 'Listen', async ({ log, newPage, login }) => {
  const page = await newPage();
  log('sign in');
  await login(page, { user, password });
  log('open the camera');
  await page.goto(`${base}/#/camera/${encodeURIComponent(camera)}`);
  await page.waitForSelector('button.listen:not([hidden])');
  log('listen');
  await page.click('button.listen');
  await until('the picture and its sound play', async () => {
    const s = await page.evaluate(() => {
      const v = document.querySelector('video.preview');
      return v && { t: v.currentTime, err: v.error && v.error.message, w: v.videoWidth, sound: v.webkitAudioDecodedByteCount, muted: v.muted };
    });
    assert.ok(s, 'no player in the view');
    assert.ok(!s.err, `the player failed: ${JSON.stringify(s)}`);
    assert.equal(s.muted, false, 'the player is muted');
    return s.t > 2 && s.w > 0 && s.sound > 0;
  }, 40000);
  log('stop');
  await page.click('button.listen');
  await page.waitForSelector('.live img.preview');
  assert.equal(await page.locator('video.preview').count(), 0, 'the player is still there');
});
