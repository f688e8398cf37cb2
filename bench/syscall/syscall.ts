/**
 * bench/syscall: the cost of one system call from guest user space
 * (`getpid` in a loop, test/guests-linux/syscall-test), in the default
 * guest, against the same loop on the host. On a PVM host every guest
 * system call goes through the guest kernel's fix-up and runs emulated, so
 * this is the number later work on the PVM path should push down.
 * Ends with one JSON line on stdout.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Benchmark } from '../lib/benchmark.js';
import { BenchError } from '../lib/errors.js';
import { hostInfo } from '../lib/host.js';
import { parseCount } from '../lib/options.js';
import { repoRoot } from '../lib/paths.js';
import { runWithTimedLines } from '../lib/timed-lines.js';

const USAGE = `usage: node dist/bench/main.js syscall [--calls N] [--timeout SECONDS]

  --calls N     getpid calls in the guest (default 20000; the host does 100x more)
  --timeout S   for the guest boot (default 900)`;

/** ns_per_call from `syscall-test: bench getpid calls=N total_ns=T ns_per_call=C`. */
export function parseNsPerCall(output: string): number | null {
  const m = /syscall-test: bench getpid calls=\d+ total_ns=\d+ ns_per_call=(\d+)/.exec(output);
  return m ? Number(m[1]) : null;
}

export const syscallBenchmark: Benchmark = {
  name: 'syscall',
  summary: 'cost of a getpid system call from guest user space vs the host',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({ args: argv, options: { calls: { type: 'string' }, timeout: { type: 'string' } }, strict: true });
    const calls = parseCount('--calls', values.calls, 20_000, 1);
    const timeoutMs = parseCount('--timeout', values.timeout, 900, 1) * 1000;
    const root = repoRoot();
    execFileSync('make', ['-s', '-C', path.join(root, 'test/guests-linux')], { stdio: 'inherit' });
    const program = path.join(root, 'test/guests-linux/build/syscall-test');
    const host = parseNsPerCall(execFileSync(program, ['bench', String(calls * 100)], { encoding: 'utf8' }));

    const { ensureDefaultGuest } = await import('../../src/guest/default-guest.js');
    const { initramfsWith } = await import('../../src/testing/initramfs.js');
    const guest = await ensureDefaultGuest();
    const work = mkdtempSync(path.join(tmpdir(), 'tkvm-bench-syscall-'));
    try {
      const initrd = path.join(work, 'initramfs.cpio.gz');
      writeFileSync(initrd, initramfsWith(guest.initrd, [{ guestPath: '/opt/tkvm/syscall-test', hostPath: program }]));
      process.stderr.write(`bench syscall: booting the default guest for ${calls} getpid calls\n`);
      const run = await runWithTimedLines(process.execPath, [path.join(root, 'dist/tkvm/main.js'), 'run', '--net', 'none', '--initrd', initrd, '--exec', `/opt/tkvm/syscall-test bench ${calls}`], timeoutMs);
      const output = run.lines.map((l) => l.line).join('\n');
      const inGuest = parseNsPerCall(output);
      if (run.timedOut || run.status !== 0 || inGuest === null) {
        throw new BenchError(`guest run failed (status ${run.status}${run.timedOut ? ', timed out' : ''}): ${run.stderr.trim().split('\n').pop() ?? ''}`);
      }
      const result = {
        bench: 'syscall',
        calls,
        guestNsPerCall: inGuest,
        hostNsPerCall: host,
        ratio: host ? Math.round((inGuest / host) * 10) / 10 : null,
        host: hostInfo(),
      };
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};
