#!/usr/bin/env node
// Container health probe: `node healthcheck.js <PORT_ENV_VAR> <default port> <path>`.
// Images have no curl or wget; Node's fetch does the request. Exit 0 only on a 2xx answer within
// the timeout, 1 otherwise, as Docker's HEALTHCHECK and ECS container health checks expect.
'use strict';

const [portVar = 'PORT', defaultPort = '8080', path = '/healthz'] = process.argv.slice(2);
const port = Number(process.env[portVar] || defaultPort);
const timeoutMs = Number(process.env.KILN_HEALTHCHECK_TIMEOUT_MS || 2500);

if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`healthcheck: ${portVar}=${process.env[portVar]} is not a TCP port`);
  process.exit(1);
}

fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  .then((res) => {
    if (res.status >= 200 && res.status < 300) process.exit(0);
    console.error(`healthcheck: GET ${path} answered ${res.status}`);
    process.exit(1);
  })
  .catch((err) => {
    console.error(`healthcheck: GET ${path} failed: ${err.cause?.code ?? err.name}`);
    process.exit(1);
  });
