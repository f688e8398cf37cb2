/**
 * bench/net-user: TCP throughput from a Linux guest to the host's loopback
 * through user-mode networking (virtio-net → passt → a socket on
 * 127.0.0.1). The default guest kit boots with `--net user,dns=off`, and
 * its busybox sends MBYTES MiB of zeros with `dd | nc GATEWAY PORT` to a
 * sink this harness runs on 127.0.0.1 (passt maps the gateway onto it).
 * The sink times first to last byte; the guest's /proc/uptime gives its
 * own view. One boot per rep (minutes on a PVM host, where the emulated
 * guest kernel is the bound, not passt or tkvm). Ends with one JSON line.
 *
 * Network rule: the only service is the sink on 127.0.0.1; the guest gets
 * no DNS and names only the gateway.
 */
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Benchmark } from '../lib/benchmark.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { repoRoot } from '../lib/paths.js';
import { median, roundTo } from '../lib/stats.js';
import { runWithTimedLines } from '../lib/timed-lines.js';

const USAGE = `usage: node dist/bench/main.js net-user [--mbytes N] [--reps N] [--timeout SECONDS]

  --mbytes N     MiB the guest sends (default 64)
  --reps N       boots, one transfer each (default 1)
  --timeout S    per boot (default 900)`;

export interface SinkResult {
  bytes: number;
  /** First byte to last byte, as the sink saw them. */
  seconds: number;
}

/** A sink on 127.0.0.1 that takes one connection of `expect` bytes, then answers "sink-got=N" and closes. */
export function startSink(expect: number): Promise<{ port: number; result: Promise<SinkResult>; close: () => void }> {
  let resolveResult!: (r: SinkResult) => void;
  const result = new Promise<SinkResult>((resolve) => { resolveResult = resolve; });
  const server = createServer((socket: Socket) => {
    let bytes = 0;
    let first = 0n;
    socket.on('data', (d: Buffer) => {
      if (bytes === 0) first = process.hrtime.bigint();
      bytes += d.length;
      if (bytes >= expect) {
        resolveResult({ bytes, seconds: Number(process.hrtime.bigint() - first) / 1e9 });
        socket.end(`sink-got=${bytes}\n`);
      }
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as AddressInfo).port,
    result,
    close: () => server.close(),
  })));
}

/** The guest's shell command: time `dd | nc` to the gateway with /proc/uptime. */
export function guestScript(port: number, mbytes: number): string {
  return [
    'set -- $(ip route show default)',
    'read -r t0 _ </proc/uptime',
    `dd if=/dev/zero bs=1048576 count=${mbytes} 2>/dev/null | nc "$3" ${port}`,
    'read -r t1 _ </proc/uptime',
    'echo "guest-seconds=$t0 $t1"',
  ].join('; ');
}

/** Guest-side seconds from the `guest-seconds=T0 T1` line, or null. */
export function guestSeconds(stdout: string): number | null {
  const m = /guest-seconds=([\d.]+) ([\d.]+)/.exec(stdout);
  return m ? roundTo(Number(m[2]) - Number(m[1]), 2) : null;
}

const mbitPerSecond = (bytes: number, seconds: number): number => roundTo((bytes * 8) / seconds / 1e6, 1);

export const netUserBenchmark: Benchmark = {
  name: 'net-user',
  summary: 'TCP from a Linux guest to host loopback through passt (--net user), Mbit/s',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({ args: argv, options: { mbytes: { type: 'string' }, reps: { type: 'string' }, timeout: { type: 'string' } }, strict: true });
    const mbytes = parseCount('--mbytes', values.mbytes, 64, 1, 4096);
    const reps = parseCount('--reps', values.reps, 1, 1, 20);
    const timeoutMs = parseCount('--timeout', values.timeout, 900, 1) * 1000;
    const cli = path.join(repoRoot(), 'dist/tkvm/main.js');
    if (!existsSync(cli)) throw new BenchError(`${cli} is missing: npm run build`);
    const { ensureDefaultGuest } = await import('../../src/guest/default-guest.js');
    await ensureDefaultGuest();
    const { findPasst } = await import('../../src/vmm/net.js');
    const passt = findPasst();
    if (!passt) throw new BenchError('passt is missing: tkvm setup (or scripts/build-passt.sh) builds it');
    const log = (line: string): void => { process.stderr.write(`bench net-user: ${line}\n`); };
    const loadStart = loadavg();
    const expect = mbytes << 20;
    const samples: Array<{ hostMbps: number; guestMbps: number | null; hostSeconds: number; guestSeconds: number | null }> = [];
    for (let i = 0; i < reps; i++) {
      const sink = await startSink(expect);
      try {
        log(`boot ${i + 1}/${reps}: ${mbytes} MiB guest -> 127.0.0.1:${sink.port} through ${passt.path}`);
        const run = await runWithTimedLines(process.execPath, [cli, 'run', '--net', 'user,dns=off', '--exec', guestScript(sink.port, mbytes)], timeoutMs);
        if (run.timedOut) throw new BenchError(`boot ${i + 1}: timed out`);
        const stdout = run.lines.map((l) => l.line).join('\n');
        if (run.status !== 0 || !stdout.includes(`sink-got=${expect}`)) {
          throw new BenchError(`boot ${i + 1}: the transfer did not complete (status ${run.status}): ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        }
        const got = await sink.result;
        const gs = guestSeconds(stdout);
        samples.push({ hostMbps: mbitPerSecond(got.bytes, got.seconds), guestMbps: gs ? mbitPerSecond(got.bytes, gs) : null, hostSeconds: roundTo(got.seconds, 2), guestSeconds: gs });
        log(`  ${JSON.stringify(samples.at(-1))}`);
      } finally {
        sink.close();
      }
    }
    const host = hostInfo();
    const result = {
      bench: 'net-user',
      mbitPerSecond: roundTo(median(samples.map((s) => s.hostMbps)), 1),
      samples,
      params: { mbytes, reps, passt: passt.path, passtSource: passt.source },
      bound: host.pvm ? 'PVM host: the guest kernel (TCP stack, virtio-net driver) is emulated, ~2000x slower; it, not passt or tkvm, bounds this number' : 'native KVM',
      machine: host,
      loadAverage: { start: loadStart, end: loadavg() },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  },
};
