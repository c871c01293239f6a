import type { SchemaCallbackEvent } from '../api.gen';

/**
 * What callbacks report while they act. The worker forwards these to the run's history and
 * webhooks; the simulator returns them per epoch. Epochs are 0-based, like Keras's hook arguments.
 */

/** Names of the callbacks that can end training early. */
export type StoppingCallback = 'EarlyStopping' | 'TerminateOnNaN';

/** EarlyStopping ran out of patience and set `stopTraining`. */
export interface EarlyStopEvent {
  type: 'early_stopping';
  epoch: number;
  /** The monitors that ran out of patience (one, or several with `stopWhen`). */
  monitors: string[];
  bestEpoch: number | null;
  bestValue: number | null;
  wait: number;
}

/** EarlyStopping put back the weights of its best epoch at train end. */
export interface WeightsRestoredEvent {
  type: 'weights_restored';
  /** The last epoch that ran. */
  epoch: number;
  /** The epoch whose end-of-epoch weights were restored. */
  fromEpoch: number;
}

/** The optimizer's learning rate changed; it applies from the next optimizer step. */
export interface LearningRateChangedEvent {
  type: 'learning_rate_changed';
  epoch: number;
  by: 'ReduceLROnPlateau' | 'LearningRateScheduler';
  from: number;
  to: number;
}

/** ModelCheckpoint handed a save to the model (and so to the artifact store). */
export interface CheckpointSavedEvent {
  type: 'checkpoint_saved';
  epoch: number;
  /** 0-based batch for `saveFreq: N` saves. */
  batch?: number;
  /** The formatted filepath template. */
  path: string;
  weightsOnly: boolean;
  /** Present when the save was a "best so far" save (saveBestOnly). */
  best?: { monitor: string; value: number; mode: 'min' | 'max' };
}

/** An alert rule's condition held at an epoch end. */
export interface AlertFiredEvent {
  type: 'alert_fired';
  epoch: number;
  /** The rule's name, or its `when` text when it has no name. */
  rule: string;
  when: string;
  format: 'json' | 'slack';
  /** Where to deliver it; absent means the job's webhook. */
  url?: string;
  /** The metrics the condition mentions, at this epoch. */
  values: Record<string, number>;
  /** A one-line human message (the Slack body's `text`). */
  text: string;
}

/** TerminateOnNaN saw a NaN or infinite batch loss and set `stopTraining`. */
export interface NanTerminatedEvent {
  type: 'nan_terminated';
  epoch: number;
  batch: number;
  loss: number;
}

/**
 * An observer callback (CSVLogger, alerts) failed. Reported once per callback, on its first
 * failure; later failures are only counted (`CallbackList.observerFailures`).
 */
export interface CallbackFailedEvent {
  type: 'callback_failed';
  callback: string;
  epoch: number | null;
  message: string;
}

export type CallbackEvent =
  | EarlyStopEvent
  | WeightsRestoredEvent
  | LearningRateChangedEvent
  | CheckpointSavedEvent
  | AlertFiredEvent
  | NanTerminatedEvent
  | CallbackFailedEvent;

/**
 * The contract lists the same events (`CallbackEvent`, a `oneOf` in openapi.yaml): this does not
 * compile when an event type is added on one side only.
 */
type ContractEventType = SchemaCallbackEvent['type'];
export const EVENT_TYPES_MATCH_CONTRACT: [Exclude<CallbackEvent['type'], ContractEventType>, Exclude<ContractEventType, CallbackEvent['type']>] extends [never, never] ? true : never = true;
