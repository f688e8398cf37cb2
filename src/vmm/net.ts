/**
 * The NICs of a VM as device specs: finds passt for user-mode NICs before
 * boot (a missing one is a one-line error for a NIC the user asked for,
 * and one warning for the default guest's implicit NIC, which is then left
 * out), and turns port forwards into passt's -t/-u specs.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import type { NetSpec } from '../devices/virtio/net/register.js';
import { cacheRoot } from '../util/cache-root.js';
import { TkvmError } from '../util/errors.js';
import type { NicConfig, PortForward } from './config.js';

/** Where the passt tkvm runs came from: $TKVM_PASST, tkvm's own build (scripts/build-passt.sh), or $PATH. */
export type PasstSource = 'TKVM_PASST' | 'tkvm' | 'PATH';

export interface FoundPasst {
  path: string;
  source: PasstSource;
}

/** tkvm's own passt, as scripts/build-passt.sh installs it: CACHE/passt/current/passt. */
export function tkvmPasstPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), 'passt', 'current', 'passt');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The passt to run: $TKVM_PASST when it is set (and nothing else then);
 * else tkvm's own build (tkvmPasstPath); else the first `passt` on $PATH.
 * Null when the one looked for is not an executable.
 */
export function findPasst(env: NodeJS.ProcessEnv = process.env): FoundPasst | null {
  const explicit = env['TKVM_PASST'];
  if (explicit) return isExecutable(explicit) ? { path: explicit, source: 'TKVM_PASST' } : null;
  const own = tkvmPasstPath(env);
  if (isExecutable(own)) return { path: own, source: 'tkvm' };
  for (const dir of (env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean)) {
    const file = path.join(dir, 'passt');
    if (isExecutable(file)) return { path: file, source: 'PATH' };
  }
  return null;
}

/** Debian 12's passt, which does not complete a forwarded connection the host client does not speak first on. */
export const DEBIAN_12_PASST_VERSION = '0.0~git20230309';

/** The Debian package version of `file` when it is the packaged /usr/bin/passt, else null. */
export function packagedPasstVersion(file: string): string | null {
  try {
    if (realpathSync(file) !== '/usr/bin/passt') return null;
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'passt'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** The warning for TCP forwards through Debian 12's passt, or null for any other passt. */
export function forwardWarning(found: FoundPasst, version: string | null = packagedPasstVersion(found.path)): string | null {
  if (version === null || !version.startsWith(DEBIAN_12_PASST_VERSION)) return null;
  return `--port: ${found.path} is Debian 12's passt (${version}): a forwarded TCP connection completes only once the host client sends data, so a server that speaks first (sshd) is never reached; tkvm setup builds a passt without this problem (docs/networking.md)`;
}

/** Whether the host has a default route (passt refuses to start without one, IPv4 or IPv6). */
export function hostHasDefaultRoute(): boolean {
  try {
    const v4 = readFileSync('/proc/net/route', 'utf8').split('\n').slice(1).some((l) => l.split(/\s+/)[1] === '00000000');
    if (v4) return true;
    return readFileSync('/proc/net/ipv6_route', 'utf8').split('\n').some((l) => l.startsWith('00000000000000000000000000000000 00 ') && !l.trim().endsWith(' lo'));
  } catch {
    return true; // no /proc: let passt say
  }
}

/** passt's spec for one forward: `ADDR/HOSTPORT:GUESTPORT`. */
export function passtForward(p: PortForward): string {
  return `${p.hostAddress}/${p.hostPort}:${p.guestPort}`;
}

export function defaultMac(index: number): string {
  return `52:54:00:12:34:${(0x56 + index).toString(16).padStart(2, '0')}`;
}

/**
 * The device specs for `nics`. Throws ERR_NET_PASST_MISSING (or
 * ERR_NET_NO_ROUTE) for an explicit user-mode NIC that cannot work; calls
 * `warn` once and leaves the implicit one out. Also warns once when TCP
 * forwards go through Debian 12's passt (forwardWarning).
 */
export function nicSpecs(nics: readonly NicConfig[], warn: (message: string) => void, env: NodeJS.ProcessEnv = process.env): NetSpec[] {
  const specs: NetSpec[] = [];
  let passt: FoundPasst | null | undefined;
  let warnedForwards = false;
  nics.forEach((nic, index) => {
    const mac = nic.mac ?? defaultMac(index);
    if (nic.backend === 'tap') {
      specs.push({ type: 'net', mac, backend: { kind: 'tap', ...(nic.ifname !== undefined ? { ifname: nic.ifname } : {}) } });
      return;
    }
    if (passt === undefined) passt = findPasst(env);
    let problem: TkvmError | null = null;
    if (!passt) {
      problem = env['TKVM_PASST']
        ? new TkvmError('ERR_NET_PASST_MISSING', `user-mode networking: TKVM_PASST=${env['TKVM_PASST']} is not an executable; or run with --net none`)
        : new TkvmError('ERR_NET_PASST_MISSING', 'user-mode networking needs passt, which is not installed (tkvm setup builds it; or apt-get install passt); or run with --net none');
    } else if (!hostHasDefaultRoute()) {
      problem = new TkvmError('ERR_NET_NO_ROUTE', 'user-mode networking: passt needs a default route on the host, and there is none; or run with --net none');
    }
    if (problem) {
      if (!nic.implicit) throw problem;
      warn(`${problem.message.replace(/; or run with --net none$/, '')}; the VM runs without a network (--net none hides this warning)`);
      return;
    }
    const tcpForwards = nic.ports.filter((p) => p.protocol === 'tcp').map(passtForward);
    if (tcpForwards.length > 0 && !warnedForwards) {
      warnedForwards = true;
      const warning = forwardWarning(passt!);
      if (warning) warn(warning);
    }
    specs.push({
      type: 'net', mac,
      backend: {
        kind: 'user', passt: passt!.path, dns: nic.dns,
        tcpForwards,
        udpForwards: nic.ports.filter((p) => p.protocol === 'udp').map(passtForward),
      },
    });
  });
  return specs;
}
