import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { type DiskBackend, diskError } from '../../disk.js';
import { RawDisk } from '../../../testing/disk.js';
import type { IovecList } from '../../../memory/iovec-list.js';
import { MockDriver, type MockBuffer, type PlacedBuffer } from '../queue/mock-driver.js';
import { featureMask } from '../types.js';
import { BlkFeature, BlkRequestType as T, BlkStatus } from './config.js';
import { VirtioBlk, type VirtioBlkOptions } from './device.js';

const SECTORS = 64;
const SERIAL = 'batch-serial';

/** A temporary image of SECTORS sectors, each byte a function of its offset. */
function tempImage(): { file: string; model: Uint8Array; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-blk-batch-'));
  const file = path.join(dir, 'disk.img');
  const model = Uint8Array.from({ length: SECTORS * 512 }, (_, i) => (i * 13 + (i >> 9)) & 0xff);
  fs.writeFileSync(file, model);
  return { file, model, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

interface Call {
  kind: 'readIovecs' | 'writeIovecs' | 'readv' | 'writev' | 'flush';
  offset: number;
  bytes: number;
}

/** Wraps `disk`, recording every call; `fail` may inject an error into any of them. */
function spy(disk: RawDisk, calls: Call[], fail: (call: Call) => boolean = () => false): DiskBackend {
  const run = (call: Call, action: () => ReturnType<DiskBackend['flush']>) => {
    calls.push(call);
    return fail(call) ? diskError('EIO', 'injected') : action();
  };
  return {
    sizeBytes: disk.sizeBytes, readOnly: disk.readOnly,
    readv: (offset, b) => run({ kind: 'readv', offset, bytes: b.length }, () => disk.readv(offset, b)),
    writev: (offset, b) => run({ kind: 'writev', offset, bytes: b.length }, () => disk.writev(offset, b)),
    readIovecs: (offset: number, iov: IovecList) => run({ kind: 'readIovecs', offset, bytes: iov.length }, () => disk.readIovecs(offset, iov)),
    writeIovecs: (offset: number, iov: IovecList) => run({ kind: 'writeIovecs', offset, bytes: iov.length }, () => disk.writeIovecs(offset, iov)),
    flush: () => run({ kind: 'flush', offset: 0, bytes: 0 }, () => disk.flush()),
    discard: (offset, len) => disk.discard(offset, len),
    writeZeroes: (offset, len, unmap) => disk.writeZeroes(offset, len, unmap),
    close: () => disk.close(),
  };
}

interface Request {
  type: number;
  sector: number;
  /** Readable data buffers after the header (OUT). */
  out?: Uint8Array[];
  /** Writable data buffer lengths before the status byte (IN, GET_ID). */
  inLens?: number[];
  /** Split the 16-byte header over two buffers (never merged). */
  splitHeader?: boolean;
  /** Leave out the status byte (malformed). */
  noStatus?: boolean;
  /** Extra writable bytes after the status byte's buffer would be (the status is the last writable byte). */
  indirect?: boolean;
}

interface Submitted {
  head: number;
  placed: PlacedBuffer[];
  request: Request;
}

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return h;
}

function submit(driver: MockDriver, r: Request): Submitted {
  const h = header(r.type, r.sector);
  const buffers: MockBuffer[] = [
    ...(r.splitHeader ? [{ data: h.subarray(0, 8), writable: false }, { data: h.subarray(8), writable: false }] : [{ data: h, writable: false }]),
    ...(r.out ?? []).map((data) => ({ data, writable: false })),
    ...(r.inLens ?? []).map((len) => ({ len, writable: true })),
    ...(r.noStatus ? [] : [{ len: 1, writable: true }]),
  ];
  const { head, placed } = driver.addChain(buffers, { indirect: r.indirect ?? false });
  return { head, placed, request: r };
}

function harness(backend: DiskBackend, options: Partial<VirtioBlkOptions> = {}) {
  const logs: string[] = [];
  const blk = new VirtioBlk({ backend, serial: SERIAL, logger: { warn: (m) => logs.push(m) }, ...options });
  const driver = new MockDriver({ size: 256, indirectDesc: true, eventIdx: true, dataBytes: 1 << 20, hostMapped: true });
  const queue = driver.createQueue();
  blk.activate(blk.features, [queue]);
  return { blk, driver, queue, logs };
}

/** What a request must produce when the requests are performed one at a time, in order, on `model`. */
function expected(r: Request, model: Uint8Array): { len: number; status: number | null; data: Uint8Array | null } {
  const readable = 16 + (r.out ?? []).reduce((n, b) => n + b.length, 0);
  const writable = (r.inLens ?? []).reduce((n, x) => n + x, 0) + (r.noStatus ? 0 : 1);
  if (writable < 1 || readable < 16) return { len: 0, status: null, data: null };
  const inRange = (bytes: number) => bytes % 512 === 0 && r.sector + bytes / 512 <= SECTORS;
  switch (r.type) {
    case T.IN: {
      const bytes = writable - 1;
      if (!inRange(bytes)) return { len: writable, status: BlkStatus.IOERR, data: null };
      return { len: writable, status: BlkStatus.OK, data: model.slice(r.sector * 512, r.sector * 512 + bytes) };
    }
    case T.OUT: {
      const bytes = readable - 16;
      if (!inRange(bytes)) return { len: writable, status: BlkStatus.IOERR, data: null };
      let o = r.sector * 512;
      for (const b of r.out ?? []) {
        model.set(b, o);
        o += b.length;
      }
      return { len: writable, status: BlkStatus.OK, data: null };
    }
    case T.FLUSH:
      return { len: writable, status: BlkStatus.OK, data: null };
    case T.GET_ID: {
      const id = new Uint8Array(20);
      id.set(new TextEncoder().encode(SERIAL));
      return { len: writable, status: BlkStatus.OK, data: id.subarray(0, Math.min(20, writable - 1)) };
    }
    default:
      return { len: writable, status: BlkStatus.UNSUPP, data: null };
  }
}

/** Checks every completion against the sequential model. */
function check(driver: MockDriver, submitted: Submitted[], model: Uint8Array): void {
  const used = new Map(driver.takeUsed().map((u) => [u.id, u.len]));
  assert.equal(used.size, submitted.length, 'every request completed once');
  for (const s of submitted) {
    const want = expected(s.request, model);
    const what = JSON.stringify({ ...s.request, out: s.request.out?.map((b) => b.length) });
    assert.equal(used.get(s.head), want.len, `used length of ${what}`);
    const writable = s.placed.filter((p) => p.writable && p.len > 0);
    if (want.status !== null) {
      const last = writable.at(-1)!;
      assert.equal(driver.read(last.addr + last.len - 1, 1)[0], want.status, `status of ${what}`);
    }
    if (want.data) {
      const got = Buffer.concat(writable.map((p) => driver.read(p.addr, p.len))).subarray(0, want.data.length);
      assert.deepEqual(new Uint8Array(got), want.data, `data of ${what}`);
    }
  }
}

test('contiguous reads made available together take one preadv; each completes on its own', () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  const calls: Call[] = [];
  const h = harness(spy(disk, calls));
  try {
    const submitted = [0, 8, 16, 24].map((sector) => submit(h.driver, { type: T.IN, sector, inLens: [1024, 3072] }));
    h.blk.queueNotified(0);
    assert.deepEqual(calls, [{ kind: 'readIovecs', offset: 0, bytes: 16384 }]);
    check(h.driver, submitted, image.model);
    assert.deepEqual([h.blk.counters.requests, h.blk.counters.byType.in, h.blk.counters.readBytes, h.blk.counters.errors], [4, 4, 16384, 0]);

    // A gap, a change of direction or the byte cap starts a new transfer.
    calls.length = 0;
    const data = new Uint8Array(512).fill(0xab);
    const more = [
      submit(h.driver, { type: T.IN, sector: 40, inLens: [512] }),
      submit(h.driver, { type: T.IN, sector: 41, inLens: [512] }),
      submit(h.driver, { type: T.IN, sector: 43, inLens: [512] }),
      submit(h.driver, { type: T.OUT, sector: 44, out: [data] }),
      submit(h.driver, { type: T.OUT, sector: 45, out: [data] }),
      submit(h.driver, { type: T.FLUSH, sector: 0 }),
      submit(h.driver, { type: T.IN, sector: 44, inLens: [1024] }),
    ];
    h.blk.queueNotified(0);
    assert.deepEqual(calls.map((c) => [c.kind, c.offset / 512, c.bytes / 512]), [
      ['readIovecs', 40, 2], ['readIovecs', 43, 1], ['writeIovecs', 44, 2], ['flush', 0, 0], ['readIovecs', 44, 2],
    ]);
    check(h.driver, more, image.model);
    assert.deepEqual(h.driver.read(more[6]!.placed[1]!.addr, 1024), new Uint8Array(1024).fill(0xab), 'the read saw both writes');
  } finally {
    h.driver.close();
    disk.close();
    image.cleanup();
  }
});

