// End-to-end test of the web page in headless Debian Chromium (playwright-core), against the real
// `pinhole` binary in demo mode that tests/web.rs starts with no user (first-run setup).
//
//   node tests/web/e2e.mjs BASE_URL SCREENSHOT_DIR
//
// Every step checks what the user would see, and what the appliance really did (PTZ position
// reported by the simulated camera, recordings playing, the server refusing a viewer).

import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import { runBrowserTest, until } from './browser.mjs';

const [base, shots] = process.argv.slice(2);
assert.ok(base && shots, 'usage: e2e.mjs BASE_URL SCREENSHOT_DIR');
mkdirSync(shots, { recursive: true });

const ADMIN = { user: 'admin', password: 'e2e-admin-password' };
const VIEWER = { user: 'viewer1', password: 'e2e-viewer-password' };

async function ptzStatus(page) {
  const r = await page.request.get(`${base}/api/cameras/camera0/ptz/status`);
  assert.equal(r.status(), 200);
  return r.json();
}

async function hold(page, selector, ms) {
  const b = page.locator(selector);
  // The mouse goes by coordinates: the button must be on screen, wherever the page was scrolled.
  await b.scrollIntoViewIfNeeded();
  const box = await b.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(ms);
  await page.mouse.up();
}

await runBrowserTest(base, 'web page end to end', async ({ log, newPage, login }) => {
  const page = await newPage();

  log('first-run setup');
  await page.goto(base + '/');
  await page.waitForSelector('#setup-form');
  await page.screenshot({ path: `${shots}/01-setup.png` });
  // Client-side validation: mismatched passwords stay on the form with the error at the field.
  await page.fill('#setup-form [name=username]', ADMIN.user);
  await page.fill('#setup-form [name=password]', ADMIN.password);
  await page.fill('#setup-form [name=password2]', 'something-else');
  await page.click('#setup-form button[type=submit]');
  await until('the mismatch error', async () => (await page.textContent('[data-field=password2] .error')).includes('differ'));
  await page.fill('#setup-form [name=password2]', ADMIN.password);
  await page.fill('#setup-form [name=device_name]', 'e2e-pinhole');
  await page.click('#setup-form button[type=submit]');
  await page.waitForSelector('#camera-form');
  assert.match(await page.textContent('#camera-form h2'), /first camera/);
  await page.screenshot({ path: `${shots}/02-first-camera.png` });
  // The camera form checks the id on the client before sending.
  await page.fill('#camera-form [name=id]', 'Bad Id');
  await page.click('#camera-form button[type=submit]');
  await until('the id error', async () => (await page.textContent('[data-field=id] .error')).length > 0);
  await page.click('text=skip this step');

  log('camera grid with moving video');
  await page.waitForSelector('#grid .tile[data-camera=camera0]');
  const img = page.locator('.tile[data-camera=camera0] img.preview');
  await until('the preview to show frames', () => img.evaluate((i) => i.complete && i.naturalWidth > 0));
  await until('status badges', async () => (await page.locator('.tile[data-camera=camera0] .badge').count()) > 0);
  const a = await img.screenshot();
  await page.waitForTimeout(1500);
  const b = await img.screenshot();
  assert.notDeepEqual(a, b, 'two screenshots of the live preview are identical: the video does not move');
  await page.screenshot({ path: `${shots}/03-grid.png` });

  log('logout and login');
  await page.click('#logout');
  await page.waitForSelector('#login-form');
  await page.fill('#login-form [name=username]', ADMIN.user);
  await page.fill('#login-form [name=password]', 'wrong-password');
  await page.click('#login-form button[type=submit]');
  await until('the login error', async () => (await page.textContent('#login-form .form-message')).includes('Wrong'));
  await login(page, ADMIN);
  await page.waitForSelector('#grid');

  log('a view whose data comes late does not overwrite the next one');
  // As on a busy appliance: the grid's data arrives after the user has already moved on.
  let releaseGrid;
  const gridHeld = new Promise((r) => { releaseGrid = r; });
  await page.route('**/api/cameras', async (route) => { await gridHeld; await route.continue(); });
  await page.goto(`${base}/#/recordings`);
  await page.goto(`${base}/#/`);
  await page.goto(`${base}/#/settings/device`);
  await page.waitForSelector('#device-form');
  releaseGrid();
  await page.waitForTimeout(1000);
  assert.equal(await page.locator('#grid').count(), 0, 'the late grid replaced the settings view');
  assert.equal(await page.locator('#device-form').count(), 1, 'the settings view is gone');
  await page.unroute('**/api/cameras');
  await page.goto(`${base}/#/`);
  await page.waitForSelector('#grid');

  log('PTZ pad moves the simulated camera');
  await page.click('.tile[data-camera=camera0]');
  await page.waitForSelector('#ptz');
  const p0 = await ptzStatus(page);
  await hold(page, '[data-dir=right]', 1200);
  const p1 = await until('the simulator to report a new pan', async () => {
    const s = await ptzStatus(page);
    return s.pan !== p0.pan ? s : null;
  });
  assert.ok(p1.pan > p0.pan, `pan went ${p0.pan} -> ${p1.pan} after holding right`);
  // It stopped when released: the reported position settles (two reads 700 ms apart agree;
  // the status is polled from the camera, so allow for a poll in flight on a busy machine).
  let prev = await ptzStatus(page);
  const settled = await until('the camera to stop after release', async () => {
    await page.waitForTimeout(700);
    const now = await ptzStatus(page);
    const same = now.pan === prev.pan && now.tilt === prev.tilt;
    prev = now;
    return same ? now : null;
  }, 15000);
  await until('the position line', async () => (await page.textContent('#ptz-position')).includes('pan'));
  await page.screenshot({ path: `${shots}/04-camera.png` });

  log('save and recall a preset');
  await page.fill('#preset-name', 'door');
  await page.click('#preset-save button');
  await page.waitForSelector('[data-preset=door]');
  await hold(page, '[data-dir=up]', 1000);
  const moved = await until('the tilt to change', async () => {
    const s = await ptzStatus(page);
    return s.tilt !== settled.tilt ? s : null;
  });
  assert.notEqual(moved.tilt, settled.tilt);
  const presets = await (await page.request.get(`${base}/api/cameras/camera0/presets`)).json();
  const door = presets.find((p) => p.name === 'door');
  assert.ok(door, JSON.stringify(presets));
  assert.ok(door.tilt !== moved.tilt, `the preset was saved before moving away: ${JSON.stringify(door)}`);
  await page.click('[data-preset=door] .recall');
  await until('the camera back at the preset', async () => {
    const s = await ptzStatus(page);
    return Math.abs(s.pan - door.pan) <= 2 && Math.abs(s.tilt - door.tilt) <= 2;
  }, 30000);

  log('snapshot and recording controls');
  await page.click('#snapshot');
  await page.waitForSelector('.toast:has-text("Snapshot")');

  log('the picture brightened from its slider, then reset');
  const picture = async () => (await page.request.get(`${base}/api/cameras/camera0/picture`)).json();
  await page.waitForSelector('#picture-brightness');
  await page.locator('#picture-brightness').evaluate((s) => {
    s.value = '80';
    s.dispatchEvent(new Event('change'));
  });
  await until('the brightness stored', async () => (await picture()).brightness === 80);
  await until('the slider\'s figure', async () => (await page.textContent('#picture')).includes('80'));
  await page.click('#picture-reset');
  await until('the picture as the camera gives it', async () => {
    const p = await picture();
    return p.brightness === 50 && p.contrast === 50 && p.saturation === 50;
  });

  log('the date and time and the camera\'s name put on its picture, moved, one removed');
  const osd = async () => (await page.request.get(`${base}/api/cameras/camera0/osd`)).json();
  await page.click('#osd-add-clock');
  await until('the clock stored', async () => (await osd()).texts.length === 1);
  await page.selectOption('#osd-place-0', 'lower_right');
  await until('the clock moved', async () => (await osd()).texts[0].position === 'lower_right');
  await page.selectOption('#osd-date-0', 'dd.MM.yyyy');
  await until('the date written the European way', async () => (await osd()).texts[0].date_format === 'dd.MM.yyyy');
  await page.click('#osd-add-name');
  await until('the name stored', async () => {
    const t = (await osd()).texts;
    return t.length === 2 && t[1].kind === 'plain' && t[1].text.length > 0;
  });
  await page.click('#osd-remove-0');
  await until('the clock gone, the name kept under its token', async () => {
    const t = (await osd()).texts;
    return t.length === 1 && t[0].kind === 'plain' && t[0].token === 'camera0.osd2';
  });
  await until('the page showing one text', async () => (await page.locator('#osd-list .row.osd').count()) === 1);
  await page.locator('#osd').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/05-camera-texts.png` });

  log('play back a recording');
  await page.goto(`${base}/#/recordings?camera=camera0`);
  await page.waitForSelector('#timeline .segment');
  await page.locator('#recordings .play').first().click();
  const video = page.locator('#playback');
  await until('the recording to play', () => video.evaluate((v) => v.readyState >= 2 && v.currentTime > 0.3 && !v.error), 30000);
  await page.screenshot({ path: `${shots}/05-recordings.png` });

  log('an event listed after detection');
  await page.goto(`${base}/#/events`);
  await page.waitForSelector('#events .event[data-label=face]', { timeout: 30000 });
  await page.screenshot({ path: `${shots}/06-events.png` });
  await page.locator('#events .event[data-label=face]').first().click();
  await page.waitForSelector('img[alt="event snapshot"]');
  await until('the snapshot image', () => page.locator('img[alt="event snapshot"]').evaluate((i) => i.complete && i.naturalWidth > 0));

  log('settings: add a viewer; server errors show on the form');
  await page.goto(`${base}/#/settings/users`);
  await page.waitForSelector('#user-form');
  await page.fill('#user-form [name=username]', ADMIN.user);
  await page.fill('#user-form [name=password]', 'another-password-1');
  await page.click('#user-form button[type=submit]');
  await until('the server error', async () => {
    const t = (await page.textContent('#user-form')) || '';
    return /exist|taken|already/i.test(t);
  });
  await page.fill('#user-form [name=username]', VIEWER.user);
  await page.fill('#user-form [name=password]', VIEWER.password);
  await page.selectOption('#user-form [name=role]', 'viewer');
  await page.click('#user-form button[type=submit]');
  await page.waitForSelector(`[data-user=${VIEWER.user}]`);
  await page.screenshot({ path: `${shots}/07-users.png` });
  await page.goto(`${base}/#/settings/system`);
  await page.waitForSelector('#system-figures .figure');
  await page.screenshot({ path: `${shots}/08-system.png` });

  log('zones drawn on the picture are saved with the camera');
  await page.goto(`${base}/#/settings/cameras/camera1`);
  await page.waitForSelector('#camera-form .zones canvas');
  const canvas = page.locator('#camera-form .zones canvas');
  await until('the picture under the zone editor', () => page.locator('.zone-canvas img').evaluate((i) => i.complete && i.naturalWidth > 0));
  await canvas.scrollIntoViewIfNeeded();
  const cb = await canvas.boundingBox();
  for (const [fx, fy] of [[0.2, 0.1], [0.8, 0.1], [0.8, 0.6], [0.2, 0.6]]) {
    await page.mouse.click(cb.x + cb.width * fx, cb.y + cb.height * fy);
  }
  await page.click('text=Close shape');
  await page.screenshot({ path: `${shots}/09-camera-settings.png` });
  await page.click('#camera-form button[type=submit]');
  await page.waitForSelector('#camera-list');
  const cam1 = await (await page.request.get(`${base}/api/cameras/camera1`)).json();
  assert.equal(cam1.detection.zones.length, 1, JSON.stringify(cam1.detection));
  assert.equal(cam1.detection.zones[0].length, 4);
  assert.ok(Math.abs(cam1.detection.zones[0][0][0] - 0.2) < 0.02, JSON.stringify(cam1.detection.zones));

  log('an expired session returns to the login page and keeps what was typed');
  await page.goto(`${base}/#/settings/cameras/new`);
  await page.waitForSelector('#camera-form');
  await page.fill('#camera-form [name=id]', 'cam9');
  await page.fill('#camera-form [name=name]', 'Typed before expiry');
  await page.context().clearCookies();
  await page.click('#camera-form button[type=submit]');
  await page.waitForSelector('#login-form');
  assert.match(await page.textContent('#login-form'), /expired/);
  await page.fill('#login-form [name=username]', ADMIN.user);
  await page.fill('#login-form [name=password]', ADMIN.password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#camera-form');
  assert.equal(await page.inputValue('#camera-form [name=name]'), 'Typed before expiry');
  assert.equal(await page.inputValue('#camera-form [name=id]'), 'cam9');

  log('a lost connection shows a banner, and it goes when the link is back');
  // The appliance stops answering (frozen with SIGSTOP, the link stays open): the page's
  // heartbeat notices, shows the banner, and redials until the appliance answers again.
  const pid = Number(process.env.PINHOLE_PID);
  assert.ok(pid > 0, 'PINHOLE_PID');
  await page.goto(`${base}/#/`);
  await page.waitForSelector('#grid');
  await page.waitForTimeout(500);
  process.kill(pid, 'SIGSTOP');
  try {
    await page.waitForSelector('#banner:not([hidden])', { timeout: 30000 });
    assert.match(await page.textContent('#banner'), /lost/);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await page.waitForSelector('#banner', { state: 'hidden', timeout: 30000 });
  await page.close();

  log('a viewer is not offered operator actions, and the server refuses them');
  const vp = await newPage();
  await login(vp, VIEWER);
  await vp.goto(`${base}/#/camera/camera0`);
  await vp.waitForSelector('#presets');
  await until('the capture card', async () => (await vp.locator('section.card h2:has-text("Capture")').count()) === 1);
  assert.equal(await vp.locator('#ptz').count(), 0, 'the PTZ pad is shown to a viewer');
  assert.equal(await vp.locator('#snapshot').count(), 0, 'the snapshot button is shown to a viewer');
  assert.equal(await vp.locator('#rec-start').count(), 0, 'the record button is shown to a viewer');
  assert.ok(await vp.locator('[data-preset=door] .recall').isDisabled(), 'a viewer can recall presets');
  await vp.waitForSelector('#picture-brightness');
  assert.ok(await vp.locator('#picture-brightness').isDisabled(), 'a viewer can move the picture sliders');
  assert.equal(await vp.locator('#picture-reset').count(), 0, 'the picture reset is shown to a viewer');
  await vp.waitForSelector('#osd p.osd');
  assert.equal(await vp.locator('#osd-add-clock').count(), 0, 'a viewer is offered to add texts');
  const tabs = await vp.locator('.tabs a').allTextContents();
  await vp.goto(`${base}/#/settings`);
  await vp.waitForSelector('.tabs');
  const viewerTabs = await vp.locator('.tabs a').allTextContents();
  assert.deepEqual(viewerTabs, ['System', 'My account'], `viewer tabs: ${viewerTabs} ${tabs}`);
  const csrf = (await vp.context().cookies()).find((c) => c.name === 'pinhole_csrf').value;
  const refused = await vp.request.post(`${base}/api/cameras/camera0/ptz/continuous`, {
    headers: { 'x-csrf-token': csrf },
    data: { pan_speed: 0.5, tilt_speed: 0 },
  });
  assert.equal(refused.status(), 403, 'the server let a viewer move the camera');
  await vp.screenshot({ path: `${shots}/10-viewer.png` });
  await vp.close();
});
