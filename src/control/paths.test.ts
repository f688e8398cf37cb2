import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  controlDir, defaultVmName, ensureControlDir, isValidVmName, socketPath, validateVmName, vmNameOfSocketFile,
} from './paths.js';

const isRoot = process.getuid?.() === 0;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tkvm-paths-'));
}

test('VM names follow [A-Za-z0-9][A-Za-z0-9._-]{0,63}', () => {
  for (const good of ['a', 'Z9', 'web-1', 'db_2.test', 'x'.repeat(64), '0']) assert.ok(isValidVmName(good), good);
  for (const bad of ['', '-a', '.a', '_a', 'a/b', 'a b', 'x'.repeat(65), 'é', '..', 'a\n', 'a:b']) {
    assert.ok(!isValidVmName(bad), bad);
  }
  assert.throws(() => validateVmName('../x'), { code: 'ERR_USAGE' });
  assert.equal(defaultVmName(1234), 'guest-1234');
  assert.ok(isValidVmName(defaultVmName()));
});

test('controlDir uses $XDG_RUNTIME_DIR/tkvm when usable, else ~/.tkvm', () => {
  const runtime = tempDir();
  try {
    assert.equal(controlDir({ XDG_RUNTIME_DIR: runtime, HOME: '/home/u' }), join(runtime, 'tkvm'));
    assert.equal(controlDir({ HOME: '/home/u' }), '/home/u/.tkvm');
    assert.equal(controlDir({ XDG_RUNTIME_DIR: '', HOME: '/home/u' }), '/home/u/.tkvm');
    assert.equal(controlDir({ XDG_RUNTIME_DIR: 'relative/dir', HOME: '/home/u' }), '/home/u/.tkvm');
    assert.equal(controlDir({ XDG_RUNTIME_DIR: join(runtime, 'missing'), HOME: '/home/u' }), '/home/u/.tkvm');
    if (isRoot) {
      chownSync(runtime, 65534, 65534); // someone else's runtime dir is unusable
      assert.equal(controlDir({ XDG_RUNTIME_DIR: runtime, HOME: '/home/u' }), '/home/u/.tkvm');
    }
  } finally {
    rmSync(runtime, { recursive: true, force: true });
  }
});

test('ensureControlDir creates 0700 and tightens looser permissions', () => {
  const base = tempDir();
  try {
    const dir = join(base, 'tkvm');
    assert.equal(ensureControlDir(dir), dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    chmodSync(dir, 0o755);
    ensureControlDir(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('ensureControlDir refuses a symlink and a directory owned by someone else', (t) => {
  const base = tempDir();
  try {
    const real = join(base, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(base, 'link'));
    assert.throws(() => ensureControlDir(join(base, 'link')), { code: 'ERR_CONTROL_DIR' });
    if (!isRoot) {
      t.diagnostic('not root: cannot create a directory owned by another user; ownership check not exercised');
      return;
    }
    const foreign = join(base, 'foreign');
    mkdirSync(foreign, { mode: 0o755 });
    chownSync(foreign, 65534, 65534);
    assert.throws(() => ensureControlDir(foreign), { code: 'ERR_CONTROL_DIR_OWNER' });
    assert.equal(statSync(foreign).mode & 0o777, 0o755, 'a foreign directory is not modified');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('socketPath is DIR/NAME.sock and respects the sun_path limit', () => {
  assert.equal(socketPath('vm1', '/run/user/1/tkvm'), '/run/user/1/tkvm/vm1.sock');
  assert.throws(() => socketPath('vm1', '/' + 'd'.repeat(120)), { code: 'ERR_SOCKET_PATH_TOO_LONG' });
  assert.throws(() => socketPath('bad/name', '/tmp'), { code: 'ERR_USAGE' });
  assert.equal(vmNameOfSocketFile('web.sock'), 'web');
  assert.equal(vmNameOfSocketFile('web.txt'), null);
  assert.equal(vmNameOfSocketFile('.sock'), null);
  assert.equal(vmNameOfSocketFile('-x.sock'), null);
});
