/** Text formatting shared by the CLI's commands: metric values, metric lists, aligned tables, CSV. */

/** A metric value for people: 4 significant digits, exponent notation when tiny or huge. */
export function formatValue(v: number | string | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(4)));
  return v.toExponential(2);
}

/** Orders Keras metric names: loss, training metrics, then their `val_` twins, learning rate last. */
export function metricOrder(names: string[]): string[] {
  const rank = (n: string) => (n === 'learning_rate' || n === 'lr' ? 4 : n === 'loss' ? 0 : n === 'val_loss' ? 2 : n.startsWith('val_') ? 3 : 1);
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** `loss=0.4123 accuracy=0.86 val_loss=0.39 lr=0.01` (learning_rate shown as `lr`). */
export function formatMetrics(logs: Record<string, number | string> | undefined, sep = '='): string {
  if (!logs) return '';
  return metricOrder(Object.keys(logs))
    .map((k) => `${k === 'learning_rate' ? 'lr' : k}${sep}${formatValue(logs[k])}`)
    .join(sep === '=' ? ' ' : '  ');
}

/**
 * Rows as an aligned table: the first row is the header; columns whose cells (after the header)
 * are all numbers or empty are right-aligned.
 */
export function renderTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const width = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: width }, (_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  const numeric = Array.from({ length: width }, (_, c) => rows.length > 1 && rows.slice(1).every((r) => isNumericCell(r[c] ?? '')));
  return rows
    .map((r) =>
      Array.from({ length: width }, (_, c) => {
        const cell = r[c] ?? '';
        const pad = ' '.repeat(widths[c] - [...cell].length);
        return numeric[c] ? pad + cell : cell + pad;
      })
        .join('  ')
        .trimEnd(),
    )
    .join('\n') + '\n';
}

function isNumericCell(s: string): boolean {
  return s === '' || s === '-' || s === 'NaN' || /^[-+]?Infinity$/.test(s) || (s.trim() === s && !Number.isNaN(Number(s)));
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF); a trailing newline adds no row. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else {
      field += c;
    }
    i++;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
