import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startStack, waitForJob, type KilnStack } from '../support/kiln-stack';
import { startWebhookReceiver } from '../support/webhook-receiver';

// The run page in a real browser (Debian's chromium), against a whole Kiln on loopback.
const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no browser: ${CHROMIUM} is missing (apt-get install chromium; CI installs it)`;
const OUT = join(__dirname, '../../test-output');

let stack: KilnStack;
let browser: Browser;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

function irisJob(epochs: number, extra: Record<string, unknown> = {}) {
  return {
    model: { inputShape: [4], layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categorical_crossentropy', metrics: ['accuracy'] },
    data: { builtin: 'iris', validationSplit: 0.2, standardize: true },
    fit: { epochs, batchSize: 16, seed: 7 },
    webhook: { url: receiver.url, secret: 'whsec_' + Buffer.from('run-page-test-secret-0123456789ab').toString('base64') },
    ...extra,
  };
}

async function submit(body: unknown): Promise<{ jobId: string; runId: string }> {
  const res = await fetch(`${stack.base}/v1/jobs`, { method: 'POST', headers: { ...stack.auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 202, await res.clone().text());
  return (await res.json()) as { jobId: string; runId: string };
}

/** The points of a series path (`M x y L x y …`) as [x, y] pairs. */
function points(d: string): Array<[number, number]> {
  return [...d.matchAll(/[ML]([\d.-]+) ([\d.-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

async function seriesPoints(page: Page, series: string): Promise<number> {
  const d = await page.locator(`#curves svg path[data-series="${series}"]`).getAttribute('d');
  return d ? points(d).length : 0;
}

