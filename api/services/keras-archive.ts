import { randomUUID } from 'node:crypto';
import { EXPORT_KERAS_VERSION, type KerasExport } from '../../core/keras-export';
import { zipArchive, type ZipArchive } from './zip';
import type * as H5Module from 'h5wasm' with { 'resolution-mode': 'import' };

/**
 * Writes a {@link KerasExport} as the files Keras reads, with h5wasm (the HDF5 C library compiled
 * to WebAssembly, in its in-memory file system):
 * - a Keras 3 `.keras` archive (`keras/src/saving/saving_lib.py`): `metadata.json`, `config.json`
 *   and `model.weights.h5`, zipped STORED as `zipfile.ZipFile(f, "w")` does;
 * - the legacy Keras full-model HDF5 (`keras/src/legacy/saving/legacy_h5_format.py`).
 *
 * Datasets are contiguous float32 without filters or attributes, as h5py writes numpy arrays; string
 * attributes are variable-length UTF-8 scalars (h5py's `str`), and the legacy `layer_names` /
 * `weight_names` lists fixed-length byte strings (h5py's `np.bytes_` arrays). Writing runs
 * synchronously in wasm; for the model sizes Kiln admits that is milliseconds.
 */

type H5 = typeof H5Module;
type H5Group = H5Module.Group;

let h5: Promise<H5> | null = null;

/** h5wasm is an ES module; load it (and its wasm) once, on first use. */
async function loadH5(): Promise<H5> {
  h5 ??= import('h5wasm').then(async (m) => {
    await m.ready;
    return m;
  });
  return h5;
}

/**
 * Builds an HDF5 file in h5wasm's in-memory file system and returns its bytes. The file name is
 * unique, so concurrent exports never share one, and it is removed whatever happens.
 */
async function buildH5(fill: (file: H5Module.File) => void): Promise<Buffer> {
  const m = await loadH5();
  const path = `/kiln-export-${randomUUID()}.h5`;
  const fs = m.FS as unknown as { readFile(p: string): Uint8Array; unlink(p: string): void; analyzePath(p: string): { exists: boolean } };
  try {
    const file = new m.File(path, 'w', { libver: ['earliest', 'v108'] });
    try {
      fill(file);
    } finally {
      file.close();
    }
    return Buffer.from(fs.readFile(path));
  } finally {
    if (fs.analyzePath(path).exists) fs.unlink(path);
  }
}

/** Creates every missing group along `path` (h5wasm does not create intermediate groups). */
function ensureGroup(root: H5Group, path: string): H5Group {
  let group = root;
  for (const part of path.split('/').filter((p) => p !== '')) {
    const existing = group.get(part);
    group = (existing ?? group.create_group(part)) as H5Group;
  }
  return group;
}

/** `model.weights.h5`: `/vars`, `/layers/<path>/vars/<i>` (`H5IOStore`, saving_lib.py). */
export async function kerasWeightsH5(exp: KerasExport): Promise<Buffer> {
  return buildH5((file) => {
    for (const group of exp.kerasVars) {
      const vars = ensureGroup(file, group.path === '' ? 'vars' : `${group.path}/vars`);
      vars.create_attribute('name', group.name);
      group.variables.forEach((v, i) => {
        vars.create_dataset({ name: String(i), data: v.values, shape: v.shape, dtype: '<f4' });
      });
    }
  });
}

/**
 * The legacy full-model HDF5: root attributes `keras_version`, `backend`, `model_config`; and
 * `/model_weights` with `layer_names`, one group per layer named by `layer.name` with
 * `weight_names` and a dataset at each weight name (`save_weights_to_hdf5_group`).
 */
export async function legacyH5(exp: KerasExport): Promise<Buffer> {
  return buildH5((file) => {
    file.create_attribute('keras_version', EXPORT_KERAS_VERSION.legacy);
    file.create_attribute('backend', 'tensorflow');
    file.create_attribute('model_config', JSON.stringify(exp.legacyConfig));
    const weights = file.create_group('model_weights');
    writeByteStrings(weights, 'layer_names', exp.legacyLayers.map((l) => l.name));
    weights.create_attribute('backend', 'tensorflow');
    weights.create_attribute('keras_version', EXPORT_KERAS_VERSION.legacy);
    // Keras creates the layer groups in sorted name order; the order that counts is layer_names.
    for (const layer of [...exp.legacyLayers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const group = weights.create_group(layer.name);
      writeByteStrings(group, 'weight_names', layer.weightNames);
      layer.variables.forEach((v, i) => {
        const name = layer.weightNames[i];
        const slash = name.lastIndexOf('/');
        const parent = slash < 0 ? group : ensureGroup(group, name.slice(0, slash));
        parent.create_dataset({ name: name.slice(slash + 1), data: v.values, shape: v.shape, dtype: '<f4' });
      });
    }
  });
}

/**
 * A list of strings as h5py stores `[s.encode("utf8") for s in names]`: fixed-length byte strings
 * (h5wasm's `A<n>` is null-terminated, hence one byte more than the longest name).
 */
function writeByteStrings(group: H5Group, name: string, values: string[]): void {
  const width = 1 + Math.max(0, ...values.map((v) => Buffer.byteLength(v, 'utf8')));
  // h5py writes an empty list as a float64 array of shape (0,); Keras reads either as "none".
  if (values.length === 0) group.create_attribute(name, new Float64Array(0), [0], '<f8');
  else group.create_attribute(name, values, [values.length], `A${width}`);
}

/** The `.keras` archive: `metadata.json`, `config.json`, `model.weights.h5`, in Keras's order. */
export async function kerasArchive(exp: KerasExport, savedAt: Date): Promise<ZipArchive> {
  const metadata = { keras_version: EXPORT_KERAS_VERSION.keras, date_saved: kerasDate(savedAt) };
  const weights = await kerasWeightsH5(exp);
  return zipArchive([
    { name: 'metadata.json', bytes: Buffer.from(JSON.stringify(metadata)), mtime: savedAt },
    { name: 'config.json', bytes: Buffer.from(JSON.stringify(exp.kerasConfig)), mtime: savedAt },
    { name: 'model.weights.h5', bytes: weights, mtime: savedAt },
  ]);
}

/** Keras's `date_saved`: `datetime.now().strftime("%Y-%m-%d@%H:%M:%S")` (UTC here). */
function kerasDate(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', '@');
}
