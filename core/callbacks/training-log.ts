/**
 * The training log: what Keras would print to the console during `fit`, as text. Callbacks write
 * to it through this narrow sink; the worker stores it (`logs/training.log`) and streams it, the
 * simulator returns it. Nothing here does I/O.
 *
 * Two kinds of entries, as Keras has two channels:
 * - `print`: a message of `io_utils.print_msg` (Keras's verbose messages, the fit progress lines).
 *   Keras prints it followed by a newline; so does the log. Messages keep Keras's own leading
 *   `\n` where it has one (`"\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.05."`).
 * - `warn`: the message of a Keras `warnings.warn(...)` (a `UserWarning`).
 */
export interface TrainingLog {
  print(message: string): void;
  warn(message: string): void;
}

/** A log that drops everything (callbacks built without one). */
export const SILENT_LOG: TrainingLog = { print: () => {}, warn: () => {} };

/**
 * Keeps the log as text, the way a console shows it: a print is the message and a newline; a
 * warning is `UserWarning: <message>` and a newline (Python prints the file and line of the
 * caller first, which Kiln has no equivalent for). `lines` receives each entry's text as written.
 */
export class TextTrainingLog implements TrainingLog {
  private parts: string[] = [];
  private readonly listener?: (text: string) => void;

  constructor(listener?: (text: string) => void) {
    this.listener = listener;
  }

  print(message: string): void {
    this.append(`${message}\n`);
  }

  warn(message: string): void {
    this.append(`UserWarning: ${message}\n`);
  }

  /** Everything written so far. */
  get text(): string {
    return this.parts.join('');
  }

  private append(text: string): void {
    this.parts.push(text);
    this.listener?.(text);
  }
}
