import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cacheRoot, guestCacheLayout } from './cache.js';
import { BUSYBOX_PACKAGE, installedVersions, LINUX_SOURCE_PACKAGE } from './debian.js';
import { defaultGuestPaths, ensureDefaultGuest } from './default-guest.js';
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

function currentKeys(): ReturnType<typeof guestKeys> {
  let versions: Map<string, string>;
  try {
    versions = installedVersions([LINUX_SOURCE_PACKAGE, BUSYBOX_PACKAGE]);
  } catch {
    versions = new Map();
  }
  return guestKeys(readKitSources(), versions);
}

test('defaultGuestPaths finds a build keyed by the current inputs', { timeout: 30 * 60_000 }, async (t) => {
  let keys = currentKeys();
  // CI runs every test: there the kit is built (its packages installed) rather than the test skipped.
  if (keys === null && process.env['CI'] === 'true') {
    await ensureDefaultGuest();
    keys = currentKeys();
  }
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
