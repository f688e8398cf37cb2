/**
 * bench/snapshot: what a snapshot costs and how fast a restore starts
 * (docs/snapshot.md), with the touch test guest (it writes one value into
 * each page of --touch MiB, then counts like the counter guest):
 * - snapshot: the time `tkvm snapshot --stop` takes, the state file's size,
 *   and the memory file's size on disk against the memory the guest
 *   touched;
 * - restore: `tkvm run --restore --report-timing`, from the start of the
 *   restore (before the state file is read) to the first KVM_RUN, and from
 *   process start, per repetition; the VM is stopped at its first "counter"
 *   line, which also shows it ran on.
 * Warm `--exec` starts of the default guest are not measured: they do not
 * exist yet. Ends with one JSON line on stdout.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Benchmark } from '../lib/benchmark.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { repoRoot } from '../lib/paths.js';
import { median, roundTo } from '../lib/stats.js';
import { parseTimingReport } from '../boot/boot.js';

/** Issue 13's target: a restore of a 512 MiB guest that touched 64 MiB in at most 50 ms. */
export const TARGET_RESTORE_MS = 50;

const USAGE = `usage: node dist/bench/main.js snapshot [--mem MIB] [--touch MIB] [--reps N]

  --mem MIB     guest RAM (default 512)
  --touch MIB   memory the guest fills, one value per page (default 64)
  --reps N      restores (default 5)`;

const cli = (): string => path.join(repoRoot(), 'dist/tkvm/main.js');
const guest = (): string => path.join(repoRoot(), 'test/guests/build/touch.elf');

interface Child {
  stdout: string;
  stderr: string;
  exit: Promise<number | null>;
  kill(): void;
}

function start(args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, [cli(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Child = { stdout: '', stderr: '', exit: new Promise((resolve) => child.on('close', (code) => resolve(code))), kill: () => child.kill('SIGKILL') };
  child.stdout.setEncoding('utf8').on('data', (d: string) => { c.stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { c.stderr += d; });
  return c;
}

async function until(pred: () => boolean, what: string, child: Child, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) {
      child.kill();
      throw new BenchError(`timed out waiting for ${what}: ${child.stderr.trim().split('\n').pop() ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function tkvm(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const c = start(args, env);
  const status = await c.exit;
  return { status, stdout: c.stdout, stderr: c.stderr };
}

export const snapshotBenchmark: Benchmark = {
  name: 'snapshot',
  summary: 'snapshot time and size against touched memory; restore to first instruction',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({ args: argv, options: { mem: { type: 'string' }, touch: { type: 'string' }, reps: { type: 'string' } }, strict: true });
    const memMib = parseCount('--mem', values.mem, 512, 32, 65536);
    const touchMib = parseCount('--touch', values.touch, 64, 0, memMib - 32);
    const reps = parseCount('--reps', values.reps, 5, 1, 100);
    if (!existsSync(cli())) throw new BenchError(`${cli()} is missing: npm run build`);
    if (!existsSync(guest())) throw new BenchError(`${guest()} is missing: npm run build:guests`);
    const work = mkdtempSync(path.join(tmpdir(), 'tkvm-bench-snapshot-'));
    const env = { ...process.env, XDG_RUNTIME_DIR: work };
    const log = (line: string): void => { process.stderr.write(`bench snapshot: ${line}\n`); };
    const loadStart = loadavg()[0]!;
    try {
      const name = `bench-${process.pid}`;
      const vm = start(['run', '--kernel', guest(), '--mem', `${memMib}M`, '--name', name, '--cmdline', `touch_mib=${touchMib} print_every=20000`], env);
      await until(() => /counter \d+/.test(vm.stdout), 'the guest to touch its memory and count', vm);
      const dir = path.join(work, 'snap');
      const snapStarted = performance.now();
      const snap = await tkvm(['snapshot', name, dir, '--stop'], env);
      const snapshotWallMs = performance.now() - snapStarted;
      if (snap.status !== 0) throw new BenchError(`tkvm snapshot failed: ${snap.stderr.trim()}`);
      await vm.exit;
      const memoryFile = readdirSync(dir).find((n) => n.startsWith('memory-'))!;
      const memory = statSync(path.join(dir, memoryFile));
      const snapshotMs = Number(/; (\d+) ms\)/.exec(snap.stdout)?.[1] ?? Number.NaN);
      log(`snapshot: ${snap.stdout.trim()}`);

      const restores: Array<{ restoreToFirstRunMs: number; startToFirstRunMs: number; checkMs: number }> = [];
      for (let i = 0; i < reps; i++) {
        const restoreName = `${name}-r${i}`;
        const r = start(['run', '--restore', dir, '--name', restoreName, '--report-timing'], env);
        await until(() => /counter \d+/.test(r.stdout), 'the restored guest to count', r);
        const stop = await tkvm(['stop', '--force', restoreName], env);
        if (stop.status !== 0) throw new BenchError(`tkvm stop failed: ${stop.stderr.trim()}`);
        await r.exit;
        const report = parseTimingReport(r.stderr);
        const begin = report?.marksMs['restore-start'];
        const checked = report?.marksMs['snapshot-checked'];
        if (!report || report.startToFirstRunMs === null || begin === undefined || checked === undefined) throw new BenchError(`no timing report from the restore: ${r.stderr.trim().split('\n').pop() ?? ''}`);
        restores.push({ restoreToFirstRunMs: roundTo(report.startToFirstRunMs - begin, 1), startToFirstRunMs: roundTo(report.startToFirstRunMs, 1), checkMs: roundTo(checked - begin, 1) });
        log(`restore ${i + 1}/${reps}: ${JSON.stringify(restores.at(-1))}`);
      }
      const result = {
        bench: 'snapshot',
        guest: { memMib, touchedMib: touchMib },
        snapshot: {
          vmmMs: snapshotMs,
          cliWallMs: roundTo(snapshotWallMs, 1),
          stateBytes: statSync(path.join(dir, 'state')).size,
          memoryFileBytes: memory.size,
          memoryOnDiskBytes: memory.blocks * 512,
          onDiskPerTouched: touchMib > 0 ? roundTo((memory.blocks * 512) / (touchMib << 20), 3) : null,
        },
        restore: {
          restoreToFirstRunMs: roundTo(median(restores.map((r) => r.restoreToFirstRunMs)), 1),
          startToFirstRunMs: roundTo(median(restores.map((r) => r.startToFirstRunMs)), 1),
          reps: restores,
        },
        target: { restoreToFirstRunMs: TARGET_RESTORE_MS, for: '512 MiB guest that touched 64 MiB' },
        warmExec: 'not built yet',
        host: hostInfo(),
        loadAverage: { start: loadStart, end: loadavg()[0] },
      };
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};
