import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { isKilnError } from '../../../core/errors';
import { CsvParser, MAX_CSV_FIELD, MAX_CSV_FIELDS, MAX_CSV_RECORD, parseCsvStream } from '../../../worker/data/csv-parser';

type Rec = [string[], number];

/** Parses `text` fed as chunks of `size` characters. */
function parse(text: string, size = text.length || 1): Rec[] {
  const out: Rec[] = [];
  const p = new CsvParser('test.csv', (f, line) => out.push([f, line]));
  for (let i = 0; i < text.length; i += size) p.push(text.slice(i, i + size));
  p.end();
  return out;
}

/** Parses `text` split into two chunks at every possible position; all must agree with the whole. */
function parseEverySplit(text: string): Rec[] {
  const whole = parse(text);
  for (let at = 0; at <= text.length; at++) {
    const out: Rec[] = [];
    const p = new CsvParser('test.csv', (f, line) => out.push([f, line]));
    p.push(text.slice(0, at));
    p.push(text.slice(at));
    p.end();
    assert.deepEqual(out, whole, `split at ${at} of ${JSON.stringify(text)}`);
  }
  return whole;
}

describe('CsvParser', () => {
  const cases: Array<[string, string, Rec[]]> = [
    ['plain LF', 'a,b\n1,2\n', [[['a', 'b'], 1], [['1', '2'], 2]]],
    ['CRLF', 'a,b\r\n1,2\r\n', [[['a', 'b'], 1], [['1', '2'], 2]]],
    ['bare CR', 'a,b\r1,2\r', [[['a', 'b'], 1], [['1', '2'], 2]]],
    ['no final line break', 'a,b\n1,2', [[['a', 'b'], 1], [['1', '2'], 2]]],
    ['empty fields and a trailing comma', 'a,,c\n,,\n1,2,', [[['a', '', 'c'], 1], [['', '', ''], 2], [['1', '2', ''], 3]]],
    ['blank lines skipped, line numbers kept', 'a\n\n1\r\n\r\n2\n', [[['a'], 1], [['1'], 3], [['2'], 5]]],
    ['quoted comma, doubled quote', '"x, y","say ""hi"""\n', [[['x, y', 'say "hi"'], 1]]],
    ['embedded CRLF in quotes counts lines', '"a\r\nb",c\nd,e\n', [[['a\r\nb', 'c'], 1], [['d', 'e'], 3]]],
    ['quoted empty field is a record', '""\n', [[[''], 1]]],
    ['quote inside an unquoted field is literal', 'ab"c,d\n', [[['ab"c', 'd'], 1]]],
    ['empty text', '', []],
  ];
  for (const [name, text, expected] of cases) {
    test(`${name}, split anywhere`, () => {
      assert.deepEqual(parseEverySplit(text), expected);
    });
  }

  test('one character at a time equals one chunk', () => {
    const text = 'h1,"h,2"\r\n"1\n2",""""\r\n3,4';
    assert.deepEqual(parse(text, 1), parse(text));
  });

  const errors: Array<[string, string, RegExp]> = [
    ['text after a closing quote', 'a,b\n"x"y,1\n', /test\.csv is not valid CSV: line 2 has "y" right after a closing quote/],
    ['an unclosed quote', 'a,b\n1,"open\n2,3\n', /quoted field opened on line 2 is never closed/],
  ];
  for (const [name, text, message] of errors) {
    test(`rejects ${name}`, () => {
      assert.throws(() => parse(text), (err: unknown) => isKilnError(err) && err.code === 'DATASET_INVALID' && message.test(err.message));
    });
  }
});

describe('parseCsvStream', () => {
  async function collect(chunks: Array<string | Uint8Array>): Promise<string[][]> {
    const out: string[][] = [];
    await parseCsvStream(Readable.from(chunks), 'test.csv', (f) => out.push(f));
    return out;
  }

  test('decodes UTF-8 split inside a character and drops a BOM', async () => {
    const bytes = Buffer.from('\uFEFFnäme,€\n1,2\n');
    const chunks = Array.from(bytes, (b) => Uint8Array.of(b));
    assert.deepEqual(await collect(chunks), [['näme', '€'], ['1', '2']]);
  });

  test('rejects bytes that are not UTF-8', async () => {
    await assert.rejects(collect([Uint8Array.of(0x61, 0x0a, 0xff, 0xfe, 0x0a)]), /test\.csv is not UTF-8/);
  });

  test('a handler error stops parsing and propagates', async () => {
    let seen = 0;
    const input = Readable.from(['a\n1\n2\n3\n']);
    await assert.rejects(
      parseCsvStream(input, 'test.csv', () => {
        if (++seen === 2) throw new Error('stop');
      }),
      /stop/,
    );
    assert.equal(seen, 2);
  });

  test('a stream error is passed through unwrapped (infrastructure faults are retried)', async () => {
    async function* broken(): AsyncGenerator<string> {
      yield 'a,b\n';
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    }
    await assert.rejects(parseCsvStream(broken(), 'test.csv', () => {}), (err: unknown) => !isKilnError(err) && (err as Error).message === 'socket hang up');
  });
});

describe('CsvParser bounds what one record may hold', () => {
  const datasetInvalid = (message: RegExp) => (err: unknown) => {
    assert.ok(isKilnError(err) && err.code === 'DATASET_INVALID', String(err));
    assert.match((err as Error).message, message);
    return true;
  };

  test('a field past MAX_CSV_FIELD is refused as it grows, naming its line and column, quoted or not', () => {
    const big = 'x'.repeat(MAX_CSV_FIELD + 1);
    assert.throws(() => parse(`a,b\n1,${big}\n`, 65536), datasetInvalid(/line 2, column 2 is longer than 1048576 characters/));
    assert.throws(() => parse(`a,b\n1,"${big}"\n`, 65536), datasetInvalid(/line 2, column 2 is longer than/));
    assert.equal(parse(`a\n${'x'.repeat(MAX_CSV_FIELD)}\n`).length, 2);
  });

  test('a 50 MB single-line file stops within the record cap, before it is held whole', () => {
    const p = new CsvParser('test.csv', () => assert.fail('no record should complete'));
    const chunk = '1.5,'.repeat(16384); // 64 KiB of short fields, no line break
    let fed = 0;
    assert.throws(() => {
      for (; fed < 50 * 1024 * 1024; fed += chunk.length) p.push(chunk);
    }, datasetInvalid(/the row starting on line 1 has more than (100000 fields|16777216 characters)/));
    assert.ok(fed <= MAX_CSV_RECORD, `stopped after ${fed} characters`);
  });

  test('more than MAX_CSV_FIELDS columns are refused', () => {
    assert.throws(() => parse(`${'1,'.repeat(MAX_CSV_FIELDS)}1\n`), datasetInvalid(/more than 100000 fields \(at column 100001\)/));
  });
});
