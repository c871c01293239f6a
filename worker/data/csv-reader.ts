import { parseCsvStream } from './csv-parser';
import type { ColumnWords, DatasetReader, RowSink } from './dataset-reader';

const CSV_WORDS: ColumnWords = { header: 'the header', column: 'column', inHeader: '' };

/**
 * `data.format: csv` (the default; also the built-in datasets): RFC 4180 through csv-parser.ts.
 * The first record is the header; every later record must have one field per column.
 */
export class CsvReader implements DatasetReader {
  readonly fileNoun = 'CSV';

  async read(input: AsyncIterable<string | Uint8Array>, source: string, _strictKeys: boolean, sink: RowSink): Promise<boolean> {
    let header: string[] | null = null;
    let rows = 0;
    await parseCsvStream(input, source, (fields, line) => {
      if (header === null) {
        header = fields.map((f) => f.trim());
        sink.onHeader(header, CSV_WORDS);
        return;
      }
      rows++;
      if (fields.length !== header.length) {
        throw sink.invalid(
          `row ${rows} (line ${line}) has ${fields.length} fields but the header has ${header.length}; ` +
            'every row needs one value per column (quote values that contain commas).',
        );
      }
      sink.onRow(fields, line);
    });
    if (header === null) throw sink.invalid('the file is empty; it needs a header row naming the columns, then data rows.');
    return rows > 0;
  }
}
