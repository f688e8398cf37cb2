/** The management commands, run against a real control server with a fake VMM. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { makeDebugCommand } from './debug.js';
import { makeListCommand } from './list.js';
import { makePauseCommand } from './pause.js';
import { makeResumeCommand } from './resume.js';
import { makeStatCommand } from './stat.js';
import { makeStopCommand } from './stop.js';
import type { CommandIo } from '../../control/cli-support.js';
import { FakeController } from '../../control/fake-controller.js';
import { ControlServer } from '../../control/server.js';
import { tempControlDir } from '../../control/fixtures.js';

interface Captured extends CommandIo {
  out: string;
  err: string;
}

async function setup(t: TestContext, names: string[] = ['web']) {
  const tmp = tempControlDir();
  const fakes = names.map((name, i) => new FakeController({ name, pid: 1000 + i, cpus: 2, memBytes: 512 << 20, uptimeMs: 3_720_000 }));
  const servers = await Promise.all(names.map((name, i) => ControlServer.start({ name, controller: fakes[i] as FakeController, dir: tmp.dir })));
  t.after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    tmp.cleanup();
  });
  const io = (): Captured => {
    const captured: Captured = {
      out: '', err: '', dir: tmp.dir,
      stdout: (text) => void (captured.out += text),
      stderr: (text) => void (captured.err += text),
    };
    return captured;
  };
  return { fakes, io, dir: tmp.dir };
}

test('tkvm list prints a table, or JSON', async (t) => {
  const { io } = await setup(t, ['web', 'db']);
  const table = io();
  assert.equal(await makeListCommand(table).run([]), 0);
  assert.equal(table.out,
    'NAME   PID  STATE    CPUS  MEMORY  UPTIME\n' +
    'db    1001  running     2    512M   1h02m\n' +
    'web   1000  running     2    512M   1h02m\n');
  const json = io();
  assert.equal(await makeListCommand(json).run(['--json']), 0);
  assert.deepEqual(JSON.parse(json.out).map((vm: { name: string }) => vm.name), ['db', 'web']);
  const bad = io();
  assert.equal(await makeListCommand(bad).run(['--jsno']), 2);
  assert.equal(bad.err, "tkvm: unknown option --jsno\n");
});

test('tkvm pause / resume change the VM state', async (t) => {
  const { io, fakes } = await setup(t);
  const out = io();
  assert.equal(await makePauseCommand(out).run(['web']), 0);
  assert.equal(fakes[0]?.state, 'paused');
  assert.equal(await makeResumeCommand(out).run(['web']), 0);
  assert.equal(fakes[0]?.state, 'running');
  assert.equal(out.out, 'web: paused\nweb: running\n');
  const missing = io();
  assert.equal(await makePauseCommand(missing).run(['nope']), 1);
  assert.equal(missing.err, 'tkvm: no VM named nope (see tkvm list)\n');
  const noName = io();
  assert.equal(await makeResumeCommand(noName).run([]), 2);
  assert.match(noName.err, /^tkvm: resume: missing VM name/);
  assert.equal(noName.err.split('\n').length, 2, 'one line');
});

test('tkvm stop is graceful by default, immediate with --force, and takes --all', async (t) => {
  const { io, fakes } = await setup(t, ['a', 'b']);
  const out = io();
  assert.equal(await makeStopCommand(out).run(['a']), 0);
  assert.equal(await makeStopCommand(out).run(['b', '--force']), 0);
  assert.deepEqual(fakes.map((f) => f.stopRequests), [[false], [true]]);
  assert.equal(await makeStopCommand(out).run(['--all', '--force']), 0);
  assert.deepEqual(fakes.map((f) => f.stopRequests), [[false, true], [true, true]]);
  assert.equal(out.out, 'a: asked to power off\nb: stopped\na: stopped\nb: stopped\n');
  const both = io();
  assert.equal(await makeStopCommand(both).run(['a', '--all']), 2);
  const missing = io();
  assert.equal(await makeStopCommand(missing).run(['ghost']), 1);
  assert.equal(missing.err, 'tkvm: no VM named ghost (see tkvm list)\n');
});

test('tkvm debug prints registers, segments, control registers and code bytes', async (t) => {
  const { io } = await setup(t);
  const out = io();
  assert.equal(await makeDebugCommand(out).run(['web']), 0);
  assert.match(out.out, /^vCPU 0\n/);
  assert.match(out.out, /rax=0000000000000001 +rbx=0000000000000000/);
  assert.match(out.out, /rip=ffffffff81000000 rflags=0000000000000002/);
  assert.match(out.out, /cs {2}sel=0010 base=0000000000000000 limit=ffffffff type=b dpl=0 PL-/);
  assert.match(out.out, /cr0=0000000080050033/);
  assert.match(out.out, /apic_base=00000000fee00900/);
  assert.match(out.out, /gdt=0x9000\/39\s+idt=0x0\/0/);
  assert.match(out.out, /code at rip: f4 eb fd 90\n/);
  assert.match(out.out, /vCPU 1\n[\s\S]*code at rip: \(RIP is not in guest RAM\)/);
});

test('tkvm debug --nmi / --sysrq inject instead of dumping', async (t) => {
  const { io, fakes } = await setup(t);
  const out = io();
  assert.equal(await makeDebugCommand(out).run(['web', '--nmi', '1']), 0);
  assert.equal(await makeDebugCommand(out).run(['--sysrq', 't', 'web']), 0);
  assert.deepEqual(fakes[0]?.nmis, [1]);
  assert.deepEqual(fakes[0]?.sysrqKeys, ['t']);
  assert.equal(fakes[0]?.calls.debug, 0);
  assert.equal(out.out, 'web: NMI injected into vCPU 1\nweb: SysRq t sent\n');
  for (const argv of [['web', '--nmi', 'x'], ['web', '--nmi', '-1'], ['web', '--sysrq', 'TT'], ['web', '--nmi']]) {
    const bad = io();
    assert.equal(await makeDebugCommand(bad).run(argv), 2, argv.join(' '));
    assert.match(bad.err, /^tkvm: [^\n]+\n$/);
  }
});

test('tkvm stat shows exits per vCPU, device counters and RSS', async (t) => {
  const { io } = await setup(t);
  const out = io();
  assert.equal(await makeStatCommand(out).run(['web']), 0);
  assert.equal(out.out,
    'VM web  host RSS 96M\n\nvCPU exits:\n' +
    'VCPU   HLT    IO  MMIO\n' +
    '0        7  1200    30\n' +
    '1       99     5     0\n' +
    'total  106  1205    30\n' +
    '\ndevices:\n' +
    'DEVICE       COUNTER   VALUE\n' +
    'serial0      txBytes    4096\n' +
    '             rxBytes      12\n' +
    'virtio-blk0  requests     17\n');
  const json = io();
  assert.equal(await makeStatCommand(json).run(['web', '--json']), 0);
  assert.equal(JSON.parse(json.out).rssBytes, 96 << 20);
});

test('tkvm stat --watch refreshes every second until interrupted', async (t) => {
  const { io, fakes } = await setup(t);
  const abort = new AbortController();
  const out = { ...io(), signal: abort.signal };
  const captured = io();
  out.stdout = captured.stdout;
  const started = performance.now();
  setTimeout(() => abort.abort(), 1500);
  assert.equal(await makeStatCommand(out).run(['web', '--watch', '--json']), 0);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 1500 && elapsed < 1800, `stopped ${elapsed.toFixed(0)} ms after start`);
  const lines = captured.out.trim().split('\n');
  assert.equal(lines.length, 2, 'one snapshot at once and one after a second');
  for (const line of lines) assert.equal(JSON.parse(line).vcpus.length, 2);
  assert.equal(fakes[0]?.calls.stats, 2);
});

test('tkvm list shows a VM that cannot report its info as unresponsive', async (t) => {
  const { io, fakes } = await setup(t, ['ok', 'stuck']);
  (fakes[1] as FakeController).failures.info = new Error('wedged');
  const out = io();
  assert.equal(await makeListCommand(out).run([]), 0);
  assert.match(out.out, /^ok +1000 +running/m);
  assert.match(out.out, /^stuck +- +unresponsive +- +- +-$/m);
});
