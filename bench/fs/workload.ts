/**
 * bench/fs: file-system work from a Linux guest through a 9p share (issue
 * 11), next to the same work on the host in the same directory. One
 * program, test/guests-linux/fs-bench.c, does it on both sides:
 * sequential read and write of MBYTES MiB in 1 MiB requests (the write
 * ends with fsync), FILES small files each created, stat'ed and unlinked,
 * and a getdents64 listing of ENTRIES directory entries. Both sides'
 * results are checked: the read's pattern in the program, the written file
 * and the entry count here.
 *
 * The guest is the default kit with `--net none`, the scratch directory
 * shared read-write (tag fsb, mounted cache=mmap: no guest page cache for
 * reads and writes, every request reaches the server) and the program's
 * directory shared read-only. The server's own time per request is
 * `fs-server-latency`. On a PVM host the guest kernel (v9fs, virtio) is
 * emulated and bounds the guest's figures. Ends with one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Benchmark } from '../lib/benchmark.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { repoRoot } from '../lib/paths.js';
import { roundTo } from '../lib/stats.js';
import { runWithTimedLines } from '../lib/timed-lines.js';

const USAGE = `usage: node dist/bench/main.js fs [--mbytes N] [--files N] [--entries N] [--dir DIR] [--timeout SECONDS]

  --mbytes N     MiB read and written sequentially (default 64)
  --files N      small files created, stat'ed and unlinked (default 1000)
  --entries N    directory entries listed (default 10000)
  --dir DIR      where the scratch directory goes (default the OS's tmpdir)
  --timeout S    for the guest's run, boot included (default 1800)`;

/** What fs-bench prints on one line after `fs-bench `. */
export interface WorkloadTimes {
  mbytes: number;
  readSeconds: number;
  writeSeconds: number;
  files: number;
  smallFilesSeconds: number;
  entries: number;
  readdirSeconds: number;
}

export interface WorkloadRates {
  readMiBps: number;
  writeMiBps: number;
  smallFilesPerSecond: number;
  readdirEntriesPerSecond: number;
}

const FIELDS = ['mbytes', 'readSeconds', 'writeSeconds', 'files', 'smallFilesSeconds', 'entries', 'readdirSeconds'] as const;

