/**
 * `npm run demo`: the main job end to end on this machine. Starts the API, a worker and a local
 * webhook receiver, submits the contract's own example job (iris) with a webhook, shows per-epoch
 * progress, and ends by printing where the best model and the CSV are and the webhook it received.
 * Uses Redis at REDIS_URL (default localhost), starting a local redis-server when none answers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { buildApp } from '../api/app';
import { loadConfig as loadApiConfig } from '../api/config';
import { loadOpenApiDocument } from '../api/openapi-document';
import { loadConfig as loadWorkerConfig } from '../worker/config';
import { startWorker } from '../worker/main';
import { verifyWebhook } from '../worker/webhooks/sign';

const say = (s: string) => process.stdout.write(s + '\n');

async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function ensureRedis(): Promise<{ url: string; child: ChildProcess | null }> {
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (await redisAnswers(url)) return { url, child: null };
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!found) {
    say(`No Redis answers at ${url}, and redis-server is not installed.`);
    say('Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) or point REDIS_URL at one, then run npm run demo again.');
    process.exit(1);
  }
  const port = await freePort();
  const child = spawn(found, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const local = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await redisAnswers(local)); i++) await new Promise((r) => setTimeout(r, 100));
  say(`Started a local redis-server on port ${port} for the demo.`);
  return { url: local, child };
}

async function main(): Promise<void> {
  const redis = await ensureRedis();
  const store = 'file://' + resolve('.kiln/demo-store');
  const key = 'demo_' + randomBytes(16).toString('hex');
  const secret = 'whsec_' + randomBytes(32).toString('base64');
  // The worker's sandboxed children read the same settings from their environment.
  Object.assign(process.env, {
    REDIS_URL: redis.url,
    KILN_STORE: store,
    KILN_QUEUE_PREFIX: '{kiln-demo}',
    KILN_API_KEYS: `demo:${key}`,
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    // The demo's webhook receiver listens on loopback, which Kiln refuses unless allow-listed.
    KILN_OUTBOUND_ALLOW: '127.0.0.1',
  });

  const received: Array<{ id: string; ts: number; sig: string; body: string }> = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ id: String(req.headers['webhook-id']), ts: Number(req.headers['webhook-timestamp']), sig: String(req.headers['webhook-signature']), body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/kiln-events`;

  const apiConfig = loadApiConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' });
  const app = await buildApp(apiConfig, { logger: false });
  const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('0.0.0.0', '127.0.0.1');
  const worker = await startWorker(loadWorkerConfig({ ...process.env, KILN_WORKER_HEALTH_PORT: '0' }));
  say(`Kiln API on ${base} (docs at ${base}/docs), one worker, webhook receiver on ${hookUrl}`);

  const example = loadOpenApiDocument().paths['/v1/jobs'].post.requestBody.content['application/json'].examples.iris.value;
  const job = { ...example, webhook: { url: hookUrl, secret } };
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const submitted = await fetch(`${base}/v1/jobs`, { method: 'POST', headers, body: JSON.stringify(job) });
  const accepted = (await submitted.json()) as any;
  if (submitted.status !== 202) {
    say(`Submission refused (${submitted.status}): ${JSON.stringify(accepted, null, 2)}`);
    process.exitCode = 1;
  } else {
    say(`Submitted ${accepted.jobId} (run ${accepted.runId}): ${job.model.layers.length}-layer network on the built-in iris dataset, ${job.fit.epochs} epochs max, EarlyStopping + ModelCheckpoint + CSVLogger`);
    let shown = -1;
    let view: any;
    const fmt = (m: any, k: string) => (typeof m[k] === 'number' ? m[k].toFixed(4) : String(m[k] ?? '-'));
    for (;;) {
      view = await (await fetch(`${base}/v1/jobs/${accepted.jobId}`, { headers })).json();
      // The run manifest holds every finished epoch, so none is skipped however fast they come.
      const run = (await (await fetch(`${base}/v1/runs/${accepted.runId}`, { headers })).json()) as any;
      for (const { epoch, logs } of run.history ?? []) {
        if (epoch <= shown) continue;
        shown = epoch;
        say(`  epoch ${String(epoch + 1).padStart(3)}/${job.fit.epochs}  loss ${fmt(logs, 'loss')}  accuracy ${fmt(logs, 'accuracy')}  val_loss ${fmt(logs, 'val_loss')}  val_accuracy ${fmt(logs, 'val_accuracy')}  [${run.backend}]`);
      }
      if (['succeeded', 'failed', 'cancelled'].includes(view.status) && shown >= (view.progress?.epoch ?? -1)) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    say(`Job ${view.status}: stop reason ${view.stopReason}${view.error ? `, error ${view.error.code}: ${view.error.detail}` : ''}`);
    if (view.best) {
      const storeDir = resolve('.kiln/demo-store');
      say(`Best checkpoint: epoch ${view.best.epoch + 1} (${view.best.monitor} = ${view.best.value})`);
      say(`  in the store: ${join(storeDir, view.best.key)}/model.json (+ weights.bin)`);
      say(`  over HTTP:    ${base}/v1/runs/${accepted.runId}/model/model.json  (tf.loadLayersModel with the Authorization header)`);
    }
    const run = (await (await fetch(`${base}/v1/runs/${accepted.runId}`, { headers })).json()) as any;
    const log = run.artifacts?.find((a: any) => a.kind === 'log');
    if (log) say(`CSV log: ${join(resolve('.kiln/demo-store'), log.key)}  (GET ${base}/v1/runs/${accepted.runId}/logs.csv)`);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    for (const w of received) {
      const event = JSON.parse(w.body);
      const ok = verifyWebhook(secret, w.id, w.ts, w.body, w.sig);
      say(`Webhook received: ${event.type} id ${w.id}, signature ${ok ? 'verified' : 'INVALID'}`);
    }
    if (received.length === 0) say('No webhook arrived within 5 s.');
    if (view.status !== 'succeeded') process.exitCode = 1;
  }
  await worker.stop();
  await app.close();
  receiver.close();
  redis.child?.kill();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
