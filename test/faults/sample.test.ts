import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultHarness } from './harness';
import { childKills, parentKill, redisOutage, submitRuns, verifyAll } from './scenarios';

/**
 * A small sample of the fault suite (test/faults/run.ts runs the whole of it): two iris runs on two
 * worker processes, with S3 faults on a share of requests throughout; one run's training child is
 * SIGKILLed and the other run's worker parent is SIGKILLed (a replacement worker starts), each at a
 * random epoch; then Redis is killed and restarted while a third accepted run waits, and the API is
 * asked for things meanwhile. Every run must end succeeded with each epoch once in run.json, the
 * CSV log, TensorBoard and the webhook events, and a sound best.json; the API must answer 503
 * problem+json with Retry-After while Redis is down.
 */
test('fault sample: child kill, parent kill, S3 faults, Redis restart — no run lost, each epoch once, best pointers sound', { timeout: 170000 }, async () => {
  const h = await FaultHarness.start({
    workers: 2,
    seed: 11,
    s3Faults: { errorShare: 0.05, resetShare: 0.03, latencyShare: 0.05, latencyMs: [50, 250], slowLorisShare: 0.01, slowLorisMs: 1000 },
  });
  try {
    const epochs = 30;
    const [a, b] = await submitRuns(h, 2, epochs, 'sample');
    // Strike in the first half (epochs 2–12 of 30), so a fast machine cannot finish a run before
    // its kill lands.
    const strikeWindow = 16;
    await Promise.all([childKills(h, [a], strikeWindow), parentKill(h, b, strikeWindow, 'SIGKILL')]);
    assert.deepEqual(h.faults.map((f) => f.kind).sort(), ['child_kill', 'parent_kill'], `both kills landed while the runs trained; misses: ${h.misses.join(' | ') || 'none'}`);

    const outage = await redisOutage(h, { queued: 1, epochs: 8, downMs: 1500 });
    assert.ok(outage.api.requests >= 4);
    assert.deepEqual(outage.api.bad, [], 'every API answer while Redis was down is a 503 problem+json with Retry-After');

    const left = await h.waitForEnd(h.runs, 120000);
    assert.deepEqual(left.map((r) => r.label), [], 'every accepted run ended');
    const { report, verdicts } = await verifyAll(h, null);
    const problems = verdicts.flatMap((v) => v.problems.map((p) => `${v.jobId}: ${p}`));
    assert.deepEqual(problems, []);
    assert.equal(report.runsAttempted, 3);
    assert.equal(report.runsCompleted, 3);
    assert.equal(report.lostRuns, 0);
    assert.equal(report.duplicatedEpochs, 0);
    assert.equal(report.missingEpochs, 0);
    assert.equal(report.badBestPointers, 0);
    assert.ok(report.interruptions >= 2, `interruptions ${report.interruptions}`);
    assert.ok(report.recordedInterruptions >= 2, 'the jobs recorded their interruptions');
    assert.ok(h.proxy.injected > 0, 'S3 faults were injected');
  } finally {
    await h.close();
  }
});
