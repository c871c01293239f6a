import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkJobOutboundUrls, checkWebhookUrl, isForbiddenAddress, mayConnect, parseIp, parseOutboundAllow, NO_OUTBOUND_EXCEPTIONS } from '../../core/outbound-policy';

describe('isForbiddenAddress', () => {
  const forbidden = [
    '127.0.0.1', '127.255.255.254', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.1.1',
    '169.254.169.254', '169.254.0.1', '100.64.0.1', '0.0.0.0', '0.1.2.3', '224.0.0.1', '255.255.255.255', '198.18.0.1', '192.0.2.10',
    '::1', '::', '::ffff:127.0.0.1', '::ffff:169.254.169.254', '::ffff:a00:1', '::127.0.0.1', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0',
    'febf::1', 'ff02::1', '64:ff9b::a00:1', '64:ff9b::7f00:1', '2002:7f00:1::', '2002:a9fe:a9fe::1', '2001:db8::1', '2001:0:4136:e378::1', '100::1',
    'not-an-ip', '', '1.2.3', '01.2.3.4', '256.1.1.1', '1::2::3',
  ];
  const allowed = ['8.8.8.8', '1.1.1.1', '93.184.215.14', '172.32.0.1', '172.15.255.255', '100.128.0.1', '169.255.0.1', '2606:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'];
  for (const ip of forbidden) test(`forbids ${ip || "''"}`, () => assert.equal(isForbiddenAddress(ip), true));
  for (const ip of allowed) test(`allows ${ip}`, () => assert.equal(isForbiddenAddress(ip), false));
  test('accepts bracketed IPv6 as written in URLs', () => assert.equal(isForbiddenAddress('[::1]'), true));
});

describe('parseIp', () => {
  test('expands :: and embedded dotted quads', () => {
    assert.deepEqual([...parseIp('::ffff:1.2.3.4')!], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    assert.deepEqual([...parseIp('1:2:3:4:5:6:7:8')!].filter((_, i) => i % 2 === 1), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(parseIp('1:2:3:4:5:6:7:8:9'), null);
    assert.equal(parseIp('1.2.3.4::'), null);
  });
});

describe('parseOutboundAllow', () => {
  test('hosts, addresses and CIDRs, IPv4 and IPv6', () => {
    const { allow, problems } = parseOutboundAllow(' hooks.internal, *.corp.example ,127.0.0.1, 10.0.0.0/8,::1, fd00::/8,');
    assert.deepEqual(problems, []);
    assert.deepEqual(allow.hosts, ['hooks.internal', '*.corp.example']);
    assert.deepEqual(allow.cidrs.map((c) => `${c.text}|${c.prefix}`), ['127.0.0.1|32', '10.0.0.0/8|8', '::1|128', 'fd00::/8|8']);
  });
  test('reports every bad entry', () => {
    const { problems } = parseOutboundAllow('10.0.0.0/33,::/129,exa mple,10.0.0.0/x');
    assert.equal(problems.length, 4, problems.join('\n'));
  });
  test('empty or absent allows nothing', () => {
    assert.deepEqual(parseOutboundAllow(undefined).allow, NO_OUTBOUND_EXCEPTIONS);
    assert.deepEqual(parseOutboundAllow('').allow, NO_OUTBOUND_EXCEPTIONS);
  });
});

describe('mayConnect', () => {
  const { allow } = parseOutboundAllow('127.0.0.1,10.1.0.0/16,hooks.internal,*.corp.example,fd00::/8');
  const table: Array<[string, string, boolean]> = [
    ['example.com', '8.8.8.8', true],
    ['evil.example', '127.0.0.1', true], // the address is allow-listed, whatever the name
    ['evil.example', '127.0.0.2', false],
    ['evil.example', '10.1.2.3', true],
    ['evil.example', '10.2.0.1', false],
    ['evil.example', '::ffff:127.0.0.1', true], // mapped form of an allowed IPv4
    ['evil.example', '169.254.169.254', false],
    ['hooks.internal', '10.9.9.9', true],
    ['HOOKS.internal.', '10.9.9.9', true],
    ['a.b.corp.example', '192.168.0.1', true],
    ['corp.example', '192.168.0.1', false],
    ['x', 'fd00::5', true],
    ['x', 'fe80::5', false],
  ];
  for (const [host, ip, want] of table) test(`${host} → ${ip}: ${want}`, () => assert.equal(mayConnect(allow, host, ip), want));
});

describe('checkWebhookUrl', () => {
  const none = NO_OUTBOUND_EXCEPTIONS;
  const refused = [
    'http://127.0.0.1:8080/hook', 'http://10.0.0.7/hook', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/x', 'http://localhost/hook', 'http://LOCALHOST.:9/x', 'http://api.localhost/x',
    'http://2130706433/hook', 'http://0x7f.1/hook', 'http://0/hook', 'ftp://example.com/x', 'not a url',
  ];
  for (const url of refused) {
    test(`refuses ${url}`, () => {
      const p = checkWebhookUrl(url, none);
      assert.ok(p, 'expected a problem');
      assert.equal(p.pointer, '/webhook/url');
    });
  }
  test('accepts public addresses and names (names are checked again after DNS)', () => {
    assert.equal(checkWebhookUrl('https://hooks.example.com/kiln', none), null);
    assert.equal(checkWebhookUrl('http://8.8.8.8/x', none), null);
    assert.equal(checkWebhookUrl('http://internal.example/x', none), null);
  });
  test('allow-listed private targets pass, and only those', () => {
    const { allow } = parseOutboundAllow('127.0.0.1');
    assert.equal(checkWebhookUrl('http://127.0.0.1:8080/hook', allow), null);
    assert.equal(checkWebhookUrl('http://localhost:8080/hook', allow), null);
    assert.ok(checkWebhookUrl('http://10.0.0.7/hook', allow));
    assert.ok(checkWebhookUrl('http://[::1]/hook', allow));
  });
  test('uses the pointer it is given and explains the fix', () => {
    const p = checkWebhookUrl('http://10.0.0.1/', none, '/callbacks/alerts/rules/0/url');
    assert.equal(p?.pointer, '/callbacks/alerts/rules/0/url');
    assert.match(p!.detail, /KILN_OUTBOUND_ALLOW/);
  });
});

test('checkJobOutboundUrls reports the webhook and each alert URL at its pointer', () => {
  const spec = {
    webhook: { url: 'http://169.254.169.254/' },
    callbacks: { alerts: [{ url: 'https://hooks.slack.com/services/T/B/X' }, {}, { url: 'http://[fd00::1]/x' }] },
  };
  assert.deepEqual(checkJobOutboundUrls(spec, NO_OUTBOUND_EXCEPTIONS).map((p) => p.pointer), ['/webhook/url', '/callbacks/alerts/2/url']);
  assert.deepEqual(checkJobOutboundUrls(spec, parseOutboundAllow('169.254.169.254,fd00::/8').allow), []);
  assert.deepEqual(checkJobOutboundUrls({}, NO_OUTBOUND_EXCEPTIONS), []);
});
