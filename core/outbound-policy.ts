/**
 * Which addresses Kiln may connect to on a caller's behalf (webhooks, dataset URLs). Pure: the
 * worker's connect-time guard (`worker/webhooks/safe-request.ts`) and the API's submission check
 * both decide with these functions, so the string check and the post-DNS check cannot disagree.
 *
 * Addresses are handled as bytes, parsed here rather than with `node:net`, because `core/` does no
 * I/O and imports no Node networking module.
 */
import type { FieldProblem } from './errors';

/** An address as network-order bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

/** One CIDR block of the allow-list (a bare address is a /32 or /128). */
export interface Cidr {
  bytes: IpBytes;
  prefix: number;
  /** As written, for messages. */
  text: string;
}

/** The parsed `KILN_OUTBOUND_ALLOW`: host names (exact or `*.suffix`) and CIDR blocks. */
export interface OutboundAllow {
  hosts: string[];
  cidrs: Cidr[];
}

/** An allow-list that permits nothing private: the default. */
export const NO_OUTBOUND_EXCEPTIONS: OutboundAllow = { hosts: [], cidrs: [] };

/**
 * Parses a comma-separated allow-list: host names (`hooks.internal`, `*.corp.example`), addresses
 * (`127.0.0.1`, `::1`) and CIDR blocks (`10.0.0.0/8`, `fd00::/8`). Every unusable entry is
 * reported, so a deployment learns all of its mistakes at once.
 */
export function parseOutboundAllow(text: string | undefined): { allow: OutboundAllow; problems: string[] } {
  const allow: OutboundAllow = { hosts: [], cidrs: [] };
  const problems: string[] = [];
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const slash = entry.indexOf('/');
    const addrText = slash === -1 ? entry : entry.slice(0, slash);
    const bytes = parseIp(stripBrackets(addrText));
    if (bytes) {
      const max = bytes.length * 8;
      const prefixText = slash === -1 ? String(max) : entry.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (!(prefix >= 0 && prefix <= max)) {
        problems.push(`'${entry}': the prefix length must be 0 to ${max}`);
        continue;
      }
      allow.cidrs.push({ bytes, prefix, text: entry });
    } else if (slash === -1 && isHostPattern(entry)) {
      allow.hosts.push(normalizeHost(entry));
    } else {
      problems.push(`'${entry}' is neither a host name, an IP address nor a CIDR block`);
    }
  }
  return { allow, problems };
}

/**
 * Parses an IPv4 dotted quad or an IPv6 address (with `::`, an embedded dotted quad, or a zone id)
 * into bytes; null for anything else. Deliberately strict for IPv4 (no octal, hex or short forms):
 * the WHATWG URL parser has already normalised those in URLs, and getaddrinfo returns dotted quads.
 */
export function parseIp(text: string): IpBytes | null {
  return parseIPv4(text) ?? parseIPv6(text);
}

function parseIPv4(text: string): IpBytes | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith('0')))) return null;
  return Uint8Array.from(parts);
}

function parseIPv6(input: string): IpBytes | null {
  const text = input.replace(/%[^%]+$/, '');
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(':')) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  // An embedded dotted quad is only valid at the very end of the address.
  if (halves.length === 2 && halves[0].includes('.')) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function cidr(text: string): Cidr {
  const [addr, prefix] = text.split('/');
  return { bytes: parseIp(addr)!, prefix: Number(prefix), text };
}

/**
 * Ranges no outbound request may reach by default. IPv4 from the IANA special-purpose registry
 * (RFC 6890 and successors); IPv6 likewise. The IPv6 forms that carry an IPv4 address (mapped,
 * NAT64, 6to4) are judged by that address instead, so they are not listed here.
 */
const FORBIDDEN_V4 = [
  '0.0.0.0/8', // "this network"; 0.0.0.0 reaches the local host on Linux
  '10.0.0.0/8',
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8',
  '169.254.0.0/16', // link-local, including the cloud metadata service 169.254.169.254
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, including the broadcast address
].map(cidr);

const FORBIDDEN_V6 = [
  '::/96', // unspecified, loopback and the deprecated IPv4-compatible form
  '64:ff9b:1::/48', // local-use NAT64
  '100::/64', // discard-only
  '2001::/32', // Teredo: the IPv4 address inside is obfuscated, so refuse the lot
  '2001:2::/48',
  '2001:db8::/32',
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'fec0::/10', // deprecated site-local
  'ff00::/8', // multicast
].map(cidr);

/** The IPv4 address an IPv6 address stands for (mapped, NAT64 well-known prefix, 6to4), if any. */
function embeddedIPv4(b: IpBytes): IpBytes | null {
  if (b.length !== 16) return null;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return b.slice(12, 16);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return b.slice(12, 16);
  if (b[0] === 0x20 && b[1] === 0x02) return b.slice(2, 6);
  return null;
}

