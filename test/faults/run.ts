/**
 * The full fault-injection suite: many small seeded iris runs on a harness of its own (redis-server,
 * s3rver behind a fault proxy, the API and two or more workers as processes), with the sandboxed
 * child and the worker parent killed at random moments, S3 faults on a share of requests, Redis
 * connections dropped and Redis itself restarted mid-run (probing the API while it is down).
 * Prints one JSON report on stdout; progress goes to stderr.
 *
 * Then two long outages (issue 14's fault report): the store read-only for 5 minutes mid-run, and
 * Redis down for 60 s (past the workers' lock); the runs training through them must finish on
 * their first attempt without a stall.
 *
 *   npm run build && node --openssl-legacy-provider --import tsx test/faults/run.ts [--waves 2] [--epochs 24] [--seed 1] [--workers 2] [--no-backup]
 *     [--read-only-seconds 300] [--redis-down-seconds 60]   (0 skips that outage; --waves 0 runs only the outages)
 *
 * Exits 1 when a run was lost, an epoch was duplicated or missing, a best pointer was bad, the
 * API answered anything but a well-formed 503 while Redis was down, or a long outage cost a run an
 * attempt or a stall.
 */
import { FaultHarness, type TrackedRun } from './harness';
import {
  baseline, childKills, outageCosts, parentKill, redisDrop, redisLongOutage, redisOutage, storeReadOnlyOutage, submitRuns, verifyAll,
  type LongOutageFigures, type OutageChecks,
} from './scenarios';
import type { S3FaultProfile } from '../support/s3-fault-proxy';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/** Background S3 faults during every scenario (including the baseline). */
export const BACKGROUND_S3: S3FaultProfile = { errorShare: 0.04, resetShare: 0.02, latencyShare: 0.06, latencyMs: [50, 300], slowLorisShare: 0.01, slowLorisMs: 1500 };
/** The S3 storm wave. */
export const STORM_S3: S3FaultProfile = { errorShare: 0.15, resetShare: 0.06, latencyShare: 0.1, latencyMs: [100, 800], slowLorisShare: 0.03, slowLorisMs: 3000 };

