/**
 * passt's port forwarding against a real Linux TCP/IP stack, without
 * booting a guest: the "guest" is the host kernel inside a network
 * namespace this test makes, on a TAP whose frames the test relays to and
 * from passt's socket (the PasstBackend and TapBackend that virtio-net
 * uses, one frame at a time). The namespace gets its address from passt
 * by DHCP (busybox udhcpc), serves a port, and a host client connects
 * through the forward (`--port`, passt -t).
 *
 * It checks the passt tkvm would run (findPasst) on what broke with
 * Debian 12's passt (0.0~git20230309): a server that speaks first. That
 * passt never acknowledges the guest's SYN-ACK until the client sends, so
 * the banner never comes; this test then fails.
 *
 * Network rule: passt forwards only 127.0.0.1:PORT to the namespace, the
 * namespace reaches nothing but passt, and it gets no DNS (passt -D none).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PasstBackend } from '../backends/net/passt.js';
import { TapBackend, VNET_HEADER_BYTES } from '../backends/net/tap.js';
import { NetStatus } from '../devices/net.js';
import { IovecList } from '../memory/iovec-list.js';
import * as sys from '../sys/libc.js';
import { requireNetns, TestNetns } from '../testing/netns.js';
import { findPasst } from './net.js';

const TAP = 'tkvmpf0';
const GUEST_PORT = 8022;
const BUSYBOX = '/bin/busybox';
const FRAME_ROOM = 70_000;

/** Moves frames both ways between the TAP (12-byte virtio-net header first) and passt until stopped. */
class Relay {
  readonly #toPasst = new Uint8Array(new SharedArrayBuffer(VNET_HEADER_BYTES + FRAME_ROOM));
  readonly #fromPasst = new Uint8Array(new SharedArrayBuffer(VNET_HEADER_BYTES + FRAME_ROOM));
  #running = true;
  frames = { toPasst: 0, fromPasst: 0 };
  readonly done: Promise<void>;

  constructor(readonly tap: TapBackend, readonly passt: PasstBackend) {
    this.done = this.#loop();
  }

