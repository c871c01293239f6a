import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type * as H5Module from 'h5wasm' with { 'resolution-mode': 'import' };

/**
 * Independent readers for the Keras exports: Info-ZIP `unzip` for the archive (it checks every
 * CRC-32) and h5wasm, the HDF5 C library, for the HDF5 files, opened fresh from the bytes.
 */

/** The archive's members, in order, with their compression method, read by `zipinfo` and `unzip`. */
export function unzipAll(bytes: Buffer): { names: string[]; methods: string[]; files: Map<string, Buffer> } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-keras-'));
  try {
    const path = join(dir, 'model.keras');
    writeFileSync(path, bytes);
    const tested = spawnSync('unzip', ['-tq', path], { encoding: 'utf8' });
    assert.equal(tested.status, 0, `unzip -t: ${tested.stdout}${tested.stderr}`);
    const info = spawnSync('zipinfo', ['-l', path], { encoding: 'utf8' });
    assert.equal(info.status, 0, info.stderr);
    // zipinfo -l lines: mode version os size type csize method date time name
    const rows = info.stdout.split('\n').filter((l) => /^[-d]r/.test(l)).map((l) => l.trim().split(/\s+/));
    const names = rows.map((r) => r[r.length - 1]);
    const methods = rows.map((r) => r[6]);
    const files = new Map<string, Buffer>();
    for (const name of names) {
      const out = spawnSync('unzip', ['-p', path, name], { maxBuffer: 1 << 28 });
      assert.equal(out.status, 0, String(out.stderr));
      files.set(name, out.stdout);
    }
    return { names, methods, files };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the test sees of an HDF5 tree. */
export interface H5Tree {
  /** Every group path (`/`, `/layers`, ...) with its attributes' values. */
  groups: Map<string, Record<string, unknown>>;
  /** Every dataset by path, with shape, dtype, values, filters, chunking and attribute names. */
  datasets: Map<string, { shape: number[]; dtype: string; values: Float32Array; filters: unknown[]; chunks: unknown; attrs: string[] }>;
  /** Group paths → child names in the order HDF5 lists them. */
  children: Map<string, string[]>;
}

let h5: Promise<typeof H5Module> | null = null;

/** Opens `bytes` with h5wasm and walks every group and dataset. */
export async function readH5(bytes: Uint8Array): Promise<H5Tree> {
  h5 ??= import('h5wasm').then(async (m) => {
    await m.ready;
    return m;
  });
  const m = await h5;
  const fs = m.FS as unknown as { writeFile(p: string, d: Uint8Array): void; unlink(p: string): void };
  const path = `/read-${Math.random().toString(36).slice(2)}.h5`;
  fs.writeFile(path, bytes);
  const file = new m.File(path, 'r');
  const tree: H5Tree = { groups: new Map(), datasets: new Map(), children: new Map() };
  try {
    const attrs = (o: H5Module.Group | H5Module.Dataset) => Object.fromEntries(Object.entries(o.attrs).map(([k, a]) => [k, a.value]));
    const walk = (group: H5Module.Group, at: string) => {
      tree.groups.set(at, attrs(group));
      const keys = group.keys();
      tree.children.set(at, keys);
      for (const key of keys) {
        const child = group.get(key);
        const p = at === '/' ? `/${key}` : `${at}/${key}`;
        if (child instanceof m.Group) walk(child, p);
        else if (child instanceof m.Dataset) {
          tree.datasets.set(p, {
            shape: child.shape ?? [],
            dtype: String(child.dtype),
            values: child.value as Float32Array,
            filters: child.filters,
            chunks: child.metadata.chunks,
            attrs: Object.keys(child.attrs),
          });
        } else {
          assert.fail(`${p} is neither a group nor a dataset (a link?)`);
        }
      }
    };
    walk(file, '/');
  } finally {
    file.close();
    fs.unlink(path);
  }
  return tree;
}

/** A tfjs model's weights by their saved (original) name, with shape and values. */
export function tfjsWeights(model: LayersModel): Map<string, { shape: number[]; values: Float32Array }> {
  return new Map(model.weights.map((w) => [w.originalName, { shape: w.shape.slice() as number[], values: w.read().dataSync() as Float32Array }]));
}

/** A tfjs layer's weights in Keras's per-layer order (trainable, then non-trainable). */
export function layerWeightNames(model: LayersModel, layerName: string): string[] {
  const layer = model.getLayer(layerName);
  return [...layer.trainableWeights, ...layer.nonTrainableWeights].map((w) => w.originalName);
}

/** Asserts two float arrays are equal element by element (bit-exact: both are float32). */
export function assertSameValues(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} !== ${expected[i]}`);
  }
}

/** Runs a few SGD steps on random data, so weights and BatchNormalization statistics move off their initial values. */
export async function trainBriefly(model: LayersModel, inputShape: number[], outputs: number): Promise<void> {
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = tf.randomNormal([8, ...inputShape], 0, 1, 'float32', 7);
  const y = tf.randomUniform([8, outputs], 0, 1, 'float32', 8);
  await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
  x.dispose();
  y.dispose();
}
