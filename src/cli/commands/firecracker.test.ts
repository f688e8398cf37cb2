/**
 * `tkvm firecracker`: its flags (no KVM), and black-box boots of test
 * guests through the API socket and through a --config-file in the shape
 * of Firecracker's getting-started guide (KVM; run under
 * flock /tmp/tkvm-kvm.lock).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, guestPath, requireKvm, runTkvm } from '../../testing/kvm.js';
import { api, faultOf, waitForApi, waitForState } from '../../testing/api-client.js';
import { parseFirecrackerArgs } from './firecracker.js';

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startFirecracker(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [CLI, 'firecracker', ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(timer));
  return { child, output: () => output, exited };
}

function scratch(): string {
  return mkdtempSync(path.join(tmpdir(), 'tkvm-fc-'));
}

test('flags: defaults, and every mistake is a usage error', () => {
  const defaults = parseFirecrackerArgs([]);
  assert.equal(defaults.apiSock, '/run/firecracker.socket');
  assert.equal(defaults.maxPayloadBytes, 51_200);
  assert.equal(parseFirecrackerArgs(['--no-api', '--config-file', 'x.json']).apiSock, undefined);
  assert.equal(parseFirecrackerArgs(['--http-api-max-payload-size', '100']).maxPayloadBytes, 100);
  // Ignored Firecracker flags are accepted.
  parseFirecrackerArgs(['--no-seccomp', '--start-time-us', '123', '--start-time-cpu-us', '4', '--parent-cpu-time-us', '5', '--show-level', '--show-log-origin', '--module', 'api', '--enable-pci', '--mmds-size-limit', '1000']);
  parseFirecrackerArgs(['--seccomp-filter', '/tmp/filter.bpf']);
  const bad: string[][] = [
    ['--no-api'],
    ['--no-api', '--config-file', 'c.json', '--api-sock', '/tmp/s'],
    ['--http-api-max-payload-size', 'lots'],
    ['--http-api-max-payload-size', '0'],
    ['--id', 'has spaces'],
    ['--level', 'loud'],
    ['--bogus'],
    ['--no-seccomp', '--seccomp-filter', 'f'],
    ['--start-time-us', 'soon'],
    ['--config-file', ''],
    ['positional'],
  ];
  for (const argv of bad) assert.throws(() => parseFirecrackerArgs(argv), (err: Error & { exitCode?: number }) => err.exitCode === 2 && !err.message.includes('\n'), argv.join(' '));
});

test('--version prints "Firecracker v1.16.0", then that it is tkvm; also through a link named firecracker', async () => {
  const direct = await runTkvm(['firecracker', '--version']);
  assert.equal(direct.status, 0);
  const lines = direct.stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'Firecracker v1.16.0');
  assert.match(lines[1] ?? '', /^tkvm \d+\.\d+\.\d+: .*not Firecracker/);
  const dir = scratch();
  try {
    const link = path.join(dir, 'firecracker');
    symlinkSync(CLI, link);
    const viaLink = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [link, '--version']);
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.on('close', (status) => resolve({ status, stdout }));
    });
    assert.equal(viaLink.status, 0);
    assert.equal(viaLink.stdout, direct.stdout);
    const bad = await runTkvm(['firecracker', '--api-sock']);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trimEnd().split('\n').length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a test guest boots through the API: configure, InstanceStart, its output, its exit status', async (t) => {
  if (!requireKvm(t, 'hello')) return;
  const dir = scratch();
  const sock = path.join(dir, 'api.sock');
  const fc = startFirecracker(['--api-sock', sock, '--debug-exit'], { XDG_RUNTIME_DIR: dir });
  try {
    await waitForApi(sock);
    assert.equal((await api(sock, 'PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64 })).status, 204);
    assert.equal((await api(sock, 'PUT', '/boot-source', { kernel_image_path: guestPath('hello'), boot_args: 'console=ttyS0 exit=5' })).status, 204);
    const start = await api(sock, 'PUT', '/actions', { action_type: 'InstanceStart' });
    assert.equal(start.status, 204, start.text);
    assert.equal(start.text, '');
    assert.equal(await fc.exited, 11, fc.output()); // exit=5: (5 << 1) | 1
    assert.match(fc.output(), /Hello from tkvm test guest/);
    assert.equal(existsSync(sock), false, 'the socket is removed at exit');
  } finally {
    fc.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GET / through the lifecycle, post-boot rules, tkvm list sees the VM, SIGTERM ends it', async (t) => {
  if (!requireKvm(t, 'counter')) return;
  const dir = scratch();
  const sock = path.join(dir, 'api.sock');
  const fc = startFirecracker(['--api-sock', sock, '--id', 'fc-lifecycle'], { XDG_RUNTIME_DIR: dir });
  try {
    await waitForApi(sock);
    assert.equal(((await api(sock, 'GET', '/')).json as { state: string }).state, 'Not started');
    assert.equal((await api(sock, 'PUT', '/machine-config', { vcpu_count: 2, mem_size_mib: 64 })).status, 204);
    assert.equal((await api(sock, 'PUT', '/boot-source', { kernel_image_path: guestPath('counter'), boot_args: 'print_every=100000000' })).status, 204);
    assert.equal((await api(sock, 'PUT', '/actions', { action_type: 'InstanceStart' })).status, 204);
    await waitForState(sock, 'Running');
    assert.deepEqual((await api(sock, 'GET', '/')).json, { id: 'fc-lifecycle', state: 'Running', vmm_version: '1.16.0', app_name: 'tkvm' });

    const after = 'The requested operation is not supported after starting the microVM.';
    assert.equal(faultOf(await api(sock, 'PUT', '/actions', { action_type: 'InstanceStart' })), after);
    assert.equal(faultOf(await api(sock, 'PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64 })), after);
    assert.equal(faultOf(await api(sock, 'PUT', '/boot-source', { kernel_image_path: guestPath('hello') })), after);
    assert.equal(faultOf(await api(sock, 'PUT', '/drives/x', { drive_id: 'x', path_on_host: guestPath('hello'), is_root_device: false })), after);
    assert.equal(faultOf(await api(sock, 'PUT', '/logger', { level: 'Info' })), after);
    assert.equal((await api(sock, 'GET', '/machine-config')).status, 200);
    assert.equal(((await api(sock, 'GET', '/vm/config')).json as { 'machine-config': { vcpu_count: number } })['machine-config'].vcpu_count, 2);

    assert.equal((await api(sock, 'PATCH', '/vm', { state: 'Paused' })).status, 204);
    assert.equal(((await api(sock, 'GET', '/')).json as { state: string }).state, 'Paused');
    const list = await runTkvm(['list', '--json'], { env: { XDG_RUNTIME_DIR: dir } });
    const vms = JSON.parse(list.stdout) as Array<{ name: string; state: string; cpus: number }>;
    assert.deepEqual(vms.map((v) => [v.name, v.state, v.cpus]), [['fc-lifecycle', 'paused', 2]]);
    assert.equal((await api(sock, 'PATCH', '/vm', { state: 'Resumed' })).status, 204);
    assert.equal(((await api(sock, 'GET', '/')).json as { state: string }).state, 'Running');
    // tkvm pause through the control socket shows in the API too.
    assert.equal((await runTkvm(['pause', 'fc-lifecycle'], { env: { XDG_RUNTIME_DIR: dir } })).status, 0);
    assert.equal(((await api(sock, 'GET', '/')).json as { state: string }).state, 'Paused');
    assert.equal((await api(sock, 'PATCH', '/vm', { state: 'Resumed' })).status, 204);

    assert.equal((await api(sock, 'PUT', '/actions', { action_type: 'SendCtrlAltDel' })).status, 204);
    assert.match(faultOf(await api(sock, 'PATCH', '/drives/x', { drive_id: 'x' })), /Invalid block device ID: x/);
    fc.child.kill('SIGTERM');
    assert.equal(await fc.exited, 143, fc.output());
  } finally {
    fc.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--config-file in the shape of Firecracker's getting-started guide boots a test guest with its drive", async (t) => {
  if (!requireKvm(t, 'virtio-blk')) return;
  const dir = scratch();
  try {
    const rootfs = path.join(dir, 'rootfs.ext4');
    writeFileSync(rootfs, Buffer.alloc(1 << 20));
    const config = path.join(dir, 'vm_config.json');
    writeFileSync(config, JSON.stringify({
      'boot-source': { kernel_image_path: guestPath('virtio-blk'), boot_args: 'console=ttyS0 reboot=k panic=1 pci=off', initrd_path: null },
      drives: [{ drive_id: 'rootfs', partuuid: null, is_root_device: true, cache_type: 'Unsafe', is_read_only: false, path_on_host: rootfs, io_engine: 'Sync', rate_limiter: null, socket: null }],
      'machine-config': { vcpu_count: 2, mem_size_mib: 128, smt: false, track_dirty_pages: false, huge_pages: 'None' },
      'cpu-config': null, balloon: null, 'network-interfaces': [], vsock: null, logger: null, metrics: null, 'mmds-config': null, entropy: null, pmem: [], 'memory-hotplug': null,
    }, null, 2));
    const fc = startFirecracker(['--no-api', '--config-file', config, '--debug-exit'], { XDG_RUNTIME_DIR: dir });
    assert.equal(await fc.exited, 33, fc.output());
    assert.match(fc.output(), /virtio-blk ok/);
    // A config file naming a missing kernel fails before boot with one line.
    writeFileSync(config, JSON.stringify({ 'boot-source': { kernel_image_path: path.join(dir, 'nope') } }));
    const bad = await runTkvm(['firecracker', '--no-api', '--config-file', config], { env: { XDG_RUNTIME_DIR: dir } });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^tkvm: kernel_image_path .*nope cannot be opened: ENOENT\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Polls `output` until it matches `pattern`, or fails after `timeoutMs`. */
