/**
 * tkvm's cache directory (XDG Base Directory spec): the default guest kit
 * (src/guest/cache.ts) and tkvm's own passt build (scripts/build-passt.sh,
 * found by src/vmm/net.ts) live under it.
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** `$XDG_CACHE_HOME/tkvm` when that is an absolute path, else `~/.cache/tkvm`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  const base = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.cache');
  return join(base, 'tkvm');
}