test('a request that cannot be merged runs after the pending batch, not before it', () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  const calls: Call[] = [];
  const h = harness(spy(disk, calls));
  try {
    const submitted = [
      submit(h.driver, { type: T.OUT, sector: 5, out: [new Uint8Array(512).fill(0x33)] }),
      submit(h.driver, { type: T.IN, sector: 5, inLens: [512], splitHeader: true }),
    ];
    h.blk.queueNotified(0);
    assert.deepEqual(calls.map((c) => c.kind), ['writeIovecs', 'readv']);
    check(h.driver, submitted, image.model);
    assert.deepEqual(h.driver.read(submitted[1]!.placed[2]!.addr, 512), new Uint8Array(512).fill(0x33));
  } finally {
    h.driver.close();
    disk.close();
    image.cleanup();
  }
});

test('maxBatchBytes caps a merged transfer; 0 turns merging off', () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  try {
    for (const [maxBatchBytes, want] of [[2048, [2048, 2048]], [0, []]] as const) {
      const calls: Call[] = [];
      const h = harness(spy(disk, calls), { maxBatchBytes });
      const submitted = [0, 2, 4, 6].map((sector) => submit(h.driver, { type: T.IN, sector, inLens: [1024] }));
      h.blk.queueNotified(0);
      assert.deepEqual(calls.filter((c) => c.kind === 'readIovecs').map((c) => c.bytes), want);
      if (maxBatchBytes === 0) assert.equal(calls.filter((c) => c.kind === 'readv').length, 4);
      check(h.driver, submitted, image.model);
      h.driver.close();
    }
    assert.throws(() => new VirtioBlk({ backend: disk, maxBatchBytes: -1 }), RangeError);
  } finally {
    disk.close();
    image.cleanup();
  }
});

