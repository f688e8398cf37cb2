import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { GuestMemory } from '../../memory/guest-memory.js';
import { IovecList } from '../../memory/iovec-list.js';
import { NetStatus } from '../../devices/net.js';
import { TkvmError } from '../../util/errors.js';
import { requireNetns, TestNetns } from '../../testing/netns.js';
import { openTap, TapBackend, tapOpenError, VNET_HEADER_BYTES } from './tap.js';

const TAP = 'tkvmt0';
const TAP_IP = '10.77.0.1';
const PEER_IP = '10.77.0.2';
const PEER_MAC = [0x02, 0, 0, 0, 0, 0x02];
const ETH = 14;
const IP4 = 20;
const UDP = 8;

function ipBytes(text: string): number[] {
  return text.split('.').map(Number);
}

/** The ones'-complement sum of 16-bit words (RFC 1071), folded. */
function onesSum(bytes: Uint8Array, start = 0): number {
  let sum = start;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function udpChecksum(ip: Uint8Array, udp: Uint8Array): number {
  const pseudo = new Uint8Array([...ip.subarray(12, 20), 0, 17, udp.length >> 8, udp.length & 0xff]);
  return ~onesSum(udp, onesSum(pseudo)) & 0xffff;
}

/** An Ethernet + IPv4 + UDP frame from the peer to the TAP's address (UDP checksum as given, or correct). */
function udpFrame(dstMac: number[], dstPort: number, payload: Uint8Array, udpCsum?: number): Uint8Array {
  const frame = new Uint8Array(ETH + IP4 + UDP + payload.length);
  frame.set(dstMac, 0);
  frame.set(PEER_MAC, 6);
  frame.set([0x08, 0x00], 12);
  const ip = frame.subarray(ETH, ETH + IP4);
  const total = IP4 + UDP + payload.length;
  ip.set([0x45, 0, total >> 8, total & 0xff, 0, 1, 0x40, 0, 64, 17, 0, 0, ...ipBytes(PEER_IP), ...ipBytes(TAP_IP)]);
  const ipCsum = ~onesSum(ip) & 0xffff;
  ip.set([ipCsum >> 8, ipCsum & 0xff], 10);
  const udp = frame.subarray(ETH + IP4);
  udp.set([0x30, 0x39, dstPort >> 8, dstPort & 0xff, (UDP + payload.length) >> 8, (UDP + payload.length) & 0xff, 0, 0]);
  udp.set(payload, UDP);
  const csum = udpCsum ?? udpChecksum(ip, udp);
  udp.set([csum >> 8, csum & 0xff], 6);
  return frame;
}

/** struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6). */
interface VnetHeader { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number; numBuffers: number }

function encodeHeader(h: Partial<VnetHeader>): Uint8Array {
  const bytes = new Uint8Array(VNET_HEADER_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint8(0, h.flags ?? 0);
  v.setUint8(1, h.gsoType ?? 0);
  v.setUint16(2, h.hdrLen ?? 0, true);
  v.setUint16(4, h.gsoSize ?? 0, true);
  v.setUint16(6, h.csumStart ?? 0, true);
  v.setUint16(8, h.csumOffset ?? 0, true);
  v.setUint16(10, h.numBuffers ?? 0, true);
  return bytes;
}

function decodeHeader(bytes: Uint8Array): VnetHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, VNET_HEADER_BYTES);
  return { flags: v.getUint8(0), gsoType: v.getUint8(1), hdrLen: v.getUint16(2, true), gsoSize: v.getUint16(4, true), csumStart: v.getUint16(6, true), csumOffset: v.getUint16(8, true), numBuffers: v.getUint16(10, true) };
}

/** "Guest RAM" with `bytes` written at `addr`, gathered into an IovecList in pieces of the given sizes, with gaps between them. */
function gather(memory: GuestMemory, addr: number, bytes: Uint8Array, pieces: number[]): IovecList {
  const iov = new IovecList();
  let at = 0;
  let guest = addr;
  for (const size of [...pieces, bytes.length]) {
    const len = Math.min(size, bytes.length - at);
    if (len <= 0) break;
    memory.write(guest, bytes.subarray(at, at + len));
    for (const r of memory.hostRanges(guest, len)) assert.ok(iov.push(Number(r.hostAddr), r.len));
    at += len;
    guest += len + 64;
  }
  return iov;
}

