/**
 * User-mode networking through passt (https://passt.top, Debian package
 * `passt`): tkvm makes a socket pair, starts `passt -f -F FD` on one end
 * and keeps the other, over which Ethernet frames travel with a 4-byte
 * big-endian length in front (stream-framing.ts). passt gives the guest
 * DHCP, NDP/DHCPv6, DNS information, and maps the gateway address onto the
 * host's loopback; it needs no privileges.
 *
 * Passing an fd rather than a socket path also keeps clear of Debian's
 * AppArmor profile for passt, which limits the paths it may create sockets
 * at. The passt in Debian 12 (2023.03) has no vhost-user, so frames go
 * through this socket.
 *
 * The frames are bare Ethernet (vnetHeader false): the device strips the
 * virtio-net header on transmit and writes one on receive. No offloads.
 *
 * Supervision: passt's exit is recorded (lastError says how it ended) and
 * Node reaps it; the socket then reads end-of-stream, the device sees
 * Closed and takes the link down. close() closes the socket, which makes
 * passt quit (-F implies --one-off), and waits for it to end and reaps it
 * (SIGTERM, then SIGKILL, if it lingers): the device thread, and tkvm,
 * may end right after, and an orphan left to an init that does not reap
 * (a container's) would stay a zombie.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { IovecList } from '../../memory/iovec-list.js';
import { NO_OFFLOADS, type NetBackend, type NetOffloads, type NetStatus } from '../../devices/net.js';
import * as sys from '../../sys/libc.js';
import { TkvmError } from '../../util/errors.js';
import { StreamFraming } from './stream-framing.js';

/** How long close() lets passt go on its own, then after SIGTERM, before SIGKILL. */
const QUIT_WAIT_MS = 500;
const TERM_WAIT_MS = 1000;
const KILL_WAIT_MS = 5000;
const REAP_POLL_MS = 2;

/** Sleeps the calling thread (close() only: teardown, never a hot path). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** passt's largest frame: its 65520-byte default MTU plus the Ethernet header. */
export const PASST_MAX_FRAME = 65520 + 14;

export interface PasstOptions {
  /** The passt executable. */
  passt: string;
  /** -t specs: `[ADDR/]HOSTPORT:GUESTPORT`. */
  tcpForwards?: readonly string[];
  /** -u specs. */
  udpForwards?: readonly string[];
  /** False: no DNS servers or search list for the guest (`-D none -S none`). Default true. */
  dns?: boolean;
}

/** The passt command line for `fd` (passt's end of the socket pair, as the child sees it). */
export function passtArguments(fd: number, options: Omit<PasstOptions, 'passt'>): string[] {
  const args = ['-f', '-q', '-F', String(fd)];
  // No forwarding unless asked: passt's default for -t/-u is none in this mode, but say so.
  for (const spec of options.tcpForwards ?? []) args.push('-t', spec);
  for (const spec of options.udpForwards ?? []) args.push('-u', spec);
  if (options.dns === false) args.push('-D', 'none', '-S', 'none', '--no-dhcp-dns', '--no-dhcp-search');
  return args;
}

export class PasstBackend implements NetBackend {
  readonly name = 'passt';
  readonly vnetHeader = false;
  readonly offloads: Readonly<NetOffloads> = NO_OFFLOADS;
  readonly maxFrameBytes = PASST_MAX_FRAME;
  readonly #framing: StreamFraming;
  readonly #child: ChildProcess;
  #exit = '';
  #stderrTail = '';
  #closed = false;

  private constructor(fd: number, child: ChildProcess) {
    this.#framing = new StreamFraming(fd, PASST_MAX_FRAME);
    this.#child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      // passt also complains that it cannot reach syslog; keep its last real line for the exit message.
      const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Failed to send'));
      if (lines.length > 0) this.#stderrTail = lines[lines.length - 1]!.slice(0, 200);
    });
    child.on('exit', (code, signal) => {
      this.#exit = `passt exited (${signal ? `signal ${signal}` : `status ${code}`})${this.#stderrTail ? `: ${this.#stderrTail}` : ''}`;
    });
    child.on('error', (err) => {
      this.#exit = `passt could not run: ${err.message}`;
    });
  }

  /** Starts passt on a new socket pair. Throws ERR_NET_PASST when that fails at once. */
  static open(options: PasstOptions): PasstBackend {
    let fds: [number, number];
    try {
      fds = sys.socketpair(sys.SOCK_STREAM);
    } catch (err) {
      throw new TkvmError('ERR_NET_PASST', `cannot make passt's socket pair: ${(err as Error).message}`);
    }
    const [ours, theirs] = fds;
    let child: ChildProcess;
    try {
      sys.setNonBlocking(ours);
      // stdio[3] = theirs: the child sees it as fd 3 (dup2 clears close-on-exec there only).
      child = spawn(options.passt, passtArguments(3, options), { stdio: ['ignore', 'ignore', 'pipe', theirs], detached: false });
    } catch (err) {
      sys.close(ours);
      sys.close(theirs);
      throw new TkvmError('ERR_NET_PASST', `cannot start ${options.passt}: ${(err as Error).message}`);
    }
    sys.close(theirs);
    child.unref();
    (child.stderr as (NodeJS.ReadableStream & { unref?: () => void }) | null)?.unref?.();
    return new PasstBackend(ours, child);
  }

  get fd(): number {
    return this.#framing.fd;
  }

  get lastBytes(): number {
    return this.#framing.lastBytes;
  }

  /** The last error, or how passt ended once it has. */
  get lastError(): string {
    return this.#exit || this.#framing.lastError;
  }

  /** How passt ended, or '' while it runs. */
  get exitReason(): string {
    return this.#exit;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  setOffloads(_offloads: Readonly<NetOffloads>): void {}

  send(iov: IovecList): NetStatus {
    return this.#framing.send(iov);
  }

  receive(iov: IovecList): NetStatus {
    return this.#framing.receive(iov);
  }

  nextFrameBytes(): number {
    return this.#framing.nextFrameBytes();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    sys.close(this.#framing.fd);
    this.#reap();
  }

  /**
   * Waits for passt to end and reaps it. Once Node has seen it exit (the
   * 'exit' event ran, synchronously with Node's own waitpid) there is
   * nothing to do; until then the pid is still our unreaped child, so
   * waitpid on it cannot hit another process. Node's own later waitpid
   * then finds no child (ECHILD), which it ignores.
   */
  #reap(): void {
    const pid = this.#child.pid;
    if (pid === undefined || this.#child.exitCode !== null || this.#child.signalCode !== null || this.#exit !== '') return;
    const steps: Array<[NodeJS.Signals | null, number]> = [[null, QUIT_WAIT_MS], ['SIGTERM', TERM_WAIT_MS], ['SIGKILL', KILL_WAIT_MS]];
    for (const [signal, waitMs] of steps) {
      if (signal) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone: the waitpid below reaps it
        }
      }
      for (const deadline = Date.now() + waitMs; ;) {
        if (sys.reapChild(pid) !== 'running') return;
        if (Date.now() >= deadline) break;
        sleepSync(REAP_POLL_MS);
      }
    }
  }
}
