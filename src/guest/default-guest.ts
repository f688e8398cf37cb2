/**
 * The default guest for `tkvm run` without --kernel: the kernel and
 * initramfs `tkvm setup` builds, found in the cache by the keys of the
 * current inputs (so a changed config fragment, patch, init script or
 * package version counts as "not built").
 */

import { existsSync } from 'node:fs';
import { cacheRoot, guestCacheLayout } from './cache.js';
import { BUSYBOX_PACKAGE, installedVersions, LINUX_SOURCE_PACKAGE } from './debian.js';
import { guestKeys, readKitSources, type GuestKitSources } from './kit.js';
import { runSetup, type GuestPaths, type SetupOptions } from './setup.js';

export type { GuestPaths } from './setup.js';

/** The built default guest, or null if it is not built for the current inputs (or cannot be on this host). */
export function defaultGuestPaths(options: { env?: NodeJS.ProcessEnv; kitDir?: string } = {}): GuestPaths | null {
  let versions: Map<string, string>;
  try {
    versions = installedVersions([LINUX_SOURCE_PACKAGE, BUSYBOX_PACKAGE]);
  } catch {
    return null; // no dpkg: not a Debian host
  }
  let sources: GuestKitSources;
  try {
    sources = readKitSources(options.kitDir);
  } catch {
    return null; // no guest kit next to this code: setup will say so
  }
  const keys = guestKeys(sources, versions);
  if (keys === null) return null;
  const layout = guestCacheLayout(cacheRoot(options.env), keys);
  if (!existsSync(layout.kernel) || !existsSync(layout.initrd)) return null;
  return { kernel: layout.kernel, initrd: layout.initrd };
}

/** The default guest, running `tkvm setup` first if it is not built (minutes: the kernel is compiled). */
export async function ensureDefaultGuest(options: SetupOptions = {}): Promise<GuestPaths> {
  const built = defaultGuestPaths(options);
  if (built !== null) return built;
  const { kernel, initrd } = await runSetup(options);
  return { kernel, initrd };
}
