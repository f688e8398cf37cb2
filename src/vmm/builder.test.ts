/**
 * The builder on its own: it makes every part of a VM without running it,
 * and a build that fails half-way (a missing kernel, after KVM, RAM and the
 * vCPUs exist) releases everything it made: no fd stays open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireKvm, guestPath } from '../testing/kvm.js';
import { hostCompat } from './compat/index.js';
import { buildVm } from './builder.js';
import type { VmConfig } from './config.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** The device sleeper thread closes its two fds once it has ended, a moment after the last device thread. */
async function fdsBackTo(count: number): Promise<number> {
  for (let i = 0; i < 200 && openFds() !== count; i++) await sleep(10);
  return openFds();
}
const events = { shutdown: () => assert.fail('nothing runs, nothing shuts down'), guestExitStatus: () => {} };

test('the builder makes a VM ready to run, and releasing it closes every fd it opened', async (t) => {
  if (!requireKvm(t, 'hello')) return;
  const config: VmConfig = { kernelPath: guestPath('hello'), cmdline: '', cpus: 2, memBytes: 32 << 20, rng: true };
  const before = openFds();
  const parts = await buildVm(config, hostCompat('none'), events);
  assert.equal(parts.vcpus.length, 2);
  assert.ok(parts.mem && parts.vm && parts.kvm && parts.legacy && parts.pci);
  assert.equal(parts.pci.functions.length, 1, 'the rng function is attached, its device thread started');
  assert.ok(parts.devices.claimedPorts().byteLength > 0);
  assert.ok(openFds() > before);
  await parts.release();
  assert.equal(await fdsBackTo(before), before);
});

test('a build that fails after KVM, RAM and vCPUs exist releases them all and throws the one-line error', async (t) => {
  if (!requireKvm(t)) return;
  const config: VmConfig = { kernelPath: '/nonexistent/bzImage', cmdline: '', cpus: 2, memBytes: 32 << 20 };
  const before = openFds();
  await assert.rejects(buildVm(config, hostCompat('none'), events), (err: Error & { code?: string }) => {
    assert.match(err.message, /nonexistent/);
    assert.ok(err.code?.startsWith('ERR_'), `a TkvmError, not ${err.name}`);
    return true;
  });
  assert.equal(await fdsBackTo(before), before);
});
