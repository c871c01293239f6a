/**
 * `npm run bench:train` — training throughput of the reference workloads
 * (../shared/bench/WORKLOADS.md) on each tfjs backend, next to PyTorch on the CPU measured by
 * ../shared/bench/torch_reference.py in the same invocation. Prints one JSON object.
 *
 * Usage: npm run bench:train -- [--backends wasm,cpu] [--workloads mlp,cnn] [--samples 4096]
 *          [--epochs 2] [--cpu-cnn-samples 128] [--torch-threads N] [--torch-script PATH] [--no-torch]
 *          [--matmul 128x784x256,512x512x512] [--no-matmul]
 *
 * The cpu backend trains the CNN at a few samples per second, so its CNN run uses
 * --cpu-cnn-samples (one batch by default); the output states the sample count of every figure.
 * Figures are samples/s over `epochs` epochs after one warm-up epoch, as model.fit runs them.
 *
 * It also measures the matrix product alone (GFLOP/s of `tf.matMul` for each MxKxN shape, the first
 * being the MLP's first layer at batch 128) next to PyTorch's on the same shapes
 * (bench/torch_matmul.py, one thread, OpenBLAS with its own kernel choice), so the training ratio
 * can be read against what the kernel under it reaches.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { initWasmBackend } from '../worker/tfjs/wasm-backend';

type Workload = 'mlp' | 'cnn';
type Backend = 'wasm' | 'cpu';

interface Options {
  backends: Backend[];
  workloads: Workload[];
  samples: number;
  epochs: number;
  cpuCnnSamples: number;
  torchThreads: number;
  torchScript: string;
  torch: boolean;
  matmul: Array<[number, number, number]>;
}

const BATCH_SIZE = 128;

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    backends: ['wasm', 'cpu'],
    workloads: ['mlp', 'cnn'],
    samples: 4096,
    epochs: 2,
    cpuCnnSamples: 128,
    torchThreads: 0,
    torchScript: path.resolve(__dirname, '..', '..', 'shared', 'bench', 'torch_reference.py'),
    torch: true,
    matmul: [[128, 784, 256], [512, 512, 512]],
  };
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) problems.push(`${flag} needs a value`);
      return v ?? '';
    };
    const count = (): number => {
      const raw = value();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) problems.push(`${flag} must be a non-negative integer, got '${raw}'`);
      return n;
    };
    switch (flag) {
      case '--backends':
        opts.backends = value().split(',').filter(Boolean) as Backend[];
        for (const b of opts.backends) if (b !== 'wasm' && b !== 'cpu') problems.push(`unknown backend '${b}' (use wasm, cpu)`);
        break;
      case '--workloads':
        opts.workloads = value().split(',').filter(Boolean) as Workload[];
        for (const w of opts.workloads) if (w !== 'mlp' && w !== 'cnn') problems.push(`unknown workload '${w}' (use mlp, cnn)`);
        break;
      case '--samples': opts.samples = count(); break;
      case '--epochs': opts.epochs = count(); break;
      case '--cpu-cnn-samples': opts.cpuCnnSamples = count(); break;
      case '--torch-threads': opts.torchThreads = count(); break;
      case '--torch-script': opts.torchScript = path.resolve(value()); break;
      case '--no-torch': opts.torch = false; break;
      case '--no-matmul': opts.matmul = []; break;
      case '--matmul': {
        const raw = value();
        opts.matmul = raw.split(',').filter(Boolean).map((shape) => {
          const dims = shape.split('x').map(Number);
          if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
            problems.push(`--matmul takes MxKxN shapes separated by commas, got '${shape}'`);
          }
          return dims as [number, number, number];
        });
        break;
      }
      default: problems.push(`unknown flag '${flag}'`);
    }
  }
  if (opts.samples < BATCH_SIZE || opts.cpuCnnSamples < 1 || opts.epochs < 1) {
    problems.push(`--samples must be ≥ ${BATCH_SIZE}; --cpu-cnn-samples and --epochs ≥ 1`);
  }
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`bench:train: ${p}\n`);
    process.exit(2);
  }
  return opts;
}

/** The two models of WORKLOADS.md, compiled as a job compiles them. */
function buildModel(workload: Workload): tfl.Sequential {
  const model = tfl.sequential();
  if (workload === 'mlp') {
    model.add(tfl.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }));
    model.add(tfl.layers.dense({ units: 128, activation: 'relu' }));
  } else {
    model.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'valid', activation: 'relu' }));
    model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'valid', activation: 'relu' }));
    model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tfl.layers.flatten());
  }
  model.add(tfl.layers.dense({ units: 10, activation: 'softmax' }));
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return model;
}

async function samplesPerSecond(workload: Workload, samples: number, epochs: number): Promise<number> {
  const model = buildModel(workload);
  const x = tf.randomNormal(workload === 'mlp' ? [samples, 784] : [samples, 28, 28, 1], 0, 1, 'float32');
  const labels = tf.randomUniform([samples], 0, 10, 'int32') as tf.Tensor1D;
  const y = tf.cast(tf.oneHot(labels, 10), 'float32');
  try {
    const fit = { batchSize: BATCH_SIZE, shuffle: true, verbose: 0 as const };
    await model.fit(x, y, { ...fit, epochs: 1 });
    const start = performance.now();
    await model.fit(x, y, { ...fit, epochs });
    return (epochs * samples) / ((performance.now() - start) / 1000);
  } finally {
    tf.dispose([x, labels, y]);
    model.dispose();
  }
}

