/**
 * The error names BullMQ acts on, in one place for both sides of the sandbox. BullMQ's worker
 * matches `err.name` (an error crossing the child's IPC channel loses its class but keeps its name),
 * so the training process throws plain errors under these names and the queue module reads them
 * back without either importing the other's classes.
 */
import { formatFailure, isKilnError, KilnError } from '../core/errors';

/** Names BullMQ gives meaning to (the class names of its `UnrecoverableError`, `DelayedError`, `WaitingError`). */
export const QueueErrorName = {
  /** Fail the job now, whatever attempts are left. */
  Unrecoverable: 'UnrecoverableError',
  /** The processor moved the job to delayed itself: neither a failure nor a completion. */
  Delayed: 'DelayedError',
  /** The processor moved the job back to waiting itself (a hand-back): neither a failure nor a completion. */
  Waiting: 'WaitingError',
} as const;

export type QueueErrorName = (typeof QueueErrorName)[keyof typeof QueueErrorName];

/** An error BullMQ reads as `name`, with `message` as the job's failed reason. */
export function queueError(name: QueueErrorName, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/**
 * Classifies a failure once, in the one taxonomy: the job fails as `CODE: detail`, unrecoverable
 * (no retry) when the code is not retryable (user and configuration errors, a job that stalled or
 * outgrew its memory) and retried otherwise (infrastructure faults, a lost process, INTERNAL).
 */
export function toJobFailure(err: unknown): Error {
  const kiln: KilnError = isKilnError(err) ? err : new KilnError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
  const out = new Error(formatFailure(kiln));
  if (!kiln.retryable) out.name = QueueErrorName.Unrecoverable;
  out.stack = (err as Error)?.stack ?? out.stack;
  return out;
}

/** Whether BullMQ will not retry a job that failed with `err`. */
export function isUnrecoverable(err: Error): boolean {
  return err.name === QueueErrorName.Unrecoverable;
}
