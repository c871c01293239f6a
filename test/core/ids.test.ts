import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jobIdForRun, newJobIds, runIdForJob, ulid } from '../../core/ids';

describe('ulid', () => {
  test('encodes 48 bits of time and 80 random bits in Crockford base32 (vectors from the BigInt encoder it replaced)', () => {
    assert.equal(ulid(1764325200123, Buffer.from('0123456789abcdef0123', 'hex')), '01KB4ZM47V04HMASW9NF6YY093');
    assert.equal(ulid(1764325200123, Buffer.from('ff00ff00ff00ff00ff00', 'hex')), '01KB4ZM47VZW0FY07Z03ZG1ZR0');
    assert.equal(ulid(0, Buffer.alloc(10, 0)), '0'.repeat(26));
    assert.equal(ulid(2 ** 48 - 1, Buffer.alloc(10, 0xff)), 'Z'.repeat(26).replace(/^Z/, '7'));
  });

  test('ids drawn from the random pool are distinct across refills and sort by time', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => ulid(1764325200000 + i));
    assert.equal(new Set(ids.map((id) => id.slice(10))).size, ids.length, 'the 80 random bits repeat');
    assert.deepEqual([...ids].sort(), ids);
    for (const id of ids) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  test('a job id and its run id share the suffix', () => {
    const { jobId, runId } = newJobIds();
    assert.match(jobId, /^job_[0-9A-Z]{26}$/);
    assert.equal(runIdForJob(jobId), runId);
    assert.equal(jobIdForRun(runId), jobId);
  });
});