/** An IovecList over `len` bytes of guest RAM at `addr` in `pieces`, and a function that reads the bytes back in order. */
function scatter(memory: GuestMemory, addr: number, len: number, pieces: number[]): { iov: IovecList; bytes: () => Uint8Array } {
  const zeros = new Uint8Array(len);
  const iov = gather(memory, addr, zeros, pieces);
  const spans: Array<[number, number]> = [];
  let guest = addr;
  let left = len;
  for (const size of [...pieces, len]) {
    const n = Math.min(size, left);
    if (n <= 0) break;
    spans.push([guest, n]);
    guest += n + 64;
    left -= n;
  }
  return { iov, bytes: () => Uint8Array.from(spans.flatMap(([a, n]) => [...memory.read(a, n)])) };
}

/** Receives frames until one passes `accept` (the kernel also sends IPv6 and ARP chatter), within `ms`. */
async function receiveMatching(tap: TapBackend, memory: GuestMemory, accept: (frame: Uint8Array) => boolean, ms = 5000): Promise<Uint8Array> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const buffer = scatter(memory, 0x10000, 2048, [5, 7, 100]);
    const status = tap.receive(buffer.iov);
    if (status === NetStatus.WouldBlock) {
      await sleep(5);
      continue;
    }
    assert.equal(status, NetStatus.Ok, `receive: ${tap.lastError}`);
    const frame = buffer.bytes().subarray(0, tap.lastBytes);
    if (accept(frame)) return frame;
  }
  throw new Error('no matching frame arrived on the TAP');
}

function isUdpTo(port: number): (frame: Uint8Array) => boolean {
  return (frame) => {
    const eth = frame.subarray(VNET_HEADER_BYTES);
    return eth.length >= ETH + IP4 + UDP && eth[12] === 0x08 && eth[13] === 0 && eth[ETH + 9] === 17 && ((eth[ETH + IP4 + 2]! << 8) | eth[ETH + IP4 + 3]!) === port;
  };
}

interface Fixture { ns: TestNetns; memory: GuestMemory; tapMac: number[] }

/**
 * Waits until the kernel has noticed the carrier that attaching an fd
 * gives a TAP (operstate UP): until its link-watch work has run (up to a
 * second) frames the stack sends out of the TAP are dropped.
 */
async function waitForCarrier(ns: TestNetns): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const link = JSON.parse(ns.ip('-j', 'link', 'show', 'dev', TAP)) as Array<{ operstate: string }>;
    if (link[0]?.operstate === 'UP') return;
    await sleep(20);
  }
  throw new Error(`${TAP} has no carrier 5 s after the backend attached`);
}

/** A namespace holding TAP `tkvmt0` with 10.77.0.1/24, up, and a static neighbour 10.77.0.2 (no ARP needed). */
async function withTapNamespace(body: (f: Fixture) => Promise<void>): Promise<void> {
  const ns = TestNetns.create();
  const memory = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  try {
    ns.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ns.ip('tuntap', 'add', 'dev', TAP, 'mode', 'tap');
    ns.ip('addr', 'add', `${TAP_IP}/24`, 'dev', TAP);
    ns.ip('link', 'set', TAP, 'up');
    ns.ip('neigh', 'add', PEER_IP, 'lladdr', PEER_MAC.map((b) => b.toString(16).padStart(2, '0')).join(':'), 'dev', TAP);
    const link = JSON.parse(ns.ip('-j', 'link', 'show', 'dev', TAP)) as Array<{ address: string }>;
    const tapMac = link[0]!.address.split(':').map((h) => parseInt(h, 16));
    ns.enter();
    await body({ ns, memory, tapMac });
  } finally {
    memory.close();
    ns.destroy();
  }
}

