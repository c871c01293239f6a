import type { SchemaAlertRuleSpec } from '../api.gen';
import { AlertExpression } from './alert-expression';
import { Callback } from './callback';
import { stateObject, type JsonValue } from './callback-state';
import type { Logs } from './model-handle';
import { pyFloatRepr } from './python-format';

/**
 * Alert rules over epoch-end metrics (a Kiln addition; Keras has no equivalent). Each rule fires
 * at the first epoch end where its condition holds (`fire: once`) or at every such epoch end
 * (`fire: always`). It only emits events; delivery (webhook, Slack body) is the worker's.
 */
export class Alerts extends Callback {
  override readonly name = 'Alerts';
  override readonly role = 'observer' as const;
  private readonly rules: Array<{ spec: SchemaAlertRuleSpec; expr: AlertExpression; fired: boolean }>;

  /** Parses every rule; throws AlertExpressionError on a bad `when` (check-spec reports it first). */
  constructor(rules: SchemaAlertRuleSpec[]) {
    super();
    this.rules = rules.map((spec) => ({ spec, expr: AlertExpression.parse(spec.when), fired: false }));
  }

  override async onTrainBegin(): Promise<void> {
    for (const r of this.rules) r.fired = false;
  }

  /** Which rules have fired (by position), so a `fire: once` rule never fires twice across a resume. */
  override state(): JsonValue {
    return { fired: this.rules.map((r) => r.fired) };
  }

  override restore(state: JsonValue): void {
    const fired = stateObject(state, this.name).fired;
    if (!Array.isArray(fired) || fired.length !== this.rules.length || !fired.every((f) => typeof f === 'boolean')) {
      throw new TypeError('Alerts: the backed-up state does not match the job\'s alert rules');
    }
    this.rules.forEach((r, i) => {
      r.fired = fired[i] as boolean;
    });
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    for (const r of this.rules) {
      if (r.fired && (r.spec.fire ?? 'once') === 'once') continue;
      if (!r.expr.evaluate(logs)) continue;
      r.fired = true;
      const values: Record<string, number> = {};
      for (const m of r.expr.metrics) values[m] = logs[m];
      const rule = r.spec.name ?? r.spec.when;
      const shown = Object.entries(values).map(([k, v]) => `${k}=${pyFloatRepr(v)}`).join(', ');
      this.emit({
        type: 'alert_fired',
        epoch,
        rule,
        when: r.spec.when,
        format: r.spec.format ?? 'json',
        ...(r.spec.url === undefined ? {} : { url: r.spec.url }),
        values,
        text: `Kiln alert '${rule}' at epoch ${epoch + 1}: ${r.spec.when} (${shown})`,
      });
    }
  }
}
