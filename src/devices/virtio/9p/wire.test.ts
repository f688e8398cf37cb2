import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rMessages, T_STRING_FIELDS, tMessages } from '../../../testing/9p-arbitraries.js';
import { NinePWireError } from './errors.js';
import { MessageType as M, type RMessage, type TMessage, TWRITE_HEADER_SIZE, RREAD_HEADER_SIZE } from './messages.js';
import { decodeRMessage, decodeTMessage, encodeRMessage, encodeTMessage, writeDataReplyHeader, writeRlerror } from './wire.js';

const RUNS = { numRuns: 150 };

function encodeR(m: RMessage): Uint8Array {
  const out = new Uint8Array(4096);
  const n = encodeRMessage(m, out);
  assert.ok(n > 0);
  return out.slice(0, n);
}

function isError(x: unknown): x is NinePWireError {
  return x instanceof NinePWireError;
}

function withSize(bytes: Uint8Array, size: number): Uint8Array {
  const b = bytes.slice();
  new DataView(b.buffer).setUint32(0, size >>> 0, true);
  return b;
}

const dataTypes = new Set<number>([M.Twrite, M.Rread, M.Rreaddir]);

// --- Round trips ---------------------------------------------------------------

for (const [name, arb] of Object.entries(tMessages)) {
  test(`${name}: decode(encode(m)) is m; every truncation is an error`, () => {
    fc.assert(fc.property(arb, (m) => {
      const bytes = encodeTMessage(m);
      assert.deepEqual(decodeTMessage(bytes), m);
      for (let k = 0; k < bytes.length; k++) {
        const cut = bytes.subarray(0, k);
        const alone = decodeTMessage(cut);
        assert.ok(isError(alone), `${name} cut to ${k} of ${bytes.length} decoded`);
        const claimed = decodeTMessage(cut, { totalLength: bytes.length });
        if (m.type === M.Twrite && k === TWRITE_HEADER_SIZE) {
          assert.deepEqual(claimed, { ...m, data: null });
        } else {
          assert.ok(isError(claimed), `${name} cut to ${k} with the full length claimed decoded`);
          assert.equal(claimed.code, 'ERR_9P_TRUNCATED');
        }
      }
    }), RUNS);
  });
}

for (const [name, arb] of Object.entries(rMessages)) {
  test(`${name}: decode(encode(m)) is m; every truncation is an error`, () => {
    fc.assert(fc.property(arb, (m) => {
      const bytes = encodeR(m);
      assert.deepEqual(decodeRMessage(bytes), m);
      for (let k = 0; k < bytes.length; k++) {
        assert.ok(isError(decodeRMessage(bytes.subarray(0, k))));
        const claimed = decodeRMessage(bytes.subarray(0, k), { totalLength: bytes.length });
        if (dataTypes.has(m.type) && k === RREAD_HEADER_SIZE) assert.deepEqual(claimed, { ...m, data: null });
        else assert.ok(isError(claimed) && claimed.code === 'ERR_9P_TRUNCATED');
      }
      // An output one byte short of the reply refuses it rather than overflowing.
      const short = new Uint8Array(bytes.length + 8).fill(0xee);
      assert.equal(encodeRMessage(m, short.subarray(0, bytes.length - 1)), -1);
      assert.ok(short.subarray(bytes.length - 1).every((b) => b === 0xee));
    }), RUNS);
  });
}

const anyT = fc.oneof(...Object.values(tMessages));
const anyR = fc.oneof(...Object.values(rMessages));

test('a size field that disagrees with the message length is ERR_9P_BAD_SIZE', () => {
  fc.assert(fc.property(anyT, fc.integer({ min: 0, max: 0xffff_ffff }), (m, size) => {
    const bytes = encodeTMessage(m);
    fc.pre(size !== bytes.length);
    const got = decodeTMessage(withSize(bytes, size));
    assert.ok(isError(got));
    assert.equal(got.code, 'ERR_9P_BAD_SIZE');
    assert.equal(got.tag, m.tag);
  }), RUNS);
});

