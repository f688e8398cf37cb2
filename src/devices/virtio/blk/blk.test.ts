import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { type DiskBackend, diskError, DISK_OK } from '../../disk.js';
import { RawDisk } from '../../../testing/disk.js';
import { MockDriver, type MockBuffer } from '../queue/mock-driver.js';
import type { SplitQueue } from '../queue/split.js';
import { featureMask, hasFeature, VirtioFeature, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../types.js';
import { BlkConfigOffset, BlkFeature, BlkRequestType as T, BlkStatus } from './config.js';
import { VirtioBlk, type VirtioBlkOptions } from './device.js';

const SECTORS = 64;

function tempImage(fillByte = 0): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-blk-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, new Uint8Array(SECTORS * 512).fill(fillByte));
  return file;
}

interface Harness {
  blk: VirtioBlk;
  driver: MockDriver;
  queue: SplitQueue;
  logs: string[];
  /** Submits one request and processes the queue; returns status, used length and the bytes read. */
  submit(type: number, sector: bigint | number, opts?: { out?: Uint8Array[]; inLens?: number[]; indirect?: boolean }): { status: number; len: number; data: Uint8Array; notify: boolean };
}

function harness(backend: DiskBackend, options: Partial<VirtioBlkOptions> = {}, hostMapped = false): Harness {
  const logs: string[] = [];
  const blk = new VirtioBlk({ backend, serial: 'tkvm-serial-0001', logger: { warn: (m) => logs.push(m) }, ...options });
  const driver = new MockDriver({ size: 64, indirectDesc: true, eventIdx: true, dataBytes: 1 << 18, hostMapped });
  const queue = driver.createQueue();
  blk.activate(blk.features, [queue]);
  return {
    blk, driver, queue, logs,
    submit(type, sector, opts = {}) {
      const header = new Uint8Array(16);
      const v = new DataView(header.buffer);
      v.setUint32(0, type, true);
      v.setBigUint64(8, BigInt(sector), true);
      const buffers: MockBuffer[] = [
        { data: header, writable: false },
        ...(opts.out ?? []).map((data) => ({ data, writable: false })),
        ...(opts.inLens ?? []).map((len) => ({ len, writable: true })),
        { len: 1, writable: true },
      ];
      const { head, placed } = driver.addChain(buffers, { indirect: opts.indirect ?? false });
      const result = blk.queueNotified(0);
      const used = driver.takeUsed();
      assert.equal(used.length, 1);
      assert.equal(used[0]!.id, head);
      const status = driver.read(placed.at(-1)!.addr, 1)[0]!;
      const inBuffers = placed.slice(1 + (opts.out?.length ?? 0), -1);
      const data = Buffer.concat(inBuffers.map((p) => driver.read(p.addr, p.len)));
      return { status, len: used[0]!.len, data: new Uint8Array(data), notify: result.notify };
    },
  };
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff);

test('write, flush and read back sectors through a real file', () => {
  const file = tempImage();
  const disk = RawDisk.open(file);
  try {
    const h = harness(disk);
    const data = pattern(3 * 512, 1);
    const w = h.submit(T.OUT, 5, { out: [data.subarray(0, 700), data.subarray(700, 1000), data.subarray(1000)] });
    assert.deepEqual([w.status, w.len], [BlkStatus.OK, 1]);
    assert.equal(h.submit(T.FLUSH, 0).status, BlkStatus.OK);
    assert.deepEqual(new Uint8Array(fs.readFileSync(file).subarray(5 * 512, 8 * 512)), data);
    const r = h.submit(T.IN, 5, { inLens: [1000, 536], indirect: true });
    assert.deepEqual([r.status, r.len], [BlkStatus.OK, 3 * 512 + 1]);
    assert.deepEqual(r.data, data);
    assert.equal(h.blk.counters.readBytes, 1536);
    assert.equal(h.blk.counters.writtenBytes, 1536);
    assert.deepEqual([h.blk.counters.byType.in, h.blk.counters.byType.out, h.blk.counters.byType.flush], [1, 1, 1]);
    assert.equal(h.blk.counters.errors, 0);
  } finally {
    disk.close();
    fs.rmSync(path.dirname(file), { recursive: true });
  }
});

