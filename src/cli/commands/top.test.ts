/** tkvm top against real control servers with fake VMMs: the plain form, and the screen's keys. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { makeTopCommand, type TopIo } from './top.js';
import type { TopAction } from '../top-screen.js';
import { FakeController } from '../../control/fake-controller.js';
import { ControlServer } from '../../control/server.js';
import { tempControlDir } from '../../control/fixtures.js';
import { sampleVms } from '../../control/top-sampler.js';
import { callVm } from '../../control/client.js';
import type { VmStats } from '../../vmm/controller.js';

// Ink (through is-in-ci) draws no frame until it unmounts when CI is set, as
// it is in .ci/run; this file's screen test reads the live frames, so it
// loads Ink with CI cleared. No test here needs /dev/kvm.
delete process.env.CI;
delete process.env.CONTINUOUS_INTEGRATION;
const { runTopScreen } = await import('../top-screen.js');

/** A fake whose exit and byte counters grow by a fixed step at every `stat`. */
class GrowingController extends FakeController {
  #calls = 0;
  constructor(name: string, pid: number, readonly increment: number) {
    super({ name, pid, cpus: 1, memBytes: 128 << 20, uptimeMs: 1000 });
  }
  override async stats(): Promise<VmStats> {
    const base = await super.stats();
    this.#calls++;
    return { ...base, vcpus: [{ id: 0, exits: { mmio: this.#calls * this.increment } }], devices: [{ name: 'virtio-net (user)', counters: { txBytes: this.#calls * this.increment * 10 } }] };
  }
}

async function setup(t: TestContext, steps: Record<string, number>) {
  const tmp = tempControlDir();
  const fakes = Object.entries(steps).map(([name, step], i) => new GrowingController(name, 2000 + i, step));
  const servers = await Promise.all(fakes.map((fake) => ControlServer.start({ name: fake.vmInfo.name, controller: fake, dir: tmp.dir })));
  t.after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    tmp.cleanup();
  });
  return { fakes, dir: tmp.dir };
}

test('tkvm top without a terminal prints one table per refresh, with rates, sorted as asked', async (t) => {
  const { dir } = await setup(t, { slow: 10, busy: 1000 });
  let out = '';
  const io: TopIo = { dir, interactive: false, stdout: (s) => void (out += s), stderr: (s) => assert.fail(s) };
  assert.equal(await makeTopCommand(io).run(['--interval', '0.2', '--iterations', '2', '--sort', 'exits']), 0);
  const tables = out.trim().split(/\n(?=\d{4}-\d\d-\d\dT)/);
  assert.equal(tables.length, 2);
  for (const table of tables) {
    const lines = table.split('\n').filter((l) => l.length > 0);
    assert.match(lines[1] ?? '', /^NAME/);
    assert.deepEqual(lines.slice(2).map((l) => l.split(/\s+/)[0]), ['busy', 'slow']);
    const busyRate = Number((lines[2] ?? '').split(/\s+/)[7]?.replace('k', 'e3'));
    // 1000 exits per refresh of at least 0.2 s: at most 5000/s, and well above zero.
    assert.ok(busyRate > 100 && busyRate <= 5100, `busy rate ${busyRate} in ${lines[2]}`);
  }
});

test('tkvm top rejects bad flags with one line', async () => {
  let err = '';
  const io: TopIo = { interactive: false, stdout: () => {}, stderr: (s) => void (err += s) };
  assert.equal(await makeTopCommand(io).run(['--sort', 'cpu%']), 2);
  assert.equal(err, 'tkvm: --sort must be one of name, exits, io, rss, cpus, got "cpu%"\n');
});

/** A terminal for Ink: a writable that records frames, and a readable the test types into. */
function fakeTerminal() {
  const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 40 }) as unknown as NodeJS.WriteStream & PassThrough;
  let screen = '';
  stdout.on('data', (chunk: Buffer) => void (screen += chunk.toString()));
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin, ref: () => stdin, unref: () => stdin }) as unknown as NodeJS.ReadStream & PassThrough;
  return { stdout, stdin, screen: () => screen };
}

async function until(condition: () => boolean, what: string, screenTail?: () => string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}${screenTail ? `; screen ends: ${JSON.stringify(screenTail())}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('the top screen lists VMs, moves the selection, and pauses, resumes and stops the selected one', async (t) => {
  const { dir, fakes } = await setup(t, { alpha: 5, beta: 5 });
  const terminal = fakeTerminal();
  const actions: Array<[string, TopAction]> = [];
  /** The VM named in the newest frame's detail panel ("NAME (pid N)"). */
  const selectedVm = (): string | undefined => [...terminal.screen().matchAll(/(\w+) \(pid \d+\)/g)].at(-1)?.[1];
  const done = runTopScreen({
    sample: () => sampleVms({ dir }),
    act: async (name, action) => {
      actions.push([name, action]);
      await callVm(name, action, action === 'stop' ? { force: false } : {}, { dir });
    },
    intervalMs: 100,
  }, terminal);
  await until(() => /alpha[^\n]*running/.test(terminal.screen()) && /beta/.test(terminal.screen()), 'both VMs on screen');
  await until(() => /exits: mmio \d+/.test(terminal.screen()), 'exit rates of the selected VM');
  terminal.stdin.write('p');
  await until(() => fakes[0]?.state === 'paused', 'alpha paused');
  terminal.stdin.write('\x1b[B'); // down: select beta
  await until(() => selectedVm() === 'beta', 'beta selected');
  terminal.stdin.write('x');
  await until(() => fakes[1]?.state === 'stopping', 'beta stopping', () => terminal.screen().slice(-600));
  terminal.stdin.write('\x1b[A'); // up: alpha again
  await until(() => selectedVm() === 'alpha', 'alpha selected again');
  terminal.stdin.write('r');
  await until(() => fakes[0]?.state === 'running', 'alpha resumed');
  terminal.stdin.write('q');
  await done;
  assert.deepEqual(actions, [['alpha', 'pause'], ['beta', 'stop'], ['alpha', 'resume']]);
  assert.deepEqual(fakes[1]?.stopRequests, [false]);
});