test('a message longer than the negotiated msize is refused', () => {
  fc.assert(fc.property(anyT, (m) => {
    const bytes = encodeTMessage(m);
    const got = decodeTMessage(bytes, { maxSize: bytes.length - 1 });
    assert.ok(isError(got) && got.code === 'ERR_9P_BAD_SIZE');
    assert.deepEqual(decodeTMessage(bytes, { maxSize: bytes.length }), m);
  }), RUNS);
});

test('trailing bytes after the last field are ERR_9P_BAD_SIZE', () => {
  fc.assert(fc.property(anyT, fc.uint8Array({ minLength: 1, maxLength: 16 }), (m, extra) => {
    const bytes = encodeTMessage(m);
    const longer = new Uint8Array(bytes.length + extra.length);
    longer.set(bytes);
    longer.set(extra, bytes.length);
    const got = decodeTMessage(withSize(longer, longer.length));
    // Twrite's count covers exactly its data: more bytes are trailing too.
    assert.ok(isError(got) && got.code === 'ERR_9P_BAD_SIZE', `${m.type}`);
  }), RUNS);
});

test('R-messages sent to the server and unknown types are ERR_9P_UNKNOWN_TYPE with the tag', () => {
  fc.assert(fc.property(anyR, (m) => {
    const got = decodeTMessage(encodeR(m));
    assert.ok(isError(got) && got.code === 'ERR_9P_UNKNOWN_TYPE');
    assert.equal(got.tag, m.tag);
    assert.equal(got.messageType, m.type);
  }), RUNS);
  for (const type of [0, 6, 102, 106, 112, 114, 124, 126, 255]) {
    const got = decodeTMessage(Uint8Array.of(7, 0, 0, 0, type, 0x34, 0x12));
    assert.ok(isError(got) && got.code === 'ERR_9P_UNKNOWN_TYPE' && got.tag === 0x1234, `type ${type}`);
  }
});

// --- Oversize counts ---------------------------------------------------------------

test('Twalk with more than 16 names is ERR_9P_TOO_MANY_NAMES (any nwname up to 65535)', () => {
  fc.assert(fc.property(fc.integer({ min: 17, max: 0xffff }), fc.integer({ min: 0, max: 20 }), (nwname, present) => {
    const names = Array.from({ length: present }, (_, i) => `n${i}`);
    const bytes = encodeTMessage({ type: M.Twalk, tag: 1, fid: 1, newfid: 2, names });
    new DataView(bytes.buffer).setUint16(15, nwname, true);
    const got = decodeTMessage(bytes);
    assert.ok(isError(got) && got.code === 'ERR_9P_TOO_MANY_NAMES');
  }), RUNS);
  const sixteen = Array.from({ length: 16 }, (_, i) => `n${i}`);
  const ok = decodeTMessage(encodeTMessage({ type: M.Twalk, tag: 1, fid: 1, newfid: 2, names: sixteen }));
  assert.ok(!isError(ok) && ok.type === M.Twalk && ok.names.length === 16);
});

test('Rwalk with more than 16 qids is refused', () => {
  const bytes = encodeR({ type: M.Rwalk, tag: 3, qids: [] });
  new DataView(bytes.buffer).setUint16(7, 17, true);
  const got = decodeRMessage(bytes);
  assert.ok(isError(got) && got.code === 'ERR_9P_TOO_MANY_NAMES');
});

test('a string length past the end of the message is ERR_9P_TRUNCATED', () => {
  fc.assert(fc.property(fc.constantFrom(...Object.keys(T_STRING_FIELDS)), fc.integer({ min: 1, max: 0xffff }), (name, excess) => {
    const [field] = T_STRING_FIELDS[name]![0]!;
    const m = placeholderMessage(name, field, 4);
    const bytes = encodeTMessage(m);
    const at = findPlaceholder(bytes, 4) - 2;
    const len = Math.min(0xffff, 4 + excess + (bytes.length - at));
    new DataView(bytes.buffer).setUint16(at, len, true);
    const got = decodeTMessage(bytes);
    assert.ok(isError(got) && got.code === 'ERR_9P_TRUNCATED', `${name}.${field} len ${len}`);
  }), RUNS);
});

