import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cacheRoot, guestCacheLayout } from './cache.js';
import { BUSYBOX_PACKAGE, installedVersions, LINUX_SOURCE_PACKAGE } from './debian.js';
import { defaultGuestPaths } from './default-guest.js';
import { guestKeys, readKitSources } from './kit.js';

test('defaultGuestPaths is null when the cache holds no build for the current inputs', () => {
  const cache = mkdtempSync(join(tmpdir(), 'tkvm-cache-'));
  try {
    assert.equal(defaultGuestPaths({ env: { XDG_CACHE_HOME: cache } }), null);
    assert.equal(defaultGuestPaths({ env: { XDG_CACHE_HOME: cache }, kitDir: join(cache, 'no-kit') }), null);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('defaultGuestPaths finds a build keyed by the current inputs', (t) => {
  let versions: Map<string, string>;
  try {
    versions = installedVersions([LINUX_SOURCE_PACKAGE, BUSYBOX_PACKAGE]);
  } catch {
    versions = new Map();
  }
  const keys = guestKeys(readKitSources(), versions);
  if (keys === null) {
    t.skip(`${LINUX_SOURCE_PACKAGE} and ${BUSYBOX_PACKAGE} are not installed`);
    return;
  }
  const cache = mkdtempSync(join(tmpdir(), 'tkvm-cache-'));
  try {
    const env = { XDG_CACHE_HOME: cache };
    const layout = guestCacheLayout(cacheRoot(env), keys);
    for (const file of [layout.kernel, layout.initrd]) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, 'x');
    }
    assert.deepEqual(defaultGuestPaths({ env }), { kernel: layout.kernel, initrd: layout.initrd });
    rmSync(layout.initrd);
    assert.equal(defaultGuestPaths({ env }), null);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