test('a failed merged transfer is retried request by request: only the failing one gets IOERR', () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  const calls: Call[] = [];
  // Merged transfers always fail; alone, only sector 2 does.
  const h = harness(spy(disk, calls, (c) => c.kind.endsWith('Iovecs') ? c.bytes > 512 || c.offset === 1024 : c.offset === 1024 && c.kind !== 'flush'));
  try {
    const reads = [0, 1, 2, 3].map((sector) => submit(h.driver, { type: T.IN, sector, inLens: [512] }));
    h.blk.queueNotified(0);
    const used = h.driver.takeUsed();
    assert.deepEqual(used.map((u) => u.len), [513, 513, 513, 513]);
    const statuses = reads.map((s) => h.driver.read(s.placed.at(-1)!.addr, 1)[0]);
    assert.deepEqual(statuses, [BlkStatus.OK, BlkStatus.OK, BlkStatus.IOERR, BlkStatus.OK]);
    for (const i of [0, 1, 3]) assert.deepEqual(h.driver.read(reads[i]!.placed[1]!.addr, 512), image.model.subarray(i * 512, i * 512 + 512));
    assert.equal(calls[0]!.kind, 'readIovecs');
    assert.equal(calls[0]!.bytes, 2048);
    assert.ok(h.logs.some((l) => /merged read of 4 requests failed \(EIO injected\)/.test(l)));
    assert.deepEqual([h.blk.counters.requests, h.blk.counters.errors, h.blk.counters.byType.in, h.blk.counters.readBytes], [4, 1, 4, 1536]);

    // Writes the same way; a write-through flush is part of each transfer.
    h.blk.activate(h.blk.features & ~featureMask(BlkFeature.FLUSH), [h.queue]);
    calls.length = 0;
    const writes = [0, 1, 2, 3].map((sector) => submit(h.driver, { type: T.OUT, sector, out: [new Uint8Array(512).fill(sector + 1)] }));
    h.blk.queueNotified(0);
    h.driver.takeUsed();
    assert.deepEqual(writes.map((s) => h.driver.read(s.placed.at(-1)!.addr, 1)[0]), [BlkStatus.OK, BlkStatus.OK, BlkStatus.IOERR, BlkStatus.OK]);
    const file = fs.readFileSync(image.file);
    for (const i of [0, 1, 3]) assert.ok(file.subarray(i * 512, i * 512 + 512).every((b) => b === i + 1));
    assert.equal(calls.filter((c) => c.kind === 'flush').length, 3, 'each successful single write flushed');
  } finally {
    h.driver.close();
    disk.close();
    image.cleanup();
  }
});

