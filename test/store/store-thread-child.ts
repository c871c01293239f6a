/**
 * Child process for store-thread.test.ts: warms an S3Store's write thread with one put, then
 * starts a second put and returns from its main code without awaiting it or closing the store.
 * Prints `stored` when the second put settles. The process must live until then (the thread holds
 * it open while a put is in flight) and exit by itself afterwards (an idle thread does not).
 *
 * Usage: store-thread-child.ts <s3 uri> <S3StoreOptions as JSON> <key>
 */
import { S3Store, type S3StoreOptions } from '../../store/s3-store';

const RETRY = { retries: 0, baseDelayMs: 1, maxDelayMs: 1 };

async function main(): Promise<void> {
  const [uri, options, key] = process.argv.slice(2);
  const store = new S3Store(uri!, JSON.parse(options!) as S3StoreOptions);
  await store.writeThread().put(`${key!}.first`, Buffer.from('warm-up'), undefined, RETRY);
  void store.writeThread().put(key!, Buffer.from('from the child'), undefined, RETRY).then(
    () => process.stdout.write('stored\n'),
    (e: unknown) => {
      process.stdout.write(`failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

void main();
