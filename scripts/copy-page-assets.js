#!/usr/bin/env node
// Copies the pages' .css and .html files (api/pages/<page>/) next to their compiled scripts in
// dist/api/pages/<page>/, where api/routes/page-document.ts reads them. tsc copies no such files.
'use strict';
const { copyFileSync, mkdirSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const from = join(__dirname, '..', 'api', 'pages');
const to = join(__dirname, '..', 'dist', 'api', 'pages');
for (const page of readdirSync(from)) {
  if (!statSync(join(from, page)).isDirectory()) continue;
  mkdirSync(join(to, page), { recursive: true });
  for (const name of readdirSync(join(from, page))) {
    if (name.endsWith('.css') || name.endsWith('.html')) copyFileSync(join(from, page, name), join(to, page, name));
  }
}
