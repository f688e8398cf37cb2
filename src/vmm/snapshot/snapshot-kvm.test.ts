/**
 * Snapshot and restore of a real VM, through the CLI as an operator would
 * use it, with the counter test guest: it increments a 64-bit counter at
 * guest-physical 0x300000 and prints "counter N" every 20000 increments.
 * Needs /dev/kvm (run under flock /tmp/tkvm-kvm.lock).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, guestPath, requireKvm, runTkvm } from '../../testing/kvm.js';

const COUNTER_ADDR = 0x300000;
const PRINT_EVERY = 20000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface BackgroundVm {
  child: ReturnType<typeof spawn>;
  stdout: string;
  stderr: string;
  exit: Promise<number | null>;
}

function background(args: string[], env: NodeJS.ProcessEnv): BackgroundVm {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const vm: BackgroundVm = { child, stdout: '', stderr: '', exit: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { vm.stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { vm.stderr += d; });
  return vm;
}

function startCounter(name: string, env: NodeJS.ProcessEnv): BackgroundVm {
  return background(['run', '--kernel', guestPath('counter'), '--cpus', '2', '--mem', '64M', '--name', name, '--cmdline', `print_every=${PRINT_EVERY}`], env);
}

async function waitFor(pred: () => boolean, what: string, vm: BackgroundVm, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout: ${vm.stdout.slice(-300)}; stderr: ${vm.stderr.slice(-300)}`);
    await sleep(50);
  }
}

const counterValues = (stdout: string): number[] => [...stdout.matchAll(/counter (\d+)/g)].map((m) => Number(m[1]));

function memoryFile(dir: string): string {
  const name = readdirSync(dir).find((n) => /^memory-[0-9a-f]{16}$/.test(n));
  assert.ok(name, `no memory file in ${dir}: ${readdirSync(dir).join(', ')}`);
  return path.join(dir, name);
}

/** The counter as the snapshot saved it, read from the memory file (guest-physical = file offset below 3 GiB). */
function savedCounter(dir: string): number {
  const bytes = readFileSync(memoryFile(dir)).subarray(COUNTER_ADDR, COUNTER_ADDR + 8);
  return Number(Buffer.from(bytes).readBigUInt64LE(0));
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function setup(t: { after: (fn: () => void) => void }): { work: string; env: NodeJS.ProcessEnv } {
  const work = mkdtempSync(path.join(tmpdir(), 'tkvm-snapshot-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  return { work, env: { ...process.env, XDG_RUNTIME_DIR: work } };
}

/** Boots the counter, snapshots it with --stop, and returns the snapshot directory and the value saved. */
async function counterSnapshot(work: string, env: NodeJS.ProcessEnv, t: { after: (fn: () => void) => void }): Promise<{ dir: string; saved: number; before: BackgroundVm }> {
  const name = `counter-${process.pid}`;
  const vm = startCounter(name, env);
  t.after(() => vm.child.kill('SIGKILL'));
  await waitFor(() => counterValues(vm.stdout).length >= 2, 'the counter to run', vm);
  const dir = path.join(work, 'snap');
  const snap = await runTkvm(['snapshot', name, dir, '--stop'], { env });
  assert.equal(snap.status, 0, snap.stderr);
  assert.match(snap.stdout, new RegExp(`^${name}: snapshot in ${dir} \\(memory .* of 64 MiB, \\d+ of \\d+ touched pages; \\d+ ms\\); stopped\\n$`));
  assert.equal(await vm.exit, 0, `the snapshotted VM ends with status 0 after --stop: ${vm.stderr}`);
  const saved = savedCounter(dir);
  const printed = counterValues(vm.stdout);
  assert.ok(saved >= printed[printed.length - 1]!, `saved ${saved} is below the last value printed, ${printed[printed.length - 1]}`);
  return { dir, saved, before: vm };
}

function assertContinues(stdout: string, saved: number, what: string): void {
  const values = counterValues(stdout);
  assert.ok(values.length >= 2, `${what}: ${stdout.slice(0, 300)}`);
  assert.doesNotMatch(stdout, /counter at/, `${what} booted again instead of continuing`);
  // The first value printed is the first multiple of PRINT_EVERY the counter reaches from where it was saved.
  assert.ok(values[0]! >= saved && values[0]! <= saved + PRINT_EVERY, `${what}: first value ${values[0]} does not follow the saved ${saved}`);
  assert.ok(values.every((v, i) => i === 0 || v === values[i - 1]! + PRINT_EVERY), `${what}: values do not count on: ${values.slice(0, 10).join(' ')}`);
}

test('snapshot --stop, then restore: the counter continues from where it stopped; a snapshot with --resume lets it run on', async (t) => {
  if (!requireKvm(t, 'counter')) return;
  const { work, env } = setup(t);
  const { dir, saved } = await counterSnapshot(work, env, t);
  // Sparse: the 64 MiB guest touched a few pages; the file's blocks are far fewer than its size.
  const memory = statSync(memoryFile(dir));
  assert.equal(memory.size, 64 * 1024 * 1024);
  assert.ok(memory.blocks * 512 < 1024 * 1024, `the memory file takes ${memory.blocks * 512} bytes on disk`);

  const restored = background(['run', '--restore', dir, '--name', `restored-${process.pid}`], env);
  t.after(() => restored.child.kill('SIGKILL'));
  await waitFor(() => counterValues(restored.stdout).length >= 3, 'the restored counter to run', restored);
  assertContinues(restored.stdout, saved, 'the restored VM');

  // A snapshot that resumes: the VM runs on, and the new snapshot holds a later counter.
  const again = path.join(work, 'snap2');
  const snap = await runTkvm(['snapshot', `restored-${process.pid}`, again], { env });
  assert.equal(snap.status, 0, snap.stderr);
  const printed = counterValues(restored.stdout).length;
  await waitFor(() => counterValues(restored.stdout).length >= printed + 2, 'the counter to run on after --resume', restored);
  assert.ok(savedCounter(again) > saved, 'the second snapshot holds a later counter');
  const stop = await runTkvm(['stop', '--force', `restored-${process.pid}`], { env });
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(await restored.exit, 0);
});

test('two restores of the same snapshot are two independent VMs, and the memory file stays as it was', async (t) => {
  if (!requireKvm(t, 'counter')) return;
  const { work, env } = setup(t);
  const { dir, saved } = await counterSnapshot(work, env, t);
  const before = sha256(memoryFile(dir));
  const a = background(['run', '--restore', dir, '--name', `a-${process.pid}`], env);
  const b = background(['run', '--restore', dir, '--name', `b-${process.pid}`], env);
  t.after(() => { a.child.kill('SIGKILL'); b.child.kill('SIGKILL'); });
  await waitFor(() => counterValues(a.stdout).length >= 3, 'VM a to count', a);
  await waitFor(() => counterValues(b.stdout).length >= 3, 'VM b to count', b);
  assertContinues(a.stdout, saved, 'VM a');
  assertContinues(b.stdout, saved, 'VM b');

  // Stopping one leaves the other running.
  assert.equal((await runTkvm(['stop', '--force', `a-${process.pid}`], { env })).status, 0);
  assert.equal(await a.exit, 0);
  const counted = counterValues(b.stdout).length;
  await waitFor(() => counterValues(b.stdout).length >= counted + 2, 'VM b to go on alone', b);
  const list = await runTkvm(['list', '--json'], { env });
  assert.deepEqual((JSON.parse(list.stdout) as Array<{ name: string }>).map((v) => v.name), [`b-${process.pid}`]);
  assert.equal((await runTkvm(['stop', '--force', `b-${process.pid}`], { env })).status, 0);
  assert.equal(await b.exit, 0);
  // Copy-on-write: both guests wrote their counters, the file did not change.
  assert.equal(sha256(memoryFile(dir)), before);
});

test('a corrupt, truncated or mismatched snapshot is refused with one line and a non-zero status, and nothing starts', async (t) => {
  if (!requireKvm(t, 'counter')) return;
  const { work, env } = setup(t);
  const { dir } = await counterSnapshot(work, env, t);
  const variant = (name: string, damage: (copy: string) => void): string => {
    const copy = path.join(work, name);
    cpSync(dir, copy, { recursive: true });
    damage(copy);
    return copy;
  };
  const state = (d: string): string => path.join(d, 'state');
  const cases: Array<{ what: string; dir: string; message: RegExp }> = [
    { what: 'a flipped byte in the state', dir: variant('flipped', (d) => { const b = readFileSync(state(d)); b[b.length >> 1]! ^= 0x40; writeFileSync(state(d), b); }), message: /corrupt \(checksum mismatch\)/ },
    { what: 'a truncated state file', dir: variant('short-state', (d) => truncateSync(state(d), 1000)), message: /truncated/ },
    { what: 'a truncated memory file', dir: variant('short-memory', (d) => truncateSync(memoryFile(d), 4096)), message: /memory file .* has 4096 bytes, the VM has 67108864/ },
    { what: 'another format version', dir: variant('version', (d) => { const b = readFileSync(state(d)); b.writeUInt32LE(99, 8); writeFileSync(state(d), b); }), message: /snapshot format version 99; this tkvm reads version 1 only/ },
    { what: 'a missing memory file', dir: variant('no-memory', (d) => rmSync(memoryFile(d))), message: /memory file .* is missing/ },
    { what: 'no snapshot at all', dir: path.join(work, 'nothing-here'), message: /no snapshot in/ },
  ];
  for (const c of cases) {
    const r = await runTkvm(['run', '--restore', c.dir, '--name', `bad-${process.pid}`], { env, timeoutMs: 15_000 });
    assert.equal(r.status, 1, `${c.what}: ${r.stderr}`);
    assert.match(r.stderr, c.message, c.what);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${c.what}: more than one line: ${r.stderr}`);
    assert.match(r.stderr, /^tkvm: /, c.what);
    assert.equal(r.stdout, '', `${c.what}: the guest ran`);
  }
  const usage = await runTkvm(['run', '--restore', dir, '--kernel', guestPath('counter')], { env });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--kernel cannot be used with --restore/);
  const list = await runTkvm(['list', '--json'], { env });
  assert.deepEqual(JSON.parse(list.stdout), [], 'a refused restore left a VM behind');
});
