/**
 * Debian's cloud kernel for the boot benchmark: the newest
 * linux-image-*-cloud-amd64 that linux-image-cloud-amd64 depends on,
 * downloaded with apt-get and unpacked into tkvm's cache (not installed).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { BenchError } from '../lib/errors.js';

export function benchCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache'), 'tkvm', 'bench');
}

/** The package the metapackage points at, from `apt-cache depends` output. */
export function cloudImagePackage(dependsOutput: string): string | null {
  const m = /Depends:\s+(linux-image-[\w.+-]+-cloud-amd64)\b/.exec(dependsOutput);
  return m ? m[1]! : null;
}

/** Path of the cloud kernel's vmlinuz, fetching it first if needed. */
export function debianCloudKernel(log: (line: string) => void): string {
  const run = (cmd: string, args: string[], cwd?: string): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new BenchError(`${cmd} ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr?.toString().trim().split('\n').pop() ?? (err as Error).message}`);
    }
  };
  const pkg = cloudImagePackage(run('apt-cache', ['depends', 'linux-image-cloud-amd64']));
  if (!pkg) throw new BenchError('apt-cache knows no linux-image-cloud-amd64 (run apt-get update)');
  const dir = path.join(benchCacheDir(), pkg);
  const bootDir = path.join(dir, 'root', 'boot');
  const found = existsSync(bootDir) ? readdirSync(bootDir).find((f) => f.startsWith('vmlinuz-')) : undefined;
  if (found) return path.join(bootDir, found);
  log(`fetching ${pkg} (Debian's cloud kernel) with apt-get download`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  run('apt-get', ['download', pkg], dir);
  const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
  if (!deb) throw new BenchError(`apt-get download ${pkg} produced no .deb`);
  run('dpkg-deb', ['-x', deb, 'root'], dir);
  const vmlinuz = readdirSync(bootDir).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new BenchError(`${deb} holds no /boot/vmlinuz-*`);
  return path.join(bootDir, vmlinuz);
}