function inCidr(b: IpBytes, c: Cidr): boolean {
  if (b.length !== c.bytes.length) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((b[i] & mask) !== (c.bytes[i] & mask)) return false;
  }
  return true;
}

/**
 * Whether `ip` is an address Kiln must not connect to without an allow-list entry: private,
 * loopback, link-local (incl. 169.254.169.254), carrier-grade NAT, unique-local, multicast,
 * documentation and reserved ranges, and IPv6 forms wrapping any of those. Anything that does not
 * parse as an address is forbidden too (fail closed).
 */
export function isForbiddenAddress(ip: string): boolean {
  const b = parseIp(stripBrackets(ip));
  if (!b) return true;
  return forbiddenBytes(b);
}

function forbiddenBytes(b: IpBytes): boolean {
  const v4 = b.length === 4 ? b : embeddedIPv4(b);
  if (v4) return FORBIDDEN_V4.some((c) => inCidr(v4, c));
  return FORBIDDEN_V6.some((c) => inCidr(b, c));
}

/** Whether the allow-list names this host (exactly, or through a `*.suffix` entry). */
export function isAllowedHost(allow: OutboundAllow, host: string): boolean {
  const h = normalizeHost(host);
  return allow.hosts.some((e) => (e.startsWith('*.') ? h.endsWith(e.slice(1)) : h === e));
}

/** Whether an allow-list CIDR covers this address (an IPv4-mapped IPv6 address counts as its IPv4). */
export function isAllowedAddress(allow: OutboundAllow, ip: string): boolean {
  const b = parseIp(stripBrackets(ip));
  if (!b) return false;
  const v4 = b.length === 16 ? mappedIPv4(b) : null;
  return allow.cidrs.some((c) => inCidr(b, c) || (v4 !== null && inCidr(v4, c)));
}

function mappedIPv4(b: IpBytes): IpBytes | null {
  return b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff ? b.slice(12, 16) : null;
}

/**
 * The connect-time decision: may a request for `host` go to the resolved address `ip`? Yes when
 * the address is public, or the allow-list names the host or covers the address.
 */
export function mayConnect(allow: OutboundAllow, host: string, ip: string): boolean {
  return !isForbiddenAddress(ip) || isAllowedHost(allow, host) || isAllowedAddress(allow, ip);
}

/**
 * Submission-time check of a webhook (or alert) URL: refuses literal forbidden addresses and the
 * `localhost` names unless allow-listed. Other host names are accepted here and checked again
 * after DNS resolution at delivery, where a name resolving to a forbidden address fails.
 */
export function checkWebhookUrl(url: string, allow: OutboundAllow, pointer = '/webhook/url'): FieldProblem | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { pointer, detail: 'must be an absolute http:// or https:// URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { pointer, detail: `must use http or https, not ${parsed.protocol.replace(/:$/, '')}` };
  }
  // The URL parser has normalised numeric hosts (2130706433, 0x7f.1) to dotted quads already.
  const host = stripBrackets(parsed.hostname);
  if (isAllowedHost(allow, host)) return null;
  const refuse = (what: string) => ({
    pointer,
    detail: `${what}; Kiln does not send to private, loopback or link-local addresses unless KILN_OUTBOUND_ALLOW lists them`,
  });
  if (parseIp(host)) {
    return mayConnect(allow, host, host) ? null : refuse(`${parsed.hostname} is a private or reserved address`);
  }
  const name = normalizeHost(host);
  if (name === 'localhost' || name.endsWith('.localhost')) {
    return isAllowedAddress(allow, '127.0.0.1') || isAllowedAddress(allow, '::1') ? null : refuse(`${name} is the local host`);
  }
  return null;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

function isHostPattern(entry: string): boolean {
  return /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(entry);
}

/**
 * Every URL of a job spec Kiln will POST to (the webhook, alert rules' own URLs, RemoteMonitor's), checked with
 * `checkWebhookUrl` at their JSON pointers. For `checkJobSpec`.
 */
export function checkJobOutboundUrls(
  spec: { webhook?: { url: string } | null; callbacks?: { alerts?: Array<{ url?: string }>; remoteMonitor?: { root?: string; path?: string } } | null },
  allow: OutboundAllow,
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (spec.webhook) {
    const p = checkWebhookUrl(spec.webhook.url, allow, '/webhook/url');
    if (p) problems.push(p);
  }
  (spec.callbacks?.alerts ?? []).forEach((rule, i) => {
    if (rule.url === undefined) return;
    const p = checkWebhookUrl(rule.url, allow, `/callbacks/alerts/${i}/url`);
    if (p) problems.push(p);
  });
  const rm = spec.callbacks?.remoteMonitor;
  if (rm) {
    // Keras's defaults; the request goes to root + path, so that is what the policy judges.
    const p = checkWebhookUrl((rm.root ?? 'http://localhost:9000') + (rm.path ?? '/publish/epoch/end/'), allow, '/callbacks/remoteMonitor/root');
    if (p) problems.push(p);
  }
  return problems;
}
