import { readdirSync, readlinkSync } from 'node:fs';

/**
 * Targets of this process's open file descriptors whose path contains `part` (Linux /proc), e.g.
 * `/tmp/kiln-job_…-1a2b.rows (deleted)` for a job's open scratch file.
 */
export function openFilesLike(part: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.includes(part)) out.push(target);
    } catch {
      // The descriptor readdir itself used is closed by now.
    }
  }
  return out;
}
