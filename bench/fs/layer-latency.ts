/**
 * bench/fs/layer-latency: the host-side cost of the shared-directory file
 * layer (src/backends/fs) per call, without a guest or a 9p codec: getattr
 * of a walked handle, a 4 KiB read from the page cache (the RWF_NOWAIT
 * path on the calling thread), the same read through an I/O thread (the
 * path of reads that would block), and a walk + close. The target
 * is 20 µs or less for getattr and for a 4 KiB read (server time per
 * request; the 9p codec adds its own).
 *
 *   node dist/bench/fs/layer-latency.js [--calls N]
 *
 * Prints one line per measurement and ends with one JSON line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { FileAttr } from '../../src/devices/fs.js';
import { HostTree } from '../../src/backends/fs/tree.js';
import { IoPool } from '../../src/backends/fs/io-pool.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { HostAddressMap } from '../../src/memory/host-address-map.js';
import { IovecList } from '../../src/memory/iovec-list.js';

interface Stat {
  name: string;
  calls: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
}

/** Times `calls` calls in batches of 100: mean, and percentiles of the batch means. */
async function measure(name: string, calls: number, call: () => unknown): Promise<Stat> {
  const batch = 100;
  const means: number[] = [];
  for (let i = 0; i < Math.min(calls / 10, 2000); i++) await call(); // warm up
  const start = process.hrtime.bigint();
  for (let done = 0; done < calls; done += batch) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) {
      const r = call();
      if (r instanceof Promise) await r;
    }
    means.push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
  }
  const total = Number(process.hrtime.bigint() - start) / 1000;
  means.sort((a, b) => a - b);
  const pick = (q: number): number => means[Math.min(means.length - 1, Math.floor(q * means.length))]!;
  const round = (x: number): number => Math.round(x * 100) / 100;
  return { name, calls, meanUs: round(total / calls), p50Us: round(pick(0.5)), p99Us: round(pick(0.99)) };
}

export async function layerLatency(calls: number): Promise<Stat[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-bench-fs-'));
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  const map = HostAddressMap.of(memory)!;
  const tree = HostTree.open({ hostPath: dir, readOnly: false });
  const pool = new IoPool(1);
  try {
    fs.mkdirSync(path.join(dir, 'd'));
    fs.writeFileSync(path.join(dir, 'd/file'), Buffer.alloc(1 << 20, 0x5a));
    const root = tree.root();
    const d = tree.walk(root, 'd');
    const f = tree.walk(d, 'file');
    const file = tree.open(f, 0);
    const attr = new FileAttr();
    const iov = new IovecList();
    map.append(iov, 0x10000, 4096);
    const fd = fs.openSync(path.join(dir, 'd/file'), 'r');
    const stats = [
      await measure('getattr', calls, () => tree.getattr(f, attr)),
      await measure('read 4 KiB (page cache, RWF_NOWAIT)', calls, () => tree.read(file, 8192, iov)),
      await measure('read 4 KiB (I/O thread)', Math.max(100, calls / 10), () => pool.preadv(fd, iov, 0, 8192)),
      await measure('walk + close', calls, () => tree.close(tree.walk(d, 'file'))),
    ];
    fs.closeSync(fd);
    return stats;
  } finally {
    await pool.close();
    await tree.dispose();
    memory.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let calls: number;
  try {
    const { values } = parseArgs({ options: { calls: { type: 'string', default: '100000' } } });
    calls = Number(values.calls);
    if (!Number.isInteger(calls) || calls < 100) throw new Error(`--calls: want an integer of at least 100, got ${values.calls}`);
  } catch (err) {
    process.stderr.write(`layer-latency: ${(err as Error).message}\nusage: node dist/bench/fs/layer-latency.js [--calls N]\n`);
    return 2;
  }
  const stats = await layerLatency(calls);
  for (const s of stats) process.stdout.write(`${s.name.padEnd(40)} mean ${s.meanUs} µs  p50 ${s.p50Us} µs  p99 ${s.p99Us} µs  (${s.calls} calls)\n`);
  process.stdout.write(`${JSON.stringify({ benchmark: 'fs-layer-latency', stats })}\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