function bindUdp(port: number): Promise<{ socket: dgram.Socket; next: () => Promise<Buffer> }> {
  const socket = dgram.createSocket('udp4');
  const queue: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  socket.on('message', (msg) => {
    const w = waiters.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, TAP_IP, () => resolve({
      socket,
      next: () => {
        const queued = queue.shift();
        if (queued) return Promise.resolve(queued);
        return Promise.race([
          new Promise<Buffer>((r) => waiters.push(r)),
          sleep(2000).then(() => { throw new Error(`no datagram on ${TAP_IP}:${port}`); }),
        ]);
      },
    }));
  });
}

test('open errors map to one-line TkvmErrors with stable codes and a fix', () => {
  const cases: Array<[Parameters<typeof tapOpenError>, string, RegExp]> = [
    [['open', 'EACCES', undefined], 'ERR_TAP_PERMISSION', /\/dev\/net\/tun.*root/],
    [['open', 'EPERM', 'tap0'], 'ERR_TAP_PERMISSION', /ip tuntap add dev tap0 mode tap user/],
    [['attach', 'EPERM', undefined], 'ERR_TAP_PERMISSION', /TUNSETIFF.*CAP_NET_ADMIN/],
    [['attach', 'EBUSY', 'tap0'], 'ERR_TAP_BUSY', /tap tap0: busy/],
    [['open', 'ENOENT', undefined], 'ERR_TAP_NO_TUN', /modprobe tun/],
    [['open', 'ENODEV', 'x'], 'ERR_TAP_NO_TUN', /missing/],
    [['lookup', 'ENODEV', 'nope'], 'ERR_TAP_MISSING', /ip tuntap add dev nope mode tap/],
    [['attach', 'EINVAL', 'lo'], 'ERR_TAP_NOT_TAP', /not a TAP/],
    [['attach', 'ENOMEM', 'tap0'], 'ERR_TAP_OPEN', /TUNSETIFF.*ENOMEM/],
  ];
  for (const [args, code, pattern] of cases) {
    const err = tapOpenError(...args);
    assert.ok(err instanceof TkvmError);
    assert.equal(err.code, code, args.join(' '));
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'));
  }
});

