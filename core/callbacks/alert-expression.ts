/**
 * The `when` language of alert rules: comparisons (`<`, `<=`, `>`, `>=`, `==`, `!=`) between a
 * metric and a number (either side), joined by `and` / `or` (`and` binds tighter), with
 * parentheses. A comparison with a metric missing from the logs is false; NaN compares as in
 * Python (only `!=` is true).
 */

type ExprNode =
  | { kind: 'cmp'; op: string; left: Operand; right: Operand }
  | { kind: 'and' | 'or'; left: ExprNode; right: ExprNode };
type Operand = { metric: string } | { value: number };

interface Token {
  kind: 'name' | 'number' | 'op' | 'lparen' | 'rparen' | 'and' | 'or' | 'end';
  text: string;
  pos: number;
}

/** A syntax error, with the 0-based character position. */
export class AlertExpressionError extends Error {
  readonly position: number;
  constructor(message: string, position: number) {
    super(`${message} at character ${position + 1}`);
    this.name = 'AlertExpressionError';
    this.position = position;
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s*(?:(<=|>=|==|!=|<|>)|(\()|(\))|([A-Za-z_][A-Za-z0-9_]*)|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))/y;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) {
      const at = pos + (text.slice(pos).length - text.slice(pos).trimStart().length);
      throw new AlertExpressionError(`unexpected '${text[at]}'`, at);
    }
    const start = m.index + m[0].length - m[0].trimStart().length;
    if (m[1]) tokens.push({ kind: 'op', text: m[1], pos: start });
    else if (m[2]) tokens.push({ kind: 'lparen', text: '(', pos: start });
    else if (m[3]) tokens.push({ kind: 'rparen', text: ')', pos: start });
    else if (m[4]) {
      const kind = m[4] === 'and' ? 'and' : m[4] === 'or' ? 'or' : 'name';
      tokens.push({ kind, text: m[4], pos: start });
    } else tokens.push({ kind: 'number', text: m[5], pos: start });
    pos = re.lastIndex;
  }
  tokens.push({ kind: 'end', text: '', pos: text.length });
  return tokens;
}

/** A parsed `when` condition. */
export class AlertExpression {
  readonly text: string;
  /** Metric names the condition mentions, in order of first use. */
  readonly metrics: string[];
  private readonly root: ExprNode;

  private constructor(text: string, root: ExprNode, metrics: string[]) {
    this.text = text;
    this.root = root;
    this.metrics = metrics;
  }

  /** Parses `text`; throws {@link AlertExpressionError} on bad syntax. */
  static parse(text: string): AlertExpression {
    const tokens = tokenize(text);
    const metrics: string[] = [];
    let i = 0;
    const peek = (): Token => tokens[i];
    const next = (): Token => tokens[i++];
    const operand = (): Operand => {
      const t = next();
      if (t.kind === 'name') {
        if (!metrics.includes(t.text)) metrics.push(t.text);
        return { metric: t.text };
      }
      if (t.kind === 'number') return { value: Number(t.text) };
      throw new AlertExpressionError(t.kind === 'end' ? 'expression ends early' : `expected a metric or a number, got '${t.text}'`, t.pos);
    };
    const primary = (): ExprNode => {
      if (peek().kind === 'lparen') {
        next();
        const inner = orExpr();
        const close = next();
        if (close.kind !== 'rparen') throw new AlertExpressionError(`expected ')', got '${close.text || 'end'}'`, close.pos);
        return inner;
      }
      const start = peek();
      const left = operand();
      const op = next();
      if (op.kind !== 'op') throw new AlertExpressionError(`expected a comparison (<, <=, >, >=, ==, !=), got '${op.text || 'end'}'`, op.pos);
      const right = operand();
      if (('metric' in left) === ('metric' in right)) {
        throw new AlertExpressionError('a comparison needs one metric and one number', start.pos);
      }
      return { kind: 'cmp', op: op.text, left, right };
    };
    const andExpr = (): ExprNode => {
      let left = primary();
      while (peek().kind === 'and') {
        next();
        left = { kind: 'and', left, right: primary() };
      }
      return left;
    };
    const orExpr = (): ExprNode => {
      let left = andExpr();
      while (peek().kind === 'or') {
        next();
        left = { kind: 'or', left, right: andExpr() };
      }
      return left;
    };
    const root = orExpr();
    const rest = peek();
    if (rest.kind !== 'end') throw new AlertExpressionError(`unexpected '${rest.text}'`, rest.pos);
    return new AlertExpression(text, root, metrics);
  }

  /** Evaluates the condition over epoch-end logs. */
  evaluate(logs: Record<string, number>): boolean {
    const value = (o: Operand): number | undefined => ('metric' in o ? logs[o.metric] : o.value);
    const ev = (n: ExprNode): boolean => {
      if (n.kind !== 'cmp') return n.kind === 'and' ? ev(n.left) && ev(n.right) : ev(n.left) || ev(n.right);
      const a = value(n.left);
      const b = value(n.right);
      if (a === undefined || b === undefined) return false;
      switch (n.op) {
        case '<': return a < b;
        case '<=': return a <= b;
        case '>': return a > b;
        case '>=': return a >= b;
        case '==': return a === b;
        default: return a !== b;
      }
    };
    return ev(this.root);
  }
}
