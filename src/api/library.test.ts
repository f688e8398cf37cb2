/**
 * The library as a user gets it: a Node script in another directory
 * imports 'tkvm' by name (through package.json "exports", from a
 * node_modules link to this checkout), runs a test guest to its exit,
 * then pauses, resumes and stops a second one; and a TypeScript file
 * using it type-checks against the shipped .d.ts files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { guestPath, REPO_ROOT, requireKvm } from '../testing/kvm.js';

/** A project directory whose node_modules/tkvm is this checkout. */
function userProject(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tkvm-lib-'));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(REPO_ROOT, path.join(dir, 'node_modules', 'tkvm'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'user', type: 'module', private: true }));
  return dir;
}

const SCRIPT = `
import { createVm } from 'tkvm';
const [hello, counter] = process.argv.slice(2);
const vm = createVm({ 'boot-source': { kernel_image_path: hello, boot_args: 'console=ttyS0' }, 'machine-config': { vcpu_count: 1, mem_size_mib: 64 } }, { debugExit: true });
const events = [];
let console1 = '';
vm.console.setEncoding('utf8').on('data', (d) => { console1 += d; });
vm.on('start', () => events.push('start'));
vm.on('exit', (e) => events.push('exit ' + e.status));
await vm.start();
const exit = await vm.wait();

const vm2 = createVm({ 'boot-source': { kernel_image_path: counter, boot_args: 'print_every=1000' }, 'machine-config': { vcpu_count: 2, mem_size_mib: 64 } });
vm2.console.resume();
await vm2.start();
const states = [vm2.state];
await vm2.pause();
states.push(vm2.state);
await vm2.resume();
states.push(vm2.state);
const stopped = await vm2.stop({ force: true });
states.push(vm2.state);
console.log(JSON.stringify({ exit, console1, events, names: [vm.name, vm2.name], states, stopped }));
`;

test("a Node script that imports 'tkvm' runs a guest to its exit, and pauses, resumes and stops another", async (t) => {
  if (!requireKvm(t, 'hello') || !requireKvm(t, 'counter')) return;
  const dir = userProject();
  try {
    writeFileSync(path.join(dir, 'main.mjs'), SCRIPT);
    const run = spawnSync(process.execPath, ['main.mjs', guestPath('hello'), guestPath('counter')], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDG_RUNTIME_DIR: dir } });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      exit: { status: number; clean: boolean }; console1: string; events: string[]; names: string[]; states: string[]; stopped: { status: number };
    };
    assert.equal(result.exit.status, 33);
    assert.equal(result.exit.clean, true);
    assert.match(result.console1, /Hello from tkvm test guest/);
    assert.deepEqual(result.events, ['start', 'exit 33']);
    assert.equal(result.names[0], `guest-${run.pid}`);
    assert.equal(result.names[1], `guest-${run.pid}-2`);
    assert.deepEqual(result.states, ['running', 'paused', 'running', 'exited']);
    assert.equal(result.stopped.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("TypeScript code using 'tkvm' type-checks against the package's .d.ts files", () => {
  const dir = userProject();
  try {
    writeFileSync(path.join(dir, 'main.ts'), [
      "import { createVm, type VmExit, ApiError } from 'tkvm';",
      "const vm = createVm({ 'boot-source': { kernel_image_path: 'bzImage' }, drives: [{ drive_id: 'rootfs', path_on_host: 'root.img', is_root_device: true }] }, { name: 'web' });",
      "const state: 'created' | 'starting' | 'running' | 'paused' | 'stopping' | 'exited' = vm.state;",
      'vm.on(\'exit\', (e: VmExit) => { const n: number = e.status; void n; });',
      'export const done: Promise<VmExit> = vm.wait();',
      'export const isApiError = (e: unknown): boolean => e instanceof ApiError;',
      'void state;',
      '// @ts-expect-error: the resource model has no field "cpus"',
      "createVm({ 'machine-config': { cpus: 2 } });",
    ].join('\n'));
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [path.join(REPO_ROOT, 'node_modules/@types')] }, files: ['main.ts'] }));
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