/** Runs TapBackend.open(options) in a child process (with `spawn` options such as uid, or under `wrapper`) and returns "CODE message". */
function openInChild(options: object, spawnOptions: { uid?: number; gid?: number } = {}, wrapper: string[] = []): string {
  const tapModule = fileURLToPath(new URL('./tap.js', import.meta.url));
  const script = `import { TapBackend } from ${JSON.stringify(tapModule)};
    try { const t = TapBackend.open(${JSON.stringify(options)}); console.log('OPENED', t.interfaceName); t.close(); }
    catch (e) { console.log(e.code, e.message); }`;
  const [command, ...args] = [...wrapper, process.execPath, '--input-type=module', '-e', script];
  const r = spawnSync(command!, args, { ...spawnOptions, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('real permission errors: no access to /dev/net/tun, and root without CAP_NET_ADMIN', { timeout: 60_000 }, (t) => {
  if (!requireNetns(t)) return;
  const ns = TestNetns.create();
  try {
    // Owned by root: anyone who can open /dev/net/tun may attach to a TAP with no owner
    // (drivers/net/tun.c, tun_not_capable), and /dev/net/tun is 0666 on some hosts.
    ns.ip('tuntap', 'add', 'dev', TAP, 'mode', 'tap', 'user', '0');
    ns.enter();
    // nobody (65534) cannot open /dev/net/tun (mode 0600 here; on hosts where it is 0666 the TUNSETIFF below fails instead).
    const asNobody = openInChild({}, { uid: 65534, gid: 65534 });
    assert.match(asNobody, /^ERR_TAP_PERMISSION tap: permission denied \((EACCES on \/dev\/net\/tun|EPERM on TUNSETIFF)\)/);
    assert.match(openInChild({ name: TAP }, { uid: 65534, gid: 65534 }), /^ERR_TAP_PERMISSION tap tkvmt0: permission denied .*ip tuntap add dev tkvmt0 mode tap user/);
    // Root without CAP_NET_ADMIN opens /dev/net/tun but may not create a TAP.
    const noNetAdmin = openInChild({}, {}, ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin']);
    assert.match(noNetAdmin, /^ERR_TAP_PERMISSION tap: permission denied \(EPERM on TUNSETIFF\); creating a TAP needs root \(CAP_NET_ADMIN\)/);
    // With it, the same child code works: the errors above are not an artefact of the child.
    assert.match(openInChild({}), /^OPENED tkvm\d+$/);
  } finally {
    ns.destroy();
  }
});

test('a bad interface name is refused before any system call', () => {
  for (const name of ['', 'a/b', 'x'.repeat(16), 'tap%d', 'a b']) {
    assert.throws(() => TapBackend.open({ name }), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_TAP_NAME' && !e.message.includes('\n'));
  }
});

test('--net tap creates tkvm<N>, up and non-persistent, and it is gone after close', { timeout: 30_000 }, (t) => {
  if (!requireNetns(t)) return;
  const ns = TestNetns.create();
  try {
    ns.enter();
    const tap = TapBackend.open();
    let closed = false;
    try {
      assert.match(tap.interfaceName, /^tkvm\d+$/);
      assert.equal(tap.created, true);
      assert.equal(tap.name, `tap ${tap.interfaceName}`);
      assert.equal(tap.vnetHeader, true);
      assert.deepEqual({ ...tap.offloads }, { csum: true, tso4: true, tso6: true });
      const link = JSON.parse(ns.ip('-j', 'link', 'show', 'dev', tap.interfaceName)) as Array<{ flags: string[] }>;
      assert.ok(link[0]!.flags.includes('UP'), `flags ${link[0]!.flags.join(',')}`);
      const details = ns.ip('-d', 'link', 'show', 'dev', tap.interfaceName);
      assert.match(details, /tun type tap/);
      assert.match(details, /vnet_hdr on/);
      assert.doesNotMatch(details, /persist on/);
      tap.close();
      closed = true;
      assert.equal(tap.fd, -1);
      assert.doesNotMatch(ns.ip('link', 'show'), new RegExp(`${tap.interfaceName}:`));
      tap.close(); // idempotent
      assert.equal(tap.send(new IovecList()), NetStatus.Closed);
    } finally {
      if (!closed) tap.close();
    }
  } finally {
    ns.destroy();
  }
});

test('frames sent through the backend reach the kernel side of an existing TAP, header honoured', { timeout: 30_000 }, async (t) => {
  if (!requireNetns(t)) return;
  await withTapNamespace(async ({ ns, memory, tapMac }) => {
    const tap = TapBackend.open({ name: TAP });
    const { socket, next } = await bindUdp(5555);
    try {
      assert.equal(tap.created, false);
      // A plain frame with a correct UDP checksum, gathered from odd pieces of guest RAM.
      const payload = Uint8Array.from({ length: 1200 }, (_, i) => (i * 7 + 3) & 0xff);
      const frame = udpFrame(tapMac, 5555, payload);
      const iov = gather(memory, 0x1000, new Uint8Array([...encodeHeader({}), ...frame]), [3, 9, 1, 40, 333]);
      assert.ok(iov.count > 4);
      assert.equal(tap.send(iov), NetStatus.Ok, tap.lastError);
      assert.deepEqual(new Uint8Array(await next()), payload);

      // A wrong checksum: dropped by the kernel without NEEDS_CSUM, delivered with it
      // (a partial checksum is the guest's promise that the host fills it in: §5.1.6.2).
      const marked = Uint8Array.from({ length: 100 }, (_, i) => 0xa0 ^ i);
      const badSum = udpFrame(tapMac, 5555, marked, 0x1234);
      assert.equal(tap.send(gather(memory, 0x8000, new Uint8Array([...encodeHeader({}), ...badSum]), [12])), NetStatus.Ok);
      const partial = encodeHeader({ flags: 1, csumStart: ETH + IP4, csumOffset: 6 });
      assert.equal(tap.send(gather(memory, 0x9000, new Uint8Array([...partial, ...badSum]), [12])), NetStatus.Ok);
      assert.deepEqual(new Uint8Array(await next()), marked, 'only the NEEDS_CSUM copy arrives');

      // A header the kernel cannot accept (csum_start past the frame) is an Error, not an exception.
      const hostile = encodeHeader({ flags: 1, csumStart: 4000, csumOffset: 6 });
      assert.equal(tap.send(gather(memory, 0xa000, new Uint8Array([...hostile, ...frame]), [])), NetStatus.Error);
      assert.equal(tap.lastError, 'EINVAL');

      // With the interface down the kernel refuses frames (EIO): dropped, the link is not gone.
      ns.ip('link', 'set', TAP, 'down');
      assert.equal(tap.send(gather(memory, 0x1000, new Uint8Array([...encodeHeader({}), ...frame]), [])), NetStatus.Error);
      assert.equal(tap.lastError, 'EIO');
      ns.ip('link', 'set', TAP, 'up');
    } finally {
      socket.close();
      tap.close();
    }
  });
});

test('frames the kernel sends out of the TAP arrive through receive, with offloads as negotiated', { timeout: 30_000 }, async (t) => {
  if (!requireNetns(t)) return;
  await withTapNamespace(async ({ ns, memory }) => {
    const tap = TapBackend.open({ name: TAP });
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, TAP_IP, () => r()));
    try {
      await waitForCarrier(ns);
      const drain = scatter(memory, 0x20000, 70000, []);
      for (let i = 0; i < 1000 && tap.receive(drain.iov) === NetStatus.Ok; i++);
      assert.equal(tap.receive(drain.iov), NetStatus.WouldBlock);

      const payload = Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 13) & 0xff));
      socket.send(payload, 9999, PEER_IP);
      const plain = await receiveMatching(tap, memory, isUdpTo(9999));
      const header = decodeHeader(plain);
      assert.equal(header.flags, 0, 'no offloads negotiated: checksums complete');
      const eth = plain.subarray(VNET_HEADER_BYTES);
      assert.deepEqual([...eth.subarray(0, 6)], PEER_MAC);
      assert.equal(eth.length, ETH + IP4 + UDP + payload.length);
      assert.deepEqual(Buffer.from(eth.subarray(ETH + IP4 + UDP)), payload);
      const ip = eth.subarray(ETH, ETH + IP4);
      const udp = eth.subarray(ETH + IP4);
      assert.equal(onesSum(ip), 0xffff, 'IPv4 header checksum');
      assert.equal(udpChecksum(ip, Uint8Array.from(udp).fill(0, 6, 8)), (udp[6]! << 8) | udp[7]!, 'UDP checksum complete');

      tap.setOffloads({ csum: true, tso4: true, tso6: false });
      socket.send(payload, 9998, PEER_IP);
      const offloaded = decodeHeader(await receiveMatching(tap, memory, isUdpTo(9998)));
      assert.equal(offloaded.flags, 1, 'GUEST_CSUM negotiated: NEEDS_CSUM partial checksums');
      assert.equal(offloaded.csumStart, ETH + IP4);
      assert.equal(offloaded.csumOffset, 6);

      // A frame longer than the buffers is an EMSGSIZE error; the list is left as it was.
      socket.send(payload, 9997, PEER_IP);
      const deadline = Date.now() + 5000;
      let status = NetStatus.WouldBlock;
      const small = scatter(memory, 0x40000, 200, [50]);
      while (Date.now() < deadline) {
        status = tap.receive(small.iov);
        if (status !== NetStatus.WouldBlock && !(status === NetStatus.Ok)) break;
        await sleep(5);
      }
      assert.equal(status, NetStatus.Error);
      assert.equal(tap.lastError, 'EMSGSIZE');
      assert.equal(tap.lastBytes, 201);
      assert.equal(small.iov.length, 200);
      assert.equal(small.iov.count, 2);

      // A frame that fits exactly is Ok.
      socket.send(payload, 9996, PEER_IP);
      const exactLength = VNET_HEADER_BYTES + ETH + IP4 + UDP + payload.length;
      const exact = scatter(memory, 0x50000, exactLength, [exactLength - 1]);
      const exactDeadline = Date.now() + 5000;
      for (status = NetStatus.WouldBlock; status === NetStatus.WouldBlock && Date.now() < exactDeadline;) {
        status = tap.receive(exact.iov);
        if (status === NetStatus.WouldBlock) await sleep(5);
      }
      assert.equal(status, NetStatus.Ok, tap.lastError);
      assert.equal(tap.lastBytes, exactLength);
      assert.ok(isUdpTo(9996)(exact.bytes()));
    } finally {
      socket.close();
      tap.close();
    }
  });
});