async function waitForOutput(running: Running, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(running.output())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in the output within ${timeoutMs} ms:\n${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('PATCH /drives after boot: the guest sees the new file and its capacity through a config-change interrupt', async (t) => {
  if (!requireKvm(t, 'virtio-blk-resize')) return;
  const dir = scratch();
  const sock = path.join(dir, 'api.sock');
  // A zero-length placeholder, as Kata creates, later swapped for a 24-sector disk.
  const placeholder = path.join(dir, 'placeholder.img');
  writeFileSync(placeholder, '');
  const disk = Buffer.alloc(24 * 512);
  disk.write('NEWDISK!', 0);
  disk.write('LASTSECT', 23 * 512);
  const replacement = path.join(dir, 'replacement.img');
  writeFileSync(replacement, disk);
  const fc = startFirecracker(['--api-sock', sock, '--debug-exit'], { XDG_RUNTIME_DIR: dir });
  try {
    await waitForApi(sock);
    assert.equal((await api(sock, 'PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64 })).status, 204);
    assert.equal((await api(sock, 'PUT', '/boot-source', { kernel_image_path: guestPath('virtio-blk-resize'), boot_args: 'console=ttyS0' })).status, 204);
    assert.equal((await api(sock, 'PUT', '/drives/scratch', { drive_id: 'scratch', path_on_host: placeholder, is_root_device: false })).status, 204);
    assert.equal((await api(sock, 'PUT', '/actions', { action_type: 'InstanceStart' })).status, 204);
    await waitForOutput(fc, /waiting for a config change/);
    assert.match(fc.output(), /capacity 0 generation 0\n/);
    // Refused changes leave the running disk alone.
    assert.match(faultOf(await api(sock, 'PATCH', '/drives/other', { drive_id: 'other', path_on_host: replacement })), /Invalid block device ID: other/);
    assert.match(faultOf(await api(sock, 'PATCH', '/drives/scratch', { drive_id: 'scratch', path_on_host: path.join(dir, 'missing.img') })), /ENOENT/);
    assert.match(faultOf(await api(sock, 'PATCH', '/drives/scratch', { drive_id: 'scratch', path_on_host: dir })), /not a regular file or a block device/);
    assert.match(faultOf(await api(sock, 'PATCH', '/drives/scratch', { drive_id: 'scratch', rate_limiter: { ops: { size: 10, refill_time: 100 } } })), /does not support rate limiters/);
    assert.doesNotMatch(fc.output(), /after \d+ interrupts/);
    const patch = await api(sock, 'PATCH', '/drives/scratch', { drive_id: 'scratch', path_on_host: replacement });
    assert.equal(patch.status, 204, patch.text);
    assert.equal(await fc.exited, 33, fc.output());
    assert.match(fc.output(), /virtio-blk-resize: capacity 24 generation [1-9]\d* after 1 interrupts/);
    assert.match(fc.output(), /sector 0: NEWDISK!/);
    assert.match(fc.output(), /sector 23: LASTSECT/);
    assert.match(fc.output(), /virtio-blk-resize ok/);
  } finally {
    fc.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
