/**
 * The network namespace bench/net runs in: `tkvm-bench-PID` holding one
 * TAP (`tkvmb0`, MTU 65521, the largest a TAP takes, so 65535-byte frames
 * pass), up, with IPv6 off so the kernel sends nothing of its own on it.
 * Nothing in it reaches the host's network. Needs root and iproute2.
 */
import { execFileSync } from 'node:child_process';
import { BenchError } from '../lib/errors.js';

export interface BenchNamespace {
  name: string;
  tap: string;
  remove(): void;
}

/** The largest MTU a TAP accepts (tun's max_mtu): frames of up to MTU + 14 bytes can be injected. */
export const TAP_MTU = 65521;

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createBenchNamespace(): BenchNamespace {
  const name = `tkvm-bench-${process.pid}`;
  const tap = 'tkvmb0';
  try {
    ip(['netns', 'add', name]);
  } catch (error) {
    const detail = error instanceof Error && 'stderr' in error ? String(error.stderr).trim() : String(error);
    throw new BenchError(`cannot create network namespace ${name} (needs root and iproute2): ${detail}`);
  }
  const remove = (): void => {
    try {
      ip(['netns', 'del', name]);
    } catch { /* already gone */ }
  };
  try {
    ip(['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    ip(['-n', name, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    ip(['-n', name, 'link', 'set', tap, 'mtu', String(TAP_MTU), 'up']);
  } catch (error) {
    remove();
    const detail = error instanceof Error && 'stderr' in error ? String(error.stderr).trim() : String(error);
    throw new BenchError(`cannot set up TAP ${tap} in ${name}: ${detail}`);
  }
  return { name, tap, remove };
}
