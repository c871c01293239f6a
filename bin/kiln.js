#!/usr/bin/env node
'use strict';
// The package's bin: runs the compiled CLI (`npm run build` produces dist/).
require('../dist/cli/kiln.js')
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`kiln: ${e && e.stack ? e.stack : String(e)}\n`);
      process.exitCode = 3;
    },
  );
