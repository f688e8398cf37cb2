/**
 * The NICs of a VM as device specs: finds passt for user-mode NICs before
 * boot (a missing one is a one-line error for a NIC the user asked for,
 * and one warning for the default guest's implicit NIC, which is then left
 * out), and turns port forwards into passt's -t/-u specs.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { NetSpec } from '../devices/virtio/net/register.js';
import { TkvmError } from '../util/errors.js';
import type { NicConfig, PortForward } from './config.js';

/** The first executable `passt` on $PATH (or $TKVM_PASST), or null. */
export function findPasst(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = env['TKVM_PASST'] ? [env['TKVM_PASST']] : (env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean).map((d) => path.join(d, 'passt'));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
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
 * `warn` once and leaves the implicit one out.
 */
export function nicSpecs(nics: readonly NicConfig[], warn: (message: string) => void, env: NodeJS.ProcessEnv = process.env): NetSpec[] {
  const specs: NetSpec[] = [];
  let passt: string | null | undefined;
  nics.forEach((nic, index) => {
    const mac = nic.mac ?? defaultMac(index);
    if (nic.backend === 'tap') {
      specs.push({ type: 'net', mac, backend: { kind: 'tap', ...(nic.ifname !== undefined ? { ifname: nic.ifname } : {}) } });
      return;
    }
    if (passt === undefined) passt = findPasst(env);
    let problem: TkvmError | null = null;
    if (!passt) problem = new TkvmError('ERR_NET_PASST_MISSING', 'user-mode networking needs passt, which is not installed (Debian: apt-get install passt, or tkvm setup); or run with --net none');
    else if (!hostHasDefaultRoute()) problem = new TkvmError('ERR_NET_NO_ROUTE', 'user-mode networking: passt needs a default route on the host, and there is none; or run with --net none');
    if (problem) {
      if (!nic.implicit) throw problem;
      warn(`${problem.message.replace(/; or run with --net none$/, '')}; the VM runs without a network (--net none hides this warning)`);
      return;
    }
    specs.push({
      type: 'net', mac,
      backend: {
        kind: 'user', passt: passt!, dns: nic.dns,
        tcpForwards: nic.ports.filter((p) => p.protocol === 'tcp').map(passtForward),
        udpForwards: nic.ports.filter((p) => p.protocol === 'udp').map(passtForward),
      },
    });
  });
  return specs;
}