test('write-through: one flush per merged write', () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  const calls: Call[] = [];
  const h = harness(spy(disk, calls));
  try {
    h.blk.activate(h.blk.features & ~featureMask(BlkFeature.FLUSH), [h.queue]);
    const writes = [4, 5, 6].map((sector) => submit(h.driver, { type: T.OUT, sector, out: [new Uint8Array(512).fill(7)] }));
    h.blk.queueNotified(0);
    assert.deepEqual(calls.map((c) => c.kind), ['writeIovecs', 'flush']);
    check(h.driver, writes, image.model);
    assert.deepEqual(new Uint8Array(fs.readFileSync(image.file).subarray(4 * 512, 7 * 512)), image.model.subarray(4 * 512, 7 * 512));
  } finally {
    h.driver.close();
    disk.close();
    image.cleanup();
  }
});

test('a request with more pieces than IOV_MAX ends the batch and is done on its own', () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  const calls: Call[] = [];
  const logs: string[] = [];
  // A queue of 2048 offers seg_max 2046, so the 1088-segment request is within the device's limits.
  const blk = new VirtioBlk({ backend: spy(disk, calls), logger: { warn: (m) => logs.push(m) }, queueSize: 2048 });
  const driver = new MockDriver({ size: 2048, indirectDesc: true, dataBytes: 1 << 20, hostMapped: true });
  try {
    blk.activate(blk.features, [driver.createQueue()]);
    const submitted = [
      submit(driver, { type: T.IN, sector: 0, inLens: [512] }),
      // 17 sectors in 8-byte pieces 16 bytes apart: 1088 separate iovecs.
      submit(driver, { type: T.IN, sector: 1, inLens: new Array(17 * 64).fill(8), indirect: true }),
    ];
    blk.queueNotified(0);
    assert.deepEqual(calls.map((c) => c.kind), ['readIovecs', 'readv']);
    check(driver, submitted, image.model);
    assert.deepEqual(logs, []);
  } finally {
    driver.close();
    disk.close();
    image.cleanup();
  }
});

type Anchor = 'random' | 'next' | 'same';

const requestArb: fc.Arbitrary<Request & { anchor: Anchor }> = fc.record({
  type: fc.constantFrom(T.IN, T.IN, T.IN, T.OUT, T.OUT, T.OUT, T.FLUSH, T.GET_ID, 99),
  anchor: fc.constantFrom<Anchor>('random', 'next', 'same'),
  sector: fc.integer({ min: 0, max: SECTORS + 1 }),
  pieces: fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 0, maxLength: 3 }),
  sectors: fc.integer({ min: 0, max: 4 }),
  exact: fc.boolean(),
  splitHeader: fc.boolean(),
  noStatus: fc.boolean(),
  indirect: fc.boolean(),
  fill: fc.integer({ min: 0, max: 255 }),
}, { requiredKeys: ['type', 'anchor', 'sector', 'pieces', 'sectors', 'exact', 'splitHeader', 'noStatus', 'indirect', 'fill'] }).map((g) => {
  // Mostly whole sectors split over 1-3 buffers; sometimes arbitrary (bad) lengths.
  const total = g.exact ? g.sectors * 512 : g.pieces.reduce((n, x) => n + x, 0);
  const cuts = g.exact ? splitInto(total, g.pieces.length || 1) : g.pieces;
  const r: Request & { anchor: Anchor } = {
    type: g.type, sector: g.sector, anchor: g.anchor, indirect: g.indirect,
    splitHeader: g.splitHeader && g.fill % 3 === 0, noStatus: g.noStatus && g.fill % 8 === 0,
  };
  if (g.type === T.OUT) r.out = cuts.map((n, i) => new Uint8Array(n).fill((g.fill + i) & 0xff));
  else if (g.type !== T.FLUSH) r.inLens = cuts;
  return r;
});

function splitInto(total: number, parts: number): number[] {
  const out: number[] = [];
  let left = total;
  for (let i = parts; i > 1; i--) {
    const n = Math.floor(left / i / 16) * 16;
    out.push(n);
    left -= n;
  }
  out.push(left);
  return out;
}