before(async () => {
  if (skip) return;
  mkdirSync(OUT, { recursive: true });
  receiver = await startWebhookReceiver();
  stack = await startStack({ name: 'run-page', env: { KILN_TENANT_SUBMISSIONS_PER_MINUTE: '0' } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await stack?.close();
  await receiver?.close();
});

test('a finished run: status, curves with the early-stop marker at the stop epoch, the callback timeline, downloadable artifacts, webhook deliveries', { skip, timeout: 60_000 }, async () => {
  // EarlyStopping that cannot see an improvement of 10 in loss: epoch 0 sets the best, epochs 1
  // and 2 do not improve on it, so training stops at epoch 2 of 30 and restores epoch 0's weights.
  const { jobId, runId } = await submit(irisJob(30, {
    callbacks: {
      earlyStopping: { monitor: 'loss', patience: 2, minDelta: 10, restoreBestWeights: true },
      modelCheckpoint: { filepath: 'best', monitor: 'val_loss', saveBestOnly: true },
      csvLogger: {},
    },
  }));
  const view = await waitForJob(stack, jobId, 45_000);
  assert.equal(view.status, 'succeeded');
  assert.equal(view.stopReason, 'early_stopping');
  const run = (await (await fetch(`${stack.base}/v1/runs/${runId}`, { headers: stack.auth() })).json()) as any;
  const stop = run.events.find((e: any) => e.type === 'early_stopping');
  assert.equal(stop.epoch, 2, 'the job stops at epoch 2');

  const context = await browser.newContext({ acceptDownloads: true, colorScheme: 'light' });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${stack.base}/runs/${runId}#key=${encodeURIComponent(stack.keys.acme)}`);

  await page.locator('#status[data-status="succeeded"]').waitFor({ timeout: 10_000 });
  assert.ok(!page.url().includes('#key='), `the key is taken out of the address bar: ${page.url()}`);
  assert.equal(await page.locator('#progress').textContent(), 'epoch 3 of 30');
  assert.equal(await page.locator('#stop-reason').getAttribute('data-stop-reason'), 'early_stopping');

  // Curves: the loss series with one point per epoch; the stop marker on the last epoch's x.
  await page.locator('#curves svg path.series[data-series="loss"]').waitFor();
  assert.equal(await seriesPoints(page, 'loss'), 3);
  assert.equal(await seriesPoints(page, 'val_loss'), 3);
  const marker = page.locator('#curves svg line.marker-stop');
  assert.equal(await marker.count(), 1);
  assert.equal(await marker.getAttribute('data-epoch'), '2');
  const lossPts = points((await page.locator('#curves svg path[data-series="loss"]').getAttribute('d'))!);
  assert.ok(Math.abs(Number(await marker.getAttribute('x1')) - lossPts[2][0]) < 0.2, 'the stop marker is drawn at epoch 2\'s x');
  assert.equal(await page.locator('#curves svg rect.restored').getAttribute('data-epoch'), '0', 'the restored best epoch is highlighted');
  assert.equal(await page.locator('#curves svg').getAttribute('data-axis-epochs'), '3', 'stopped early: the axis spans the 3 epochs that ran, not the 30 planned');
  // The picture is drawn for the card's width (text at its own 11px, not blown up) and fills it, undistorted.
  const fit = await page.evaluate(() => {
    const box = document.getElementById('curves')!;
    const svg = box.querySelector('svg')!;
    const cs = getComputedStyle(box);
    const r = svg.getBoundingClientRect();
    return {
      inner: box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight),
      drawnW: r.width, drawnH: r.height,
      w: Number(svg.getAttribute('width')), h: Number(svg.getAttribute('height')),
      text: svg.querySelector('text.tick-x')!.getBoundingClientRect().height,
    };
  });
  assert.ok(fit.inner > 800, `a wide card: ${fit.inner}`);
  assert.ok(Math.abs(fit.drawnW - fit.inner) <= 1, `the image fills the card: ${fit.drawnW} of ${fit.inner}`);
  assert.ok(Math.abs(fit.w - fit.inner) <= 1, `drawn at the card's width, not scaled up from 720: ${fit.w}`);
  assert.ok(Math.abs(fit.drawnH / fit.drawnW - fit.h / fit.w) < 0.01, 'not distorted');
  assert.ok(fit.text < 16, `labels keep their size: ${fit.text}px`);

  // Timeline: the decisions in order, early stop and restore at epoch 2.
  await page.locator('#timeline li[data-type="early_stopping"]').waitFor();
  assert.equal(await page.locator('#timeline li[data-type="early_stopping"]').getAttribute('data-epoch'), '2');
  assert.match((await page.locator('#timeline li[data-type="weights_restored"]').textContent())!, /restored from epoch 0/);
  assert.ok(await page.locator('#timeline li[data-type="checkpoint_saved"]').count() >= 1);

  // Artifacts: listed from the store; a link downloads the file with the key sent as a header.
  const csvLink = page.locator('#artifacts a[data-path="logs/training_log.csv"]');
  await csvLink.waitFor();
  for (const path of ['run.json', 'best.json']) assert.equal(await page.locator(`#artifacts a[data-path="${path}"]`).count(), 1, path);
  assert.ok(await page.locator('#artifacts tr[data-kind="checkpoint"]').count() >= 2, 'model.json and weights.bin of a checkpoint');
  const [download] = await Promise.all([page.waitForEvent('download'), csvLink.click()]);
  assert.equal(download.suggestedFilename(), 'training_log.csv');
  const csv = readFileSync((await download.path())!, 'utf8');
  assert.match(csv, /^epoch,/);
  assert.equal(csv.trim().split(/\r?\n/).length, 4, 'header + 3 epochs');
  const [runJson] = await Promise.all([page.waitForEvent('download'), page.locator('#artifacts a[data-path="run.json"]').click()]);
  assert.equal(JSON.parse(readFileSync((await runJson.path())!, 'utf8')).runId, runId);

  // Webhooks: the job's deliveries as the worker logged them.
  await page.locator('#deliveries tr[data-event="job.succeeded"]').waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(OUT, 'run-page-finished-light.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(13, 17, 23)', 'dark colours follow prefers-color-scheme');
  await page.screenshot({ path: join(OUT, 'run-page-finished-dark.png'), fullPage: true });
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test('the page asks for a key when it has none or a wrong one, and keeps it in the tab', { skip, timeout: 30_000 }, async () => {
  const { jobId, runId } = await submit(irisJob(1));
  await waitForJob(stack, jobId, 30_000);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${stack.base}/runs/${runId}#key=not-a-key-of-anyone`);
  await page.locator('#key-form').waitFor({ state: 'visible' });
  assert.match((await page.locator('#key-message').textContent())!, /not accepted/);
  assert.equal(await page.locator('#content').isHidden(), true);
  await page.fill('#key-input', stack.keys.acme);
  await page.click('#key-form button[type="submit"]');
  await page.locator('#status[data-status="succeeded"]').waitFor();
  // Another tenant's key sees no such run.
  await page.reload();
  await page.locator('#status[data-status="succeeded"]').waitFor();
  await page.evaluate((k) => sessionStorage.setItem('kiln.apiKey', k), stack.keys.globex);
  await page.reload();
  await page.locator('#error').waitFor({ state: 'visible' });
  assert.match((await page.locator('#error').textContent())!, /no run/);
  await context.close();
});

test('a running run follows the job live: more epochs appear, then the cancellation', { skip, timeout: 60_000 }, async () => {
  const { jobId, runId } = await submit(irisJob(2000, { fit: { epochs: 2000, batchSize: 8, seed: 7 }, callbacks: { csvLogger: {} } }));
  // Wait until it trains, so the page opens on a running job with a few epochs behind it.
  for (const deadline = Date.now() + 30_000; ;) {
    const job = (await (await fetch(`${stack.base}/v1/jobs/${jobId}`, { headers: stack.auth() })).json()) as any;
    if (job.status === 'running' && (job.progress?.epoch ?? -1) >= 1) break;
    assert.ok(Date.now() < deadline, `job still ${job.status} at epoch ${job.progress?.epoch}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const context = await browser.newContext({ colorScheme: 'dark' });
  const page = await context.newPage();
  await page.goto(`${stack.base}/runs/${runId}#key=${encodeURIComponent(stack.keys.acme)}`);
  await page.locator('#status[data-status="running"]').waitFor();
  await page.locator('#live[data-mode="stream"]').waitFor({ state: 'visible' });
  await page.locator('#curves svg path[data-series="loss"]').waitFor();
  assert.equal(await page.locator('#curves svg').getAttribute('data-axis-epochs'), '2000', 'a running job\'s axis spans the planned epochs');
  const firstDone = Number(await page.locator('#progress').getAttribute('data-epochs-done'));
  const firstPoints = await seriesPoints(page, 'loss');
  // Epoch events arrive over the stream; each one redraws the curves.
  await page.waitForFunction((n) => Number(document.getElementById('progress')!.getAttribute('data-epochs-done')) >= n, firstDone + 3, { timeout: 20_000 });
  await page.waitForFunction((n) => {
    const d = document.querySelector('#curves svg path[data-series="loss"]')?.getAttribute('d') ?? '';
    return (d.match(/[ML]/g) ?? []).length >= n;
  }, firstPoints + 3, { timeout: 20_000 });
  await page.screenshot({ path: join(OUT, 'run-page-running-dark.png'), fullPage: true });

  // Without the event stream (refused here) the page polls the job and still moves on.
  const polling = await context.newPage();
  await polling.route('**/v1/jobs/*/events', (route) => route.abort());
  await polling.goto(`${stack.base}/runs/${runId}#key=${encodeURIComponent(stack.keys.acme)}`);
  await polling.locator('#live[data-mode="poll"]').waitFor({ state: 'visible' });
  const pollDone = Number(await polling.locator('#progress').getAttribute('data-epochs-done'));
  await polling.waitForFunction((n) => Number(document.getElementById('progress')!.getAttribute('data-epochs-done')) >= n, pollDone + 3, { timeout: 20_000 });
  await polling.close();

  const cancel = await fetch(`${stack.base}/v1/jobs/${jobId}`, { method: 'DELETE', headers: stack.auth() });
  assert.equal(cancel.status, 202);
  await page.locator('#status[data-status="cancelled"]').waitFor({ timeout: 20_000 });
  await page.locator('#live').waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#stop-reason').getAttribute('data-stop-reason'), 'cancelled');
  // Ended: the final redraw spans only the epochs that ran.
  await page.waitForFunction(() => {
    const svg = document.querySelector('#curves svg');
    return !!svg && svg.getAttribute('data-axis-epochs') === svg.getAttribute('data-epochs');
  }, undefined, { timeout: 10_000 });
  // The timeline merged the manifest's events and the stream's replay of them without doubles.
  const checkpointEpochs = await page.$$eval('#timeline li[data-type="checkpoint_saved"]', (ls) => ls.map((l) => l.getAttribute('data-epoch')));
  assert.ok(checkpointEpochs.length >= 2);
  assert.equal(new Set(checkpointEpochs).size, checkpointEpochs.length, `one best checkpoint per epoch: ${checkpointEpochs.join(',')}`);
  await waitForJob(stack, jobId, 20_000);
  await context.close();
});
