import type { SchemaDataSpec } from './api.gen';
import { isClassification, lossLabelEncoding } from './compile-spec';
import type { FieldProblem } from './errors';

/**
 * How a job's data is split, checked on its own: the rules the API checks at submission and the
 * worker again before it reads a byte (for a job that reached the queue some other way), in the
 * same words. Pointers are into the job (`/data/…`).
 */
export function checkDataSplit(data: SchemaDataSpec, loss: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (data.validationSplit !== undefined && 'validation' in data && data.validation !== undefined) {
    problems.push({ pointer: '/data/validationSplit', detail: 'data.validationSplit and data.validation are both set; keep one: a fraction of data.uri to hold out, or a separate validation file' });
  }
  const encoding = lossLabelEncoding(loss);
  if (data.stratify && data.validationSplit === undefined) {
    problems.push({ pointer: '/data/stratify', detail: 'data.stratify needs data.validationSplit (it decides how the held-out fraction is drawn); set a fraction or drop stratify' });
  } else if (data.stratify && encoding !== undefined && !isClassification(encoding)) {
    problems.push({ pointer: '/data/stratify', detail: `data.stratify keeps class proportions, but loss ${loss} is a regression loss with no classes; drop stratify` });
  }
  return problems;
}
