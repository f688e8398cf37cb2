import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '../../memory/guest-memory.js';
import { HostAddressMap } from '../../memory/host-address-map.js';
import { IovecList } from '../../memory/iovec-list.js';
import { IoPool } from './io-pool.js';
import { QidFolder } from './qid.js';

test('the I/O pool: preadv/pwritev into guest RAM (with a skip), getdents, fsync, errors as -errno, many requests queued on few threads', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-pool-'));
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  const map = HostAddressMap.of(memory)!;
  const pool = new IoPool(2);
  try {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, Buffer.from('0123456789abcdef'));
    const fd = fs.openSync(file, 'r+');
    const iov = new IovecList();
    map.append(iov, 0x100, 4);
    map.append(iov, 0x200, 4);
    assert.equal(await pool.preadv(fd, iov, 2, 8), 6, 'the first 2 bytes of the iovecs are left out');
    assert.equal(Buffer.from(memory.read(0x102, 2)).toString() + Buffer.from(memory.read(0x200, 4)).toString(), '89abcd');
    memory.write(0x100, Buffer.from('WXYZ'));
    assert.equal(await pool.pwritev(fd, iov, 1, 0), 7);
    assert.equal(fs.readFileSync(file, 'utf8').slice(0, 7), 'XYZabcd');
    assert.equal(await pool.fsync(fd, false), 0);
    assert.equal(await pool.fsync(-1, true), -9, 'EBADF as -errno');
    const dents = new Uint8Array(4096);
    const dfd = fs.openSync(dir, 'r');
    assert.ok((await pool.getdents(dfd, dents)) > 0);
    // 200 requests at once on 2 threads: every one completes, in any order.
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => pool.preadv(fd, iov, 0, i % 16)));
    assert.deepEqual(results, Array.from({ length: 200 }, (_, i) => Math.min(8, 16 - (i % 16))));
    assert.equal(pool.threads, 2);
    fs.closeSync(fd);
    fs.closeSync(dfd);
  } finally {
    await pool.close();
    memory.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(await pool.fsync(0, false), -5, 'a closed pool answers EIO');
});

test('qid folding: the first device keeps inode numbers, others get their own prefix, huge inodes are remapped without clashes', () => {
  const q = new QidFolder();
  q.fold(8, 1, 0, 12345);
  assert.deepEqual([q.hi, q.lo], [0, 12345]);
  q.fold(0, 45, 0, 12345); // same inode number, another filesystem
  assert.deepEqual([q.hi, q.lo], [1 << 16, 12345]);
  q.fold(8, 1, 0xffff, 7);
  assert.deepEqual([q.hi, q.lo], [0xffff, 7]);
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    q.fold(8, 1, 0x10000 + (i % 3), i); // inode numbers of 2^48 and more
    assert.equal(q.hi >>> 31, 1);
    seen.add(`${q.hi}:${q.lo}`);
  }
  assert.equal(seen.size, 1000);
  q.fold(8, 1, 0x10000, 5);
  const again = `${q.hi}:${q.lo}`;
  q.fold(8, 1, 0x10000, 5);
  assert.equal(`${q.hi}:${q.lo}`, again, 'stable');
});
