/**
 * The guest never reaches outside the share: symlinks, '..' chains, magic
 * links, and the host renaming directories or swapping in symlinks while
 * the guest walks (a second process races the walks, in a loop).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { FileAttr, FsError } from '../../devices/fs.js';
import { codeOf, withTree } from '../../testing/shared-tree.js';
import { HostTree } from './tree.js';

const O_RDONLY = 0;

function identity(tree: HostTree, h: number): string {
  const a = new FileAttr();
  tree.getattr(h, a);
  return `${a.devMajor}:${a.devMinor}:${a.inoHi}:${a.inoLo}`;
}

function hostIdentity(p: string): string {
  const st = fs.lstatSync(p, { bigint: true });
  const dev = st.dev;
  // Linux's new_encode_dev layout of st_dev.
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return `${major}:${minor}:${Number(st.ino >> 32n)}:${Number(st.ino & 0xffffffffn)}`;
}

/** Every object of the host's / outside `share` the tests try to reach. */
function outsideIdentities(share: string): Set<string> {
  const ids = new Set<string>();
  for (const p of ['/', '/etc', '/etc/passwd', os.tmpdir(), path.dirname(share)]) ids.add(hostIdentity(p));
  return ids;
}

/** Runs `script` (JavaScript) in a second process until killed. */
function racer(script: string): { stop: () => Promise<void> } {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

test('symlinks are returned as themselves, never followed: to /, to .., through a walk, on open', () => withTree(({ dir, tree }) => {
  fs.symlinkSync('/', path.join(dir, 'to-root'));
  fs.symlinkSync('..', path.join(dir, 'to-parent'));
  fs.symlinkSync('/etc/passwd', path.join(dir, 'to-passwd'));
  fs.mkdirSync(path.join(dir, 'd'));
  fs.symlinkSync('../../../../../../etc', path.join(dir, 'd/up'));
  const root = tree.root();
  const outside = outsideIdentities(dir);
  for (const name of ['to-root', 'to-parent', 'to-passwd']) {
    const link = tree.walk(root, name);
    assert.equal(outside.has(identity(tree, link)), false, name);
    assert.equal(codeOf(() => tree.walk(link, 'etc')), 'ENOTDIR', `${name}: no walk through it`);
    assert.equal(codeOf(() => tree.open(link, O_RDONLY)), 'ELOOP', `${name}: no open through it`);
    assert.equal(codeOf(() => tree.walk(link, '..')), 'ENOTDIR');
  }
  assert.equal(tree.readlink(tree.walk(root, 'to-passwd')), '/etc/passwd');
  const up = tree.walk(tree.walk(root, 'd'), 'up');
  assert.equal(codeOf(() => tree.walk(up, 'passwd')), 'ENOTDIR');
  // Creating over a symlink does not write through it.
  assert.equal(codeOf(() => tree.create(root, 'to-passwd', 2, 0o644, -1, -1)), 'ELOOP');
  assert.equal(codeOf(() => tree.mkdir(tree.walk(root, 'to-root'), 'x', 0o755, -1, -1)), 'ENOTDIR');
  assert.equal(codeOf(() => tree.xattrSet(tree.walk(root, 'to-passwd'), 'user.x', Buffer.from('1'), 0)), 'EPERM');
}));

test('\'..\' chains stop at the root', () => withTree(({ dir, tree }) => {
  fs.mkdirSync(path.join(dir, 'a/b/c'), { recursive: true });
  const root = tree.root();
  const rootId = identity(tree, root);
  let h = tree.walk(tree.walk(tree.walk(root, 'a'), 'b'), 'c');
  for (let i = 0; i < 10; i++) h = tree.walk(h, '..');
  assert.equal(identity(tree, h), rootId);
  // A share that is itself a subdirectory: its '..' is still itself.
  const inner = HostTree.open({ hostPath: path.join(dir, 'a/b'), readOnly: false });
  try {
    let x = inner.walk(inner.root(), 'c');
    for (let i = 0; i < 5; i++) x = inner.walk(x, '..');
    assert.equal(identity(inner, x), hostIdentity(path.join(dir, 'a/b')));
  } finally {
    void inner.dispose();
  }
}));

test('magic links (/proc/PID/root, /proc/PID/fd/N, /proc/PID/cwd) are not followed', async () => {
  const tree = HostTree.open({ hostPath: '/proc/self', readOnly: true });
  const outside = outsideIdentities(os.tmpdir());
  try {
    const root = tree.root();
    for (const name of ['root', 'cwd', 'exe']) {
      const link = tree.walk(root, name);
      assert.equal(outside.has(identity(tree, link)), false, name);
      assert.equal(codeOf(() => tree.walk(link, 'etc')), 'ENOTDIR', name);
      assert.equal(codeOf(() => tree.open(link, O_RDONLY)), 'ELOOP', name);
    }
    const fds = tree.walk(root, 'fd');
    const zero = tree.walk(fds, '0');
    assert.equal(codeOf(() => tree.open(zero, O_RDONLY)), 'ELOOP');
  } finally {
    await tree.dispose();
  }
});

test('a directory renamed out of the share by the host cannot be climbed out of (racing, in a loop)', () => withTree(async ({ dir, tree }) => {
  const away = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-away-'));
  try {
    fs.mkdirSync(path.join(dir, 'a/b/c'), { recursive: true });
    const root = tree.root();
    const inside = identity(tree, root);
    // Moved out while a handle inside it is held: '..' from it finds no root above.
    const c = tree.walk(tree.walk(tree.walk(root, 'a'), 'b'), 'c');
    fs.renameSync(path.join(dir, 'a'), path.join(away, 'a'));
    assert.equal(codeOf(() => tree.walk(c, '..')), 'ENOENT');
    fs.renameSync(path.join(away, 'a'), path.join(dir, 'a'));
    assert.equal(identity(tree, tree.walk(tree.walk(tree.walk(c, '..'), '..'), '..')), inside);

    const outside = outsideIdentities(dir);
    outside.add(hostIdentity(away));
    const race = racer(`const fs = require('fs');
      const a = ${JSON.stringify(path.join(dir, 'a'))}, b = ${JSON.stringify(path.join(away, 'a'))};
      for (;;) { try { fs.renameSync(a, b); fs.renameSync(b, a); } catch {} }`);
    let escapes = 0;
    let denied = 0;
    let walked = 0;
    const handlesBefore = tree.openHandles;
    const deadline = Date.now() + 1500;
    try {
      while (Date.now() < deadline) {
        const handles: number[] = [];
        try {
          let h = tree.walk(root, 'a');
          handles.push(h);
          h = tree.walk(h, 'b');
          handles.push(h);
          for (let i = 0; i < 4; i++) {
            h = tree.walk(h, '..');
            handles.push(h);
            if (outside.has(identity(tree, h))) escapes++;
          }
          walked++;
        } catch (err) {
          if (!(err instanceof FsError)) throw err;
          denied++;
        } finally {
          for (const h of handles) tree.close(h);
        }
      }
    } finally {
      await race.stop();
    }
    assert.equal(escapes, 0, `${walked} walks, ${denied} denied`);
    assert.ok(walked + denied > 50, 'the loop ran');
    assert.equal(tree.openHandles, handlesBefore, 'no handle leaked on the error paths');
  } finally {
    fs.rmSync(away, { recursive: true, force: true });
  }
}));

test('a symlink swapped in for a directory mid-walk is never followed (racing, in a loop)', () => withTree(async ({ dir, tree }) => {
  fs.mkdirSync(path.join(dir, 'a'));
  fs.writeFileSync(path.join(dir, 'a/passwd'), 'inside');
  fs.symlinkSync('/etc', path.join(dir, 'link'));
  const root = tree.root();
  const outside = outsideIdentities(dir);
  const race = racer(`const fs = require('fs'); const d = ${JSON.stringify(dir)};
    for (;;) { try { fs.renameSync(d + '/a', d + '/a.dir'); fs.renameSync(d + '/link', d + '/a');
      fs.renameSync(d + '/a', d + '/link'); fs.renameSync(d + '/a.dir', d + '/a'); } catch {} }`);
  let reachedInside = 0;
  let denied = 0;
  const deadline = Date.now() + 1500;
  try {
    while (Date.now() < deadline) {
      const handles: number[] = [];
      try {
        const a = tree.walk(root, 'a');
        handles.push(a);
        const f = tree.walk(a, 'passwd');
        handles.push(f);
        assert.equal(outside.has(identity(tree, f)), false, 'walked out through a symlink');
        const file = tree.open(f, O_RDONLY);
        handles.push(file);
        reachedInside++;
      } catch (err) {
        if (!(err instanceof FsError)) throw err;
        denied++;
      } finally {
        for (const h of handles) tree.close(h);
      }
    }
  } finally {
    await race.stop();
  }
  assert.ok(reachedInside + denied > 50, 'the loop ran');
  assert.equal(fs.readFileSync('/etc/passwd', 'utf8').startsWith('inside'), false);
}));
