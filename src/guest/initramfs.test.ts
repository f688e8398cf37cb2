import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCpioNewc, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './cpio.js';
import { buildInitramfs, parseAppletList } from './initramfs.js';

const CONTENTS = {
  busybox: Buffer.from('\x7fELF fake busybox'),
  applets: ['sh', 'mount', '[', 'busybox', 'poweroff'],
  initScript: '#!/bin/sh\necho TKVM_INIT_START\n',
};

test('the initramfs holds /init, busybox with applet links, and /dev/console', () => {
  const entries = parseCpioNewc(buildInitramfs(CONTENTS));
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const init = byName.get('init');
  assert.equal(init?.mode, S_IFREG | 0o755);
  assert.equal(Buffer.from(init?.data ?? []).toString(), CONTENTS.initScript);
  assert.equal(byName.get('bin/busybox')?.mode, S_IFREG | 0o755);
  assert.deepEqual(Buffer.from(byName.get('bin/busybox')?.data ?? []), CONTENTS.busybox);
  for (const applet of ['sh', 'mount', '[', 'poweroff']) {
    const link = byName.get(`bin/${applet}`);
    assert.equal((link?.mode ?? 0) & S_IFMT, S_IFLNK, applet);
    assert.equal(Buffer.from(link?.data ?? []).toString(), 'busybox');
  }
  const consoleNode = byName.get('dev/console');
  assert.equal(consoleNode?.mode, S_IFCHR | 0o600);
  assert.deepEqual([consoleNode?.rdevMajor, consoleNode?.rdevMinor], [5, 1]);
  for (const dir of ['proc', 'sys', 'dev', 'tmp', 'root']) assert.equal((byName.get(dir)?.mode ?? 0) & S_IFMT, S_IFDIR, dir);
  assert.equal(byName.get('tmp')?.mode, S_IFDIR | 0o1777);
  assert.equal(Buffer.from(byName.get('sbin')?.data ?? []).toString(), 'bin');
  // A parent directory always comes before what it contains.
  const seen = new Set<string>();
  for (const entry of entries) {
    const parent = entry.name.includes('/') ? entry.name.slice(0, entry.name.lastIndexOf('/')) : null;
    if (parent !== null) assert.ok(seen.has(parent), `${entry.name} before ${parent}`);
    seen.add(entry.name);
  }
});

test('the initramfs is byte-for-byte deterministic', () => {
  assert.deepEqual(buildInitramfs(CONTENTS), buildInitramfs({ ...CONTENTS, applets: [...CONTENTS.applets] }));
});

test('parseAppletList sorts and deduplicates, and rejects names that are not plain file names', () => {
  assert.deepEqual(parseAppletList('sh\nls\n[\n[[\nls\n\n'), ['[', '[[', 'ls', 'sh']);
  assert.throws(() => parseAppletList('sh\n../etc/passwd\n'), /unexpected applet name/);
  assert.throws(() => parseAppletList('sh\nbin/ls\n'), /unexpected applet name/);
  assert.throws(() => parseAppletList('..\n'), /unexpected applet name/);
});