test('host-mapped guest RAM: requests go through preadv/pwritev on guest memory', () => {
  const file = tempImage();
  const disk = RawDisk.open(file);
  const h = harness(disk, {}, true);
  try {
    assert.ok(h.driver.memory.regions()[0]!.hostAddr !== null);
    const data = pattern(4 * 512, 9);
    assert.equal(h.submit(T.OUT, 10, { out: [data.subarray(0, 100), data.subarray(100)], indirect: true }).status, BlkStatus.OK);
    assert.deepEqual(new Uint8Array(fs.readFileSync(file).subarray(10 * 512, 14 * 512)), data);
    const r = h.submit(T.IN, 10, { inLens: [1, 2047] });
    assert.deepEqual([r.status, r.len], [BlkStatus.OK, 2049]);
    assert.deepEqual(r.data, data);
  } finally {
    h.driver.close();
    disk.close();
    fs.rmSync(path.dirname(file), { recursive: true });
  }
});

test('random reads and writes match a model of the disk', { timeout: 60_000 }, () => {
  const file = tempImage();
  const disk = RawDisk.open(file);
  const model = new Uint8Array(SECTORS * 512);
  try {
    const h = harness(disk);
    fc.assert(fc.property(fc.boolean(), fc.integer({ min: 0, max: SECTORS + 2 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (write, sector, count, seed, indirect) => {
      const inRange = sector + count <= SECTORS;
      if (write) {
        const data = pattern(count * 512, seed);
        const r = h.submit(T.OUT, sector, { out: count ? [data] : [], indirect });
        assert.equal(r.status, inRange ? BlkStatus.OK : BlkStatus.IOERR);
        if (inRange) model.set(data, sector * 512);
      } else {
        const r = h.submit(T.IN, sector, { inLens: count ? [count * 512] : [], indirect });
        assert.equal(r.status, inRange ? BlkStatus.OK : BlkStatus.IOERR);
        if (inRange) assert.deepEqual(r.data, model.subarray(sector * 512, (sector + count) * 512));
      }
    }), { numRuns: 300 });
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)), model);
  } finally {
    disk.close();
    fs.rmSync(path.dirname(file), { recursive: true });
  }
});

test('GET_ID returns the serial, NUL-padded to 20 bytes', () => {
  const h = harness(memoryDisk(4096), { serial: 'abc' });
  const r = h.submit(T.GET_ID, 0, { inLens: [20] });
  assert.equal(r.status, BlkStatus.OK);
  assert.deepEqual(r.data, Uint8Array.of(97, 98, 99, ...new Array(17).fill(0)));
  const long = harness(memoryDisk(4096), { serial: 'x'.repeat(30) }).submit(T.GET_ID, 0, { inLens: [20] });
  assert.equal(new TextDecoder().decode(long.data), 'x'.repeat(20));
});

function segments(...segs: Array<[number, number, number]>): Uint8Array {
  const out = new Uint8Array(16 * segs.length);
  const v = new DataView(out.buffer);
  segs.forEach(([sector, count, flags], i) => {
    v.setBigUint64(16 * i, BigInt(sector), true);
    v.setUint32(16 * i + 8, count, true);
    v.setUint32(16 * i + 12, flags, true);
  });
  return out;
}

test('DISCARD and WRITE_ZEROES zero the ranges they name', () => {
  const file = tempImage(0xff);
  const disk = RawDisk.open(file);
  try {
    const h = harness(disk);
    assert.equal(h.submit(T.WRITE_ZEROES, 0, { out: [segments([2, 4, 0], [20, 1, 1])] }).status, BlkStatus.OK);
    assert.equal(h.submit(T.DISCARD, 0, { out: [segments([40, 8, 0])] }).status, BlkStatus.OK);
    const image = fs.readFileSync(file);
    const zero = (from: number, to: number) => image.subarray(from * 512, to * 512).every((b) => b === 0);
    const ones = (from: number, to: number) => image.subarray(from * 512, to * 512).every((b) => b === 0xff);
    assert.ok(ones(0, 2) && zero(2, 6) && ones(6, 20) && zero(20, 21) && ones(21, 40) && ones(48, 64));
    // Discarded contents are unspecified, but the range is not beyond the request.
    assert.equal(h.submit(T.WRITE_ZEROES, 0, { out: [segments([0, 1, 2])] }).status, BlkStatus.UNSUPP, 'unknown flag');
    assert.equal(h.submit(T.DISCARD, 0, { out: [segments([0, 1, 1])] }).status, BlkStatus.UNSUPP, 'unmap flag on discard');
    assert.equal(h.submit(T.WRITE_ZEROES, 0, { out: [segments([0, 1, 0], [SECTORS - 1, 2, 0])] }).status, BlkStatus.IOERR, 'past the end');
    assert.ok(ones(0, 1), 'nothing applied from a request with a bad segment');
    assert.equal(h.submit(T.DISCARD, 0, { out: [new Uint8Array(12)] }).status, BlkStatus.IOERR, 'partial segment');
    assert.equal(h.submit(T.DISCARD, 0, { out: [segments(...Array.from({ length: 33 }, (): [number, number, number] => [0, 1, 0]))] }).status, BlkStatus.IOERR, 'too many segments');
  } finally {
    disk.close();
    fs.rmSync(path.dirname(file), { recursive: true });
  }
});