test('property: any scatter list receives a frame whole when it has room, and reports EMSGSIZE (list intact) when it has not', { timeout: 60_000 }, async (t) => {
  if (!requireNetns(t)) return;
  await withTapNamespace(async ({ ns, memory }) => {
    const tap = TapBackend.open({ name: TAP });
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, TAP_IP, () => r()));
    let port = 20000;
    try {
      await waitForCarrier(ns);
      await fc.assert(fc.asyncProperty(
        fc.integer({ min: 0, max: 1472 }), fc.integer({ min: -3, max: 40 }), fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 6 }),
        async (payloadBytes, slack, pieces) => {
          const frameBytes = VNET_HEADER_BYTES + ETH + IP4 + UDP + payloadBytes;
          const room = Math.max(VNET_HEADER_BYTES, frameBytes + slack);
          const buffer = scatter(memory, 0x60000, room, pieces);
          const count = buffer.iov.count;
          const payload = Buffer.from(Array.from({ length: payloadBytes }, (_, i) => (i * 29 + payloadBytes) & 0xff));
          socket.send(payload, ++port, PEER_IP);
          const deadline = Date.now() + 5000;
          let status = NetStatus.WouldBlock;
          while (status === NetStatus.WouldBlock && Date.now() < deadline) {
            status = tap.receive(buffer.iov);
            if (status === NetStatus.WouldBlock) await sleep(1);
          }
          assert.equal(buffer.iov.length, room, 'the overflow guard is taken off again');
          assert.equal(buffer.iov.count, count);
          if (room >= frameBytes) {
            assert.equal(status, NetStatus.Ok, tap.lastError);
            assert.equal(tap.lastBytes, frameBytes);
            const frame = buffer.bytes().subarray(0, frameBytes);
            assert.ok(isUdpTo(port)(frame));
            assert.deepEqual(Buffer.from(frame.subarray(VNET_HEADER_BYTES + ETH + IP4 + UDP)), payload);
          } else {
            assert.equal(status, NetStatus.Error);
            assert.equal(tap.lastError, 'EMSGSIZE');
            assert.equal(tap.lastBytes, room + 1);
          }
        },
      ), { numRuns: 40 });
    } finally {
      socket.close();
      tap.close();
    }
  });
});

