/**
 * The "Done means" of issue 12: scripts/firecracker-sdk-start.mjs does
 * firecracker-go-sdk's Machine.Start sequence against tkvm run through a
 * link named `firecracker`, booting the default guest kernel with a root
 * drive, until GET / says Running and the kernel's first console line
 * arrives; then it stops the VM. A Linux boot: the script stops long
 * before the guest finishes booting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, requireKvm } from '../../testing/kvm.js';
import { ensureDefaultGuest } from '../../testing/default-guest.js';

test("firecracker-go-sdk's Machine.Start sequence boots the default guest kernel under tkvm firecracker", { timeout: 15 * 60_000 }, async (t) => {
  if (!requireKvm(t)) return;
  const guest = await ensureDefaultGuest();
  const run = spawnSync(process.execPath, [
    path.join(REPO_ROOT, 'scripts/firecracker-sdk-start.mjs'),
    '--kernel', guest.kernel, '--initrd', guest.initrd, '--console', 'Linux version \\d', '--timeout', '300',
  ], { encoding: 'utf8', timeout: 10 * 60_000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { ok: boolean; exitStatus: number; marksMs: Record<string, number> };
  assert.equal(report.ok, true);
  assert.equal(report.exitStatus, 143);
  for (const step of ['apiReady', 'instanceStarted', 'running', 'consoleSign']) assert.ok(report.marksMs[step]! >= 0, step);
  t.diagnostic(`marks (ms): ${JSON.stringify(report.marksMs)}`);
});