test('a read-only disk refuses writes and offers VIRTIO_BLK_F_RO', () => {
  const file = tempImage(0x11);
  const disk = RawDisk.open(file, { readOnly: true });
  try {
    const h = harness(disk);
    assert.ok(hasFeature(h.blk.features, BlkFeature.RO));
    assert.ok(!hasFeature(h.blk.features, BlkFeature.DISCARD));
    assert.ok(!hasFeature(h.blk.features, BlkFeature.WRITE_ZEROES));
    assert.equal(h.submit(T.OUT, 0, { out: [new Uint8Array(512)] }).status, BlkStatus.IOERR);
    assert.equal(h.submit(T.WRITE_ZEROES, 0, { out: [segments([0, 1, 0])] }).status, BlkStatus.IOERR);
    assert.equal(h.submit(T.DISCARD, 0, { out: [segments([0, 1, 0])] }).status, BlkStatus.IOERR);
    assert.ok(fs.readFileSync(file).every((b) => b === 0x11));
    const r = h.submit(T.IN, 0, { inLens: [512] });
    assert.equal(r.status, BlkStatus.OK);
    assert.ok(r.data.every((b) => b === 0x11));
    assert.equal(h.blk.counters.errors, 3);
  } finally {
    disk.close();
    fs.rmSync(path.dirname(file), { recursive: true });
  }
});

test('requests past the end fail with IOERR and a log line', () => {
  const h = harness(memoryDisk(SECTORS * 512 + 100));
  assert.equal(h.blk.limits.capacitySectors, SECTORS, 'a trailing partial sector is not addressable');
  assert.equal(h.submit(T.IN, SECTORS - 1, { inLens: [1024] }).status, BlkStatus.IOERR);
  assert.equal(h.submit(T.OUT, 2n ** 63n, { out: [new Uint8Array(512)] }).status, BlkStatus.IOERR);
  assert.equal(h.submit(T.IN, SECTORS, { inLens: [0] }).status, BlkStatus.OK, 'empty read at the end is fine');
  assert.equal(h.submit(T.IN, 0, { inLens: [100] }).status, BlkStatus.IOERR, 'not a whole sector');
  assert.equal(h.logs.length, 3);
  assert.match(h.logs[0]!, /read past the end/);
});