  #iov(buffer: Uint8Array, offset: number, length: number): IovecList {
    const iov = new IovecList(2);
    iov.push(Number(sys.addressOf(buffer)) + offset, length);
    return iov;
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      let moved = false;
      // TAP -> passt: the frame without the virtio-net header (no offloads: the header is all zero).
      if (this.tap.receive(this.#iov(this.#toPasst, 0, this.#toPasst.length)) === NetStatus.Ok) {
        const frame = this.tap.lastBytes - VNET_HEADER_BYTES;
        const status = this.passt.send(this.#iov(this.#toPasst, VNET_HEADER_BYTES, frame));
        assert.ok(status === NetStatus.Ok || status === NetStatus.WouldBlock, `to passt: ${this.passt.lastError}`);
        this.frames.toPasst++;
        moved = true;
      }
      // passt -> TAP: a zero header, then the frame.
      const received = this.passt.receive(this.#iov(this.#fromPasst, VNET_HEADER_BYTES, FRAME_ROOM));
      assert.notEqual(received, NetStatus.Closed, `passt went away: ${this.passt.lastError}`);
      if (received === NetStatus.Ok) {
        this.#fromPasst.fill(0, 0, VNET_HEADER_BYTES);
        this.tap.send(this.#iov(this.#fromPasst, 0, VNET_HEADER_BYTES + this.passt.lastBytes));
        this.frames.fromPasst++;
        moved = true;
      }
      if (!moved) await sleep(1);
    }
  }

  stop(): Promise<void> {
    this.#running = false;
    return this.done;
  }
}

/** The udhcpc event script: configures the interface from passt's lease with ip(8). */
const DHCP_SCRIPT = `#!/bin/sh
case "$1" in
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/\${mask:-24}" dev "$interface"
  [ -z "$router" ] || ip route replace default via "\${router%% *}" dev "$interface"
  echo "lease $ip via $router" ;;
esac
`;

function run(command: string, args: string[], timeoutMs: number): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

/** The server in the namespace: sends a banner at once, then answers the client's bytes with their SHA-256 once it has `expect` of them. */
function bannerServer(banner: string, expect: number): Server {
  return createServer((socket: Socket) => {
    socket.write(banner);
    const hash = createHash('sha256');
    let seen = 0;
    socket.on('data', (d: Buffer) => {
      hash.update(d);
      seen += d.length;
      if (seen === expect) socket.end(`sha256=${hash.digest('hex')}\n`);
    });
    socket.on('error', () => {});
  });
}

test('passt forwards a host connection to a Linux stack in a netns: DHCP lease, a server that speaks first, bytes checked both ways', { timeout: 90_000 }, async (t) => {
  if (!requireNetns(t)) return;
  const passtFound = findPasst();
  assert.ok(passtFound, 'passt is not installed (npm test builds it with scripts/build-passt.sh)');
  assert.ok(fs.existsSync(BUSYBOX), `${BUSYBOX} is missing (Debian package busybox-static; scripts/test-deps.sh installs it)`);
  t.diagnostic(`passt: ${passtFound.path} (${passtFound.source})`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-passt-fwd-'));
  const script = path.join(dir, 'dhcp-event');
  fs.writeFileSync(script, DHCP_SCRIPT, { mode: 0o755 });
  const ns = TestNetns.create();
  let tap: TapBackend | null = null;
  let passt: PasstBackend | null = null;
  let relay: Relay | null = null;
  let server: Server | null = null;
  const banner = `tkvm-banner-${randomBytes(6).toString('hex')}\n`;
  const upload = randomBytes(256 << 10);
  try {
    ns.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ns.ip('link', 'set', 'lo', 'up');
    ns.ip('tuntap', 'add', 'dev', TAP, 'mode', 'tap');
    ns.ip('link', 'set', TAP, 'up');
    ns.enter();
    try {
      tap = TapBackend.open({ name: TAP });
      server = bannerServer(banner, upload.length);
      await new Promise<void>((resolve) => server!.listen(GUEST_PORT, '0.0.0.0', resolve));
    } finally {
      ns.leave();
    }
    // A free host port for the forward (bound and released at once).
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const hostPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    passt = PasstBackend.open({ passt: passtFound.path, tcpForwards: [`127.0.0.1/${hostPort}:${GUEST_PORT}`], dns: false });
    relay = new Relay(tap, passt);

    const started = Date.now();
    const dhcp = await run('ip', ['netns', 'exec', ns.name, BUSYBOX, 'udhcpc', '-i', TAP, '-s', script, '-f', '-q', '-n', '-t', '5', '-T', '2'], 30_000);
    assert.equal(dhcp.status, 0, `udhcpc got a lease from passt\n${dhcp.output}`);
    assert.match(dhcp.output, /lease \d+\.\d+\.\d+\.\d+ via \d+\.\d+\.\d+\.\d+/);
    t.diagnostic(`DHCP lease in ${Date.now() - started} ms`);

    // The client sends nothing until it has the banner: the handshake must complete on its own.
    const client = connect(hostPort, '127.0.0.1');
    let received = '';
    client.setEncoding('utf8');
    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    client.on('data', (d: string) => { received += d; });
    client.on('error', (e) => { received += `\n[${e.message}]`; });
    const deadline = Date.now() + 10_000;
    while (!received.includes(banner) && Date.now() < deadline && !client.destroyed) await sleep(10);
    assert.ok(received.startsWith(banner), `the banner came before the client sent anything (got ${JSON.stringify(received)}; frames ${JSON.stringify(relay.frames)})`);
    client.end(upload);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => { timer = setTimeout(resolve, 20_000); })]);
    clearTimeout(timer);
    t.diagnostic(`banner and upload in ${Date.now() - started} ms since DHCP began`);
    assert.equal(received, `${banner}sha256=${createHash('sha256').update(upload).digest('hex')}\n`, 'the 256 KiB upload arrived intact');
  } finally {
    await relay?.stop();
    passt?.close();
    tap?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    ns.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
