import type { RemoteMonitorRequest, RemoteMonitorSender } from '../../core/callbacks/remote-monitor';
import type { OutboundAllow } from '../../core/outbound-policy';
import { safePost } from './safe-request';

/** Keras's RemoteMonitor posts with `requests.post(..., timeout=10)`: the same bound per epoch. */
export const REMOTE_MONITOR_TIMEOUT_MS = 10_000;

/**
 * Sends a job's RemoteMonitor posts through the same outbound policy as webhooks (SSRF guard,
 * `KILN_OUTBOUND_ALLOW`, no redirects). Like `requests.post` without `raise_for_status`, any HTTP
 * answer counts as sent; a refused address or a network error rejects, which RemoteMonitor turns
 * into Keras's "Could not reach RemoteMonitor root server" warning.
 */
export function remoteMonitorSender(allow: OutboundAllow, timeoutMs = REMOTE_MONITOR_TIMEOUT_MS): RemoteMonitorSender {
  return {
    async send(request: RemoteMonitorRequest): Promise<void> {
      const outcome = await safePost(request.url, request.body, { allow, timeoutMs, headers: request.headers });
      if (outcome.kind !== 'response') throw new Error(`RemoteMonitor post to ${request.url} ${outcome.kind}: ${outcome.reason}`);
    },
  };
}
