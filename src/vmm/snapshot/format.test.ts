import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  CHECKSUM_BYTES, decodeStateFile, encodeStateFile, FORMAT_VERSION, HEADER_BYTES, MAX_SECTION_NAME_BYTES, type Section, SnapshotError,
} from './format.js';

const nameArb = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
const sectionsArb = fc.uniqueArray(fc.record({ name: nameArb, payload: fc.uint8Array({ maxLength: 300 }) }), { selector: (s) => s.name, maxLength: 12 });

const same = (a: readonly Section[], b: readonly Section[]): void => {
  assert.deepEqual(a.map((s) => [s.name, [...s.payload]]), b.map((s) => [s.name, [...s.payload]]));
};

test('round trip: decode(encode(sections)) gives the same sections in the same order', () => {
  fc.assert(fc.property(sectionsArb, (sections) => same(decodeStateFile(encodeStateFile(sections)), sections)));
});

test('every truncation is a typed error, never a crash or a partial result', () => {
  fc.assert(fc.property(sectionsArb, (sections) => {
    const file = encodeStateFile(sections);
    for (let n = 0; n < file.length; n++) {
      assert.throws(() => decodeStateFile(file.subarray(0, n)), (err) => err instanceof SnapshotError && /^ERR_SNAPSHOT_(TRUNCATED|NOT_A_SNAPSHOT|MALFORMED)$/.test(err.code));
    }
  }), { numRuns: 30 });
});

test('a change of any bit at any byte is refused with a typed error', () => {
  fc.assert(fc.property(sectionsArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (sections, at, bit) => {
    const file = encodeStateFile(sections).slice();
    const i = at % file.length;
    file[i]! ^= 1 << bit;
    assert.throws(() => decodeStateFile(file), (err) => err instanceof SnapshotError);
  }), { numRuns: 2000 });
});

test('corruption at every byte of one file: each is refused', () => {
  const file = encodeStateFile([{ name: 'meta', payload: new TextEncoder().encode('{"a":1}') }, { name: 'vcpu0.regs', payload: new Uint8Array(144).fill(7) }]);
  for (let i = 0; i < file.length; i++) {
    const bad = file.slice();
    bad[i]! ^= 0x5a;
    assert.throws(() => decodeStateFile(bad), (err) => err instanceof SnapshotError, `byte ${i}`);
  }
});

test('random bytes are never accepted, and decoding them allocates no large buffer', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
    assert.throws(() => decodeStateFile(bytes), (err) => err instanceof SnapshotError);
  }));
});

test('a file with a valid checksum but lying lengths is refused without reading out of bounds', () => {
  // Hand-built files whose checksum is right (so only the framing checks can catch them).
  const build = (body: Uint8Array, count: number, bodyLength = body.length): Uint8Array => {
    const file = new Uint8Array(HEADER_BYTES + body.length + CHECKSUM_BYTES);
    const v = new DataView(file.buffer);
    file.set(new TextEncoder().encode('TKVMSNAP'));
    v.setUint32(8, FORMAT_VERSION, true);
    v.setUint32(12, count, true);
    v.setBigUint64(16, BigInt(bodyLength), true);
    file.set(body, HEADER_BYTES);
    file.set(new Uint8Array(createHash('sha256').update(file.subarray(0, HEADER_BYTES + body.length)).digest()), HEADER_BYTES + body.length);
    return file;
  };
  const huge = new Uint8Array([4, 0x6d, 0x65, 0x74, 0x61, 0xff, 0xff, 0xff, 0x7f]); // "meta", 2 GiB payload
  assert.throws(() => decodeStateFile(build(huge, 1)), { code: 'ERR_SNAPSHOT_MALFORMED' });
  assert.throws(() => decodeStateFile(build(new Uint8Array(0), 4_000_000_000)), { code: 'ERR_SNAPSHOT_MALFORMED' });
  assert.throws(() => decodeStateFile(build(new Uint8Array(0), 1)), { code: 'ERR_SNAPSHOT_MALFORMED' });
  const badName = new Uint8Array([2, 0x41, 0x42, 0, 0, 0, 0]); // "AB": upper case is not allowed
  assert.throws(() => decodeStateFile(build(badName, 1)), { code: 'ERR_SNAPSHOT_MALFORMED' });
  const twice = new Uint8Array([1, 0x61, 0, 0, 0, 0, 1, 0x61, 0, 0, 0, 0]);
  assert.throws(() => decodeStateFile(build(twice, 2)), { code: 'ERR_SNAPSHOT_MALFORMED', message: /twice/ });
  assert.throws(() => decodeStateFile(build(new Uint8Array(0), 0, 1)), { code: 'ERR_SNAPSHOT_TRUNCATED' });
  const long = new Uint8Array([MAX_SECTION_NAME_BYTES + 1]);
  assert.throws(() => decodeStateFile(build(long, 1)), { code: 'ERR_SNAPSHOT_MALFORMED' });
});

test('another format version is refused by name, before the checksum is looked at', () => {
  const file = encodeStateFile([{ name: 'meta', payload: new Uint8Array(3) }]).slice();
  new DataView(file.buffer).setUint32(8, FORMAT_VERSION + 1, true);
  assert.throws(() => decodeStateFile(file), { code: 'ERR_SNAPSHOT_VERSION', message: `snapshot format version ${FORMAT_VERSION + 1}; this tkvm reads version ${FORMAT_VERSION} only` });
});

test('the encoder refuses what the decoder would refuse', () => {
  assert.throws(() => encodeStateFile([{ name: 'a', payload: new Uint8Array() }, { name: 'a', payload: new Uint8Array() }]), { code: 'ERR_SNAPSHOT_MALFORMED' });
  assert.throws(() => encodeStateFile([{ name: 'Bad', payload: new Uint8Array() }]), { code: 'ERR_SNAPSHOT_MALFORMED' });
});
