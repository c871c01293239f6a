import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

export { freePort } from '../../test/support/ports';

/** A Kiln process started from dist/ (run `npm run build` first). */
export interface Service {
  child: ChildProcess;
  pid: number;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `dist/<script>` with `env` (on top of this process's PATH only, so nothing else leaks in),
 * and, when `readyUrl` is given, resolves once it answers 200. `nodeArgs` go to node before the
 * script, as the package.json start scripts pass them (`--openssl-legacy-provider` for the worker),
 * or e.g. `--cpu-prof` to profile the service.
 */
export async function startService(script: string, env: Record<string, string>, readyUrl?: string, nodeArgs: string[] = []): Promise<Service> {
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist', script)], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  const service: Service = {
    child,
    pid: child.pid!,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exit;
      clearTimeout(timer);
    },
  };
  if (readyUrl) {
    const deadline = Date.now() + 30000;
    for (;;) {
      if (exited) throw new Error(`dist/${script} exited before it was ready`);
      try {
        if ((await fetch(readyUrl)).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await service.stop();
        throw new Error(`dist/${script} did not answer ${readyUrl} within 30 s`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return service;
}
