/**
 * The Debian packages the guest kit is built from, and installing the
 * missing ones with apt-get (as root) or naming the command to run.
 */

import { execFileSync } from 'node:child_process';
import { TkvmError } from '../util/errors.js';
import type { BuildLog } from './build-log.js';

/** Source of the default kernel (installs /usr/src/linux-source-6.1.tar.xz). */
export const LINUX_SOURCE_PACKAGE = 'linux-source-6.1';
export const LINUX_SOURCE_TARBALL = '/usr/src/linux-source-6.1.tar.xz';
/** Statically linked busybox (installs /bin/busybox). */
export const BUSYBOX_PACKAGE = 'busybox-static';
export const BUSYBOX_PATH = '/bin/busybox';

/** Everything `tkvm setup` needs: the sources, the kernel's build tools, and passt (user-mode networking, `--net user`). */
export const REQUIRED_PACKAGES: readonly string[] = [
  LINUX_SOURCE_PACKAGE,
  BUSYBOX_PACKAGE,
  'gcc',
  'make',
  'libc6-dev',
  'flex',
  'bison',
  'bc',
  'libelf-dev',
  'libssl-dev',
  'xz-utils',
  'lz4',
  'patch',
  // tkvm's own passt (scripts/build-passt.sh) downloads its source with curl; Debian's passt stays as the fallback.
  'curl',
  'passt',
];

/**
 * Installed versions from the output of
 * `dpkg-query -W -f '${Package}\t${db:Status-Abbrev}\t${Version}\n'`;
 * packages whose status is not "ii" (installed) are left out.
 */
export function parseDpkgQuery(output: string): Map<string, string> {
  const installed = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [name, status, version] = line.split('\t');
    if (name === undefined || status === undefined || version === undefined) continue;
    if (status.trim() === 'ii' && version !== '') installed.set(name.replace(/:.*$/, ''), version);
  }
  return installed;
}

/** Installed versions of `packages`; missing ones are absent. Throws ERR_GUEST_HOST without dpkg. */
export function installedVersions(packages: readonly string[]): Map<string, string> {
  let output: string;
  try {
    output = execFileSync('dpkg-query', ['-W', '-f', '${Package}\\t${db:Status-Abbrev}\\t${Version}\\n', ...packages], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch (error) {
    const { code, stdout } = error as { code?: string; stdout?: string };
    if (code === 'ENOENT') throw notDebianError();
    // dpkg-query exits 1 when a name is unknown to it; the rest is still listed.
    output = typeof stdout === 'string' ? stdout : '';
  }
  return parseDpkgQuery(output);
}

function notDebianError(): TkvmError {
  return new TkvmError(
    'ERR_GUEST_HOST',
    'tkvm setup builds the default guest from Debian 12 packages and needs dpkg and apt-get; on other systems pass --kernel (and --initrd) to tkvm run',
  );
}

export function installCommand(missing: readonly string[]): string {
  return `apt-get install --no-install-recommends ${missing.join(' ')}`;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Installs the `missing` packages with apt-get (update first, waiting for
 * the dpkg lock), output to `log`. Not root: throws ERR_GUEST_PACKAGES
 * with the exact command to run.
 */
export async function installPackages(missing: readonly string[], log: BuildLog): Promise<void> {
  if (missing.length === 0) return;
  if (!isRoot()) {
    throw new TkvmError(
      'ERR_GUEST_PACKAGES',
      `tkvm setup needs Debian packages that are not installed; run: sudo ${installCommand(missing)}`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lockWait = ['-o', 'DPkg::Lock::Timeout=600'];
  await log.run('apt-get update', 'apt-get', [...lockWait, 'update'], { env });
  await log.run(`installing ${missing.join(' ')}`, 'apt-get', [...lockWait, 'install', '-y', '--no-install-recommends', ...missing], { env });
  const stillMissing = missing.filter((name) => !installedVersions([name]).has(name));
  if (stillMissing.length > 0) {
    throw new TkvmError('ERR_GUEST_PACKAGES', `apt-get did not install ${stillMissing.join(' ')}; full log: ${log.path}`);
  }
}
