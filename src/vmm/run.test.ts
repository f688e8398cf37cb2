/**
 * End-to-end tests of `tkvm run` with the freestanding test guests
 * (test/guests/): each boots a real KVM VM through the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { requireKvm, guestPath, runTkvm, REPO_ROOT } from '../testing/kvm.js';

const SUCCESS = (0x10 << 1) | 1; // test guests' debug_exit(0x10)

function oneLine(s: string): boolean {
  return s.trim().split('\n').length === 1;
}

test('hello guest prints its greeting and exits with the status it chose', async (t) => {
  if (!requireKvm(t, 'hello')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('hello'), '--mem', '32M']);
  assert.match(r.stdout, /Hello from tkvm test guest/);
  assert.equal(r.status, SUCCESS, r.stderr);
  const custom = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('hello'), '--mem', '32M', '--cmdline', 'exit=21']);
  assert.equal(custom.status, (21 << 1) | 1, custom.stderr);
});

test('without --debug-exit no guest sets tkvm\'s exit status, through the port or a console line', async (t) => {
  if (!requireKvm(t, 'hello')) return;
  // exit=21 writes 21 to port 0x501; marker=5 prints the kit's TKVM_EXIT_STATUS=5 line. Neither may count:
  // the guest then halts, and Ctrl-A x ends tkvm with status 0.
  const r = await runTkvm(['run', '--kernel', guestPath('hello'), '--mem', '32M', '--cmdline', 'exit=21 marker=5'], {
    keepStdinOpen: true,
    onStdout: (out, child) => { if (/TKVM_EXIT_STATUS=5\r?\n/.test(out)) child.stdin?.end('\x01x'); },
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /TKVM_EXIT_STATUS=5/, 'a non-kit guest\'s marker line passes through untouched');
});

test('hello guest runs with several vCPUs (APs wait for SIPI)', async (t) => {
  if (!requireKvm(t, 'hello')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('hello'), '--mem', '32M', '--cpus', '2']);
  assert.match(r.stdout, /Hello from tkvm test guest/);
  assert.equal(r.status, SUCCESS, r.stderr);
});

test('port I/O reaches a device and reads back what was written', async (t) => {
  if (!requireKvm(t, 'pio-echo')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('pio-echo'), '--mem', '32M', '--test-devices']);
  assert.match(r.stdout, /pio-echo ok/);
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
});

test('MMIO reaches a device and reads back what was written', async (t) => {
  if (!requireKvm(t, 'mmio-echo')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('mmio-echo'), '--mem', '32M', '--test-devices']);
  assert.match(r.stdout, /mmio-echo ok/);
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
});

test('without --test-devices the echo ports are unclaimed and read as all ones', async (t) => {
  if (!requireKvm(t, 'pio-echo')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('pio-echo'), '--mem', '32M']);
  assert.notEqual(r.status, SUCCESS);
  assert.match(r.stdout, /FAIL/);
});

test('the guest sees the e820 map and the command line in boot_params', async (t) => {
  if (!requireKvm(t, 'bootparams')) return;
  const cmdline = 'console=ttyS0 tkvm.test=yes answer=42';
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('bootparams'), '--mem', '64M', '--cmdline', cmdline]);
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`cmdline: ${cmdline}`));
  const e820 = [...r.stdout.matchAll(/e820: (0x[0-9a-f]+) (0x[0-9a-f]+) (\d+)/gi)].map((m) => ({
    addr: Number(m[1]), size: Number(m[2]), type: Number(m[3]),
  }));
  assert.ok(e820.length >= 2, r.stdout);
  const usable = e820.filter((e) => e.type === 1);
  const total = usable.reduce((n, e) => n + e.size, 0);
  // All RAM but the 640K-1M hole (and the EBDA) is usable.
  assert.ok(total <= 64 * 1024 * 1024 && total >= 63 * 1024 * 1024, `usable RAM ${total}`);
  const top = Math.max(...usable.map((e) => e.addr + e.size));
  assert.equal(top, 64 * 1024 * 1024);
});

test('a triple fault stops the VM with status 4 and shows RIP and the code bytes', async (t) => {
  if (!requireKvm(t, 'triple-fault')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('triple-fault'), '--mem', '32M']);
  assert.match(r.stdout, /about to triple fault/);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /triple fault/);
  assert.match(r.stderr, /RIP 0x[0-9a-f]+/);
  assert.match(r.stderr, /code: ([0-9a-f]{2} )+/);
});

test('SIGTERM stops a running guest cleanly with status 143', async (t) => {
  if (!requireKvm(t, 'halt')) return;
  let sent = false;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('halt'), '--mem', '32M', '--cpus', '2'], {
    onStdout: (out, child) => {
      if (!sent && out.includes('halting')) {
        sent = true;
        child.kill('SIGTERM');
      }
    },
  });
  assert.ok(sent, r.stdout);
  assert.equal(r.signal, null);
  assert.equal(r.status, 143, r.stderr);
});

test('Ctrl-A x on the console quits with status 0', async (t) => {
  if (!requireKvm(t, 'halt')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('halt'), '--mem', '32M'], { input: '\x01x' });
  assert.equal(r.status, 0, r.stderr);
});

test('a missing kernel is a one-line error, not a stack trace', async (t) => {
  if (!requireKvm(t)) return;
  const r = await runTkvm(['run', '--kernel', '/nonexistent/vmlinuz']);
  assert.equal(r.status, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /\/nonexistent\/vmlinuz/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a file that is not a kernel is a one-line error naming the file', async (t) => {
  if (!requireKvm(t)) return;
  const r = await runTkvm(['run', '--kernel', path.join(REPO_ROOT, 'test/guests/Makefile')]);
  assert.equal(r.status, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /Makefile/);
});

test('--report-timing gives the start-up time and exit counters', async (t) => {
  if (!requireKvm(t, 'pio-loop')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('pio-loop'), '--mem', '32M', '--cmdline', 'count=1000', '--report-timing']);
  assert.equal(r.status, SUCCESS, r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith('{"tkvmTiming"'));
  assert.ok(line, r.stderr);
  const report = JSON.parse(line) as { tkvmTiming: { startToFirstRunMs: number; exits: Array<Record<string, number>>; cpuMs: number } };
  assert.ok(report.tkvmTiming.startToFirstRunMs > 0);
  // The process's CPU time covers at least its own start-up (Node alone takes tens of ms).
  assert.ok(Number.isInteger(report.tkvmTiming.cpuMs) && report.tkvmTiming.cpuMs > 0, JSON.stringify(report));
  assert.equal(report.tkvmTiming.exits[0]!['io-port80'], 1000);
});

test('the vCPU thread answers COM1 and the CMOS RTC itself: memory-size bytes, CMOS RAM and the host date', async (t) => {
  if (!requireKvm(t, 'cmos-rtc')) return;
  const before = new Date();
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('cmos-rtc'), '--mem', '32M', '--report-timing']);
  const after = new Date();
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
  const dates = [before, after].map((d) => `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`);
  assert.ok(dates.some((d) => r.stdout.includes(`cmos-rtc ok ${d}`)), `${r.stdout} (host: ${dates.join(' or ')})`);
  const line = r.stderr.split('\n').find((l) => l.startsWith('{"tkvmTiming"'));
  assert.ok(line, r.stderr);
  const exits = (JSON.parse(line) as { tkvmTiming: { exits: Array<Record<string, number>> } }).tkvmTiming.exits[0]!;
  assert.ok(exits['io-rtc']! >= 2 * 13, `RTC accesses answered in the vCPU thread: ${JSON.stringify(exits)}`);
  assert.ok(exits['io-com1']! > 0, `COM1 accesses answered in the vCPU thread: ${JSON.stringify(exits)}`);
});
