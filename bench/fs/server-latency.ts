/**
 * bench/fs server-latency: the 9p server's own time per request on the
 * host (src/devices/virtio/9p/server.ts over the HostTree backend on a
 * temporary directory), with no guest and no virtqueue: Tgetattr, and
 * Tread of 4 KiB from a file in the page cache into host-mapped "guest"
 * memory. The time runs from `submit` to the reply's `finish`, so a read
 * includes its promise's settling. Issue 11's target: at most 20 µs each.
 * Ends with one JSON line on stdout.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { HostTree } from '../../src/backends/fs/tree.js';
import { GetattrMask, MessageType as M, NOFID, VERSION_9P2000_L } from '../../src/devices/virtio/9p/messages.js';
import { type NinePIo, NinePServer } from '../../src/devices/virtio/9p/server.js';
import { encodeTMessage } from '../../src/devices/virtio/9p/wire.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { HostAddressMap } from '../../src/memory/host-address-map.js';
import type { IovecList } from '../../src/memory/iovec-list.js';
import type { Benchmark } from '../lib/benchmark.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { median, roundTo } from '../lib/stats.js';

const USAGE = `usage: node dist/bench/main.js fs-server-latency [--requests N] [--rounds N] [--check]

  --requests N  requests of each kind per round (default 20000)
  --rounds N    rounds; the median is reported (default 5)
  --check       exit with status 3 when a median exceeds the 20 µs target`;

export const TARGET_US = 20;
const FILE_BYTES = 1 << 20;
const READ_BYTES = 4096;

export interface ServerLatencyResult {
  bench: 'fs-server-latency';
  requests: number;
  rounds: number;
  getattrUs: number;
  read4kUs: number;
  targetUs: number;
  host: ReturnType<typeof hostInfo>;
}

/** A NinePIo over one reply area in host-mapped memory; counts replies and keeps the last one's length. */
class BenchIo implements NinePIo {
  readonly replyLimit = 8192;
  replies = 0;
  lastLength = 0;
  lastType = 0;
  /** Rlerror's errno, else 0. */
  lastErrno = 0;
  onFinish: (() => void) | null = null;
  constructor(readonly map: HostAddressMap, readonly replyAddr: number) {}
  appendPayload(): boolean { return false; }
  readPayload(): Uint8Array { return new Uint8Array(0); }
  appendReplyRange(iov: IovecList, at: number, count: number): boolean {
    return this.map.append(iov, this.replyAddr + at, count);
  }
  finish(reply: Uint8Array, length: number, extra: number): void {
    this.replies++;
    this.lastLength = length + extra;
    this.lastType = reply[4]!;
    this.lastErrno = reply[4] === M.Rlerror ? reply[7]! | (reply[8]! << 8) : 0;
    const done = this.onFinish;
    this.onFinish = null;
    done?.();
  }
}

function replyType(io: BenchIo): number {
  return io.lastType;
}

/** Measures both kinds of request; every reply is checked. */
export async function measureServerLatency(requests: number, rounds: number): Promise<ServerLatencyResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-bench-9p-'));
  fs.writeFileSync(path.join(dir, 'file'), Buffer.alloc(FILE_BYTES, 0x5a));
  const tree = HostTree.open({ hostPath: dir, readOnly: false });
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  try {
    const io = new BenchIo(HostAddressMap.of(memory)!, 0x1000);
    const server = new NinePServer({ tree });
    const send = (bytes: Uint8Array) => server.submit(bytes, bytes.length, io);
    send(encodeTMessage({ type: M.Tversion, tag: 0xffff, msize: 8192, version: VERSION_9P2000_L }));
    send(encodeTMessage({ type: M.Tattach, tag: 1, fid: 0, afid: NOFID, uname: '', aname: '', nUname: 0 }));
    send(encodeTMessage({ type: M.Twalk, tag: 1, fid: 0, newfid: 1, names: ['file'] }));
    send(encodeTMessage({ type: M.Tlopen, tag: 1, fid: 1, flags: 0 }));
    if (replyType(io) !== M.Rlopen) throw new BenchError(`set-up failed: reply type ${io.lastType}, errno ${io.lastErrno}`);
    const getattr = encodeTMessage({ type: M.Tgetattr, tag: 2, fid: 1, requestMaskLo: GetattrMask.BASIC, requestMaskHi: 0 });
    const reads = Array.from({ length: FILE_BYTES / READ_BYTES }, (_, i) => encodeTMessage({ type: M.Tread, tag: 3, fid: 1, offset: i * READ_BYTES, count: READ_BYTES }));
    const readOnce = (bytes: Uint8Array) => new Promise<void>((resolve) => {
      io.onFinish = resolve;
      send(bytes);
    });
    // Warm-up: JIT, the page cache, the server's iovec pool.
    for (let i = 0; i < 2000; i++) send(getattr);
    for (const r of reads) await readOnce(r);
    const getattrUs: number[] = [];
    const readUs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let t = process.hrtime.bigint();
      for (let i = 0; i < requests; i++) send(getattr);
      getattrUs.push(Number(process.hrtime.bigint() - t) / requests / 1000);
      if (replyType(io) !== M.Rgetattr) throw new BenchError(`Tgetattr answered type ${io.lastType}, errno ${io.lastErrno}`);
      t = process.hrtime.bigint();
      for (let i = 0; i < requests; i++) await readOnce(reads[i % reads.length]!);
      readUs.push(Number(process.hrtime.bigint() - t) / requests / 1000);
      if (replyType(io) !== M.Rread || io.lastLength !== 11 + READ_BYTES) throw new BenchError(`Tread answered type ${io.lastType}, errno ${io.lastErrno}, ${io.lastLength} bytes`);
    }
    return {
      bench: 'fs-server-latency', requests, rounds,
      getattrUs: roundTo(median(getattrUs), 2), read4kUs: roundTo(median(readUs), 2), targetUs: TARGET_US, host: hostInfo(),
    };
  } finally {
    await tree.dispose();
    memory.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const fsServerLatencyBenchmark: Benchmark = {
  name: 'fs-server-latency',
  summary: '9p server time per Tgetattr and 4 KiB Tread on the host (target 20 µs)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({ args: argv, options: { requests: { type: 'string' }, rounds: { type: 'string' }, check: { type: 'boolean' } }, strict: true });
    const requests = parseCount('--requests', values.requests, 20_000, 1);
    const rounds = parseCount('--rounds', values.rounds, 5, 1);
    const result = await measureServerLatency(requests, rounds);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return values.check && (result.getattrUs > TARGET_US || result.read4kUs > TARGET_US) ? 3 : 0;
  },
};
