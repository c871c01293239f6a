import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { buildApp } from './app';
import { loadConfig } from './config';
import { loadOrCreateDevKey } from './dev-key';

/**
 * Process entry of the API. With `--with-worker` (what `npm start` passes) it also runs one worker
 * process beside it, handing it the same environment.
 */
async function main(): Promise<void> {
  const withWorker = process.argv.includes('--with-worker');
  let config;
  try {
    config = loadConfig(process.env, withWorker ? { devKey: () => loadOrCreateDevKey(resolve('.kiln/dev-api-key')) } : {});
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const app = await buildApp(config);
  let worker: ChildProcess | null = null;
  const shutdown = async (signal: string) => {
    app.log.info({ signal }, 'shutting down');
    worker?.kill('SIGTERM');
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  const address = await app.listen({ port: config.port, host: config.host });
  if (withWorker) {
    worker = spawn(process.execPath, ['--openssl-legacy-provider', join(__dirname, '../worker/main.js')], { stdio: 'inherit', env: process.env });
    worker.on('exit', (code, signal) => app.log.warn({ code, signal }, 'worker process exited'));
  }
  const url = address.replace('0.0.0.0', 'localhost');
  console.log(`Kiln API listening on ${url} (docs: ${url}/docs)`);
  if (config.generatedDevKey) {
    // The same names the README and the kiln command use.
    console.log(`No KILN_API_KEYS set: development key for tenant 'dev' (kept in .kiln/dev-api-key):\n  export KILN_URL=${url} KILN_API_KEY=${config.generatedDevKey}\n  curl -H "authorization: Bearer $KILN_API_KEY" $KILN_URL/v1/jobs`);
  }
}

void main();
