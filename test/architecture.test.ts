import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, sourceFiles } from './support/source-files';

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|import\(\s*['"]([^'"]+)['"]\s*\)/g)];
  return specs.map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]);
}

function resolveLocal(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = join(dirname(from), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    try {
      statSync(join(ROOT, candidate));
      return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

const files = sourceFiles();
const top = (f: string) => f.split('/')[0];

test('only worker/tfjs imports @tensorflow/*', () => {
  const offenders = files.filter((f) => !f.startsWith('worker/tfjs/') && imports(f).some((s) => s.startsWith('@tensorflow/')));
  assert.deepEqual(offenders, []);
});

test('only the S3 driver imports the AWS SDK', () => {
  const offenders = files.filter((f) => f !== 'store/s3-store.ts' && imports(f).some((s) => s.startsWith('@aws-sdk/')));
  assert.deepEqual(offenders, []);
});

test('only the queue modules (api/services/*-queue.ts, worker/**/*-queue.ts) import bullmq', () => {
  const queueModule = (f: string) => /^(api\/services|worker(\/[a-z-]+)?)\/[a-z-]+-queue\.ts$/.test(f);
  const offenders = files.filter((f) => !queueModule(f) && imports(f).some((s) => s === 'bullmq' || s.startsWith('bullmq/')));
  assert.deepEqual(offenders, []);
});

test('dependencies point one way: api → core/store, worker → core/store, store → core, core → nothing', () => {
  const allowed: Record<string, string[]> = {
    core: ['core'],
    store: ['store', 'core'],
    api: ['api', 'core', 'store'],
    worker: ['worker', 'core', 'store'],
    cli: ['cli', 'client', 'api', 'worker', 'core', 'store'],
    // The published client: only the generated contract types from core, nothing that does I/O.
    client: ['client', 'core'],
  };
  const offenders: string[] = [];
  for (const f of files) {
    for (const s of imports(f)) {
      const target = resolveLocal(f, s);
      if (target && !allowed[top(f)].includes(top(target))) offenders.push(`${f} → ${target}`);
    }
  }
  assert.deepEqual(offenders, []);
});

/** Where each worker room may reach (its own folder is always allowed; node: built-ins too). */
const WORKER_ROOMS: Record<string, { may: string[]; why: string }> = {
  // Reading a dataset is not training: no tfjs, no store driver (the caller passes readObject), no callbacks.
  'worker/data/': { may: ['core/'], why: 'the dataset pipeline reads files into arrays and nothing else' },
  // Callbacks see the model through TrainingModel (callbacks/training-model.ts), never tfjs, and
  // get their data and session from worker/training, the composition root.
  'worker/callbacks/': { may: ['core/', 'store/', 'worker/tensorboard/', 'worker/webhooks/'], why: 'worker callbacks test on fakes, without tfjs' },
};

test('worker/data and worker/callbacks import only what their role needs (and no npm package)', () => {
  const offenders: string[] = [];
  for (const [room, { may, why }] of Object.entries(WORKER_ROOMS)) {
    for (const f of files.filter((f) => f.startsWith(room))) {
      for (const s of imports(f)) {
        const target = resolveLocal(f, s);
        const allowed = target === null ? s.startsWith('node:') : target.startsWith(room) || may.some((m) => target.startsWith(m));
        if (!allowed) offenders.push(`${f} → ${target ?? s} (${why})`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

test('only worker/training (the composition root) and worker/tfjs reach into worker/data and worker/callbacks', () => {
  const offenders: string[] = [];
  for (const f of files.filter((f) => top(f) === 'worker')) {
    for (const s of imports(f)) {
      const target = resolveLocal(f, s);
      if (!target) continue;
      const room = Object.keys(WORKER_ROOMS).find((r) => target.startsWith(r));
      if (!room || f.startsWith(room)) continue;
      if (!f.startsWith('worker/training/') && !f.startsWith('worker/tfjs/')) offenders.push(`${f} → ${target}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('worker/tfjs takes only types from worker/callbacks (it implements TrainingModel)', () => {
  const offenders: string[] = [];
  for (const f of files.filter((f) => f.startsWith('worker/tfjs/'))) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(import|export)(\s+type)?\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
      const target = resolveLocal(f, m[3]);
      if (target?.startsWith('worker/callbacks/') && !m[2]) offenders.push(`${f} → ${target}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('core does no I/O', () => {
  const io = ['node:fs', 'fs', 'node:http', 'http', 'node:net', 'node:child_process', 'ioredis', 'fastify'];
  const offenders = files.filter((f) => top(f) === 'core' && imports(f).some((s) => io.includes(s) || s.startsWith('fs/')));
  assert.deepEqual(offenders, []);
});

test('no barrel index.ts files and no import cycles', () => {
  // client/index.ts is the package entry point (`exports`) and holds the client itself.
  assert.deepEqual(files.filter((f) => f.endsWith('/index.ts') && f !== 'client/index.ts'), []);
  const graph = new Map(files.map((f) => [f, imports(f).map((s) => resolveLocal(f, s)).filter((t): t is string => t !== null)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(f)), f].join(' → '));
      return;
    }
    state.set(f, 'visiting');
    for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('the client takes only the generated contract types from core (so it ships without the server code)', () => {
  const offenders: string[] = [];
  for (const f of files.filter((f) => top(f) === 'client')) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(import|export)(\s+type)?\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
      const target = resolveLocal(f, m[3]);
      if (target && top(target) === 'core' && (target !== 'core/api.gen.ts' || !m[2])) offenders.push(`${f} → ${target}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test("the pages' browser sources (api/pages/) are self-contained scripts, and no server code imports them", () => {
  const pages = files.filter((f) => f.startsWith('api/pages/'));
  assert.ok(pages.includes('api/pages/run-page/run-page.ts'), 'the run page is among the sources');
  // Each page script is inlined into its document as one module: an import would have nothing to load.
  assert.deepEqual(pages.filter((f) => imports(f).length > 0).map((f) => `${f} imports ${imports(f).join(', ')}`), []);
  const offenders = files.filter((f) => !f.startsWith('api/pages/') && imports(f).some((s) => resolveLocal(f, s)?.startsWith('api/pages/')));
  assert.deepEqual(offenders, []);
  // They run in a browser: no Node globals, whatever the type-checker of the day lets through.
  const nodeGlobals = pages.filter((f) => /\b(require\(|process\.|Buffer\.|__dirname)/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.deepEqual(nodeGlobals, []);
});
