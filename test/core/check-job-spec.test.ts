import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkJobSpec } from '../../core/check-job-spec';
import { NO_OUTBOUND_EXCEPTIONS } from '../../core/outbound-policy';

const ctx = { tenant: 'acme', storeUri: 's3://bucket/kiln', outbound: NO_OUTBOUND_EXCEPTIONS };

/** A store-dataset job on a 2-feature CSV; tests change one thing at a time. */
function job(data: Record<string, unknown>, loss = 'categorical_crossentropy'): any {
  return {
    model: { inputShape: [2], layers: [{ type: 'dense', units: 3, activation: 'softmax' }] },
    compile: { optimizer: { name: 'adam' }, loss },
    data: { uri: 'datasets/d.csv', labelColumn: 'label', ...data },
    fit: { epochs: 2 },
  };
}

describe('checkJobSpec: data', () => {
  test('a plain store dataset, with stratify on a classification loss, passes', () => {
    assert.deepEqual(checkJobSpec(job({}), ctx), []);
    assert.deepEqual(checkJobSpec(job({ format: 'ndjson', validationSplit: 0.2, stratify: true }, 'sparse_categorical_crossentropy'), ctx), []);
    assert.deepEqual(checkJobSpec({ ...job({}), data: { builtin: 'iris', validationSplit: 0.2, stratify: true } }, ctx).filter((p) => p.pointer.startsWith('/data')), []);
  });

  const bad: Array<[string, any, string, RegExp]> = [
    ['validationSplit together with validation', job({ validationSplit: 0.2, validation: { uri: 'datasets/v.csv' } }), '/data/validationSplit',
      /data\.validationSplit and data\.validation are both set; keep one/],
    ['featureColumns including the label', job({ featureColumns: ['a', 'label'] }), '/data/featureColumns',
      /data\.featureColumns includes the label column 'label'; remove it/],
    ['stratify without validationSplit', job({ stratify: true }), '/data/stratify', /data\.stratify needs data\.validationSplit/],
    ['stratify with a separate validation file', job({ stratify: true, validation: { uri: 'datasets/v.csv' } }), '/data/stratify', /needs data\.validationSplit/],
    ['stratify on a built-in without a split', { ...job({}), data: { builtin: 'iris', stratify: true } }, '/data/stratify', /needs data\.validationSplit/],
    ['stratify with a regression loss', job({ validationSplit: 0.2, stratify: true }, 'mse'), '/data/stratify', /loss mse is a regression loss with no classes; drop stratify/],
    ['stratify with huber', job({ validationSplit: 0.2, stratify: true }, 'huber'), '/data/stratify', /loss huber is a regression loss/],
  ];
  for (const [name, spec, pointer, detail] of bad) {
    test(`refuses ${name} at ${pointer}`, () => {
      const problems = checkJobSpec(spec, ctx).filter((p) => p.pointer === pointer);
      assert.equal(problems.length, 1, JSON.stringify(checkJobSpec(spec, ctx)));
      assert.match(problems[0].detail, detail);
    });
  }
});

describe('checkJobSpec: alerts', () => {
  const alerting = (extra: Record<string, unknown>) => ({ ...job({ validationSplit: 0.2 }), compile: { optimizer: 'adam', loss: 'categorical_crossentropy', metrics: ['accuracy'] }, ...extra });
  test('an alert with neither its own url nor a job webhook is refused, naming the alert\'s url', () => {
    const problems = checkJobSpec(alerting({ callbacks: { alerts: [{ when: 'val_accuracy > 0.9', url: 'https://hooks.example.com/a' }, { when: 'val_loss < 0.1' }] } }), ctx);
    assert.deepEqual(problems.map((p) => p.pointer), ['/callbacks/alerts/1/url']);
    assert.match(problems[0].detail, /no url and the job has no webhook.*add the alert's url, or a webhook/);
  });
  test('an alert without a url goes to the job webhook', () => {
    const webhook = { url: 'https://hooks.example.com/kiln', secret: 'whsec_' + 'A'.repeat(32) };
    assert.deepEqual(checkJobSpec(alerting({ webhook, callbacks: { alerts: [{ when: 'val_loss < 0.1' }] } }), ctx), []);
  });
});
