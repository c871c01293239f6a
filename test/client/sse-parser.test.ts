import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, type SseMessage } from '../../client/sse-parser';

const STREAM = 'event: status\nid: -1\ndata: {"status":"queued"}\n\n: keep-alive\n\nevent: epoch\r\nid: 0\r\ndata: {"epoch":0}\r\n\r\ndata:first\ndata: second\n\nevent: end\rid: 0\rdata: {}\r\r';
const EXPECTED: SseMessage[] = [
  { event: 'status', id: '-1', data: '{"status":"queued"}' },
  { event: 'epoch', id: '0', data: '{"epoch":0}' },
  // No event name: "message"; the id carries over; data lines join with \n; one leading space dropped.
  { event: 'message', id: '0', data: 'first\nsecond' },
  { event: 'end', id: '0', data: '{}' },
];

test('parses LF, CRLF and CR line endings, comments, multi-line data and carried-over ids', () => {
  assert.deepEqual(new SseParser().push(STREAM), EXPECTED);
});

test('gives the same messages however the stream is cut into chunks (including between CR and LF)', () => {
  for (let size = 1; size <= 7; size++) {
    const parser = new SseParser();
    const got: SseMessage[] = [];
    for (let i = 0; i < STREAM.length; i += size) got.push(...parser.push(STREAM.slice(i, i + size)));
    assert.deepEqual(got, EXPECTED, `chunks of ${size}`);
  }
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: a\r'), []);
  assert.deepEqual(parser.push('\n\r\n'), [{ event: 'message', id: '', data: 'a' }], 'a CRLF split across chunks is one line end');
});

test('does not dispatch a message without data or an unfinished one; records retry; ignores ids with NUL', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('event: status\nid: 4\n\nretry: 250\nid: a\0b\ndata: x'), []);
  assert.equal(parser.lastEventId, '4');
  assert.equal(parser.retryMs, 250);
  assert.deepEqual(parser.push('\n\n'), [{ event: 'message', id: '4', data: 'x' }]);
});
