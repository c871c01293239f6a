import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allCases, runFuzz, sampleCases } from './fuzz';
import { formatReport } from './run';

const CTX = { webhookUrl: 'http://127.0.0.1:9/hook', webhookSecret: 'whsec_' + 'A'.repeat(44), bigCsvBytes: 0 };

test('the fuzz cases are a function of the seed: the same seed gives the same cases in the same order', () => {
  const a = allCases(5, CTX);
  const b = allCases(5, CTX);
  const c = allCases(6, CTX);
  assert.deepEqual(a.cases.map((x) => x.id), b.cases.map((x) => x.id));
  assert.deepEqual(a.cases.map((x) => (x.request.kind === 'http' ? x.request.body : null)), b.cases.map((x) => (x.request.kind === 'http' ? x.request.body : null)));
  assert.notDeepEqual(a.cases.map((x) => x.id), c.cases.map((x) => x.id), 'another seed sends them in another order');
  assert.ok(a.cases.length >= 1000, `hundreds of cases from the contract (${a.cases.length})`);
  for (const category of ['wrong-type', 'bounds', 'huge-number', 'nan-ish', 'prototype-name', 'unknown-property', 'deep-nesting', 'missing-required', 'framing', 'reported', 'absurd-model', 'format-spec', 'content-type', 'invalid-json', 'auth']) {
    assert.ok((a.generated[category] ?? 0) > 0, `category ${category} has cases`);
  }
  const sample = sampleCases(a.cases, 1, 5);
  assert.deepEqual(sampleCases(a.cases, 1, 5).map((x) => x.id), sample.map((x) => x.id));
  assert.ok(a.cases.filter((x) => x.reported).every((x) => sample.includes(x)), 'the sample keeps every reported case');
});

/**
 * A small seeded sample of the fuzz suite (test/fuzz/run.ts runs every case): one case of each
 * category and every case issue 14 reported, against the API and a worker as processes. No 5xx,
 * every error a problem document, accepted hostile jobs end on attempt 1 as completed or as a
 * user error, /healthz stays within its bound, and the other tenant's canary succeeds on attempt 1.
 */
test('fuzz sample: no 5xx, problem documents only, hostile jobs hurt no one, the canary succeeds on attempt 1', { timeout: 150_000 }, async () => {
  const report = await runFuzz({
    seed: 7,
    perCategory: 1,
    requestTimeoutMs: 2500,
    hangBoundMs: 25_000,
    queueBoundMs: 25_000,
    deadlineMs: 30_000,
    lastCanaryBoundMs: 20_000,
    bigCsvBytes: 0,
  });
  const text = formatReport(report);
  assert.ok(report.requests.total >= 50, `the sample sent its requests (${report.requests.total})\n${text}`);
  assert.ok(report.healthz.samples > 0, `/healthz was probed\n${text}`);
  assert.ok(report.canaries.runs >= 1, `a canary ran\n${text}`);
  assert.deepEqual(report.failed, [], text);
});