test('a TAP in use is busy; a missing or non-TAP interface is refused', { timeout: 30_000 }, async (t) => {
  if (!requireNetns(t)) return;
  await withTapNamespace(async () => {
    const first = TapBackend.open({ name: TAP });
    try {
      assert.throws(() => TapBackend.open({ name: TAP }), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_TAP_BUSY' && e.message.startsWith(`tap ${TAP}: busy`));
      assert.throws(() => TapBackend.open({ name: 'tkvmnone0' }), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_TAP_MISSING');
      assert.throws(() => TapBackend.open({ name: 'lo' }), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_TAP_NOT_TAP');
    } finally {
      first.close();
    }
    const again = openTap({ ifname: TAP });
    assert.equal(again.name, `tap ${TAP}`);
    assert.throws(() => openTap({ ifname: TAP }), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_TAP_BUSY');
    again.close();
  });
});

test('a TAP deleted under the backend reads as Closed', { timeout: 30_000 }, async (t) => {
  if (!requireNetns(t)) return;
  await withTapNamespace(async ({ ns, memory, tapMac }) => {
    const tap = TapBackend.open({ name: TAP });
    try {
      ns.ip('link', 'del', TAP);
      const frame = udpFrame(tapMac, 5555, new Uint8Array(10));
      assert.equal(tap.send(gather(memory, 0x1000, new Uint8Array([...encodeHeader({}), ...frame]), [])), NetStatus.Closed);
      assert.equal(tap.receive(scatter(memory, 0x2000, 2048, []).iov), NetStatus.Closed);
      assert.equal(tap.lastError, 'EBADFD');
    } finally {
      tap.close();
    }
  });
});
