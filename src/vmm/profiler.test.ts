/**
 * tkvm perf on a real VM: the counter guest spends its time in one loop in
 * guest_main, so nearly every sample of its vCPU must land there, resolved
 * from the symbols of the ELF it booted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireKvm, guestPath, runTkvm, CLI } from '../testing/kvm.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('tkvm perf samples a running guest and attributes its loop to guest_main', async (t) => {
  if (!requireKvm(t, 'counter')) return;
  const runtimeDir = mkdtempSync(path.join(tmpdir(), 'tkvm-perf-'));
  t.after(() => rmSync(runtimeDir, { recursive: true, force: true }));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  const name = `perf-${process.pid}`;
  const child = spawn(process.execPath, [CLI, 'run', '--kernel', guestPath('counter'), '--mem', '32M', '--name', name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.after(() => child.kill('SIGKILL'));
  for (let waited = 0; !stdout.includes('counter at'); waited += 50) {
    if (waited > 20_000) assert.fail('the counter guest did not start');
    await sleep(50);
  }
  const folded = path.join(runtimeDir, 'perf.folded');
  const perf = await runTkvm(['perf', name, '--duration', '1', '--frequency', '200', '--output', folded], { env });
  assert.equal(perf.status, 0, perf.stderr);
  const lines = perf.stdout.trimEnd().split('\n');
  const header = /^# tkvm perf \S+: (\d+) samples \((\d+) kernel, (\d+) user, (\d+) lost\) over ([\d.]+) s at 200 Hz on 1 vCPU$/.exec(lines[0] ?? '');
  assert.ok(header, perf.stdout);
  const taken = Number(header[1]);
  assert.ok(taken >= 50, `only ${taken} samples in 1 s at 200 Hz: ${lines[0]}`);
  assert.equal(lines[1], `# symbols: ${guestPath('counter')}`);
  const top = /^\s*([\d.]+)% (\S+)$/.exec(lines[2] ?? '');
  assert.ok(top, perf.stdout);
  assert.equal(top[2], 'guest_main', perf.stdout);
  assert.ok(Number(top[1]) >= 90, perf.stdout);
  assert.match(readFileSync(folded, 'utf8'), /^kernel;guest_main \d+$/m);
  const stop = await runTkvm(['stop', name, '--force'], { env });
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(await exited, 0);
});
