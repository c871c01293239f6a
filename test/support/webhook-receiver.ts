import { startScriptedReceiver, type ScriptedRequest } from './scripted-receiver';

export type ReceivedWebhook = ScriptedRequest;

/** A real HTTP server on loopback that records every POST and answers with `status`. */
export async function startWebhookReceiver(status = 204) {
  const receiver = await startScriptedReceiver(() => ({ status }));
  return {
    ...receiver,
    /** Resolves once `count` deliveries have arrived (training jobs take a while: 60 s by default). */
    waitFor: (count: number, timeoutMs = 60000): Promise<ReceivedWebhook[]> => receiver.waitFor(count, timeoutMs),
  };
}
