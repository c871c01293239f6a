import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function kiln(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/kiln.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function file(name: string, body: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
  return p;
}

const REQUEST = {
  callbacks: { earlyStopping: { monitor: 'loss', patience: 0 } },
  history: [{ loss: 1 }, { loss: 2 }, { loss: 0.5 }],
};

test('kiln simulate <file> prints the response for one request', () => {
  const r = kiln('simulate', file('one.json', REQUEST));
  assert.equal(r.code, 0, r.err);
  const body = JSON.parse(r.out);
  assert.deepEqual(body.epochsRun, [0, 1]);
  assert.equal(body.stoppedBy, 'EarlyStopping');
});

test('kiln simulate <file> prints an array for an array', () => {
  const r = kiln('simulate', file('many.json', [REQUEST, { callbacks: {}, history: [{ loss: 1 }] }]));
  assert.equal(r.code, 0, r.err);
  const body = JSON.parse(r.out);
  assert.equal(body.length, 2);
  assert.deepEqual(body[1].epochsRun, [0]);
});

test('kiln simulate: invalid requests exit 1 naming the field and the fix', () => {
  const r = kiln('simulate', file('bad.json', [REQUEST, { callbacks: { earlyStopping: { paitence: 1 } }, history: [{ loss: 1 }] }]));
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /\(request 1\) is invalid \(JOB_SPEC_INVALID\)/);
  assert.match(r.err, /\/callbacks\/earlyStopping\/paitence: unknown field 'paitence'; remove it or use one of/);
});

test('kiln: usage errors exit 2', () => {
  assert.equal(kiln().code, 2);
  assert.match(kiln('frobnicate').err, /unknown command 'frobnicate'/);
  assert.equal(kiln('simulate').code, 2);
  const r = kiln('simulate', file('broken.json', '{"callbacks":'));
  assert.equal(r.code, 2);
  assert.match(r.err, /cannot read .* as JSON/);
  assert.equal(kiln('simulate', join(dir, 'missing.json')).code, 2);
});
