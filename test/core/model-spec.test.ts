import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SchemaModelSpec } from '../../core/api.gen';
import { checkModelSpec } from '../../core/model-spec';

const FIXTURES = join(__dirname, '..', 'fixtures', 'keras');
const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'));
const keras = (doc: unknown) => ({ keras: doc }) as unknown as SchemaModelSpec;
const list = (inputShape: unknown, layers: unknown[]) => ({ inputShape, layers }) as unknown as SchemaModelSpec;
const pointers = (spec: SchemaModelSpec) => checkModelSpec(spec).problems.map((p) => p.pointer);

describe('checkModelSpec: Keras documents', () => {
  const expected: Array<[string, 'Sequential' | 'Functional', number[], number[]]> = [
    ['keras2-sequential', 'Sequential', [4], [3]],
    ['keras2-functional', 'Functional', [4], [3]],
    ['keras3-sequential-cnn', 'Sequential', [8, 8, 1], [10]],
    ['keras3-functional', 'Functional', [4], [3]],
    ['keras3-sequential-lstm', 'Sequential', [5, 3], [3]],
  ];
  for (const [name, cls, input, output] of expected) {
    it(`normalises ${name} and computes its shapes`, () => {
      const r = checkModelSpec(keras(fixture(name)));
      assert.deepEqual(r.problems, []);
      assert.equal(r.topology?.class_name, cls);
      assert.deepEqual(r.inputShape, input);
      assert.deepEqual(r.outputShape, output);
      const text = JSON.stringify(r.topology);
      for (const k3only of ['"module"', 'registered_name', 'build_config', 'compile_config', 'DTypePolicy', '"batch_shape"', '__keras_tensor__']) {
        assert.ok(!text.includes(k3only), `${k3only} left in the topology`);
      }
    });
  }

  it('turns Keras 3 {args, kwargs} nodes into Keras 2 nested lists and lists a lone input', () => {
    const t = checkModelSpec(keras(fixture('keras3-functional'))).topology!;
    const add = t.config.layers.find((l) => l.name === 'add')!;
    assert.deepEqual(add.inbound_nodes, [[['hidden', 0, 0, {}], ['skip', 0, 0, {}]]]);
    assert.deepEqual(t.config.input_layers, [['features', 0, 0]]);
    assert.deepEqual(t.config.output_layers, [['species', 0, 0]]);
  });

  it('maps Keras classes tfjs spells differently', () => {
    const t = checkModelSpec(keras(fixture('keras3-sequential-lstm'))).topology!;
    const lstm = t.config.layers.find((l) => l.class_name === 'LSTM')!;
    assert.equal((lstm.config.recurrent_initializer as { class_name: string }).class_name, 'Orthogonal');
    assert.equal(t.config.layers[0].class_name, 'InputLayer', 'build_input_shape becomes an InputLayer');
    const reg = checkModelSpec(keras(fixture('keras2-sequential'))).topology!.config.layers[1].config.kernel_regularizer;
    assert.deepEqual(reg, { class_name: 'L1L2', config: { l1: 0, l2: 0.0010000000474974513 } });
  });

  it('rejects a document that is not a Keras model', () => {
    const r = checkModelSpec(keras({ layers: [] }));
    assert.deepEqual(r.problems.map((p) => p.pointer), ['/model/keras']);
    assert.match(r.problems[0].detail, /not a Keras model document/);
    assert.equal(r.topology, null);
    assert.deepEqual(pointers(keras({ class_name: 'Adam', config: {} })), ['/model/keras/class_name']);
  });

  it('names a layer without a tfjs equivalent and suggests close ones', () => {
    const doc = fixture('keras2-sequential');
    doc.config.layers[2] = { class_name: 'GroupNormalization', config: { name: 'gn', groups: 2 } };
    const [p, ...rest] = checkModelSpec(keras(doc)).problems;
    assert.deepEqual(rest, []);
    assert.equal(p.pointer, '/model/keras/config/layers/2/class_name');
    assert.match(p.detail, /GroupNormalization 'gn' \(layer 2\).*no tfjs equivalent.*LayerNormalization/);
  });

  it('names an option tfjs lacks and the value that would work', () => {
    const gru = fixture('keras3-sequential-lstm');
    gru.config.layers[0].class_name = 'GRU';
    gru.config.layers[0].config.reset_after = true;
    delete gru.config.layers[0].config.unit_forget_bias;
    const [p] = checkModelSpec(keras(gru)).problems;
    assert.equal(p.pointer, '/model/keras/config/layers/0/config/reset_after');
    assert.match(p.detail, /GRU 'lstm' \(layer 0\): option 'reset_after' = true has no tfjs equivalent; set it to false/);

    const cnn = fixture('keras3-sequential-cnn');
    cnn.config.layers[1].config.groups = 2;
    assert.deepEqual(pointers(keras(cnn)), ['/model/keras/config/layers/1/config/groups']);
  });

  it('rejects options newer Keras adds when set, and drops them while unset', () => {
    const doc = fixture('keras3-functional');
    doc.config.layers[1].config.lora_rank = null;
    doc.config.layers[1].config.some_future_flag = false;
    assert.deepEqual(pointers(keras(doc)), []);
    doc.config.layers[1].config.some_future_flag = 'on';
    assert.deepEqual(pointers(keras(doc)), ['/model/keras/config/layers/1/config/some_future_flag']);
  });

  it('rejects non-float32 dtype policies', () => {
    const doc = fixture('keras3-sequential-cnn');
    doc.config.layers[1].config.dtype.config.name = 'mixed_float16';
    const [p] = checkModelSpec(keras(doc)).problems;
    assert.equal(p.pointer, '/model/keras/config/layers/1/config/dtype');
  });

  it('asks for an input shape when the document has none', () => {
    const doc = fixture('keras3-sequential-lstm');
    delete doc.config.build_input_shape;
    const [p] = checkModelSpec(keras(doc)).problems;
    assert.equal(p.pointer, '/model/keras/config/layers/0');
    assert.match(p.detail, /no input shape.*keras\.Input/);
  });

  it('rejects models with several outputs and unknown inbound layers', () => {
    const doc = fixture('keras2-functional');
    doc.config.output_layers.push(['wide', 0, 0]);
    doc.config.layers[3].inbound_nodes[0][1][0] = 'nowhere';
    assert.deepEqual(pointers(keras(doc)), ['/model/keras/config/output_layers', '/model/keras/config/layers/3/inbound_nodes']);
  });

  it('finds incompatible shapes in Functional merges', () => {
    const doc = fixture('keras3-functional');
    doc.config.layers[2].config.units = 5;
    const [p] = checkModelSpec(keras(doc)).problems;
    assert.equal(p.pointer, '/model/keras/config/layers/3');
    assert.match(p.detail, /Add 'add'.*equal shapes.*\[8\] and \[5\]/);
  });
});

