import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { KilnError } from '../../../core/errors';
import type { ColumnWords, DatasetReader } from '../../../worker/data/dataset-reader';
import { READERS, formatChoices, readerFor } from '../../../worker/data/readers';

/** Runs `reader` over `text` with a sink that records what it is given. */
async function read(reader: DatasetReader, text: string, strictKeys = true) {
  const seen: { header: string[] | null; words: ColumnWords | null; rows: Array<[readonly unknown[], number]> } = { header: null, words: null, rows: [] };
  const hasRows = await reader.read(Readable.from([Buffer.from(text)]), "data.uri 'x'", strictKeys, {
    onHeader: (header, words) => {
      seen.header = header;
      seen.words = words;
    },
    onRow: (cells, line) => seen.rows.push([[...cells], line]),
    invalid: (detail) => new KilnError('DATASET_INVALID', `data.uri 'x': ${detail}`),
  });
  return { hasRows, ...seen };
}

describe('the format table', () => {
  test('every contract format has a reader; anything else has none', () => {
    assert.deepEqual(Object.keys(READERS).sort(), ['csv', 'ndjson']);
    assert.equal(readerFor('csv'), READERS.csv);
    assert.equal(readerFor('parquet'), null);
    assert.equal(readerFor('toString'), null, 'inherited properties are not formats');
    assert.equal(formatChoices(), "'csv' or 'ndjson'");
  });
});

describe('CsvReader', () => {
  test('the header, then each row with its line', async () => {
    const r = await read(READERS.csv, ' a ,label\n1,x\n\n2,y\n');
    assert.deepEqual(r.header, ['a', 'label']);
    assert.equal(r.words?.column, 'column');
    assert.deepEqual(r.rows, [[['1', 'x'], 2], [['2', 'y'], 4]]);
    assert.equal(r.hasRows, true);
  });

  test('a header alone has no rows; an empty file and a short row are refused', async () => {
    assert.equal((await read(READERS.csv, 'a,label\n')).hasRows, false);
    await assert.rejects(read(READERS.csv, ''), /data\.uri 'x': the file is empty; it needs a header row/);
    await assert.rejects(read(READERS.csv, 'a,label\n1\n'), /row 1 \(line 2\) has 1 fields but the header has 2/);
  });
});

describe('NdjsonReader', () => {
  test('the first object names the columns and is a row too; later objects are read by key', async () => {
    const r = await read(READERS.ndjson, '{"a":1,"label":"x"}\n{"label":"y","a":2}\n{"label":"z"}\n');
    assert.deepEqual(r.header, ['a', 'label']);
    assert.equal(r.words?.column, 'key');
    assert.deepEqual(r.rows.map(([cells]) => cells), [[1, 'x'], [2, 'y'], [undefined, 'z']]);
  });

  test('with strictKeys a key the first object lacks is refused; without, it is ignored', async () => {
    await assert.rejects(read(READERS.ndjson, '{"a":1,"label":"x"}\n{"a":2,"b":3,"label":"y"}\n'), /row 2 \(line 2\) has key 'b' that the first object lacks/);
    assert.equal((await read(READERS.ndjson, '{"a":1,"label":"x"}\n{"a":2,"b":3,"label":"y"}\n', false)).rows.length, 2);
    await assert.rejects(read(READERS.ndjson, ''), /the file is empty; NDJSON needs one JSON object per line/);
  });
});
