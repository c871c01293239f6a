/**
 * The store thread's entry ({@link StoreThread}): opens the store named in `workerData` and runs
 * each request it is sent — puts with the uploader's retry loop, answering how every try went;
 * deletes and lists once.
 */
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createStore, type CreateStoreOptions } from './create-store';
import type { StoreReply, StoreRequest, StoreThreadSpec } from './store-thread';
import { toWireError } from './store-thread';
import { putWithRetries } from './uploader';

const spec = workerData as StoreThreadSpec;
const store = createStore({ ...(spec.options as CreateStoreOptions), uri: spec.uri });
const port = parentPort!;

if (process.platform === 'linux') {
  // On Linux, setpriority on "this process" (0) sets the calling thread's nice value only. Raising
  // one's own nice value needs no privilege; 19 is the ceiling.
  setPriority(Math.min(19, getPriority() + Math.max(0, spec.niceOffset ?? 10)));
}

const reply = (r: StoreReply) => port.postMessage(r);

port.on('message', (request: StoreRequest) => void handle(request));

async function handle(request: StoreRequest): Promise<void> {
  const { id } = request;
  let lastMs = 0;
  const t0 = performance.now();
  try {
    if (request.op === 'put') {
      const { key, body, contentType, retry } = request;
      const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      await putWithRetries(() => store.put(key, bytes, { contentType }), retry, {
        onTry: (ms) => {
          lastMs = ms;
        },
        onRetry: (n, delayMs, error) => reply({ id, kind: 'retry', ms: lastMs, retry: n, delayMs, error: toWireError(error) }),
      });
      reply({ id, kind: 'done', ms: lastMs });
    } else if (request.op === 'delete') {
      if (!store.delete) throw new Error(`the store ${store.uri} cannot delete objects`);
      await store.delete(request.key);
      reply({ id, kind: 'done', ms: performance.now() - t0 });
    } else {
      reply({ id, kind: 'done', ms: performance.now() - t0, listed: await store.list(request.prefix) });
    }
  } catch (e) {
    reply({ id, kind: 'failed', ms: request.op === 'put' ? lastMs : performance.now() - t0, error: toWireError(e) });
  }
}
