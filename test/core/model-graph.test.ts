import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkLayerGraph, type GraphLayer } from '../../core/model-graph';

const layer = (name: string, ...nodes: Array<Array<[string, number]>>): GraphLayer => ({
  name, isInput: false, inboundNodes: nodes.map((n) => n.map(([l, k]) => [l, k, 0] as const)), pointer: `/l/${name}`,
});
const input: GraphLayer = { name: 'in', isInput: true, inboundNodes: [], pointer: '/l/in' };
const check = (layers: GraphLayer[], out: [string, number] = ['out', 0]) =>
  checkLayerGraph(layers, [['in', 0, 0]], [[out[0], out[1], 0]], { inputs: '/inputs', outputs: '/outputs' });

describe('checkLayerGraph', () => {
  it('accepts a chain, a merge, and a shared layer called twice in a chain (A → B → A)', () => {
    assert.deepEqual(check([input, layer('a', [['in', 0]]), layer('out', [['a', 0]])]), []);
    assert.deepEqual(check([input, layer('a', [['in', 0]]), layer('b', [['in', 0]]), layer('out', [['a', 0], ['b', 0]])]), []);
    assert.deepEqual(check([input, layer('a', [['in', 0]], [['b', 0]]), layer('b', [['a', 0]]), layer('out', [['a', 1]])]), []);
  });

  it('refuses a cycle of calls, naming its layers', () => {
    const [p] = check([input, layer('a', [['c', 0]]), layer('b', [['a', 0]]), layer('c', [['b', 0]]), layer('out', [['c', 0]])]);
    assert.match(p.detail, /form a cycle \((a → b → c|b → c → a|c → a → b) → [abc]\)/);
    assert.match(p.pointer, /^\/l\/[abc]\/inbound_nodes$/);
  });

  it('refuses a layer fed by itself, a missing layer and a call that does not exist', () => {
    assert.match(check([input, layer('out', [['out', 0]])])[0].detail, /fed by its own output/);
    assert.match(check([input, layer('out', [['nowhere', 0]])])[0].detail, /takes input from 'nowhere', which the model does not have; use one of: in, out/);
    assert.match(check([input, layer('a', [['in', 0]]), layer('out', [['a', 1]])])[0].detail, /call 1 of 'a', but that layer is called 1 time/);
    assert.match(check([input, layer('out', [['in', 0]])], ['missing', 0])[0].detail, /the model output names 'missing'/);
  });

  it('refuses layers off the input-to-output path and an output that ignores the input', () => {
    const stray = check([input, layer('out', [['in', 0]]), layer('stray', [['in', 0]])]);
    assert.equal(stray.length, 1);
    assert.equal(stray[0].pointer, '/l/stray');
    assert.match(stray[0].detail, /'stray' are not on a path/);
    const uncalled = check([input, layer('out', [['in', 0]]), layer('idle')]);
    assert.match(uncalled[0].detail, /'idle'/);
    const dup = check([input, layer('out', [['in', 0]]), layer('out', [['in', 0]])]);
    assert.match(dup[0].detail, /layer name 'out' is used by two layers/);
  });

  it('stays linear and iterative on a 100,000-call chain', () => {
    const layers = [input, ...Array.from({ length: 100_000 }, (_, i) => layer(i === 99_999 ? 'out' : `d${i}`, [[i === 0 ? 'in' : `d${i - 1}`, 0]]))];
    assert.deepEqual(check(layers), []);
  });
});
