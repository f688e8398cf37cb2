/**
 * One Linux boot of `tkvm sandbox` (issue 11), covering the sandbox list
 * in a single script: streams and status, a file written to the cwd share
 * appearing on the host, EROFS on the read-only root, a dynamically linked
 * host binary, `cat` of a binary file byte-exact, and the POSIX behaviour
 * program on the cwd share. The cwd is under /tmp, which the sandbox
 * covers with its own tmpfs: the share's mount point is made there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireKvm, CLI } from '../testing/kvm.js';
import { ensureDefaultGuest } from '../testing/default-guest.js';
import { buildPosixCheck, parsePosixReport, POSIX_CHECK, POSIX_CHECKS } from '../testing/posix-check.js';

const BOOT_TIMEOUT_MS = 20 * 60_000;

test('Linux sandbox: streams and status, cwd share, EROFS root, a dynamic host binary, byte-exact cat, posix-check on a share', { timeout: BOOT_TIMEOUT_MS + 5 * 60_000 }, async (t) => {
  if (!requireKvm(t)) return;
  await ensureDefaultGuest();
  buildPosixCheck();
  const work = mkdtempSync(path.join(tmpdir(), 'tkvm-sandbox-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37 + (i >> 8)) & 0xff));
  writeFileSync(path.join(work, 'binary.in'), binary);
  // One script, one boot: stdout carries "out" and the binary copy, every other step reports on stderr.
  const script = [
    'echo out',
    'echo err >&2',
    'echo written > from-guest.txt',
    // The shell reports a failed redirection on its own stderr: group it to catch that.
    'if { echo x > /etc/tkvm-sandbox-probe; } 2>/tmp/erofs; then echo etc=writable >&2; else echo "etc=$(cat /tmp/erofs)" >&2; fi',
    '/usr/bin/env true && echo dynamic=ok >&2',
    `${POSIX_CHECK} . >&2 || true`,
    'cat binary.in',
    'exit 3',
  ].join('\n');
  const started = Date.now();
  const r = await runSandbox(['--net', 'none', '--', 'sh', '-c', script], work, BOOT_TIMEOUT_MS);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  t.diagnostic(`sandbox boot took ${seconds} s`);
  const out = `status ${r.status}\n--- stderr ---\n${r.stderr}`;
  assert.equal(r.status, 3, out);
  assert.deepEqual(r.stdout, Buffer.concat([Buffer.from('out\n'), binary]), 'stdout is "out" and then exactly the binary file');
  assert.match(r.stderr, /^err$/m, out);
  assert.equal(readFileSync(path.join(work, 'from-guest.txt'), 'utf8'), 'written\n');
  assert.match(r.stderr, /^etc=.*Read-only file system/m, out);
  assert.match(r.stderr, /^dynamic=ok$/m, out);
  const report = parsePosixReport(r.stderr);
  assert.deepEqual(report.failures, [], out);
  assert.deepEqual([...report.results.keys()], [...POSIX_CHECKS], out);
});

/** `tkvm sandbox ARGS` in `cwd`, stdin closed, stdout kept as bytes. */
function runSandbox(args: string[], cwd: string, timeoutMs: number): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'sandbox', ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(stdout), stderr });
    });
    child.stdin.end();
  });
}
