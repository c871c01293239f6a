import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Direct children of `ppid` (Linux `ps --ppid`), with their command lines. */
export function childProcesses(ppid: number): Array<{ pid: number; args: string }> {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(ppid)], { encoding: 'utf8' });
  } catch {
    // ps exits 1 when there are none
    return [];
  }
  return out.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const i = l.indexOf(' ');
    return { pid: Number(l.slice(0, i)), args: l.slice(i + 1) };
  });
}

/** BullMQ's sandboxed training children of a worker process (they run bullmq's child `main.js`). */
export function sandboxChildren(workerPid: number): number[] {
  return childProcesses(workerPid).filter((c) => /bullmq.*main\.js/.test(c.args)).map((c) => c.pid);
}

/** Whether a process exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Parent pid of `pid` from /proc, or null when it is gone. */
export function parentPid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command may hold spaces or parentheses: fields start after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/**
 * Which of `candidates` owns the loopback TCP connection from local port `localPort` to
 * `remotePort` (the socket inode from /proc/net/tcp, matched against each candidate's fds).
 */
export function pidOwningConnection(localPort: number, remotePort: number, candidates: number[]): number | null {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const local = parseInt(cols[1].split(':')[1], 16);
      const remote = parseInt(cols[2].split(':')[1], 16);
      if (local === localPort && remote === remotePort) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return null;
  for (const pid of candidates) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return pid;
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return null;
}
