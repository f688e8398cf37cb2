import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { GuestMemory } from '../../memory/guest-memory.js';
import { TkvmError } from '../../util/errors.js';
import { HostAddressMap } from '../../memory/host-address-map.js';
import { type IoBuffers, ioBuffersOf } from '../../memory/io-buffers.js';
import { IovecList } from '../../memory/iovec-list.js';
import { RawDisk } from './raw.js';

function tempImage(size: number, fill?: (bytes: Uint8Array) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-raw-'));
  const file = path.join(dir, 'disk.img');
  const bytes = new Uint8Array(size);
  fill?.(bytes);
  fs.writeFileSync(file, bytes);
  return file;
}

function cleanup(file: string): void {
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

/** IoBuffers over host-mapped guest RAM, split into pieces of the given sizes. */
function hostBuffers(memory: GuestMemory, addr: number, pieces: number[]): IoBuffers {
  const slices: Uint8Array[] = [];
  const hostRanges = [];
  let a = addr;
  for (const len of pieces) {
    slices.push(...memory.slices(a, len));
    hostRanges.push(...memory.hostRanges(a, len));
    a += len + 3; // gaps so the ranges are not contiguous
  }
  return { length: pieces.reduce((x, y) => x + y, 0), slices, hostRanges };
}

test('open errors are one-line TkvmErrors', () => {
  const missing = path.join(os.tmpdir(), 'tkvm-no-such-disk.img');
  assert.throws(() => RawDisk.open(missing), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_DISK_OPEN' && e.message === `disk ${missing}: no such file`);
  assert.throws(() => RawDisk.open(os.tmpdir()), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_DISK_OPEN' && !e.message.includes('\n'));
  assert.throws(() => RawDisk.open('/dev/null'), (e: unknown) => e instanceof TkvmError && /not a regular file or block device/.test(e.message));
});

test('preadv/pwritev into host-mapped guest RAM, including more than IOV_MAX pieces', () => {
  const file = tempImage(1 << 20, (b) => b.forEach((_, i) => (b[i] = i * 31)));
  const disk = RawDisk.open(file);
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  try {
    assert.equal(disk.sizeBytes, 1 << 20);
    const many = hostBuffers(memory, 0, Array.from({ length: 1500 }, (_, i) => 1 + (i % 7)));
    assert.equal(disk.readv(4096, many).ok, true);
    const image = fs.readFileSync(file);
    const got = Buffer.concat(many.slices.map((s) => Buffer.from(s)));
    assert.deepEqual(got, image.subarray(4096, 4096 + many.length));
    for (const s of many.slices) s.fill(0x5a);
    assert.equal(disk.writev(8192, many).ok, true);
    assert.deepEqual(fs.readFileSync(file).subarray(8192, 8192 + many.length), Buffer.alloc(many.length, 0x5a));
  } finally {
    memory.close();
    disk.close();
    cleanup(file);
  }
});

test('random writes then reads through both paths match the file', { timeout: 60_000 }, () => {
  const size = 64 * 1024;
  const file = tempImage(size);
  const disk = RawDisk.open(file);
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  const model = new Uint8Array(size);
  try {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: size - 1 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }), fc.boolean(), fc.integer({ min: 0, max: 255 }),
      (offset, pieces, viaHost, seed) => {
        const total = pieces.reduce((a, b) => a + b, 0);
        if (offset + total > size) {
          const r = disk.writev(offset, ioBuffersOf(new Uint8Array(total)));
          assert.equal(r.ok ? 'ok' : r.error.code, 'ERANGE');
          return;
        }
        const data = Uint8Array.from({ length: total }, (_, i) => (seed + i * 13) & 0xff);
        const bufs = viaHost ? hostBuffers(memory, 0, pieces) : ioBuffersOf(...pieces.map((n) => new Uint8Array(n)));
        let o = 0;
        for (const s of bufs.slices) {
          s.set(data.subarray(o, o + s.length));
          o += s.length;
        }
        assert.equal(disk.writev(offset, bufs).ok, true);
        model.set(data, offset);
        for (const s of bufs.slices) s.fill(0);
        assert.equal(disk.readv(offset, bufs).ok, true);
        assert.deepEqual(Buffer.concat(bufs.slices.map((s) => Buffer.from(s))), Buffer.from(data));
      },
    ), { numRuns: 200 });
    assert.equal(disk.flush().ok, true);
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)), model);
  } finally {
    memory.close();
    disk.close();
    cleanup(file);
  }
});

test('discard and write-zeroes leave zeroes and keep the size', () => {
  const file = tempImage(256 * 1024, (b) => b.fill(0xff));
  const disk = RawDisk.open(file);
  try {
    assert.equal(disk.writeZeroes(4096, 8192, false).ok, true);
    assert.equal(disk.writeZeroes(100, 50, true).ok, true);
    assert.equal(disk.discard(65536, 65536).ok, true);
    const image = fs.readFileSync(file);
    assert.equal(image.length, 256 * 1024);
    assert.ok(image.subarray(4096, 12288).every((b) => b === 0));
    assert.ok(image.subarray(100, 150).every((b) => b === 0));
    assert.equal(image[99], 0xff);
    assert.equal(image[150], 0xff);
    assert.equal(image[12288], 0xff);
    assert.equal(disk.writeZeroes(256 * 1024 - 1, 2, false).ok, false);
  } finally {
    disk.close();
    cleanup(file);
  }
});