/** The `fs-bench {json}` line of a run's output, or null when there is none or it is not whole. */
export function parseWorkloadLine(output: string): WorkloadTimes | null {
  const line = output.split('\n').find((l) => l.startsWith('fs-bench {'));
  if (line === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(line.slice('fs-bench '.length));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const record = value as Record<string, unknown>;
  for (const field of FIELDS) {
    const n = record[field];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return null;
  }
  return record as unknown as WorkloadTimes;
}

const perSecond = (count: number, seconds: number): number => (seconds > 0 ? count / seconds : Number.POSITIVE_INFINITY);

export function workloadRates(times: WorkloadTimes): WorkloadRates {
  return {
    readMiBps: roundTo(perSecond(times.mbytes, times.readSeconds), 1),
    writeMiBps: roundTo(perSecond(times.mbytes, times.writeSeconds), 1),
    smallFilesPerSecond: roundTo(perSecond(times.files, times.smallFilesSeconds), 1),
    readdirEntriesPerSecond: roundTo(perSecond(times.entries, times.readdirSeconds), 0),
  };
}

/** Each guest rate as a fraction of the host's (1 = as fast as the host), to 3 significant digits. */
export function guestToHost(guest: WorkloadRates, host: WorkloadRates): WorkloadRates {
  const ratio = (g: number, h: number): number => (h > 0 ? Number((g / h).toPrecision(3)) : 0);
  return {
    readMiBps: ratio(guest.readMiBps, host.readMiBps),
    writeMiBps: ratio(guest.writeMiBps, host.writeMiBps),
    smallFilesPerSecond: ratio(guest.smallFilesPerSecond, host.smallFilesPerSecond),
    readdirEntriesPerSecond: ratio(guest.readdirEntriesPerSecond, host.readdirEntriesPerSecond),
  };
}

/** Runs fs-bench on the host; throws with its stderr when it fails. */
export function hostFsBench(program: string, args: readonly string[]): string {
  const run = spawnSync(program, args, { encoding: 'utf8', timeout: 600_000 });
  if (run.error) throw new BenchError(`${program}: ${run.error.message}`);
  if (run.status !== 0) throw new BenchError(`fs-bench ${args[0]} failed (status ${run.status}): ${run.stderr.trim()}`);
  return run.stdout;
}

/** The times of one side's run, checked: the listing saw every entry and write.dat is whole on the host. */
function checkedTimes(output: string, side: string, program: string, dir: string, mbytes: number, entries: number): WorkloadTimes {
  const times = parseWorkloadLine(output);
  if (times === null) throw new BenchError(`${side}: no fs-bench result line`);
  if (times.entries !== entries) throw new BenchError(`${side}: listed ${times.entries} entries, not ${entries}`);
  hostFsBench(program, ['check', dir, String(mbytes)]);
  return times;
}

export const fsBenchmark: Benchmark = {
  name: 'fs',
  summary: '9p share from a Linux guest against the host: sequential MiB/s, small files/s, readdir',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({
      args: argv,
      options: { mbytes: { type: 'string' }, files: { type: 'string' }, entries: { type: 'string' }, dir: { type: 'string' }, timeout: { type: 'string' } },
      strict: true,
    });
    const mbytes = parseCount('--mbytes', values.mbytes, 64, 1, 4096);
    const files = parseCount('--files', values.files, 1000, 1, 1_000_000);
    const entries = parseCount('--entries', values.entries, 10_000, 1, 1_000_000);
    const timeoutMs = parseCount('--timeout', values.timeout, 1800, 1) * 1000;
    const root = repoRoot();
    const cli = path.join(root, 'dist/tkvm/main.js');
    const programDir = path.join(root, 'test/guests-linux/build');
    const program = path.join(programDir, 'fs-bench');
    if (!existsSync(cli)) throw new BenchError(`${cli} is missing: npm run build`);
    if (!existsSync(program)) throw new BenchError(`${program} is missing: npm run build:guests`);
    const { ensureDefaultGuest } = await import('../../src/guest/default-guest.js');
    await ensureDefaultGuest();
    const log = (line: string): void => { process.stderr.write(`bench fs: ${line}\n`); };
    const loadStart = loadavg();
    const scratch = mkdtempSync(path.join(values.dir ?? tmpdir(), 'tkvm-bench-fs-'));
    try {
      log(`preparing ${scratch}: ${mbytes} MiB read.dat, ${entries} entries`);
      hostFsBench(program, ['prepare', scratch, String(mbytes), String(entries)]);
      const workload = [String(mbytes), String(files)];

      log('host side');
      const host = checkedTimes(hostFsBench(program, ['run', scratch, ...workload]), 'host', program, scratch, mbytes, entries);

      log('guest side: booting the default guest with the share (minutes on a PVM host)');
      const guestCommand = ['/mnt/fsbin/fs-bench', 'run', '/mnt/fsb', ...workload].join(' ');
      const run = await runWithTimedLines(process.execPath, [
        cli, 'run', '--net', 'none', '--share', `${scratch},tag=fsb`, '--share', `${programDir},tag=fsbin,ro`, '--exec', guestCommand,
      ], timeoutMs);
      if (run.timedOut) throw new BenchError('the guest run timed out');
      const stdout = run.lines.map((l) => l.line).join('\n');
      if (run.status !== 0) throw new BenchError(`the guest run failed (status ${run.status}): ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      const guest = checkedTimes(stdout, 'guest', program, scratch, mbytes, entries);

      const hostRates = workloadRates(host);
      const guestRates = workloadRates(guest);
      const machine = hostInfo();
      const result = {
        bench: 'fs',
        host: { ...hostRates, times: host },
        guest: { ...guestRates, times: guest },
        guestToHost: guestToHost(guestRates, hostRates),
        params: { mbytes, files, entries, requestBytes: 1 << 20, mount: 'trans=virtio,version=9p2000.L,msize=512000,cache=mmap' },
        bound: machine.pvm ? 'PVM host: the guest kernel (v9fs, virtio-pci) is emulated, ~2000x slower; it bounds the guest figures. The server\'s own time per request: fs-server-latency' : 'native KVM',
        machine,
        loadAverage: { start: loadStart, end: loadavg() },
      };
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};