test('host I/O errors complete requests with IOERR', () => {
  const failing: DiskBackend = {
    sizeBytes: 1 << 20, readOnly: false,
    readv: () => diskError('EIO', 'injected'), writev: () => diskError('EIO', 'injected'), flush: () => diskError('EIO', 'injected'),
    discard: () => diskError('EIO', 'injected'), writeZeroes: () => diskError('EIO', 'injected'), close() {},
  };
  const h = harness(failing);
  const cases: Array<[number, { out?: Uint8Array[]; inLens?: number[] }]> = [
    [T.IN, { inLens: [512] }], [T.OUT, { out: [new Uint8Array(512)] }], [T.FLUSH, {}],
    [T.DISCARD, { out: [segments([0, 1, 0])] }], [T.WRITE_ZEROES, { out: [segments([0, 1, 0])] }],
  ];
  for (const [type, opts] of cases) {
    assert.equal(h.submit(type, 0, opts).status, BlkStatus.IOERR, `type ${type}`);
  }
  assert.ok(h.logs.every((l) => l.includes('EIO injected')));

  const file = tempImage();
  const disk = RawDisk.open(file);
  const h2 = harness(disk);
  fs.closeSync(disk.fd);
  assert.equal(h2.submit(T.IN, 0, { inLens: [512] }).status, BlkStatus.IOERR);
  assert.equal(h2.submit(T.OUT, 0, { out: [new Uint8Array(512)] }).status, BlkStatus.IOERR);
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('unsupported types get UNSUPP; malformed requests complete with length 0', () => {
  const h = harness(memoryDisk(4096));
  assert.equal(h.submit(99, 0).status, BlkStatus.UNSUPP);
  assert.equal(h.submit(T.GET_LIFETIME, 0, { inLens: [16] }).status, BlkStatus.UNSUPP);
  // Short header.
  h.driver.addChain([{ data: new Uint8Array(8), writable: false }, { len: 1, writable: true }]);
  // No status byte: only readable buffers.
  h.driver.addChain([{ data: new Uint8Array(16), writable: false }]);
  h.blk.queueNotified(0);
  assert.deepEqual(h.driver.takeUsed().map((u) => u.len), [0, 0]);
  assert.equal(h.blk.counters.malformed, 2);
  assert.equal(h.blk.counters.byType.unsupported, 2);
  assert.equal(h.logs.length, 4);
});

test('hostile chains on the request queue: length-0 completion, or NEEDS_RESET when the ring is broken', () => {
  const h = harness(memoryDisk(4096));
  h.driver.writeDescriptor(0, { addr: 0x100, len: 16, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 1 });
  h.driver.writeDescriptor(1, { addr: 0x100, len: 16, flags: 0 });
  h.driver.publishHead(0);
  const r = h.blk.queueNotified(0);
  assert.equal(r.needsReset, false);
  assert.deepEqual(h.driver.takeUsed(), [{ id: 0, len: 0 }]);
  assert.equal(h.blk.counters.malformed, 1);
  h.driver.setAvailIdx(h.driver.availIdx + 1000);
  assert.equal(h.blk.queueNotified(0).needsReset, true);
  assert.equal(h.blk.queueNotified(0).needsReset, true);
});

test('configuration space layout and offered features', () => {
  const h = harness(memoryDisk(SECTORS * 512), { queueSize: 128, blockSize: 4096 });
  const read = (offset: number, size: number) => {
    const b = new Uint8Array(size);
    h.blk.readConfig(offset, b);
    return new DataView(b.buffer);
  };
  assert.equal(read(BlkConfigOffset.capacity, 8).getBigUint64(0, true), BigInt(SECTORS));
  assert.equal(read(BlkConfigOffset.segMax, 4).getUint32(0, true), 126);
  assert.equal(read(BlkConfigOffset.blkSize, 4).getUint32(0, true), 4096);
  assert.equal(read(BlkConfigOffset.numQueues, 2).getUint16(0, true), 1);
  assert.equal(read(BlkConfigOffset.discardSectorAlignment, 4).getUint32(0, true), 8);
  assert.equal(read(BlkConfigOffset.maxDiscardSeg, 4).getUint32(0, true), 32);
  assert.equal(read(BlkConfigOffset.writeZeroesMayUnmap, 1).getUint8(0), 1);
  assert.equal(read(200, 4).getUint32(0, true), 0, 'beyond the layout reads as zero');
  h.blk.writeConfig(0, new Uint8Array(8).fill(0xff));
  assert.equal(read(0, 8).getBigUint64(0, true), BigInt(SECTORS));
  const want = featureMask(VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX, BlkFeature.SIZE_MAX, BlkFeature.SEG_MAX, BlkFeature.BLK_SIZE, BlkFeature.FLUSH, BlkFeature.DISCARD, BlkFeature.WRITE_ZEROES);
  assert.equal(h.blk.features, want);
});

test('without VIRTIO_BLK_F_FLUSH every write is flushed (write-through)', () => {
  let flushes = 0;
  const disk = memoryDisk(4096);
  const spy: DiskBackend = { ...disk, sizeBytes: disk.sizeBytes, readOnly: false, flush: () => (flushes++, DISK_OK) };
  const h = harness(spy);
  h.submit(T.OUT, 0, { out: [new Uint8Array(512)] });
  assert.equal(flushes, 0);
  h.blk.activate(h.blk.features & ~featureMask(BlkFeature.FLUSH), [h.queue]);
  h.submit(T.OUT, 0, { out: [new Uint8Array(512)] });
  assert.equal(flushes, 1);
});

test('used-buffer notifications follow used_event', () => {
  const h = harness(memoryDisk(4096));
  h.driver.setUsedEvent(h.driver.usedIdx() + 1);
  assert.equal(h.submit(T.FLUSH, 0).notify, false);
  assert.equal(h.submit(T.FLUSH, 0).notify, true);
});

/** An in-memory DiskBackend over a plain array (slices only). */
function memoryDisk(size: number): DiskBackend {
  const bytes = new Uint8Array(size);
  return {
    sizeBytes: size, readOnly: false,
    readv(offset, bufs) {
      let o = offset;
      for (const s of bufs.slices) {
        s.set(bytes.subarray(o, o + s.length));
        o += s.length;
      }
      return DISK_OK;
    },
    writev(offset, bufs) {
      let o = offset;
      for (const s of bufs.slices) {
        bytes.set(s, o);
        o += s.length;
      }
      return DISK_OK;
    },
    flush: () => DISK_OK,
    discard: (offset, len) => (bytes.fill(0, offset, offset + len), DISK_OK),
    writeZeroes: (offset, len) => (bytes.fill(0, offset, offset + len), DISK_OK),
    close() {},
  };
}
