import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = join(__dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const pkg = JSON.parse(read('package.json'));
const lock = JSON.parse(read('package-lock.json'));
const buildConfig = JSON.parse(read('tsconfig.build.json'));
const baseConfig = JSON.parse(read('tsconfig.json'));

interface Instruction { op: string; args: string; stage: string }
interface Stage { name: string; from: string; body: Instruction[] }

/** A small Dockerfile reader: continuation lines, comments, stages. Enough for our own file. */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Map<string, Stage> } {
  const lines = text.split('\n');
  const logical: string[] = [];
  let current = '';
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (!current && (line.trim().startsWith('#') || !line.trim())) continue;
    if (current && line.trim().startsWith('#')) continue;
    if (line.endsWith('\\')) current += line.slice(0, -1) + ' ';
    else { logical.push((current + line).trim()); current = ''; }
  }
  const args: Record<string, string> = {};
  const stages = new Map<string, Stage>();
  let stage: Stage | undefined;
  for (const l of logical) {
    const [, op, rest] = /^(\w+)\s+([\s\S]*)$/.exec(l)!;
    const upper = op.toUpperCase();
    if (upper === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest.trim())!;
      stage = { name: m[2] ?? `stage${stages.size}`, from: m[1], body: [] };
      stages.set(stage.name, stage);
    } else if (upper === 'ARG' && !stage) {
      const [k, v] = rest.split('=');
      args[k.trim()] = v?.trim();
    } else {
      assert.ok(stage, `${upper} before the first FROM`);
      stage.body.push({ op: upper, args: rest.trim(), stage: stage.name });
    }
  }
  return { args, stages };
}

const { args, stages } = parseDockerfile(read('Dockerfile'));
const stage = (name: string) => {
  const s = stages.get(name);
  assert.ok(s, `stage ${name}`);
  return s;
};
/** The stage and every stage it is built FROM, nearest first. */
const lineage = (name: string): Stage[] => {
  const s = stage(name);
  return stages.has(s.from) ? [s, ...lineage(s.from)] : [s];
};
const last = (name: string, op: string) => lineage(name).flatMap((s) => s.body.filter((i) => i.op === op)).at(0);
const jsonArgs = (i: Instruction | undefined) => {
  assert.ok(i);
  return JSON.parse(i.args) as string[];
};
const targets = ['api', 'worker-cpu', 'worker-gpu'] as const;

