import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findPackage } from '../util/package-root.js';

const root = findPackage(import.meta.url).root;
const script = path.join(root, 'scripts/test-deps.sh');

test('npm test checks the test packages first, and .ci/run uses the same script (one list)', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts['test']!, /^scripts\/test-deps\.sh && scripts\/build-passt\.sh && /);
  const ci = fs.readFileSync(path.join(root, '.ci/run'), 'utf8');
  assert.match(ci, /scripts\/test-deps\.sh/);
  assert.doesNotMatch(ci, /acpica-tools/);
});

/** Runs the script with stub dpkg-query (nothing installed), id and apt-get. */
function runWithStubs(uid: number): { status: number | null; stderr: string; apt: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-deps-'));
  try {
    const aptLog = path.join(dir, 'apt.log');
    fs.writeFileSync(path.join(dir, 'dpkg-query'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'id'), `#!/bin/sh\necho ${uid}\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'apt-get'), `#!/bin/sh\necho "$@" >> ${aptLog}\n`, { mode: 0o755 });
    const r = spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env['PATH']}` } });
    const apt = fs.existsSync(aptLog) ? fs.readFileSync(aptLog, 'utf8') : '';
    return { status: r.status, stderr: r.stderr, apt };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('test-deps: not root, packages missing: one line naming the apt-get command, non-zero exit', () => {
  const r = runWithStubs(1000);
  assert.notEqual(r.status, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /apt-get install -y --no-install-recommends gcc make binutils libc6-dev cpio acpica-tools e2fsprogs iproute2 busybox-static curl xz-utils patch passt tmux chromium/);
  assert.equal(r.apt, '');
});

test('test-deps: root, packages missing: apt-get update, then install', () => {
  const r = runWithStubs(0);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.apt.trim().split('\n'), ['update', 'install -y --no-install-recommends gcc make binutils libc6-dev cpio acpica-tools e2fsprogs iproute2 busybox-static curl xz-utils patch passt tmux chromium']);
});
