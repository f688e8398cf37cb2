/**
 * `tkvm run --net` and `--port` (docs/cli.md): NICs and port forwards, parsed
 * into NicConfig without touching the host.
 */
import type { NicConfig, PortForward } from '../vmm/config.js';
import type { UsageError } from '../util/errors.js';
import { quoteForMessage } from './quote.js';

type UsageErrorFactory = (problem: string) => UsageError;

const MAC_PATTERN = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const IFNAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The NICs for `--net` values and `--port` values. No --net: one user-mode
 * NIC when `defaultNic` (the default guest kit), else none. `--net none`
 * stands alone. Ports go to the first user-mode NIC.
 */
export function parseNics(nets: readonly string[], ports: readonly string[], defaultNic: boolean, usage: UsageErrorFactory): NicConfig[] {
  let nics: NicConfig[];
  if (nets.includes('none')) {
    if (nets.length > 1) throw usage('--net none cannot be combined with other --net options');
    nics = [];
  } else if (nets.length === 0) {
    nics = defaultNic ? [{ backend: 'user', ports: [], dns: true, implicit: true }] : [];
  } else {
    nics = nets.map((n) => parseNet(n, usage));
  }
  const forwards = ports.map((p) => parsePort(p, usage));
  if (forwards.length > 0) {
    const user = nics.find((n) => n.backend === 'user');
    if (!user) throw usage('--port needs a user-mode NIC (--net user)');
    user.ports.push(...forwards);
  }
  return nics;
}

function isIpv4(text: string): boolean {
  return /^(\d{1,3}\.){3}\d{1,3}$/.test(text) && text.split('.').every((o) => Number(o) <= 255);
}

/** `user[,mac=M][,dns=on|off]` or `tap[=IFNAME][,mac=M][,ip=A.B.C.D/N[,gw=A.B.C.D]]`. */
export function parseNet(text: string, usage: UsageErrorFactory): NicConfig {
  const [kind, ...options] = text.split(',');
  let nic: NicConfig;
  if (kind === 'user') nic = { backend: 'user', ports: [], dns: true };
  else if (kind === 'tap' || kind?.startsWith('tap=')) {
    const ifname = kind.startsWith('tap=') ? kind.slice(4) : undefined;
    if (ifname !== undefined && !IFNAME_PATTERN.test(ifname)) throw usage(`--net tap=IFNAME needs an interface name of 1 to 15 letters, digits, '.', '_' or '-', got ${quoteForMessage(ifname)}`);
    nic = { backend: 'tap', ifname, ports: [], dns: true };
  } else throw usage(`--net must be user, tap[=IFNAME] or none, got ${quoteForMessage(text)}`);
  for (const option of options) {
    if (option.startsWith('mac=')) {
      const mac = option.slice(4);
      if (!MAC_PATTERN.test(mac)) throw usage(`--net mac= needs six hex bytes like 52:54:00:12:34:56, got ${quoteForMessage(mac)}`);
      if (parseInt(mac.slice(0, 2), 16) & 1) throw usage(`--net mac=${mac} is a multicast address; a NIC needs a unicast one`);
      nic.mac = mac.toLowerCase();
    } else if (nic.backend === 'user' && (option === 'dns=on' || option === 'dns=off')) {
      nic.dns = option === 'dns=on';
    } else if (nic.backend === 'tap' && option.startsWith('ip=')) {
      const [address, prefix, ...rest] = option.slice(3).split('/');
      const bits = prefix !== undefined && /^\d{1,2}$/.test(prefix) ? Number(prefix) : NaN;
      if (!isIpv4(address ?? '') || !(bits >= 1 && bits <= 32) || rest.length > 0) throw usage(`--net ip= needs an IPv4 address with a prefix length like 10.0.0.2/24, got ${quoteForMessage(option.slice(3))}`);
      nic.ip = `${address}/${bits}`;
    } else if (nic.backend === 'tap' && option.startsWith('gw=')) {
      const gateway = option.slice(3);
      if (!isIpv4(gateway)) throw usage(`--net gw= needs an IPv4 address, got ${quoteForMessage(gateway)}`);
      nic.gateway = gateway;
    } else {
      const allowed = nic.backend === 'user' ? 'mac=MAC, dns=on|off' : 'mac=MAC, ip=ADDR/PREFIX, gw=ADDR';
      throw usage(`--net option ${quoteForMessage(option)} is not one of ${allowed}`);
    }
  }
  if (nic.gateway !== undefined && nic.ip === undefined) throw usage('--net gw= needs ip= too');
  return nic;
}

/** `[HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|/udp]`; the host address defaults to 127.0.0.1. */
export function parsePort(text: string, usage: UsageErrorFactory): PortForward {
  const bad = (why: string): UsageError => usage(`--port ${quoteForMessage(text)}: ${why} (expected [HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|/udp])`);
  let spec = text;
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = spec.lastIndexOf('/');
  if (slash >= 0) {
    const p = spec.slice(slash + 1);
    if (p !== 'tcp' && p !== 'udp') throw bad(`protocol ${quoteForMessage(p)} is not tcp or udp`);
    protocol = p;
    spec = spec.slice(0, slash);
  }
  const parts = spec.split(':');
  let hostAddress = '127.0.0.1';
  if (parts.length === 3) hostAddress = parts.shift()!;
  else if (parts.length !== 2) throw bad('wrong number of fields');
  if (!/^(\d{1,3}\.){3}\d{1,3}$/.test(hostAddress) || hostAddress.split('.').some((o) => Number(o) > 255)) throw bad(`host address ${quoteForMessage(hostAddress)} is not an IPv4 address`);
  const port = (p: string, what: string): number => {
    const n = /^\d{1,5}$/.test(p) ? Number(p) : NaN;
    if (!(n >= 1 && n <= 65535)) throw bad(`${what} port ${quoteForMessage(p)} is not 1 to 65535`);
    return n;
  };
  return { protocol, hostAddress, hostPort: port(parts[0]!, 'host'), guestPort: port(parts[1]!, 'guest') };
}