test('a data count larger than the message is ERR_9P_COUNT_TOO_LARGE, even with the data elsewhere', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 32 }), fc.integer({ min: 1, max: 0x7fff_ffff }), (data, excess) => {
    const bytes = encodeTMessage({ type: M.Twrite, tag: 9, fid: 1, offset: 0, count: data.length, data });
    new DataView(bytes.buffer).setUint32(19, data.length + excess, true);
    const inline = decodeTMessage(bytes);
    assert.ok(isError(inline) && inline.code === 'ERR_9P_COUNT_TOO_LARGE');
    const headerOnly = decodeTMessage(bytes.subarray(0, TWRITE_HEADER_SIZE), { totalLength: bytes.length });
    assert.ok(isError(headerOnly) && headerOnly.code === 'ERR_9P_COUNT_TOO_LARGE');
    const rread = encodeR({ type: M.Rread, tag: 9, count: data.length, data });
    new DataView(rread.buffer).setUint32(7, data.length + excess, true);
    const r = decodeRMessage(rread);
    assert.ok(isError(r) && r.code === 'ERR_9P_COUNT_TOO_LARGE');
  }), RUNS);
});

// --- Bad strings ---------------------------------------------------------------------

/** A message of kind `name` whose string field `field` is `len` bytes of 0x01 and whose other strings are plain. */
function placeholderMessage(name: string, field: string, len: number): TMessage {
  const base = fc.sample(tMessages[name]!, { numRuns: 1, seed: 7 })[0]! as unknown as Record<string, unknown>;
  const m: Record<string, unknown> = { ...base };
  for (const [f] of T_STRING_FIELDS[name]!) m[f] = 'a';
  m[field] = '\x01'.repeat(len);
  return m as unknown as TMessage;
}

function findPlaceholder(bytes: Uint8Array, len: number): number {
  for (let i = 0; i + len <= bytes.length; i++) {
    if (bytes.subarray(i, i + len).every((b) => b === 1) && bytes[i - 2] === len && bytes[i - 1] === 0) return i;
  }
  throw new Error('placeholder not found');
}

const INVALID_UTF8: Uint8Array[] = [
  Uint8Array.of(0xff), Uint8Array.of(0x80), Uint8Array.of(0xc0, 0x80), Uint8Array.of(0xe0, 0x80, 0x80),
  Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xf4, 0x90, 0x80, 0x80), Uint8Array.of(0x61, 0xc3), Uint8Array.of(0xf8, 0x88, 0x80, 0x80, 0x80),
];

const stringFields = Object.entries(T_STRING_FIELDS).flatMap(([name, fields]) => fields.map(([field, isName]) => ({ name, field, isName })));

test('invalid UTF-8 or a NUL in any string field is ERR_9P_BAD_STRING', () => {
  const bad = fc.oneof(
    fc.constantFrom(...INVALID_UTF8),
    fc.tuple(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 })).map(([a, b]) => Uint8Array.from([...a.filter((x) => x !== 0x2f && x < 0x80), 0, ...b.filter((x) => x !== 0x2f && x < 0x80)])),
  );
  fc.assert(fc.property(fc.constantFrom(...stringFields), bad, ({ name, field }, badBytes) => {
    const bytes = encodeTMessage(placeholderMessage(name, field, badBytes.length));
    bytes.set(badBytes, findPlaceholder(bytes, badBytes.length));
    const got = decodeTMessage(bytes);
    assert.ok(isError(got) && got.code === 'ERR_9P_BAD_STRING', `${name}.${field}: ${isError(got) ? got.code : 'decoded'}`);
  }), RUNS);
});

