import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

// Synthesises infra/aws/app.ts as `cdk synth` would (the CLI passes CDK_OUTDIR and context the
// same way), with its default images and code, offline: no AWS account, no Docker, no lookups.
describe('infra/aws/app.ts', () => {
  let out: string;
  let template: any;
  let assets: any;
  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'kiln-cdk-'));
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', join(root, 'infra', 'aws', 'app.ts')],
        {
          cwd: root,
          env: {
            ...process.env,
            CDK_OUTDIR: out,
            CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [], 'kiln:maxWorkers': '6' }),
            CDK_DEFAULT_ACCOUNT: '',
            CDK_DEFAULT_REGION: '',
          },
        },
        (err, _stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()),
      );
    });
    template = JSON.parse(readFileSync(join(out, 'Kiln.template.json'), 'utf8'));
    assets = JSON.parse(readFileSync(join(out, 'Kiln.assets.json'), 'utf8'));
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('builds the worker image from the Dockerfile worker-gpu target for x86_64 GPU hosts', () => {
    const images = Object.values(assets.dockerImages) as any[];
    assert.equal(images.length, 1);
    assert.equal(images[0].source.dockerBuildTarget, 'worker-gpu');
    assert.equal(images[0].source.platform, 'linux/amd64');
    // The staged build context honours .dockerignore.
    const context = join(out, images[0].source.directory);
    assert.ok(existsSync(join(context, 'Dockerfile')));
    assert.ok(existsSync(join(context, 'package-lock.json')));
    assert.ok(!existsSync(join(context, 'node_modules')));
    assert.ok(!existsSync(join(context, 'test')));
  });

  it('packages the API as a zip whose handler is dist/api/lambda.handler', () => {
    const fns = Object.values(template.Resources).filter((r: any) => r.Type === 'AWS::Lambda::Function') as any[];
    const api = fns.find((f) => f.Properties.Handler === 'dist/api/lambda.handler');
    assert.ok(api, 'API function');
    assert.ok(api.Properties.Code.S3Key, 'zip asset');
  });

  it('reads its options from context and stays environment-agnostic', () => {
    const target = Object.values(template.Resources).find((r: any) => r.Type === 'AWS::ApplicationAutoScaling::ScalableTarget') as any;
    assert.equal(target.Properties.MaxCapacity, 6);
    assert.match(JSON.stringify(template), /"Ref":"AWS::Region"/);
  });
});
