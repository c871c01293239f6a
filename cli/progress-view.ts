import type { JobEvent } from '../client/index';
import type { SchemaBestCheckpoint, SchemaJobStreamCallback } from '../core/api.gen';
import { formatMetrics, formatValue } from './format';

export interface ProgressViewOptions {
  /** Redraw one progress line in place (a terminal); otherwise print one line per event. */
  tty: boolean;
  /**
   * Terminal width; the bar line is cut to it so it never wraps (a wrapped line cannot be redrawn).
   * @defaultValue 80
   */
  columns?: number;
}

const BAR_WIDTH = 24;

/**
 * Renders a job's event stream for people. On a terminal: one progress bar (epochs done of the
 * epochs asked for) with the latest metrics and learning rate, redrawn per epoch, and permanent
 * marker lines above it for a new best checkpoint, a learning-rate cut, early stopping and the
 * other callback decisions. Elsewhere (a pipe, a log file): the same information as plain lines.
 * Epochs are shown 1-based, as Keras prints them (`Epoch 3/40`).
 */
export class ProgressView {
  private bar = '';
  private endReason: string | undefined;
  private readonly columns: number;

  constructor(
    private readonly write: (text: string) => void,
    private readonly options: ProgressViewOptions,
  ) {
    // A pseudo-terminal without a window size reports 0 columns.
    this.columns = Math.max(20, options.columns || 80);
  }

  /** Handles one stream event. */
  onEvent(e: JobEvent): void {
    switch (e.event) {
      case 'status': {
        const d = e.data;
        if (d.status === 'succeeded' || d.status === 'failed' || d.status === 'cancelled') {
          // The end message follows and says the same; only its reason is worth keeping.
          this.endReason = d.reason;
          break;
        }
        const extra = [d.attempt !== undefined && d.status === 'running' ? `attempt ${d.attempt}` : '', d.reason ?? ''].filter(Boolean).join(', ');
        this.line(`${d.status}${extra ? ` (${extra})` : ''}`);
        break;
      }
      case 'epoch': {
        const { epoch, epochs, logs } = e.data;
        if (this.options.tty) this.drawBar(epoch, epochs, formatMetrics(logs));
        else this.line(`epoch ${epoch + 1}/${epochs}  ${formatMetrics(logs)}`);
        break;
      }
      case 'callback': {
        const text = describeCallback(e.data);
        if (text) this.line(text);
        break;
      }
      case 'end': {
        const d = e.data;
        const parts = [this.endReason ? `${d.status} (${this.endReason})` : d.status];
        if (d.stopReason) parts.push(`stop reason ${d.stopReason}`);
        if (d.best) parts.push(`best ${describeBest(d.best)}`);
        this.finishBar();
        this.line(parts.join('; '));
        if (d.error) this.line(`error ${[d.error.code, d.error.detail].filter(Boolean).join(': ')}`);
        break;
      }
    }
  }

  /** Leaves the last bar on screen; call when the stream ends without an `end` event. */
  close(): void {
    this.finishBar();
  }

  /** A permanent line; on a terminal the bar is cleared first and drawn again below it. */
  private line(text: string): void {
    if (this.options.tty && this.bar) this.write(`\r\x1b[2K${text}\n${this.bar}`);
    else this.write(text + '\n');
  }

  private drawBar(epoch: number, epochs: number, metrics: string): void {
    const done = Math.min(epochs, epoch + 1);
    const filled = epochs > 0 ? Math.round((done / epochs) * BAR_WIDTH) : 0;
    const pct = epochs > 0 ? Math.floor((done / epochs) * 100) : 0;
    const text = `epoch ${done}/${epochs} [${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}] ${String(pct).padStart(3)}%  ${metrics}`;
    this.bar = [...text].slice(0, this.columns - 1).join('');
    this.write(`\r\x1b[2K${this.bar}`);
  }

  private finishBar(): void {
    if (this.options.tty && this.bar) this.write('\n');
    this.bar = '';
  }
}

function describeBest(best: NonNullable<SchemaBestCheckpoint>): string {
  const metric = best.monitor ? ` ${best.monitor}=${formatValue(best.value as number | string | null)}` : '';
  return `epoch ${best.epoch + 1}${metric}`;
}

/** One marker line per callback decision, or null for events that need none. */
export function describeCallback(d: SchemaJobStreamCallback): string | null {
  const e = d as Record<string, any>;
  const at = typeof e.epoch === 'number' ? `epoch ${e.epoch + 1}: ` : '';
  switch (e.type) {
    case 'checkpoint_saved':
      // Only "best so far" saves are markers; periodic saves would drown them.
      if (!e.best) return null;
      return `★ ${at}new best ${e.best.monitor}=${formatValue(e.best.value)} (checkpoint ${e.path})`;
    case 'learning_rate_changed':
      return `↓ ${at}learning rate ${formatValue(e.from)} → ${formatValue(e.to)} (${e.by})`;
    case 'early_stopping': {
      const best = e.bestEpoch === null || e.bestEpoch === undefined ? '' : `; best epoch ${e.bestEpoch + 1} (${formatValue(e.bestValue)})`;
      return `■ ${at}early stopping: ${(e.monitors ?? []).join(', ')} did not improve for ${e.wait} epochs${best}`;
    }
    case 'weights_restored':
      return `↺ ${at}restored the weights of epoch ${e.fromEpoch + 1}`;
    case 'nan_terminated':
      return `■ ${at}terminated on NaN loss at batch ${e.batch}`;
    case 'alert_fired':
      return `! ${at}alert ${e.rule}: ${e.text}`;
    case 'callback_failed':
      return `! ${at}${e.callback} failed: ${e.message}`;
    default:
      return `· ${at}${e.type}`;
  }
}
