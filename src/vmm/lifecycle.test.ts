/**
 * Management of running test guests through the control socket, driven by
 * the CLI exactly as an operator would: list, pause/resume, debug, stop,
 * and name conflicts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireKvm, guestPath, runTkvm, CLI } from '../testing/kvm.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A VM running in the background, with its own control directory. */
function startVm(name: string, guest: string, cmdline: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CLI, 'run', '--debug-exit', '--kernel', guestPath(guest), '--mem', '32M', '--name', name, '--cmdline', cmdline], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const vm = { child, stdout: '', stderr: '', exit: new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code))) };
  child.stdout.setEncoding('utf8').on('data', (d: string) => { vm.stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { vm.stderr += d; });
  return vm;
}

async function waitFor(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function counterValues(stdout: string): number[] {
  return [...stdout.matchAll(/counter (\d+)/g)].map((m) => Number(m[1]));
}

test('list, pause/resume, debug and stop a running guest', async (t) => {
  if (!requireKvm(t, 'counter')) return;
  const runtimeDir = mkdtempSync(path.join(tmpdir(), 'tkvm-lifecycle-'));
  t.after(() => rmSync(runtimeDir, { recursive: true, force: true }));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  const name = `counter-${process.pid}`;
  const vm = startVm(name, 'counter', 'print_every=20000', env);
  t.after(() => vm.child.kill('SIGKILL'));
  await waitFor(() => counterValues(vm.stdout).length >= 2, 'the counter to run');

  // list shows it, running
  const list = await runTkvm(['list', '--json'], { env });
  assert.equal(list.status, 0, list.stderr);
  const vms = JSON.parse(list.stdout) as Array<{ name: string; state: string; cpus: number; pid: number }>;
  const entry = vms.find((v) => v.name === name);
  assert.ok(entry, list.stdout);
  assert.equal(entry.state, 'running');
  assert.equal(entry.pid, vm.child.pid);

  // a second VM with the same name is refused, and the first keeps running
  const dup = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('hello'), '--mem', '32M', '--name', name], { env });
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /already running/);
  assert.doesNotMatch(dup.stdout, /Hello/);

  // pause: the counter stays frozen for 0.5 s
  const paused = await runTkvm(['pause', name], { env });
  assert.equal(paused.status, 0, paused.stderr);
  await sleep(150); // let console output already produced drain
  const frozen = counterValues(vm.stdout).length;
  await sleep(500);
  assert.equal(counterValues(vm.stdout).length, frozen, 'counter moved while paused');
  const listPaused = JSON.parse((await runTkvm(['list', '--json'], { env })).stdout) as Array<{ name: string; state: string }>;
  assert.equal(listPaused.find((v) => v.name === name)?.state, 'paused');

  // debug: RIP is inside the guest image (linked at 0x200000)
  const debug = await runTkvm(['debug', name, '--json'], { env });
  assert.equal(debug.status, 0, debug.stderr);
  const cpus = JSON.parse(debug.stdout) as Array<{ regs: { rip: string }; codeAtRip: string | null }>;
  const rip = Number(cpus[0]!.regs.rip);
  assert.ok(rip >= 0x200000 && rip < 0x210000, `RIP 0x${rip.toString(16)}`);
  assert.ok(cpus[0]!.codeAtRip);
  // debug did not undo the pause (defect 6)
  const listAfterDebug = JSON.parse((await runTkvm(['list', '--json'], { env })).stdout) as Array<{ name: string; state: string }>;
  assert.equal(listAfterDebug.find((v) => v.name === name)?.state, 'paused');
  await sleep(300);
  assert.equal(counterValues(vm.stdout).length, frozen, 'counter moved after debug on a paused VM');

  // resume: it moves again
  const resumed = await runTkvm(['resume', name], { env });
  assert.equal(resumed.status, 0, resumed.stderr);
  await waitFor(() => counterValues(vm.stdout).length > frozen + 1, 'the counter to move after resume');

  // stat: exit counters and RSS
  const stat = await runTkvm(['stat', name, '--json'], { env });
  assert.equal(stat.status, 0, stat.stderr);
  const stats = JSON.parse(stat.stdout) as { vcpus: Array<{ exits: Record<string, number> }>; rssBytes: number };
  assert.ok(stats.vcpus[0]!.exits['io']! > 0);
  assert.ok(stats.rssBytes > 0);

  // stop ends it with status 0 and removes it from the list
  const stop = await runTkvm(['stop', name, '--force'], { env });
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(await vm.exit, 0, vm.stderr);
  const after = JSON.parse((await runTkvm(['list', '--json'], { env })).stdout) as Array<{ name: string }>;
  assert.equal(after.find((v) => v.name === name), undefined);
});

test('a graceful stop presses Ctrl-Alt-Del and, when the guest ignores it, stops it after the grace period with status 0', async (t) => {
  if (!requireKvm(t, 'halt')) return;
  const runtimeDir = mkdtempSync(path.join(tmpdir(), 'tkvm-lifecycle-'));
  t.after(() => rmSync(runtimeDir, { recursive: true, force: true }));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  const name = `halt-${process.pid}`;
  const vm = startVm(name, 'halt', '', env);
  t.after(() => vm.child.kill('SIGKILL'));
  await waitFor(() => vm.stdout.includes('halting'), 'the guest to halt');
  const started = Date.now();
  const stop = await runTkvm(['stop', name], { env });
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(await vm.exit, 0, vm.stderr);
  const waited = Date.now() - started;
  assert.ok(waited >= 9_000 && waited < 20_000, `stopped after ${waited} ms`);
  assert.match(vm.stderr, /did not power off/);
});