test("a '/' or an empty name where a file name is expected is ERR_9P_BAD_NAME; elsewhere '/' is fine", () => {
  fc.assert(fc.property(fc.constantFrom(...stringFields), fc.constantFrom('/', 'a/b', '../x', 'x/', ''), ({ name, field, isName }, value) => {
    const m = placeholderMessage(name, field, 1) as unknown as Record<string, unknown>;
    m[field] = value;
    const got = decodeTMessage(encodeTMessage(m as unknown as TMessage));
    if (isName) assert.ok(isError(got) && got.code === 'ERR_9P_BAD_NAME', `${name}.${field} = ${JSON.stringify(value)}`);
    else assert.deepEqual(got, m);
  }), RUNS);
  for (const bad of ['a/b', '', '/']) {
    const got = decodeTMessage(encodeTMessage({ type: M.Twalk, tag: 1, fid: 0, newfid: 1, names: ['ok', bad] }));
    assert.ok(isError(got) && got.code === 'ERR_9P_BAD_NAME');
  }
  // '.' and '..' are names; the server, not the codec, decides what they mean.
  assert.ok(!isError(decodeTMessage(encodeTMessage({ type: M.Twalk, tag: 1, fid: 0, newfid: 1, names: ['.', '..'] }))));
});

// --- Hostile bytes ---------------------------------------------------------------------

test('random and mutated bytes never throw, and whatever decodes re-encodes to the same bytes', () => {
  const mutated = fc.tuple(anyT, fc.array(fc.tuple(fc.nat(), u8Arb()), { minLength: 1, maxLength: 4 })).map(([m, edits]) => {
    const b = encodeTMessage(m);
    for (const [at, value] of edits) b[at % b.length] = value;
    return b;
  });
  const random = fc.uint8Array({ minLength: 0, maxLength: 80 }).map((b) => (b.length >= 4 ? withSize(b, b.length) : b));
  fc.assert(fc.property(fc.oneof(mutated, random), (bytes) => {
    const got = decodeTMessage(bytes);
    if (isError(got)) {
      assert.match(got.code, /^ERR_9P_/);
      return;
    }
    if (!allSafe(got)) return;
    assert.deepEqual(encodeTMessage(got), bytes);
  }), { numRuns: 2000 });
});

function u8Arb() {
  return fc.integer({ min: 0, max: 255 });
}

/** True when every Number in `m` is a safe integer (u64 fields above 2^53 decode rounded). */
function allSafe(m: object): boolean {
  return Object.values(m).every((v) => (typeof v === 'number' ? Number.isSafeInteger(v) : typeof v === 'object' && v !== null && !(v instanceof Uint8Array) ? allSafe(v) : true));
}

test('u64 fields at or above 2^53 decode to values a safe-integer check rejects; negative i64 round-trips', () => {
  const bytes = encodeTMessage({ type: M.Tread, tag: 1, fid: 2, offset: 0, count: 4096 });
  bytes.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 11);
  const got = decodeTMessage(bytes);
  assert.ok(!isError(got) && got.type === M.Tread);
  assert.ok(!Number.isSafeInteger(got.offset) && got.offset >= 2 ** 53);
  bytes.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00], 11);
  const max = decodeTMessage(bytes);
  assert.ok(!isError(max) && max.type === M.Tread && max.offset === Number.MAX_SAFE_INTEGER);
  const setattr = { type: M.Tsetattr, tag: 1, fid: 1, valid: 0x10, mode: 0, uid: 0, gid: 0, size: 0, atimeSec: -1, atimeNsec: 5, mtimeSec: -(2 ** 40), mtimeNsec: 0 } as const;
  const enc = encodeTMessage(setattr);
  assert.deepEqual([...enc.subarray(35, 43)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual(decodeTMessage(enc), setattr);
});

// --- Layouts against hand-assembled bytes ----------------------------------------------

/** Little-endian bytes of `n` in `width` bytes (Numbers; 8-byte values below 2^53). */
function le(n: number, width: number): number[] {
  return Array.from({ length: width }, (_, i) => Math.floor(n / 2 ** (8 * i)) % 256);
}
function str(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...le(b.length, 2), ...b];
}
function msg(type: number, tag: number, body: number[]): Uint8Array {
  return Uint8Array.from([...le(7 + body.length, 4), type, ...le(tag, 2), ...body]);
}

