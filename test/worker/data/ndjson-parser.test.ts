import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { isKilnError } from '../../../core/errors';
import { NdjsonParser, parseNdjsonStream } from '../../../worker/data/ndjson-parser';

/** Parses `text` fed in `chunk`-character pieces; returns [record, line] pairs. */
function parse(text: string, chunk = text.length || 1, maxLine?: number): Array<[Record<string, unknown>, number]> {
  const out: Array<[Record<string, unknown>, number]> = [];
  const parser = new NdjsonParser('data.uri \'d.ndjson\'', (r, line) => out.push([r, line]), maxLine);
  for (let i = 0; i < text.length; i += chunk) parser.push(text.slice(i, i + chunk));
  parser.end();
  return out;
}

const invalid = (message: RegExp) => (err: unknown) => {
  assert.ok(isKilnError(err) && err.code === 'DATASET_INVALID', String(err));
  assert.match((err as Error).message, message);
  return true;
};

describe('NdjsonParser', () => {
  const text = '{"a":1,"label":"x"}\r\n\n  \n{"a":"2.5","label":3}\n{"a":3,"label":"y, \\"q\\"\\n"}';
  test('objects with their lines: CRLF and LF, blank lines skipped, no trailing newline needed', () => {
    assert.deepEqual(parse(text), [
      [{ a: 1, label: 'x' }, 1],
      [{ a: '2.5', label: 3 }, 4],
      [{ a: 3, label: 'y, "q"\n' }, 5],
    ]);
  });

  test('any chunking gives the same records', () => {
    const whole = parse(text);
    for (const chunk of [1, 2, 3, 5, 8, 13]) assert.deepEqual(parse(text, chunk), whole, `chunk ${chunk}`);
  });

  test('a line that is not JSON names its line', () => {
    assert.throws(() => parse('{"a":1}\n{"a":2,\n'), invalid(/data\.uri 'd\.ndjson': line 2 is not valid JSON \(.+\); NDJSON needs one complete JSON object per line/));
  });

  test('a line holding an array, a number or null is refused', () => {
    assert.throws(() => parse('[1,2]\n'), invalid(/line 1 holds an array, not an object/));
    assert.throws(() => parse('{"a":1}\n7\n'), invalid(/line 2 holds a number, not an object/));
    assert.throws(() => parse('null'), invalid(/line 1 holds null, not an object/));
  });

  test('a line longer than the limit fails before it is held whole (a JSON array on one line, say)', () => {
    const long = '[' + '{"a":1},'.repeat(50) + '{"a":1}]';
    assert.throws(() => parse(long, 16, 100), invalid(/line 1 is longer than 100 characters; .*single JSON array/));
    assert.deepEqual(parse('{"a":1}\n'.repeat(30), 7, 100).length, 30, 'short lines pass under the same limit');
  });
});

describe('parseNdjsonStream', () => {
  test('bytes split inside a multi-byte character and a BOM', async () => {
    const bytes = Buffer.from('\ufeff{"é":1,"label":"ü"}\n{"é":2,"label":"ß"}\n');
    const pieces = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    const out: unknown[] = [];
    await parseNdjsonStream(Readable.from(pieces), 'x', (r) => out.push(r));
    assert.deepEqual(out, [{ é: 1, label: 'ü' }, { é: 2, label: 'ß' }]);
  });

  test('invalid UTF-8 is a dataset error', async () => {
    await assert.rejects(parseNdjsonStream(Readable.from([Buffer.from([0x7b, 0xff, 0x7d])]), 'x', () => undefined),
      invalid(/x is not UTF-8 text; save the NDJSON file as UTF-8/));
  });

  test("the stream's own error passes through unwrapped (a retry)", async () => {
    const broken = new Readable({ read() { this.destroy(new Error('socket hang up')); } });
    await assert.rejects(parseNdjsonStream(broken, 'x', () => undefined), (err: unknown) => !isKilnError(err) && /socket hang up/.test(String(err)));
  });
});

describe('NdjsonParser bounds nesting', () => {
  test('a record nested past MAX_JSON_DEPTH is refused before JSON.parse, naming the line', () => {
    const deep = `{"a":${'['.repeat(100_000)}1${']'.repeat(100_000)},"label":"x"}`;
    assert.throws(() => parse(`{"a":1,"label":"y"}\n${deep}\n`), invalid(/line 2 nests arrays or objects more than 64 levels deep \(at character 70\)/));
    // Brackets inside strings do not count, and 64 levels are fine.
    assert.equal(parse(`{"a":"${'['.repeat(1000)}","b":${'['.repeat(63)}1${']'.repeat(63)}}\n`).length, 1);
  });
});