test('any mix of requests made available together ends as if performed one by one, in order', { timeout: 120_000 }, () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  const model = image.model.slice();
  try {
    fc.assert(fc.property(fc.array(requestArb, { minLength: 1, maxLength: 14 }), fc.constantFrom(undefined, 1024, 4096), (requests, maxBatchBytes) => {
      const h = harness(disk, maxBatchBytes === undefined ? {} : { maxBatchBytes });
      try {
        let previous = 0;
        let next = 0;
        const submitted = requests.map((r) => {
          // Runs: continue where the previous request ended; dependencies: the previous request's sector again.
          const sector = r.anchor === 'next' ? next : r.anchor === 'same' ? previous : r.sector;
          const bytes = r.type === T.OUT ? (r.out ?? []).reduce((n, b) => n + b.length, 0) : (r.inLens ?? []).reduce((n, x) => n + x, 0);
          previous = sector;
          next = sector + Math.floor(bytes / 512);
          return submit(h.driver, { ...r, sector });
        });
        h.blk.queueNotified(0);
        check(h.driver, submitted, model);
        assert.equal(h.blk.counters.requests, requests.length);
      } finally {
        h.driver.close();
      }
    }), { numRuns: 400 });
    assert.deepEqual(new Uint8Array(fs.readFileSync(image.file)), model);
  } finally {
    disk.close();
    image.cleanup();
  }
});

test('data buffers across a 1 GiB GuestMemory chunk boundary are merged like any other', () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  const calls: Call[] = [];
  const blk = new VirtioBlk({ backend: spy(disk, calls) });
  // MAP_NORESERVE: only the pages the test touches are committed.
  const driver = new MockDriver({ size: 64, dataBytes: 2 ** 30 + (1 << 20), hostMapped: true });
  try {
    blk.activate(blk.features, [driver.createQueue()]);
    // Each chain takes header (16), data (2048) and status (1, padded to 16): the second data buffer starts 1 KiB before the boundary.
    driver.alloc(2 ** 30 - 1024 - (16 + 2048 + 16) - 16 - driver.dataBase);
    const submitted = [0, 4].map((sector) => submit(driver, { type: T.IN, sector, inLens: [2048] }));
    assert.ok(submitted[1]!.placed[1]!.addr < 2 ** 30 && submitted[1]!.placed[1]!.addr + 2048 > 2 ** 30);
    blk.queueNotified(0);
    assert.deepEqual(calls.map((c) => [c.kind, c.bytes]), [['readIovecs', 4096]]);
    check(driver, submitted, image.model);
  } finally {
    driver.close();
    disk.close();
    image.cleanup();
  }
});

test('the device enforces the seg_max and size_max it offers (§5.2.4), merged or not', () => {
  const image = tempImage();
  const disk = RawDisk.open(image.file);
  const logs: string[] = [];
  const blk = new VirtioBlk({ backend: disk, logger: { warn: (m) => logs.push(m) }, queueSize: 16 });
  // A ring larger than the device offers (the transport would refuse it): the device's own check must still hold.
  const driver = new MockDriver({ size: 32, indirectDesc: true, dataBytes: 8 << 20, hostMapped: true });
  try {
    const { segMax, sizeMax } = blk.limits;
    assert.equal(segMax, 14);
    blk.activate(blk.features, [driver.createQueue()]);
    const statusOf = (s: Submitted): number => {
      const status = s.placed[s.placed.length - 1]!;
      return driver.read(status.addr, 1)[0]!;
    };
    const ok = submit(driver, { type: T.IN, sector: 0, inLens: new Array(segMax).fill(512), indirect: true });
    const tooMany = submit(driver, { type: T.IN, sector: 0, inLens: new Array(segMax + 1).fill(512), indirect: true });
    const tooBig = submit(driver, { type: T.OUT, sector: 0, out: [new Uint8Array(sizeMax + 512)] });
    blk.queueNotified(0);
    assert.equal(driver.takeUsed().length, 3);
    assert.equal(statusOf(ok), BlkStatus.OK);
    assert.equal(statusOf(tooMany), BlkStatus.IOERR);
    assert.equal(statusOf(tooBig), BlkStatus.IOERR);
    assert.ok(logs.some((l) => /seg_max/.test(l)) && logs.some((l) => /size_max/.test(l)), logs.join('\n'));
  } finally {
    driver.close();
    disk.close();
    image.cleanup();
  }
});
