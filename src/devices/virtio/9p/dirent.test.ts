import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fileName, qid, u32, u8 } from '../../../testing/9p-arbitraries.js';
import { decodeDirents, type Dirent, DIRENT_FIXED_SIZE, writeDirent } from './dirent.js';
import { NinePWireError } from './errors.js';

const dirent = fc.record({ qid, offsetLo: u32, offsetHi: u32, dtype: u8, name: fc.oneof(fileName, fc.constantFrom('.', '..')) }, { noNullPrototype: true });

function pack(entries: Dirent[], limit: number): [Uint8Array, number] {
  const out = new Uint8Array(limit);
  let p = 0;
  let n = 0;
  for (const e of entries) {
    const next = writeDirent(out, p, limit, e.qid, e.offsetLo, e.offsetHi, e.dtype, e.name);
    if (next < 0) break;
    p = next;
    n++;
  }
  return [out.subarray(0, p), n];
}

test('directory entries round-trip, and the ones that do not fit are left out whole', () => {
  fc.assert(fc.property(fc.array(dirent, { maxLength: 20 }), fc.integer({ min: 0, max: 600 }), (entries, limit) => {
    const [bytes, n] = pack(entries, limit);
    assert.deepEqual(decodeDirents(bytes), entries.slice(0, n));
    if (n < entries.length) {
      const e = entries[n]!;
      assert.ok(bytes.length + DIRENT_FIXED_SIZE + new TextEncoder().encode(e.name).length > limit);
    }
  }), { numRuns: 300 });
});

test('truncated or bad entries are errors, never throws', () => {
  fc.assert(fc.property(fc.array(dirent, { minLength: 1, maxLength: 5 }), (entries) => {
    const [bytes] = pack(entries, 4096);
    for (let k = 1; k < bytes.length; k++) {
      const got = decodeDirents(bytes.subarray(0, k));
      if (!(got instanceof NinePWireError)) assert.ok(got.length < entries.length);
    }
  }), { numRuns: 100 });
  const [bytes] = pack([{ qid: { type: 0, version: 0, pathLo: 1, pathHi: 0 }, offsetLo: 1, offsetHi: 0, dtype: 8, name: 'a/b' }], 100);
  const got = decodeDirents(bytes);
  assert.ok(got instanceof NinePWireError && got.code === 'ERR_9P_BAD_NAME');
});
