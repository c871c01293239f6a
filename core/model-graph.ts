import type { FieldProblem } from './errors';

/** A tensor reference as Keras writes it: `[layer name, node index, tensor index]`. */
export type TensorRef = readonly [string, number, number, ...unknown[]];

/** One layer of a Functional model, as far as its wiring goes. */
export interface GraphLayer {
  name: string;
  /** InputLayers have one node and no inbound tensors. */
  isInput: boolean;
  /** Per call of the layer (Keras "node"), the tensors it takes. */
  inboundNodes: ReadonlyArray<ReadonlyArray<TensorRef>>;
  /** JSON pointer of the layer in the request. */
  pointer: string;
}

/**
 * Checks a Functional model's wiring before anything walks it: every inbound tensor names a layer
 * (and a call of it) that exists, no layer is fed by itself, the calls form no cycle, and every
 * layer lies on a path from the model's input to its output. A cycle would make tfjs-layers spin
 * forever in the worker; Keras itself cannot produce one, so any cycle is a hand-edited document.
 *
 * The graph is over calls ("nodes"), not layers: a shared layer called twice in a chain
 * (A → B → A) is a valid model, and only a cycle of calls is refused. Linear in layers and
 * references, iterative (no recursion on user input). Pure; the API runs it at submission and the
 * worker again before building (through checkModelSpec).
 */
export function checkLayerGraph(
  layers: readonly GraphLayer[],
  inputs: readonly TensorRef[],
  outputs: readonly TensorRef[],
  refsPointer: { inputs: string; outputs: string },
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const byName = new Map<string, number>();
  layers.forEach((layer, i) => {
    if (byName.has(layer.name)) {
      problems.push({ pointer: layer.pointer, detail: `layer name '${layer.name}' is used by two layers (also layer ${byName.get(layer.name)}); give every layer its own name` });
    } else {
      byName.set(layer.name, i);
    }
  });
  const calls = layers.map((l) => (l.isInput ? 1 : l.inboundNodes.length));
  const resolve = (ref: TensorRef, where: string, what: string): number | null => {
    const target = byName.get(ref[0]);
    if (target === undefined) {
      problems.push({ pointer: where, detail: `${what} '${ref[0]}', which the model does not have; use one of: ${shortList([...byName.keys()])}` });
      return null;
    }
    if (!Number.isInteger(ref[1]) || ref[1] < 0 || ref[1] >= calls[target]) {
      problems.push({ pointer: where, detail: `${what} call ${ref[1]} of '${ref[0]}', but that layer is called ${calls[target]} time(s)` });
      return null;
    }
    return target;
  };

  // Vertices are calls: the call k of layer i is `offset[i] + k`.
  const offset: number[] = [];
  let total = 0;
  for (const n of calls) {
    offset.push(total);
    total += n;
  }
  const preds: number[][] = Array.from({ length: total }, () => []);
  const owner: number[] = [];
  layers.forEach((layer, i) => {
    for (let k = 0; k < calls[i]; k++) owner.push(i);
    if (layer.isInput) return;
    layer.inboundNodes.forEach((node, k) => {
      for (const ref of node) {
        if (ref[0] === layer.name) {
          problems.push({ pointer: `${layer.pointer}/inbound_nodes`, detail: `layer '${layer.name}' is fed by its own output; a layer's input must come from layers before it` });
          continue;
        }
        const target = resolve(ref, `${layer.pointer}/inbound_nodes`, `layer '${layer.name}' takes input from`);
        if (target !== null) preds[offset[i] + k].push(offset[target] + ref[1]);
      }
    });
  });
  const inputCalls = inputs.map((r, i) => resolve(r, `${refsPointer.inputs}/${i}`, 'the model input names')).map((t, i) => (t === null ? -1 : offset[t] + inputs[i][1]));
  const outputCalls = outputs.map((r, i) => resolve(r, `${refsPointer.outputs}/${i}`, 'the model output names')).map((t, i) => (t === null ? -1 : offset[t] + outputs[i][1]));
  if (problems.length > 0) return problems;

  // Kahn's algorithm: calls left over sit on or behind a cycle.
  const succs: number[][] = Array.from({ length: total }, () => []);
  const indegree = new Array<number>(total).fill(0);
  preds.forEach((ps, v) => {
    for (const p of ps) {
      succs[p].push(v);
      indegree[v]++;
    }
  });
  const queue: number[] = [];
  for (let v = 0; v < total; v++) if (indegree[v] === 0) queue.push(v);
  let done = 0;
  for (let head = 0; head < queue.length; head++) {
    done++;
    for (const s of succs[queue[head]]) if (--indegree[s] === 0) queue.push(s);
  }
  if (done < total) {
    const cycleCalls = findCycle(preds, indegree);
    const cycle = cycleCalls.map((v) => layers[owner[v]].name);
    const first = layers[owner[cycleCalls[0]]];
    problems.push({ pointer: `${first.pointer}/inbound_nodes`, detail: `the layers form a cycle (${cycle.join(' → ')} → ${cycle[0]}); a Functional model's layers must lead from its input to its output without loops` });
    return problems;
  }

  // Every layer on a path from the input to the output.
  const forward = reach(inputCalls.filter((v) => v >= 0), succs);
  const backward = reach(outputCalls.filter((v) => v >= 0), preds);
  outputCalls.forEach((v, i) => {
    if (v >= 0 && !forward[v]) problems.push({ pointer: `${refsPointer.outputs}/${i}`, detail: `the output '${outputs[i][0]}' does not depend on the model input; connect it to the input` });
  });
  const loose: string[] = [];
  let firstLoose: GraphLayer | null = null;
  layers.forEach((layer, i) => {
    let onPath = false;
    for (let k = 0; k < calls[i]; k++) if (forward[offset[i] + k] && backward[offset[i] + k]) onPath = true;
    if (!onPath) {
      loose.push(layer.name);
      firstLoose ??= layer;
    }
  });
  if (firstLoose !== null && problems.length === 0) {
    problems.push({ pointer: (firstLoose as GraphLayer).pointer, detail: `layer(s) ${shortList(loose.map((n) => `'${n}'`))} are not on a path from the model input to its output; remove them or connect them (a model is one connected graph)` });
  }
  return problems;
}

/** Vertices marked reachable from `start` along `edges`. */
function reach(start: number[], edges: number[][]): boolean[] {
  const seen = new Array<boolean>(edges.length).fill(false);
  const stack = [...start];
  for (const v of start) seen[v] = true;
  while (stack.length > 0) {
    const v = stack.pop()!;
    for (const w of edges[v]) {
      if (!seen[w]) {
        seen[w] = true;
        stack.push(w);
      }
    }
  }
  return seen;
}

/**
 * One cycle among the vertices Kahn's algorithm left (indegree > 0), in edge order. Every such
 * vertex has a predecessor also left over, so walking predecessors must repeat a vertex.
 */
function findCycle(preds: number[][], indegree: number[]): number[] {
  let v = indegree.findIndex((d) => d > 0);
  const index = new Map<number, number>();
  const path: number[] = [];
  while (!index.has(v)) {
    index.set(v, path.length);
    path.push(v);
    v = preds[v].find((p) => indegree[p] > 0)!;
  }
  return path.slice(index.get(v)).reverse();
}

function shortList(names: string[]): string {
  return names.length > 10 ? `${names.slice(0, 10).join(', ')}, … (${names.length} in all)` : names.join(', ');
}