/** GFLOP/s of `tf.matMul` on an [m,k]×[k,n] product, timed for about a second after a warm-up. */
async function matMulGflops([m, k, n]: [number, number, number]): Promise<number> {
  const a = tf.randomNormal([m, k], 0, 1, 'float32');
  const b = tf.randomNormal([k, n], 0, 1, 'float32');
  try {
    const once = async () => {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    };
    for (let i = 0; i < 3; i++) await once();
    let reps = 0;
    const start = performance.now();
    while (performance.now() - start < 1000) {
      await once();
      reps++;
    }
    return (2 * m * k * n * reps) / ((performance.now() - start) / 1000) / 1e9;
  } finally {
    tf.dispose([a, b]);
  }
}

async function useBackend(backend: Backend): Promise<void> {
  if (backend === 'wasm') {
    await initWasmBackend();
  } else if (!(await tf.setBackend(backend))) {
    throw new Error(`backend ${backend} failed to initialise`);
  }
}

interface TorchResult {
  engine: string;
  version: string;
  threads: number;
  mlp_samples_per_s: number;
  cnn_samples_per_s: number;
}

/** The first python3 that can import torch: PATH may list a pyenv interpreter before Debian's. */
function findTorchPython(): string | undefined {
  const which = spawnSync('which', ['-a', 'python3'], { encoding: 'utf8' });
  const candidates = [...(which.stdout ?? '').split('\n').filter(Boolean), '/usr/bin/python3'];
  return [...new Set(candidates)].find(
    (py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

/** PyTorch's matrix-product GFLOP/s on the same shapes (bench/torch_matmul.py). */
function runTorchMatmul(opts: Options): { gflops: Record<string, number>; blas: unknown } | { skipped: string } {
  if (!opts.torch) return { skipped: '--no-torch given' };
  if (opts.matmul.length === 0) return { skipped: '--no-matmul given' };
  const python = findTorchPython();
  if (python === undefined) return { skipped: 'no python3 on this machine can import torch' };
  const threads = opts.torchThreads > 0 ? opts.torchThreads : 1;
  const run = spawnSync(python, [path.join(__dirname, 'torch_matmul.py'), '--shapes', opts.matmul.map((s) => s.join('x')).join(','),
    '--threads', String(threads)], { encoding: 'utf8' });
  if (run.status !== 0) return { skipped: `torch_matmul.py failed (exit ${run.status}): ${(run.stderr ?? '').trim().slice(-500)}` };
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as { gflops: Record<string, number>; blas: unknown };
}

function runTorch(opts: Options): TorchResult | { skipped: string } {
  if (!opts.torch) return { skipped: '--no-torch given' };
  const python = findTorchPython();
  if (python === undefined) {
    return { skipped: 'no python3 on this machine can import torch (apt-get install -y python3-torch)' };
  }
  const args = [opts.torchScript, '--samples', String(opts.samples), '--epochs', String(opts.epochs)];
  if (opts.torchThreads > 0) args.push('--threads', String(opts.torchThreads));
  const run = spawnSync(python, args, { encoding: 'utf8' });
  if (run.status !== 0) {
    return { skipped: `torch_reference.py failed (exit ${run.status}): ${(run.stderr ?? '').trim().slice(-500)}` };
  }
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as TorchResult;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const results: Record<string, Record<string, { samplesPerS: number; samples: number }>> = {};
  const notes: string[] = [];
  const matmul: Record<string, Record<string, number>> = {};
  for (const backend of opts.backends) {
    await useBackend(backend);
    results[backend] = {};
    matmul[backend] = {};
    for (const shape of opts.matmul) matmul[backend][shape.join('x')] = Number((await matMulGflops(shape)).toFixed(2));
    for (const workload of opts.workloads) {
      const samples = backend === 'cpu' && workload === 'cnn' ? Math.min(opts.cpuCnnSamples, opts.samples) : opts.samples;
      if (samples !== opts.samples) {
        notes.push(`cpu/cnn measured on ${samples} samples (--cpu-cnn-samples), not ${opts.samples}: it trains at a few samples/s`);
      }
      const rate = await samplesPerSecond(workload, samples, opts.epochs);
      results[backend][workload] = { samplesPerS: Math.round(rate), samples };
    }
  }
  const torch = runTorch(opts);
  const ratios: Record<string, Record<string, number>> = {};
  if ('engine' in torch) {
    for (const [backend, byWorkload] of Object.entries(results)) {
      ratios[backend] = {};
      for (const [workload, r] of Object.entries(byWorkload)) {
        const reference = workload === 'mlp' ? torch.mlp_samples_per_s : torch.cnn_samples_per_s;
        ratios[backend][workload] = Number((r.samplesPerS / reference).toFixed(3));
      }
    }
  } else {
    notes.push(`torch reference skipped: ${torch.skipped}`);
  }
  const torchMatmul = runTorchMatmul(opts);
  const matmulRatios: Record<string, Record<string, number>> = {};
  if ('gflops' in torchMatmul) {
    for (const [backend, byShape] of Object.entries(matmul)) {
      matmulRatios[backend] = {};
      for (const [shape, g] of Object.entries(byShape)) matmulRatios[backend][shape] = Number((g / torchMatmul.gflops[shape]).toFixed(3));
    }
  }
  const report = {
    bench: 'train',
    tfjs: tf.version_core,
    node: process.version,
    batchSize: BATCH_SIZE,
    samples: opts.samples,
    epochs: opts.epochs,
    kiln: results,
    torch,
    ratioKilnOverTorch: ratios,
    matmulGflops: { kiln: matmul, torch: torchMatmul, ratioKilnOverTorch: matmulRatios },
    notes,
  };
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:train failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
