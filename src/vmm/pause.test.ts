import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireKvm, guestPath } from '../testing/kvm.js';
import { type Pausable, VmPause } from './pause.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A simulated vCPU: parks a few ms after being asked, or never when `deaf`. */
class SimVcpu implements Pausable {
  readonly id: number;
  deaf = false;
  command: 'run' | 'pause' = 'run';
  parked = false;
  constructor(id: number) {
    this.id = id;
  }
  async pause(timeoutMs = 50): Promise<void> {
    this.command = 'pause';
    const deadline = Date.now() + timeoutMs;
    await sleep(5);
    while (this.deaf) {
      if (Date.now() > deadline) throw new Error(`vCPU ${this.id} did not respond within ${timeoutMs} ms`);
      await sleep(5);
    }
    if (this.command === 'pause') this.parked = true;
  }
  resume(): void {
    this.command = 'run';
    this.parked = false;
  }
}

function vm(n: number, ending = () => false): { vcpus: SimVcpu[]; pause: VmPause } {
  const vcpus = Array.from({ length: n }, (_, i) => new SimVcpu(i));
  return { vcpus, pause: new VmPause(vcpus, ending, { timeoutMs: 50 }) };
}

const allRunning = (vcpus: SimVcpu[]): boolean => vcpus.every((v) => v.command === 'run' && !v.parked);
const allParked = (vcpus: SimVcpu[]): boolean => vcpus.every((v) => v.command === 'pause' && v.parked);

test('a pause that one vCPU misses leaves every vCPU running, and says so', async () => {
  const { vcpus, pause } = vm(3);
  vcpus[1]!.deaf = true;
  await assert.rejects(pause.pause(), { code: 'ERR_PAUSE_TIMEOUT', message: /vCPU 1 did not pause.*running/ });
  assert.equal(pause.paused, false);
  assert.ok(allRunning(vcpus), JSON.stringify(vcpus));
  // Once the vCPU answers again, pause and resume work as usual.
  vcpus[1]!.deaf = false;
  await pause.pause();
  assert.ok(pause.paused && allParked(vcpus));
  await pause.resume();
  assert.ok(!pause.paused && allRunning(vcpus));
});

test('a register read that a vCPU misses fails, and the VM runs on', async () => {
  const { vcpus, pause } = vm(2);
  vcpus[0]!.deaf = true;
  let read = false;
  await assert.rejects(pause.whileParked(() => { read = true; }), { code: 'ERR_PAUSE_TIMEOUT' });
  assert.equal(read, false);
  assert.ok(!pause.paused && allRunning(vcpus));
});

test('debug does not undo an operator pause that arrives while it reads registers', async () => {
  const { vcpus, pause } = vm(2);
  const debug = pause.whileParked(() => allParked(vcpus));
  const operator = pause.pause(); // same tick: queued behind debug's own pause
  assert.equal(await debug, true);
  await operator;
  assert.equal(pause.paused, true);
  await sleep(20);
  assert.ok(allParked(vcpus), 'debug resumed a VM the operator paused');
  await pause.resume();
  assert.ok(allRunning(vcpus));
});

test('pause, then debug: still paused; debug on a running VM leaves it running', async () => {
  const { vcpus, pause } = vm(2);
  await pause.pause();
  assert.equal(await pause.whileParked(() => allParked(vcpus)), true);
  assert.ok(pause.paused && allParked(vcpus));
  await pause.resume();
  assert.equal(await pause.whileParked(() => allParked(vcpus)), true);
  assert.ok(!pause.paused && allRunning(vcpus));
});

test('an operator resume during a register read takes effect after it', async () => {
  const { vcpus, pause } = vm(2);
  await pause.pause();
  const debug = pause.whileParked(() => allParked(vcpus));
  const resumed = pause.resume();
  assert.equal(await debug, true);
  await resumed;
  assert.ok(!pause.paused && allRunning(vcpus));
});

test('no pause once the VM is stopping', async () => {
  let ending = false;
  const { vcpus, pause } = vm(1, () => ending);
  ending = true;
  await pause.pause();
  assert.ok(!pause.paused && allRunning(vcpus));
});

test('KVM: pause, then debug, and a pause racing a debug: the VM stays paused', async (t) => {
  if (!requireKvm(t, 'counter')) return;
  const { Machine } = await import('./machine.js');
  const machine = new Machine({ kernelPath: guestPath('counter'), cmdline: 'print_every=20000', cpus: 2, memBytes: 32 << 20, name: `pause-${process.pid}` });
  const ended = machine.run();
  t.after(async () => {
    await machine.stop(true);
    await ended;
  });
  const exits = (): number => machine.exitCounts().reduce((sum, c) => sum + (c['io'] ?? 0), 0);
  const frozen = async (): Promise<boolean> => {
    await sleep(50);
    const before = exits();
    await sleep(300);
    return exits() === before;
  };
  for (let i = 0; exits() < 10; i++) {
    assert.ok(i < 400, 'the counter guest never ran');
    await sleep(25);
  }
  assert.equal(await frozen(), false);

  await machine.pause();
  assert.equal((await machine.debug()).length, 2);
  assert.equal(machine.info().state, 'paused', 'state after pause, debug');
  assert.equal(await frozen(), true, 'debug resumed a paused VM');
  await machine.resume();
  assert.equal(machine.info().state, 'running');
  assert.equal(await frozen(), false);

  // An operator's pause that arrives while debug has the VM paused for its read.
  const [regs] = await Promise.all([machine.debug(), machine.pause()]);
  assert.equal(regs.length, 2);
  assert.equal(machine.info().state, 'paused', 'state after a pause that raced a debug');
  assert.equal(await frozen(), true, 'debug undid the operator pause');
  await machine.resume();
  assert.equal(await frozen(), false);
});