test('read-only disks refuse writes; host errors become results, not throws', () => {
  const file = tempImage(8192);
  const roFile = tempImage(8192); // its own image: an rw open of the same one would be locked out
  const ro = RawDisk.open(roFile, { readOnly: true });
  const rw = RawDisk.open(file);
  try {
    const buf = ioBuffersOf(new Uint8Array(512));
    const refused = ro.writev(0, buf);
    assert.equal(refused.ok ? 'ok' : refused.error.code, 'EROFS');
    assert.equal(ro.discard(0, 512).ok, false);
    assert.equal(ro.writeZeroes(0, 512, true).ok, false);
    assert.equal(ro.readv(0, buf).ok, true);
    fs.closeSync(rw.fd); // pull the fd out from under the backend
    const failed = rw.readv(0, buf);
    assert.equal(failed.ok ? 'ok' : failed.error.code, 'EBADF');
    assert.equal(rw.flush().ok, false);
  } finally {
    ro.close();
    cleanup(file);
    cleanup(roFile);
  }
  const closed = RawDisk.open(tempImage(512));
  closed.close();
  const r = closed.readv(0, ioBuffersOf(new Uint8Array(1)));
  assert.equal(r.ok ? 'ok' : r.error.code, 'EBADF');
  cleanup(closed.path);
});

test('readIovecs/writeIovecs: one vectored call into guest RAM; range, read-only and closed-fd errors are results', () => {
  const size = 64 * 1024;
  const file = tempImage(size, (b) => b.forEach((_, i) => (b[i] = (i * 7) & 0xff)));
  const disk = RawDisk.open(file);
  const roFile = tempImage(size); // its own image: the rw open holds an exclusive lock
  const ro = RawDisk.open(roFile, { readOnly: true });
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  try {
    const map = HostAddressMap.of(memory)!;
    const iov = new IovecList();
    // Three pieces with gaps between them in guest RAM: three iovecs.
    const pieces: Array<[number, number]> = [[0x100, 1000], [0x2000, 24], [0x9001, 3072]];
    for (const [addr, len] of pieces) assert.ok(map.append(iov, addr, len));
    assert.equal(iov.count, 3);
    assert.equal(disk.readIovecs(5000, iov).ok, true);
    const image = fs.readFileSync(file);
    let o = 5000;
    for (const [addr, len] of pieces) {
      assert.deepEqual(Buffer.from(memory.read(addr, len)), image.subarray(o, o + len));
      o += len;
    }
    for (const [addr, len] of pieces) memory.fill(addr, len, 0xc3);
    iov.clear();
    for (const [addr, len] of pieces) map.append(iov, addr, len);
    assert.equal(disk.writeIovecs(100, iov).ok, true);
    assert.ok(fs.readFileSync(file).subarray(100, 100 + 4096).every((b) => b === 0xc3));

    const code = (r: ReturnType<RawDisk['readv']>) => (r.ok ? 'ok' : r.error.code);
    assert.equal(code(disk.readIovecs(size - 4095, iov)), 'ERANGE');
    assert.equal(code(ro.writeIovecs(0, iov)), 'EROFS');
    assert.equal(code(ro.readIovecs(0, iov)), 'ok');
    ro.close();
    assert.equal(code(ro.readIovecs(0, iov)), 'EBADF');
  } finally {
    memory.close();
    ro.close();
    disk.close();
    cleanup(file);
    cleanup(roFile);
  }
});

test('images are locked: rw excludes everything, ro shares with ro (flock per open file description)', () => {
  const file = tempImage(4096);
  try {
    const rw = RawDisk.open(file);
    assert.throws(() => RawDisk.open(file), (e: unknown) =>
      e instanceof TkvmError && e.code === 'ERR_DISK_LOCKED' && e.message.includes(file) && !e.message.includes('\n'));
    assert.throws(() => RawDisk.open(file, { readOnly: true }), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_DISK_LOCKED');
    rw.close();
    const ro1 = RawDisk.open(file, { readOnly: true });
    const ro2 = RawDisk.open(file, { readOnly: true });
    assert.throws(() => RawDisk.open(file), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_DISK_LOCKED');
    ro1.close();
    ro2.close();
    RawDisk.open(file).close(); // closing releases the lock
  } finally {
    cleanup(file);
  }
});

test('a second process cannot open an image this one holds read-write', async () => {
  const { spawnSync } = await import('node:child_process');
  const file = tempImage(4096);
  try {
    const rw = RawDisk.open(file);
    const url = new URL('./raw.js', import.meta.url).href;
    const script = `import(${JSON.stringify(url)}).then(({ RawDisk }) => {
      try { RawDisk.open(${JSON.stringify(file)}); process.stdout.write('opened'); }
      catch (e) { process.stdout.write(String(e.code)); } })`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    rw.close();
    assert.equal(child.stdout, 'ERR_DISK_LOCKED', child.stderr);
  } finally {
    cleanup(file);
  }
});
