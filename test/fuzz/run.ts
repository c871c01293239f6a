/**
 * The full fuzz suite (issue 14): every case generated from openapi/openapi.yaml for a seed, the
 * reported hostile cases, absurd models and framing errors, against the API and a worker as
 * processes (test/fuzz/stack.ts). Prints the report — requests by status, 5xx, non-problem errors,
 * accepted hostile jobs by verdict, canaries, /healthz latency — and exits 1 when a check failed.
 *
 *   npm run test:fuzz -- [--seed 1] [--per-category N] [--concurrency 4] [--healthz-bound-ms 1000]
 *                        [--hang-bound-s 40] [--big-csv-mb 50] [--json report.json] [--env KEY=VALUE]…
 *
 * `--env` passes a variable to both processes (for example a limit a fix introduces).
 */
import { writeFileSync } from 'node:fs';
import { runFuzz, type FuzzReport } from './fuzz';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string, def: number) => (arg(name) === undefined ? def : Number(arg(name)));

/** The report as text: the figures first, then each failing case. */
export function formatReport(r: FuzzReport): string {
  const lines: string[] = [];
  const pairs = (o: Record<string, number>) => Object.entries(o).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join(', ');
  lines.push(`fuzz report — seed ${r.seed}${r.sampled ? `, sample of ${r.sampled} per category` : ', every case'}, ${r.seconds} s`);
  lines.push(`requests tried: ${r.requests.total} — by status: ${pairs(r.requests.byStatus)}${r.casesNotRun ? `; ${r.casesNotRun} cases not run (deadline)` : ''}`);
  lines.push(`5xx: ${r.serverErrors}; non-problem errors: ${r.nonProblemErrors}; unanswered: ${r.unanswered}; failing cases: ${r.failingCases.length}`);
  lines.push(`accepted hostile jobs: ${r.acceptedJobs.total} — by verdict: ${pairs(r.acceptedJobs.byVerdict) || 'none'}; bad: ${r.acceptedJobs.bad.length}`);
  lines.push(`canaries: ${r.canaries.succeededFirstAttempt} of ${r.canaries.runs} succeeded on attempt 1`);
  lines.push(`/healthz: ${r.healthz.samples} samples, p50 ${r.healthz.p50Ms} ms, p99 ${r.healthz.p99Ms} ms, max ${r.healthz.maxMs} ms, ${r.healthz.over100Ms} over 100 ms, ${r.healthz.overBound.length} over ${r.healthz.boundMs} ms or failed, ${r.healthz.errors} errors`);
  lines.push(`isolation: ${r.isolation.crossTenantReads} cross-tenant reads; secret echoed by ${r.isolation.secretEchoes.join(', ') || 'nothing'}; job list ${r.isolation.jobListBytes} bytes`);
  lines.push(`processes: ${r.processes.apiRestarts} API restarts, ${r.processes.unexpectedExits.length} unexpected exits, ${r.processes.trainingChildrenKilled} training processes killed, peak training RSS ${(r.processes.peakTrainingRssBytes / 1024 ** 2).toFixed(0)} MiB`);
  lines.push('');
  lines.push('by category (status: count):');
  for (const [cat, s] of Object.entries(r.requests.byCategory).sort(([a], [b]) => a.localeCompare(b))) lines.push(`  ${cat}: ${pairs(s)}`);
  if (r.failingCases.length) {
    lines.push('', 'failing requests:');
    for (const c of r.failingCases) lines.push(`  ${c.id} [${c.statuses}] ${c.problems.join('; ')}\n      ${c.sample.replace(/\s+/g, ' ').slice(0, 300)}`);
  }
  if (r.acceptedJobs.bad.length) {
    lines.push('', 'accepted hostile jobs with a bad end:');
    for (const j of r.acceptedJobs.bad) lines.push(`  ${j.caseId} ${j.jobId}: ${j.flags.join(', ')} — ${j.status} ${j.code ?? ''} attempts ${j.attempts}${j.interruptions.length ? `; interruptions: ${j.interruptions.join(' | ')}` : ''}`);
  }
  if (r.canaries.failures.length) {
    lines.push('', 'canaries that did not succeed on attempt 1:');
    for (const c of r.canaries.failures) lines.push(`  after ${c.after}: ${c.jobId} ${c.status} ${c.code ?? ''} attempts ${c.attempts} ${c.flags.join(', ')}`);
  }
  if (r.healthz.overBound.length) {
    lines.push('', `/healthz over ${r.healthz.boundMs} ms (first ${r.healthz.overBound.length}):`);
    for (const s of r.healthz.overBound.slice(0, 15)) lines.push(`  at ${s.atS} s: ${s.ms} ms (${s.status}) while ${s.inFlight.join(', ') || 'nothing of ours'} was in flight`);
  }
  for (const e of r.processes.unexpectedExits) lines.push('', `${e.role} exited (${e.code ?? e.signal}):`, ...e.tail.map((l) => '  ' + l.slice(0, 300)));
  lines.push('', r.failed.length ? `FAILED:\n  ${r.failed.join('\n  ')}` : 'PASSED');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const env: Record<string, string> = {};
  process.argv.forEach((a, i) => {
    if (a === '--env') {
      const [k, ...v] = (process.argv[i + 1] ?? '').split('=');
      env[k] = v.join('=');
    }
  });
  const t0 = Date.now();
  const perCategory = arg('per-category');
  const report = await runFuzz({
    seed: num('seed', 1),
    perCategory: perCategory === undefined ? null : Number(perCategory),
    concurrency: num('concurrency', 4),
    healthzBoundMs: num('healthz-bound-ms', 1000),
    hangBoundMs: num('hang-bound-s', 40) * 1000,
    bigCsvBytes: num('big-csv-mb', 50) * 1024 * 1024,
    env,
    log: (line) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`),
  });
  const out = arg('json');
  if (out) writeFileSync(out, JSON.stringify(report, null, 2));
  process.stdout.write(formatReport(report) + '\n');
  process.exit(report.failed.length ? 1 : 0);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(2);
  });
}
