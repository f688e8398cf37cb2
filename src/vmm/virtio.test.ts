/**
 * virtio over PCI end to end: test guests drive real virtio-pci functions
 * (MSI-X, ioeventfd kicks, device threads) under tkvm run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireKvm, guestPath, runTkvm } from '../testing/kvm.js';

const SUCCESS = (0x10 << 1) | 1;

function tempImage(t: { after: (fn: () => void) => void }, bytes = 1 << 20): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tkvm-virtio-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'disk.img');
  writeFileSync(file, Buffer.alloc(bytes));
  return file;
}

test('virtio-blk: the guest writes, flushes and reads back sectors with MSI-X; the data lands in the image', async (t) => {
  if (!requireKvm(t, 'virtio-blk')) return;
  const image = tempImage(t);
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('virtio-blk'), '--mem', '32M', '--disk', `${image},serial=tkvm-test-7`, '--cmdline', 'serial=tkvm-test-7 sector=5']);
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /virtio-blk serial: tkvm-test-7/);
  assert.match(r.stdout, /virtio-blk ok/);
  assert.match(r.stdout, /(\d+) requests, \1 interrupts/); // every completion was an MSI-X interrupt
  // The guest's pattern: byte i of the 8-sector buffer is i*7 + 3 + (i >> 9), written at sector 5.
  const disk = readFileSync(image);
  for (const i of [0, 1, 511, 512, 4095]) assert.equal(disk[5 * 512 + i], (i * 7 + 3 + (i >> 9)) & 0xff, `byte ${i}`);
  assert.equal(disk[4 * 512 + 511], 0);
  assert.equal(disk[13 * 512], 0);
});

test('virtio-blk: a read-only disk refuses writes with IOERR and stays unchanged', async (t) => {
  if (!requireKvm(t, 'virtio-blk-ro')) return;
  const image = tempImage(t);
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('virtio-blk-ro'), '--mem', '32M', '--disk', `${image},ro`]);
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /virtio-blk-ro ok/);
  assert.ok(readFileSync(image).every((b) => b === 0));
});

test('virtio-rng returns random bytes', async (t) => {
  if (!requireKvm(t, 'virtio-rng')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('virtio-rng'), '--mem', '32M', '--rng']);
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /virtio-rng ok/);
});

test('virtio-console carries guest output to the terminal', async (t) => {
  if (!requireKvm(t, 'virtio-console')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('virtio-console'), '--mem', '32M', '--console', 'virtio', '--cmdline', 'no_input=1']);
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
  // Only the transmitq writes this whole line; the serial port says "virtio-console ok".
  assert.match(r.stdout, /^console ok$/m);
  assert.doesNotMatch(r.stdout, /waiting for input/);
});

test('virtio-console echoes a line typed after the guest asks for it (host to guest on the receiveq)', async (t) => {
  if (!requireKvm(t, 'virtio-console')) return;
  let typed = false;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('virtio-console'), '--mem', '32M', '--console', 'virtio'], {
    keepStdinOpen: true,
    onStdout: (stdoutSoFar, child) => {
      if (typed || !stdoutSoFar.includes('virtio-console: waiting for input\n')) return;
      typed = true;
      child.stdin?.end('hello-from-host\n');
    },
  });
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
  assert.ok(typed, 'the guest never asked for input');
  // The guest sends the line back only on the transmitq, after the prompt.
  assert.match(r.stdout, /^console ok\nvirtio-console: waiting for input\necho: hello-from-host\n/m);
  assert.match(r.stdout, /read a 15-byte line/);
});

test('virtio-console: input typed before the guest is ready waits for its receive buffers, first byte included', async (t) => {
  if (!requireKvm(t, 'virtio-console')) return;
  const r = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('virtio-console'), '--mem', '32M', '--console', 'virtio'], { input: 'early-bird\r\nnot read\n' });
  assert.equal(r.status, SUCCESS, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^echo: early-bird$/m);
  assert.doesNotMatch(r.stdout, /not read/);
});

test('a missing or unreadable disk is a one-line error before boot', async (t) => {
  if (!requireKvm(t, 'hello')) return;
  const missing = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('hello'), '--mem', '32M', '--disk', '/nonexistent/disk.img']);
  assert.equal(missing.status, 1);
  assert.doesNotMatch(missing.stdout, /Hello/);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.match(missing.stderr, /\/nonexistent\/disk\.img/);
  if (process.getuid?.() === 0) return; // root reads anything: the permission case needs a normal user
  const image = tempImage(t);
  chmodSync(image, 0o000);
  const unreadable = await runTkvm(['run', '--debug-exit', '--kernel', guestPath('hello'), '--mem', '32M', '--disk', image]);
  assert.equal(unreadable.status, 1);
  assert.match(unreadable.stderr, /disk\.img/);
});
