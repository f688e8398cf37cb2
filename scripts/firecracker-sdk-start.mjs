#!/usr/bin/env node
// Does what firecracker-go-sdk's Machine.Start does, against tkvm run as
// `firecracker` (a link to tkvm's CLI, as busybox applets are):
//   1. start the process with --api-sock; poll GET /machine-config until it answers
//   2. PUT /machine-config, then GET /machine-config
//   3. PUT /boot-source, then PUT /drives/rootfs
//   4. PUT /actions InstanceStart
//   5. poll GET / until the state is Running
// then, with --console REGEX, waits for the guest to print REGEX, and
// finally stops the VM (SIGTERM, as an orchestrator does) and prints one
// JSON line of what happened and when. Exit status 0 when every step did
// as Firecracker would, 1 otherwise.
//
//   node scripts/firecracker-sdk-start.mjs --kernel FILE [--initrd FILE]
//        [--boot-args ARGS] [--console REGEX] [--timeout SECONDS] [--tkvm FILE]
//
// Without --kernel it boots the default guest kit (`tkvm setup` paths).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    'boot-args': { type: 'string', default: 'console=ttyS0 reboot=k panic=1 pci=off' },
    console: { type: 'string' },
    timeout: { type: 'string', default: '60' },
    tkvm: { type: 'string', default: path.join(repo, 'dist/tkvm/main.js') },
  },
});
const timeoutMs = Number(opts.timeout) * 1000;

class StepFailed extends Error {}

function fail(message) {
  throw new StepFailed(message);
}

/** The default guest kit's kernel and initrd, from `tkvm setup`'s last lines. */
function kitPaths() {
  const out = execFileSync(process.execPath, [opts.tkvm, 'setup'], { encoding: 'utf8' });
  const find = (label) => new RegExp(`^${label}: (\\S+)`, 'm').exec(out)?.[1] ?? fail(`tkvm setup printed no ${label} path`);
  return { kernel: find('kernel'), initrd: find('initrd') };
}

function call(socketPath, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, method, path: urlPath, headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** As the SDK: PUT and PATCH must answer 204 (any other 2xx is an error to it), GET 200. */
async function expect(socketPath, method, urlPath, body) {
  const res = await call(socketPath, method, urlPath, body);
  const want = method === 'GET' ? 200 : 204;
  if (res.status !== want) fail(`${method} ${urlPath} answered ${res.status} ${res.text}, not ${want}`);
  return res.json;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function poll(what, fn) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(10);
  }
}

let guest;
try {
  guest = opts.kernel ? { kernel: opts.kernel, initrd: opts.initrd } : kitPaths();
} catch (err) {
  process.stderr.write(`firecracker-sdk-start: ${err.message}\n`);
  process.exit(1);
}
const dir = mkdtempSync(path.join(tmpdir(), 'fc-sdk-'));
const socketPath = path.join(dir, 'firecracker.socket');
const firecracker = path.join(dir, 'firecracker');
symlinkSync(opts.tkvm, firecracker);
const rootfs = path.join(dir, 'rootfs.img');
writeFileSync(rootfs, Buffer.alloc(8 << 20));

const t0 = Date.now();
const marks = {};
const mark = (name) => { marks[name] = Date.now() - t0; };
let output = '';
let exitStatus;
let failure;
const child = spawn(process.execPath, [firecracker, '--api-sock', socketPath, '--id', `sdk-${process.pid}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_RUNTIME_DIR: dir } });
child.stdout.setEncoding('utf8').on('data', (d) => { output = (output + d).slice(-65536); });
child.stderr.setEncoding('utf8').on('data', (d) => { output = (output + d).slice(-65536); });
const exited = new Promise((resolve) => child.on('close', (status, signal) => { exitStatus = status ?? signal; resolve(); }));

try {
  // 1. The SDK's waitForSocket: GET /machine-config until it answers.
  await poll('the API socket', async () => (await call(socketPath, 'GET', '/machine-config')).status === 200);
  mark('apiReady');
  // 2. CreateMachine.
  const machine = { vcpu_count: 1, mem_size_mib: 512, smt: false };
  await expect(socketPath, 'PUT', '/machine-config', machine);
  const got = await expect(socketPath, 'GET', '/machine-config');
  if (got.vcpu_count !== machine.vcpu_count || got.mem_size_mib !== machine.mem_size_mib) fail(`GET /machine-config gave ${JSON.stringify(got)}`);
  // 3. CreateBootSource, AttachDrives.
  await expect(socketPath, 'PUT', '/boot-source', { kernel_image_path: guest.kernel, boot_args: opts['boot-args'], ...(guest.initrd ? { initrd_path: guest.initrd } : {}) });
  await expect(socketPath, 'PUT', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: rootfs, is_root_device: true, is_read_only: false });
  // 4. startInstance.
  await expect(socketPath, 'PUT', '/actions', { action_type: 'InstanceStart' });
  mark('instanceStarted');
  // 5. Until GET / says Running.
  await poll('state Running', async () => (await call(socketPath, 'GET', '/')).json?.state === 'Running');
  mark('running');
  if (opts.console) {
    const pattern = new RegExp(opts.console);
    await poll(`the guest console to print ${pattern}`, async () => pattern.test(output));
    mark('consoleSign');
  }
} catch (err) {
  if (!(err instanceof StepFailed)) throw err;
  failure = err.message;
} finally {
  child.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
}
// SIGTERM ends a running VM with 128 + 15, as it ends tkvm run.
const ok = failure === undefined && exitStatus === 143;
process.stdout.write(`${JSON.stringify({ ok, kernel: guest.kernel, marksMs: marks, exitStatus, ...(failure ? { failure } : {}) })}\n`);
if (!ok) {
  process.stderr.write(`firecracker-sdk-start: ${failure ?? `exit status ${exitStatus}, not 143`}; last output:\n${output.slice(-2000)}\n`);
  process.exitCode = 1;
}
