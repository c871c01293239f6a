#!/usr/bin/env node
// Finds test files under the given folders (default: test/) and runs them with node's test runner.
// Node 20's `--test` does not expand globs itself.
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const args = process.argv.slice(2);
const roots = args.filter((a) => !a.startsWith('--'));
const flags = args.filter((a) => a.startsWith('--'));
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
}
for (const r of roots.length ? roots : ['test']) {
  if (statSync(r).isDirectory()) walk(r); else files.push(r);
}
if (files.length === 0) {
  console.error('no test files found under', roots.join(' ') || 'test');
  process.exit(1);
}
const res = spawnSync(process.execPath, [
  '--openssl-legacy-provider', '--import', 'tsx', '--test', '--test-concurrency=1', ...flags, ...files,
], { stdio: 'inherit' });
process.exit(res.status === null ? 1 : res.status);
