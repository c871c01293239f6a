/**
 * Compares two V8 heap snapshots of the same process (e.g. a reused sandbox after job 5 and job 25,
 * from `bench/memory.ts --heap-snapshot-at 5,25`): live objects grouped by node type and constructor,
 * the groups that grew first. A snapshot is taken after a full GC, so growth is what the process
 * keeps alive. With `--retainers Name` it also prints, for a few objects of that constructor in the
 * second snapshot, the shortest path from a GC root (weak edges skipped): who keeps them alive.
 *
 * Usage: node --max-old-space-size=4096 --import tsx bench/heap-diff.ts A.heapsnapshot B.heapsnapshot
 *          [--top 40] [--retainers Dense] [--paths 3]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function load(file: string): Snapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
}

/** Self size and count per `type name` (strings, code and numbers pooled). */
function groups(snap: Snapshot): Map<string, { count: number; size: number }> {
  const { meta } = snap.snapshot;
  const nf = meta.node_fields.length;
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => meta.node_fields.indexOf(f));
  const types = meta.node_types[0];
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += nf) {
    const t = types[snap.nodes[i + type]];
    const n = /string$/.test(t) ? '(string)' : t === 'code' ? '(code)' : t === 'number' ? '(number)' : snap.strings[snap.nodes[i + name]].slice(0, 80);
    const key = `${t} ${n}`;
    const g = out.get(key) ?? { count: 0, size: 0 };
    g.count++;
    g.size += snap.nodes[i + size];
    out.set(key, g);
  }
  return out;
}

function retainerPaths(snap: Snapshot, ctor: string, paths: number): string[] {
  const { meta } = snap.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [type, name, edgeCount, id] = ['type', 'name', 'edge_count', 'id'].map((f) => meta.node_fields.indexOf(f));
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f));
  const nTypes = meta.node_types[0];
  const eTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;
  const count = nodes.length / nf;
  const first = new Int32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    first[i] = e;
    e += nodes[i * nf + edgeCount] * ef;
    first[i + 1] = e;
  }
  // Breadth-first from the synthetic root: the first path found to a node is a shortest one.
  const parent = new Int32Array(count).fill(-1);
  const via = new Int32Array(count).fill(-1);
  const seen = new Uint8Array(count);
  const queue = [0];
  seen[0] = 1;
  for (let h = 0; h < queue.length; h++) {
    const n = queue[h];
    for (let e = first[n]; e < first[n + 1]; e += ef) {
      const t = eTypes[edges[e + eType]];
      if (t === 'weak' || t === 'shortcut') continue;
      const to = edges[e + eTo] / nf;
      if (seen[to]) continue;
      seen[to] = 1;
      parent[to] = n;
      via[to] = e;
      queue.push(to);
    }
  }
  const label = (n: number) => `${nTypes[nodes[n * nf + type]]}:${strings[nodes[n * nf + name]].slice(0, 60)}@${nodes[n * nf + id]}`;
  const edgeLabel = (e: number) => {
    const t = eTypes[edges[e + eType]];
    const v = edges[e + eName];
    return t === 'element' || t === 'hidden' ? `[${v}]` : `.${strings[v]}`;
  };
  const out: string[] = [];
  for (let n = 0; n < count && out.length < paths; n++) {
    if (nTypes[nodes[n * nf + type]] !== 'object' || strings[nodes[n * nf + name]] !== ctor || !seen[n]) continue;
    const steps: string[] = [];
    for (let m = n; m !== 0; m = parent[m]) steps.unshift(`  ${label(parent[m])} ${edgeLabel(via[m])}`);
    out.push([`${label(n)} is held by:`, ...steps].join('\n'));
  }
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const files = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const opt = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (files.length !== 2) throw new Error('usage: bench/heap-diff.ts A.heapsnapshot B.heapsnapshot [--top 40] [--retainers Name] [--paths 3]');
  const top = Number(opt('--top') ?? 40);
  const b = load(files[1]);
  const gb = groups(b);
  const ga = groups(load(files[0]));
  const total = (g: Map<string, { size: number }>) => [...g.values()].reduce((s, x) => s + x.size, 0);
  console.log(`self size ${total(ga)} -> ${total(gb)} bytes (${total(gb) - total(ga) >= 0 ? '+' : ''}${total(gb) - total(ga)})`);
  console.log(`${'Δbytes'.padStart(10)} ${'Δcount'.padStart(8)} ${'count'.padStart(8)}  type constructor`);
  const rows = [...new Set([...ga.keys(), ...gb.keys()])].map((key) => {
    const x = ga.get(key) ?? { count: 0, size: 0 };
    const y = gb.get(key) ?? { count: 0, size: 0 };
    return { key, size: y.size - x.size, count: y.count - x.count, now: y.count };
  }).filter((r) => r.size !== 0 || r.count !== 0).sort((p, q) => q.size - p.size);
  for (const r of rows.slice(0, top)) console.log(`${String(r.size).padStart(10)} ${String(r.count).padStart(8)} ${String(r.now).padStart(8)}  ${r.key}`);
  const ctor = opt('--retainers');
  if (ctor) for (const path of retainerPaths(b, ctor, Number(opt('--paths') ?? 3))) console.log('\n' + path);
}

main();
