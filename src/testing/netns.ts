/**
 * Network namespaces for tests that need real interfaces (TAPs): each test
 * makes its own namespace, so its traffic never leaves it and never
 * touches the host's interfaces, routes or resolver. Needs root (or
 * CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 and /dev/net/tun. Without them
 * the test is skipped on a developer machine and FAILS in CI (CI=true),
 * as requireKvm does.
 *
 * `enter()` moves only the calling thread (the test's JS thread) into the
 * namespace with setns(2): interfaces it opens, sockets Node creates on it
 * and child processes it spawns all live there, until `leave()`.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { TestContext } from 'node:test';
import * as sys from '../sys/libc.js';

let serial = 0;

export function netnsAvailable(): string | null {
  if (sys.getuid() !== 0) return 'network-namespace tests need root';
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch (err) {
    return `/dev/net/tun is not usable: ${(err as Error).message}`;
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 (ip) is not installed (scripts/test-deps.sh installs it)';
  }
  return null;
}

/** Skips (developer machine) or fails (CI) when namespaces cannot be made; returns false to stop the test. */
export function requireNetns(t: TestContext): boolean {
  const problem = netnsAvailable();
  if (problem === null) return true;
  if (process.env['CI'] === 'true') throw new Error(`network-namespace test cannot run in CI: ${problem}`);
  t.skip(problem);
  return false;
}

export class TestNetns {
  readonly name: string;
  #home = -1;

  private constructor(name: string) {
    this.name = name;
  }

  /** `ip netns add tkvm-test-PID-N`; remove it with destroy(). */
  static create(): TestNetns {
    const ns = new TestNetns(`tkvm-test-${process.pid}-${++serial}`);
    execFileSync('ip', ['netns', 'add', ns.name], { stdio: ['ignore', 'ignore', 'pipe'] });
    return ns;
  }

  /** Runs `ip ARGS` inside the namespace (`ip -n NAME`); returns its stdout. */
  ip(...args: string[]): string {
    return execFileSync('ip', ['-n', this.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Runs a command inside the namespace (`ip netns exec NAME ...`); returns its stdout. */
  exec(command: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, command, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Moves the calling thread into the namespace. */
  enter(): void {
    if (this.#home >= 0) return;
    const home = sys.open('/proc/thread-self/ns/net', sys.O_RDONLY);
    const target = sys.open(`/run/netns/${this.name}`, sys.O_RDONLY);
    try {
      sys.setns(target, sys.CLONE_NEWNET);
      this.#home = home;
    } catch (err) {
      sys.close(home);
      throw err;
    } finally {
      sys.close(target);
    }
  }

  /** Moves the calling thread back to the namespace it came from. */
  leave(): void {
    if (this.#home < 0) return;
    const home = this.#home;
    this.#home = -1;
    try {
      sys.setns(home, sys.CLONE_NEWNET);
    } finally {
      sys.close(home);
    }
  }

  /** Leaves (if inside) and deletes the namespace with everything in it. */
  destroy(): void {
    this.leave();
    execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
  }
}
