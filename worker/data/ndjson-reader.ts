import type { DatasetReader, RowSink } from './dataset-reader';
import { parseNdjsonStream } from './ndjson-parser';

/**
 * `data.format: ndjson`: one JSON object per line through ndjson-parser.ts. The columns are the
 * first object's keys; the first object is a data row too, and later objects are read by key.
 */
export class NdjsonReader implements DatasetReader {
  readonly fileNoun = 'NDJSON file';

  async read(input: AsyncIterable<string | Uint8Array>, source: string, strictKeys: boolean, sink: RowSink): Promise<boolean> {
    let header: string[] | null = null;
    let rows = 0;
    let known: Set<string> = new Set();
    await parseNdjsonStream(input, source, (record, line) => {
      if (header === null) {
        header = Object.keys(record);
        known = new Set(header);
        const first = `the first object (line ${line})`;
        sink.onHeader(header, { header: first, column: 'key', inHeader: ` in ${first}` });
      } else if (strictKeys) {
        for (const key in record) {
          if (!known.has(key)) {
            throw sink.invalid(
              `row ${rows + 1} (line ${line}) has key '${key}' that the first object lacks; every object needs the same keys ` +
                '(the first object names the features), or list the features in data.featureColumns.',
            );
          }
        }
      }
      rows++;
      const cells = new Array<unknown>(header.length);
      for (let i = 0; i < header.length; i++) cells[i] = record[header[i]];
      sink.onRow(cells, line);
    });
    if (header === null) throw sink.invalid('the file is empty; NDJSON needs one JSON object per line, e.g. {"x1": 0.5, "label": "cat"}.');
    return rows > 0;
  }
}