async function main(): Promise<void> {
  const waves = arg('waves', 2);
  const epochs = arg('epochs', 24);
  const seed = arg('seed', 1);
  const workers = arg('workers', 2);
  const t0 = Date.now();
  const log = (line: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
  const backup = !process.argv.includes('--no-backup');
  const readOnlySeconds = arg('read-only-seconds', 300);
  const redisDownSeconds = arg('redis-down-seconds', 60);
  const longOutages: LongOutageFigures[] = [];
  const h = await FaultHarness.start({ workers, seed, s3Faults: BACKGROUND_S3, log, backup });
  const scenarios: Record<string, number> = {};
  const outages: OutageChecks[] = [];
  const accepted: TrackedRun[] = [];
  const count = (name: string) => (scenarios[name] = (scenarios[name] ?? 0) + 1);
  let baselineSeconds: number | null = null;
  try {
    log('baseline');
    const b1 = await baseline(h, epochs);
    const b2 = await baseline(h, epochs);
    baselineSeconds = (b1.seconds + b2.seconds) / 2;
    log(`baseline ${b1.seconds.toFixed(1)} s, ${b2.seconds.toFixed(1)} s`);

    for (let wave = 0; wave < waves; wave++) {
      log(`wave ${wave + 1}: child kills`);
      const a = await submitRuns(h, workers, epochs, 'child-kill');
      await childKills(h, a, epochs);
      await h.waitForEnd(a, 240000);
      count('childKill');

      log(`wave ${wave + 1}: parent SIGKILL`);
      const b = await submitRuns(h, workers, epochs, 'parent-kill');
      await parentKill(h, b[0], epochs, 'SIGKILL');
      await h.waitForEnd(b, 240000);
      count('parentKill');

      log(`wave ${wave + 1}: parent SIGTERM (hand-back)`);
      const c = await submitRuns(h, workers, epochs, 'parent-term');
      await parentKill(h, c[0], epochs, 'SIGTERM');
      await h.waitForEnd(c, 240000);
      count('parentTerm');

      log(`wave ${wave + 1}: child and parent kills at once`);
      const d = await submitRuns(h, workers, epochs, 'mixed-kill');
      await Promise.all([childKills(h, [d[0]], epochs), d[1] ? parentKill(h, d[1], epochs, 'SIGKILL') : Promise.resolve(null)]);
      await h.waitForEnd(d, 240000);
      count('mixedKill');

      log(`wave ${wave + 1}: Redis CLIENT KILL`);
      const e = await submitRuns(h, workers, epochs, 'redis-drop');
      await redisDrop(h, e[0], epochs);
      await h.waitForEnd(e, 240000);
      count('redisDrop');

      log(`wave ${wave + 1}: Redis restart with the API probed while it is down`);
      const f = await submitRuns(h, workers, epochs, 'redis-restart');
      await h.waitForEpoch(f[0], 2 + Math.floor(h.random() * (epochs - 6)), 120000);
      const outage = await redisOutage(h, { queued: 2, epochs, downMs: 3000 });
      outages.push(outage.api);
      accepted.push(...outage.accepted);
      await h.waitForEnd([...f, ...outage.accepted], 300000);
      count('redisRestart');

      log(`wave ${wave + 1}: S3 storm`);
      h.proxy.setProfile(STORM_S3);
      const g = await submitRuns(h, workers, epochs, 's3-storm');
      await h.waitForEnd(g, 300000);
      h.proxy.setProfile(BACKGROUND_S3);
      count('s3Storm');
    }
    if (readOnlySeconds > 0) {
      log(`store read-only for ${readOnlySeconds} s mid-run`);
      const runs = await submitRuns(h, workers, epochs, 'store-read-only');
      longOutages.push(await storeReadOnlyOutage(h, runs, epochs, readOnlySeconds * 1000));
      count('storeReadOnly');
    }
    if (redisDownSeconds > 0) {
      log(`Redis down for ${redisDownSeconds} s mid-run`);
      const runs = await submitRuns(h, workers, epochs, 'redis-outage');
      longOutages.push(await redisLongOutage(h, runs, epochs, redisDownSeconds * 1000));
      count('redisOutage');
    }
    const left = await h.waitForEnd(h.runs, 120000);
    if (left.length) log(`${left.length} runs never ended`);
    const { report, verdicts } = await verifyAll(h, baselineSeconds);
    const apiWhileRedisDown = {
      requests: outages.reduce((n, o) => n + o.requests, 0),
      wellFormed503: outages.reduce((n, o) => n + o.wellFormed503, 0),
      statuses: outages.reduce<Record<string, number>>((acc, o) => {
        for (const [k, v] of Object.entries(o.statuses)) acc[k] = (acc[k] ?? 0) + v;
        return acc;
      }, {}),
      bad: outages.flatMap((o) => o.bad).slice(0, 10),
      acceptedBeforeOutage: accepted.length,
      acceptedLost: accepted.filter((r) => r.status !== 'succeeded').length,
    };
    // Extra wall time of runs interrupted exactly once, by the kind of fault.
    const extraByKind: Record<string, { runs: number; meanExtraSeconds: number }> = {};
    for (const run of h.runs) {
      const v = verdicts.find((x) => x.jobId === run.jobId);
      const kinds = run.injected.filter((f) => f.kind !== 'redis_drop' && f.kind !== 'redis_restart');
      if (!v || v.status !== 'succeeded' || v.wallSeconds === null || v.interruptions !== 1 || kinds.length !== 1 || run.injected.length !== 1) continue;
      const k = (extraByKind[kinds[0].kind] ??= { runs: 0, meanExtraSeconds: 0 });
      k.meanExtraSeconds = (k.meanExtraSeconds * k.runs + (v.wallSeconds - baselineSeconds!)) / (k.runs + 1);
      k.runs++;
    }
    for (const k of Object.values(extraByKind)) k.meanExtraSeconds = Math.round(k.meanExtraSeconds * 10) / 10;
    const out = {
      ...report,
      extraSecondsByKind: extraByKind,
      runsHitByRedisFaults: h.runs.filter((r) => r.injected.some((f) => f.kind === 'redis_drop' || f.kind === 'redis_restart')).length,
      apiWhileRedisDown,
      longOutages: longOutages.map((f) => ({ ...f, costs: outageCosts(f) })),
      scenarios,
      faultsInjected: h.faults.reduce<Record<string, number>>((acc, f) => ((acc[f.kind] = (acc[f.kind] ?? 0) + 1), acc), {}),
      s3: { ...h.proxy.counts },
      epochsPerRun: epochs,
      workers,
      seed,
      backupAndRestore: backup,
      elapsedSeconds: Math.round((Date.now() - t0) / 1000),
      problems: verdicts.filter((v) => v.problems.length > 0).map((v) => ({ jobId: v.jobId, status: v.status, interruptions: v.interruptions, problems: v.problems })),
      wallSeconds: verdicts.map((v) => ({ jobId: v.jobId, interruptions: v.interruptions, recorded: v.recordedInterruptions, seconds: v.wallSeconds })),
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    const clean = report.lostRuns === 0 && report.failedRuns === 0 && report.duplicatedEpochs === 0 && report.missingEpochs === 0
      && report.badBestPointers === 0 && apiWhileRedisDown.bad.length === 0 && apiWhileRedisDown.acceptedLost === 0
      && longOutages.every((f) => outageCosts(f).length === 0);
    process.exitCode = clean ? 0 : 1;
  } finally {
    await h.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(2);
  });
}