describe('checkModelSpec: layer lists', () => {
  it('builds a Keras 2 Sequential topology with Keras defaults and names', () => {
    const r = checkModelSpec(list([8, 8, 1], [
      { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
      { type: 'MaxPooling2D' },
      { type: 'flatten' },
      { type: 'dropout', rate: 0.25 },
      { type: 'Dense', units: 10, activation: 'softmax', kernelRegularizer: { l2: 0.01 } },
    ]));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.inputShape, [8, 8, 1]);
    assert.deepEqual(r.outputShape, [10]);
    const layers = r.topology!.config.layers;
    assert.deepEqual(layers.map((l) => l.config.name), ['input_layer', 'conv2d', 'max_pooling2d', 'flatten', 'dropout', 'dense']);
    assert.deepEqual(layers[0].config.batch_input_shape, [null, 8, 8, 1]);
    assert.equal(layers[1].config.kernel_size, 3);
    assert.deepEqual(layers[1].config.kernel_initializer, { class_name: 'GlorotUniform', config: { seed: null } });
    assert.deepEqual(layers[5].config.kernel_regularizer, { class_name: 'L1L2', config: { l1: 0, l2: 0.01 } });
  });

  it('reports typos with a suggestion and missing required options', () => {
    const r = checkModelSpec(list([4], [{ type: 'dense', units: 8 }, { type: 'dense', unit: 3 }]));
    assert.deepEqual(r.problems.map((p) => p.pointer), ['/model/layers/1/unit', '/model/layers/1']);
    assert.match(r.problems[0].detail, /unknown option 'unit'; did you mean 'units'\?/);
    assert.match(r.problems[1].detail, /missing required option 'units'/);
  });

  it('reports unknown layer types with close supported ones', () => {
    const [p] = checkModelSpec(list([4], [{ type: 'dense_layer', units: 2 }, { type: 'lamda' }])).problems;
    assert.equal(p.pointer, '/model/layers/0/type');
    assert.match(p.detail, /close supported layers: Dense/);
  });

  it('reports a missing or bad inputShape', () => {
    assert.deepEqual(pointers({ layers: [{ type: 'dense', units: 1 }] } as unknown as SchemaModelSpec), ['/model/inputShape']);
    assert.deepEqual(pointers(list([0], [{ type: 'dense', units: 1 }])), ['/model/inputShape']);
  });

  it('finds shapes that cannot chain', () => {
    const cases: Array<[unknown[], number[], string, RegExp]> = [
      [[{ type: 'conv2d', filters: 2, kernelSize: 3 }], [4], '/model/layers/0', /expects an image.*gets shape \[4\]/],
      [[{ type: 'conv2d', filters: 2, kernelSize: 5 }], [3, 3, 1], '/model/layers/0', /kernel 5 does not fit/],
      [[{ type: 'reshape', targetShape: [3, 3] }], [8], '/model/layers/0', /cannot reshape \[8\] \(8 values\) to \[3,3\]/],
      [[{ type: 'dense', units: 4 }, { type: 'lstm', units: 2 }], [6], '/model/layers/1', /expects a sequence/],
      [[{ type: 'flatten' }, { type: 'maxPooling2d' }], [4, 4, 1], '/model/layers/1', /expects an image/],
    ];
    for (const [layers, shape, ptr, detail] of cases) {
      const [p, ...rest] = checkModelSpec(list(shape, layers)).problems;
      assert.equal(p?.pointer, ptr, JSON.stringify(layers));
      assert.match(p.detail, detail);
      assert.deepEqual(rest, []);
    }
  });

  it('computes shapes through sequences, wrappers and reshapes', () => {
    const r = checkModelSpec(list([64], [
      { type: 'reshape', targetShape: [8, -1] },
      { type: 'bidirectional', layer: { type: 'lstm', units: 3, returnSequences: true } },
      { type: 'timeDistributed', layer: { type: 'dense', units: 2 } },
      { type: 'globalAveragePooling1d' },
    ]));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.outputShape, [2]);
    const gru = checkModelSpec(list([5, 3], [{ type: 'gru', units: 2 }])).topology!.config.layers[1].config;
    assert.equal(gru.reset_after, false);
    assert.equal(gru.recurrent_activation, 'sigmoid');
  });

  it('rejects merge layers, which need a Functional model', () => {
    const [p] = checkModelSpec(list([4], [{ type: 'add' }])).problems;
    assert.equal(p.pointer, '/model/layers/0/type');
    assert.match(p.detail, /Functional/);
  });

  it('uses the pointer base it is given', () => {
    const [p] = checkModelSpec(list([4], [{ type: 'dense' }]), '/jobs/0/model').problems;
    assert.equal(p.pointer, '/jobs/0/model/layers/0');
  });
});