test('layouts match the 9P2000.L descriptions byte for byte', () => {
  const qidBytes = [0x80, ...le(7, 4), ...le(0x1234_5678, 4), ...le(0x9abc, 4)];
  const qid = { type: 0x80, version: 7, pathLo: 0x1234_5678, pathHi: 0x9abc };
  // Linux's first message: Tversion msize=512000 "9P2000.L".
  assert.deepEqual([...encodeTMessage({ type: M.Tversion, tag: 0xffff, msize: 512000, version: '9P2000.L' })],
    [21, 0, 0, 0, 100, 0xff, 0xff, 0x00, 0xd0, 0x07, 0x00, ...str('9P2000.L')]);
  const cases: [TMessage, Uint8Array][] = [
    [{ type: M.Tattach, tag: 1, fid: 0, afid: 0xffff_ffff, uname: 'root', aname: '', nUname: 0 }, msg(104, 1, [...le(0, 4), ...le(0xffff_ffff, 4), ...str('root'), ...str(''), ...le(0, 4)])],
    [{ type: M.Twalk, tag: 2, fid: 0, newfid: 1, names: ['usr', 'bin'] }, msg(110, 2, [...le(0, 4), ...le(1, 4), ...le(2, 2), ...str('usr'), ...str('bin')])],
    [{ type: M.Tread, tag: 3, fid: 1, offset: 2 ** 40 + 5, count: 4096 }, msg(116, 3, [...le(1, 4), ...le(2 ** 40 + 5, 8), ...le(4096, 4)])],
    [{ type: M.Twrite, tag: 4, fid: 1, offset: 9, count: 2, data: Uint8Array.of(0xaa, 0xbb) }, msg(118, 4, [...le(1, 4), ...le(9, 8), ...le(2, 4), 0xaa, 0xbb])],
    [{ type: M.Tgetattr, tag: 5, fid: 1, requestMaskLo: 0x3fff, requestMaskHi: 0 }, msg(24, 5, [...le(1, 4), ...le(0x3fff, 8)])],
    [{ type: M.Tlcreate, tag: 6, fid: 1, name: 'f', flags: 0o100102, mode: 0o644, gid: 100 }, msg(14, 6, [...le(1, 4), ...str('f'), ...le(0o100102, 4), ...le(0o644, 4), ...le(100, 4)])],
    [{ type: M.Tsetattr, tag: 7, fid: 1, valid: 1, mode: 0o755, uid: 1, gid: 2, size: 3, atimeSec: 4, atimeNsec: 5, mtimeSec: 6, mtimeNsec: 7 },
      msg(26, 7, [...le(1, 4), ...le(1, 4), ...le(0o755, 4), ...le(1, 4), ...le(2, 4), ...le(3, 8), ...le(4, 8), ...le(5, 8), ...le(6, 8), ...le(7, 8)])],
    [{ type: M.Tlock, tag: 8, fid: 1, lockType: 1, flags: 1, start: 10, length: 20, procId: 42, clientId: 'host' },
      msg(52, 8, [...le(1, 4), 1, ...le(1, 4), ...le(10, 8), ...le(20, 8), ...le(42, 4), ...str('host')])],
    [{ type: M.Tgetlock, tag: 9, fid: 1, lockType: 0, start: 1, length: 2, procId: 3, clientId: 'c' }, msg(54, 9, [...le(1, 4), 0, ...le(1, 8), ...le(2, 8), ...le(3, 4), ...str('c')])],
    [{ type: M.Trenameat, tag: 10, oldDfid: 1, oldName: 'a', newDfid: 2, newName: 'b' }, msg(74, 10, [...le(1, 4), ...str('a'), ...le(2, 4), ...str('b')])],
    [{ type: M.Tsymlink, tag: 11, dfid: 1, name: 'l', target: '../t', gid: 5 }, msg(16, 11, [...le(1, 4), ...str('l'), ...str('../t'), ...le(5, 4)])],
    [{ type: M.Tmknod, tag: 12, dfid: 1, name: 'n', mode: 0o10644, major: 1, minor: 2, gid: 3 }, msg(18, 12, [...le(1, 4), ...str('n'), ...le(0o10644, 4), ...le(1, 4), ...le(2, 4), ...le(3, 4)])],
    [{ type: M.Txattrcreate, tag: 13, fid: 1, name: 'user.x', attrSize: 3, flags: 0 }, msg(32, 13, [...le(1, 4), ...str('user.x'), ...le(3, 8), ...le(0, 4)])],
    [{ type: M.Tlink, tag: 14, dfid: 1, fid: 2, name: 'h' }, msg(70, 14, [...le(1, 4), ...le(2, 4), ...str('h')])],
    [{ type: M.Tunlinkat, tag: 15, dfid: 1, name: 'd', flags: 0x200 }, msg(76, 15, [...le(1, 4), ...str('d'), ...le(0x200, 4)])],
    [{ type: M.Tflush, tag: 16, oldtag: 3 }, msg(108, 16, le(3, 2))],
    [{ type: M.Tclunk, tag: 17, fid: 4 }, msg(120, 17, le(4, 4))],
    [{ type: M.Tremove, tag: 18, fid: 4 }, msg(122, 18, le(4, 4))],
    [{ type: M.Tlopen, tag: 19, fid: 4, flags: 0o2 }, msg(12, 19, [...le(4, 4), ...le(2, 4)])],
    [{ type: M.Tfsync, tag: 20, fid: 4, datasync: 1 }, msg(50, 20, [...le(4, 4), ...le(1, 4)])],
    [{ type: M.Tstatfs, tag: 21, fid: 4 }, msg(8, 21, le(4, 4))],
    [{ type: M.Treaddir, tag: 22, fid: 4, offsetLo: 77, offsetHi: 0x8000_0001, count: 8192 }, msg(40, 22, [...le(4, 4), ...le(77, 4), ...le(0x8000_0001, 4), ...le(8192, 4)])],
    [{ type: M.Tmkdir, tag: 23, dfid: 4, name: 'dir', mode: 0o755, gid: 9 }, msg(72, 23, [...le(4, 4), ...str('dir'), ...le(0o755, 4), ...le(9, 4)])],
    [{ type: M.Trename, tag: 24, fid: 4, dfid: 5, name: 'new' }, msg(20, 24, [...le(4, 4), ...le(5, 4), ...str('new')])],
    [{ type: M.Treadlink, tag: 25, fid: 4 }, msg(22, 25, le(4, 4))],
    [{ type: M.Txattrwalk, tag: 26, fid: 4, newfid: 5, name: 'user.y' }, msg(30, 26, [...le(4, 4), ...le(5, 4), ...str('user.y')])],
  ];
  for (const [m, bytes] of cases) {
    assert.deepEqual(encodeTMessage(m), bytes, `encode type ${m.type}`);
    assert.deepEqual(decodeTMessage(bytes), m, `decode type ${m.type}`);
  }
  const replies: [RMessage, Uint8Array][] = [
    [{ type: M.Rlerror, tag: 1, ecode: 2 }, msg(7, 1, le(2, 4))],
    [{ type: M.Rwalk, tag: 2, qids: [qid] }, msg(111, 2, [...le(1, 2), ...qidBytes])],
    [{ type: M.Rlopen, tag: 3, qid, iounit: 0 }, msg(13, 3, [...qidBytes, ...le(0, 4)])],
    [{ type: M.Rread, tag: 4, count: 3, data: Uint8Array.of(1, 2, 3) }, msg(117, 4, [...le(3, 4), 1, 2, 3])],
    [{ type: M.Rstatfs, tag: 5, fsType: 0x01021997, bsize: 4096, blocks: 1, bfree: 2, bavail: 3, files: 4, ffree: 5, fsidLo: 6, fsidHi: 7, namelen: 255 },
      msg(9, 5, [...le(0x01021997, 4), ...le(4096, 4), ...le(1, 8), ...le(2, 8), ...le(3, 8), ...le(4, 8), ...le(5, 8), ...le(6, 4), ...le(7, 4), ...le(255, 4)])],
    [{ type: M.Rgetlock, tag: 6, lockType: 2, start: 1, length: 0, procId: 9, clientId: 'x' }, msg(55, 6, [2, ...le(1, 8), ...le(0, 8), ...le(9, 4), ...str('x')])],
    [{ type: M.Rxattrwalk, tag: 7, size: 12 }, msg(31, 7, le(12, 8))],
    [{ type: M.Rlock, tag: 8, status: 0 }, msg(53, 8, [0])],
    [{ type: M.Rversion, tag: 0xffff, msize: 8192, version: '9P2000.L' }, msg(101, 0xffff, [...le(8192, 4), ...str('9P2000.L')])],
    [{ type: M.Rattach, tag: 9, qid }, msg(105, 9, qidBytes)],
    [{ type: M.Rlcreate, tag: 10, qid, iounit: 4096 }, msg(15, 10, [...qidBytes, ...le(4096, 4)])],
    [{ type: M.Rwrite, tag: 11, count: 100 }, msg(119, 11, le(100, 4))],
    [{ type: M.Rreaddir, tag: 12, count: 2, data: Uint8Array.of(5, 6) }, msg(41, 12, [...le(2, 4), 5, 6])],
    [{ type: M.Rmkdir, tag: 13, qid }, msg(73, 13, qidBytes)],
    [{ type: M.Rmknod, tag: 14, qid }, msg(19, 14, qidBytes)],
    [{ type: M.Rsymlink, tag: 15, qid }, msg(17, 15, qidBytes)],
    [{ type: M.Rreadlink, tag: 16, target: '/a/b' }, msg(23, 16, str('/a/b'))],
    [{ type: M.Rflush, tag: 17 }, msg(109, 17, [])],
    [{ type: M.Rclunk, tag: 18 }, msg(121, 18, [])],
    [{ type: M.Rgetattr, tag: 19, validLo: 0x7ff, validHi: 0, qid, mode: 0o100644, uid: 1, gid: 2, nlink: 3, rdev: 4, size: 5, blksize: 6, blocks: 7,
      atimeSec: 8, atimeNsec: 9, mtimeSec: 10, mtimeNsec: 11, ctimeSec: 12, ctimeNsec: 13, btimeSec: 14, btimeNsec: 15, gen: 16, dataVersion: 17 },
    msg(25, 19, [...le(0x7ff, 8), ...qidBytes, ...le(0o100644, 4), ...le(1, 4), ...le(2, 4), ...[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17].flatMap((n) => le(n, 8))])],
  ];
  for (const [m, bytes] of replies) {
    assert.deepEqual(encodeR(m), bytes, `encode type ${m.type}`);
    assert.deepEqual(decodeRMessage(bytes), m, `decode type ${m.type}`);
  }
});

test('writeRlerror and writeDataReplyHeader produce what encodeRMessage does', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 500000 }), (tag, errno, count) => {
    const a = new Uint8Array(11);
    assert.equal(writeRlerror(a, tag, errno), 11);
    assert.deepEqual(a, encodeR({ type: M.Rlerror, tag, ecode: errno }));
    for (const type of [M.Rread, M.Rreaddir] as const) {
      const h = new Uint8Array(11);
      writeDataReplyHeader(h, type, tag, count);
      const viaCodec = new Uint8Array(11);
      assert.equal(encodeRMessage({ type, tag, count, data: null }, viaCodec), 11);
      assert.deepEqual(h, viaCodec);
      // With count 0 the (empty) data is present, so it decodes as an empty array.
      assert.deepEqual(decodeRMessage(h, { totalLength: 11 + count }), { type, tag, count, data: count === 0 ? new Uint8Array(0) : null });
    }
  }), RUNS);
});