/** The compiled path of a source file under tsconfig.build.json, or undefined if not compiled. */
function compiledPathOf(sourceTs: string): string | undefined {
  const outDir = buildConfig.compilerOptions?.outDir ?? baseConfig.compilerOptions.outDir;
  const rootDir = buildConfig.compilerOptions?.rootDir ?? baseConfig.compilerOptions.rootDir;
  const included = (buildConfig.include as string[]).some((dir) => sourceTs.startsWith(`${dir}/`));
  if (!included) return undefined;
  return join(outDir, relative(rootDir, sourceTs)).replace(/\.ts$/, '.js');
}
/** The source of a `dist/...js` path, checked to compile to exactly that path. */
function sourceOf(distJs: string): string {
  const source = distJs.replace(/^dist\//, '').replace(/\.js$/, '.ts');
  assert.equal(compiledPathOf(source), distJs, `${source} compiles to ${distJs} under tsconfig.build.json`);
  return source;
}
/** `node ...` command that an npm script ends with (after `npm run build --silent &&`). */
function nodeCommandOf(script: string): string[] {
  const cmd = pkg.scripts[script] as string;
  assert.ok(cmd, `npm script ${script}`);
  return cmd.split('&&').at(-1)!.trim().split(/\s+/);
}

describe('Dockerfile', () => {
  it('has the api, worker-cpu and worker-gpu targets', () => {
    for (const t of targets) stage(t);
  });

  it('starts each target with the command of its npm script', () => {
    assert.deepEqual(jsonArgs(last('api', 'CMD')), nodeCommandOf('start:api'));
    assert.deepEqual(jsonArgs(last('worker-cpu', 'CMD')), nodeCommandOf('start:worker'));
    assert.deepEqual(jsonArgs(last('worker-gpu', 'CMD')), nodeCommandOf('start:worker'));
    for (const t of targets) assert.deepEqual(jsonArgs(last(t, 'ENTRYPOINT')), ['/usr/bin/tini', '--']);
  });

  it('runs entry points that the build compiles from existing sources', () => {
    const entries = new Set<string>();
    for (const t of targets) for (const a of jsonArgs(last(t, 'CMD'))) if (a.startsWith('dist/')) entries.add(a);
    // The sandboxed child and the Lambda handler ship in the same dist/ tree.
    entries.add('dist/worker/processor.js');
    entries.add('dist/api/lambda.js');
    for (const entry of entries) {
      const source = sourceOf(entry);
      assert.ok(existsSync(join(root, source)), `${source} exists (compiled to ${entry})`);
    }
  });

  it('copies from the build stage only what the build produces or the repository holds', () => {
    for (const t of targets) {
      for (const copy of lineage(t).flatMap((s) => s.body).filter((i) => i.op === 'COPY' && i.args.includes('--from=build'))) {
        const src = copy.args.split(/\s+/).filter((a) => !a.startsWith('--'))[0].replace(/^\/app\//, '');
        if (src.startsWith('dist')) {
          const dir = src.replace(/^dist\/?/, '');
          assert.ok(dir === '' || (buildConfig.include as string[]).includes(dir), `${src} is compiled by tsconfig.build.json`);
        } else {
          assert.ok(existsSync(join(root, src)), `${src} exists in the repository`);
          assert.ok(!dockerIgnored(src), `${src} is not excluded by .dockerignore`);
        }
      }
    }
  });

  it('ships the pages the API serves: npm run build compiles api/pages/ into dist/api/, which the api image copies', () => {
    const file = join(root, 'api/pages/tsconfig.json');
    const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(file, ts.sys.readFile).config, ts.sys, join(root, 'api/pages'));
    assert.equal(parsed.options.outDir, join(root, 'dist/api/pages'));
    assert.ok(parsed.fileNames.includes(join(root, 'api/pages/run-page/run-page.ts')), parsed.fileNames.join(', '));
    const build = (pkg.scripts.build as string).split('&&').map((c) => c.trim());
    assert.ok(build.includes('tsc -p api/pages'), pkg.scripts.build);
    assert.ok(build.includes('node scripts/copy-page-assets.js'), 'the .css and .html files go next to the compiled script');
    assert.equal(stage('build').body.find((i) => i.op === 'RUN' && i.args.includes('npm run'))?.args, 'npm run build');
    assert.ok(stage('api').body.some((i) => i.op === 'COPY' && /--from=build \/app\/dist\/api \.\/dist\/api$/.test(i.args)));
    for (const p of ['api/pages/tsconfig.json', 'api/pages/run-page/run-page.css', 'api/pages/run-page/run-page.html', 'scripts/copy-page-assets.js']) {
      assert.ok(!dockerIgnored(p), `${p} is in the build context`);
    }
  });

  it('installs with npm ci from the lockfile, never npm install', () => {
    for (const s of stages.values()) {
      for (const run of s.body.filter((i) => i.op === 'RUN')) {
        const installs = run.args.match(/npm (ci|install|i)\b[^&]*/g) ?? [];
        for (const cmd of installs) {
          if (cmd.startsWith('npm ci')) continue;
          assert.match(cmd, /^npm install --global .*"npm@\$\{NPM_VERSION\}"/, `${s.name}: ${cmd}`);
        }
        if (run.args.includes('npm ci')) {
          const copied = s.body.slice(0, s.body.indexOf(run)).some((i) => i.op === 'COPY' && i.args.includes('package-lock.json'));
          assert.ok(copied, `${s.name} copies package-lock.json before npm ci`);
        }
      }
    }
    const runtimeDeps = ['prod-deps', 'gpu-deps'].map((n) => stage(n).body.find((i) => i.args.includes('npm ci'))!.args);
    for (const cmd of runtimeDeps) assert.match(cmd, /--omit=dev/);
    assert.match(runtimeDeps[0], /--omit=optional/);
    assert.equal(args.NPM_VERSION?.split('.')[0], '11', 'the npm major that wrote the lockfile');
    assert.equal(lock.lockfileVersion, 3);
  });

  it('keeps TensorFlow out of the api image, and the api sources never import it', () => {
    const apiLineage = lineage('api').map((s) => s.name);
    assert.ok(!apiLineage.includes('gpu-deps') && !apiLineage.includes('gpu-base'));
    const nm = stage('api').body.find((i) => i.op === 'COPY' && i.args.includes('/app/node_modules'))!;
    assert.match(nm.args, /--from=api-deps\b/);
    assert.ok(stage('api-deps').body.some((i) => i.op === 'RUN' && /rm -rf node_modules\/@tensorflow\b/.test(i.args)));
    const offenders: string[] = [];
    const walk = (dir: string) => {
      if (!existsSync(join(root, dir))) return;
      for (const name of readdirSync(join(root, dir))) {
        const p = `${dir}/${name}`;
        if (statSync(join(root, p)).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && /from ['"]@tensorflow\/|require\(['"]@tensorflow\//.test(read(p))) offenders.push(p);
      }
    };
    for (const dir of ['api', 'core', 'store']) walk(dir);
    assert.deepEqual(offenders, [], 'api/, core/ and store/ must not import @tensorflow/*');
  });

  it('builds worker-gpu on the CUDA/cuDNN line tfjs-node-gpu 4.22 needs, with the locked version', () => {
    assert.match(args.CUDA_IMAGE, /cuda:11\.2(\.\d+)?-cudnn8-runtime-/);
    const locked = lock.packages['node_modules/@tensorflow/tfjs-node-gpu'];
    assert.ok(locked?.optional, 'tfjs-node-gpu is a locked optional dependency');
    assert.equal(args.TFJS_NODE_GPU_VERSION, locked.version);
    assert.match(pkg.optionalDependencies['@tensorflow/tfjs-node-gpu'], /^\^?4\.22\./);
    assert.equal(lineage('worker-gpu').at(-1)!.from, '${CUDA_IMAGE}');
    const gpuDeps = stage('gpu-deps').body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    assert.match(gpuDeps, /npm ci --omit=dev --ignore-scripts/);
    assert.match(gpuDeps, /allow-scripts=@tensorflow\/tfjs-node-gpu/);
    assert.match(gpuDeps, /npm rebuild @tensorflow\/tfjs-node-gpu/);
    assert.match(gpuDeps, /rm -rf node_modules\/@tensorflow\/tfjs-node /);
    assert.match(gpuDeps, /require\('@tensorflow\/tfjs-node-gpu'\)/);
    const env = stage('worker-gpu').body.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    assert.match(env, /KILN_REQUIRE_GPU=true/);
    assert.match(env, /KILN_BACKEND=node-gpu/);
    const cpuEnv = stage('worker-cpu').body.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    assert.match(cpuEnv, /KILN_BACKEND=wasm/);
  });

  it('uses the Node major that package.json requires', () => {
    const engine = /(\d+)/.exec(pkg.engines.node)![1];
    assert.match(args.NODE_IMAGE, new RegExp(`^node:${engine}\\.`));
  });

  it('runs every target as a numeric non-root user with a health check on its port', () => {
    const expected: Record<string, [string, string]> = {
      api: ['PORT', '8080'],
      'worker-cpu': ['KILN_WORKER_HEALTH_PORT', '8081'],
      'worker-gpu': ['KILN_WORKER_HEALTH_PORT', '8081'],
    };
    for (const t of targets) {
      const user = last(t, 'USER')!.args;
      assert.match(user, /^[1-9]\d*:[1-9]\d*$/, `${t} USER`);
      const hc = last(t, 'HEALTHCHECK')!.args;
      const cmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim());
      assert.deepEqual(cmd, ['node', 'infra/docker/healthcheck.js', ...expected[t], '/healthz'], t);
      assert.ok(existsSync(join(root, cmd[1])));
      assert.match(last(t, 'EXPOSE')!.args, new RegExp(`^${expected[t][1]}$`));
    }
  });
});

/** Minimal .dockerignore semantics: globs with * and **, later `!` lines re-include. */
function dockerIgnored(path: string): boolean {
  const rules = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  let ignored = false;
  const segments = path.split('/');
  for (const rule of rules) {
    const negate = rule.startsWith('!');
    const glob = negate ? rule.slice(1) : rule;
    const re = new RegExp('^' + glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*') + '$');
    // A rule matching a parent directory excludes everything under it.
    const hit = segments.some((_, i) => re.test(segments.slice(0, i + 1).join('/')));
    if (hit) ignored = !negate;
  }
  return ignored;
}

describe('.dockerignore', () => {
  it('keeps secrets, dependencies and build output out of the context', () => {
    for (const p of ['node_modules', 'node_modules/x/index.js', 'api/node_modules/x', '.git/HEAD', '.env', '.env.production', 'dist/api/server.js', 'cdk.out/x', 'infra/aws/cdk.out/x']) {
      assert.ok(dockerIgnored(p), `${p} is ignored`);
    }
  });

  it('keeps everything the build needs', () => {
    for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'core/errors.ts', 'api/server.ts', 'worker/main.ts', 'store/x.ts', 'cli/x.ts', 'openapi/openapi.yaml', 'worker/data/builtin/iris.csv', 'infra/docker/healthcheck.js', '.env.example']) {
      assert.ok(!dockerIgnored(p), `${p} is kept`);
    }
  });
});
