import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StreamFraming } from '../../../testing/net.js';
import type { IovecList } from '../../../memory/iovec-list.js';
import * as sys from '../../../sys/libc.js';
import { NO_OFFLOADS, type NetBackend, type NetOffloads, type NetStatus } from '../../net.js';
import { MockDriver, type MockBuffer } from '../queue/mock-driver.js';
import type { SplitQueue } from '../queue/split.js';
import { type DeviceRuntime, FdEvent } from '../runtime/device-runtime.js';
import { featureMask, hasFeature, VirtioFeature } from '../types.js';
import { CTRL_ERR, CTRL_OK, CtrlClass, NetConfigOffset, NetFeature, NetStatusBit } from './config.js';
import { VirtioNet } from './device.js';
import { decodeNetHeader, encodeNetHeader, NET_HDR_SIZE, type NetHeader } from './header.js';

/** A NetBackend double: passt's framing over a socket pair; the test is the peer on the other end. */
class SocketPairBackend implements NetBackend {
  readonly name = 'test-peer';
  readonly vnetHeader = false;
  readonly offloads: Readonly<NetOffloads>;
  readonly maxFrameBytes: number;
  readonly framing: StreamFraming;
  readonly peer: number;
  offloadsSet: NetOffloads[] = [];
  closed = false;

  constructor(maxFrameBytes = 65534, offloads: NetOffloads = NO_OFFLOADS) {
    const [ours, peer] = sys.socketpair(sys.SOCK_STREAM);
    sys.setNonBlocking(ours);
    this.framing = new StreamFraming(ours, maxFrameBytes);
    this.peer = peer;
    this.maxFrameBytes = maxFrameBytes;
    this.offloads = offloads;
  }

  get fd(): number { return this.framing.fd; }
  get lastBytes(): number { return this.framing.lastBytes; }
  get lastError(): string { return this.framing.lastError; }
  setOffloads(o: Readonly<NetOffloads>): void { this.offloadsSet.push({ ...o }); }
  send(iov: IovecList): NetStatus { return this.framing.send(iov); }
  receive(iov: IovecList): NetStatus { return this.framing.receive(iov); }
  nextFrameBytes(): number { return this.framing.nextFrameBytes(); }

  /** The peer sends a frame (length word, then the bytes), optionally in two writes. */
  peerSend(frame: Uint8Array, split?: number): void {
    const out = new Uint8Array(4 + frame.length);
    new DataView(out.buffer).setUint32(0, frame.length, false);
    out.set(frame, 4);
    if (split === undefined) writeAll(this.peer, out);
    else {
      writeAll(this.peer, out.subarray(0, split));
      writeAll(this.peer, out.subarray(split));
    }
  }

  /** The peer reads one frame. */
  peerReceive(): Uint8Array {
    const len = new DataView(readExactly(this.peer, 4).buffer).getUint32(0, false);
    return readExactly(this.peer, len);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    sys.close(this.framing.fd);
    sys.close(this.peer);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += sys.write(fd, bytes.subarray(done));
}

function readExactly(fd: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = sys.read(fd, out.subarray(got));
    if (r === 0) throw new Error('peer: end of stream');
    got += r;
  }
  return out;
}

/** A DeviceRuntime double: records fd interest, completes chains into the queue, counts kicks. */
class FakeRuntime implements DeviceRuntime {
  readonly wakeEventFd = -1;
  readonly inFlight = 0;
  events = new Map<number, number>();
  kicks: number[] = [];
  removed: number[] = [];
  onReady: (ready: number) => void = () => {};
  addFd(_fd: number, events: number, onReady: (ready: number) => void): number {
    this.events.set(1, events);
    this.onReady = onReady;
    return 1;
  }
  setFdEvents(source: number, events: number): void { this.events.set(source, events); }
  removeFd(source: number): void { this.removed.push(source); this.events.delete(source); }
  addTimer(): number { return 0; }
  armTimer(): void {}
  removeTimer(): void {}
  kickQueue(index: number): void { this.kicks.push(index); }
  wake(): void {}
  complete(queue: SplitQueue, head: number, len: number): void { queue.pushUsed(head, len); }
  track<T>(operation: Promise<T>): Promise<T> { return operation; }
}

interface Harness {
  net: VirtioNet;
  backend: SocketPairBackend;
  runtime: FakeRuntime;
  rx: MockDriver;
  tx: MockDriver;
  ctrl: MockDriver;
  logs: string[];
  configChanges: number;
  close(): void;
}

function harness(opts: { mergeable?: boolean; maxFrameBytes?: number; offloads?: NetOffloads; queueSize?: number } = {}): Harness {
  const backend = new SocketPairBackend(opts.maxFrameBytes, opts.offloads);
  const logs: string[] = [];
  const h = { configChanges: 0 } as Harness;
  const net = new VirtioNet({
    backend, mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56), logger: { warn: (m) => logs.push(m) },
    configChanged: () => { h.configChanges++; }, ...(opts.queueSize ? { queueSize: opts.queueSize } : {}),
  });
  const runtime = new FakeRuntime();
  net.attachRuntime(runtime);
  const size = opts.queueSize ?? 256;
  const rx = new MockDriver({ size, eventIdx: true, indirectDesc: true, hostMapped: true, dataBytes: 4 << 20 });
  const tx = new MockDriver({ size, eventIdx: true, indirectDesc: true, hostMapped: true, dataBytes: 4 << 20 });
  const ctrl = new MockDriver({ size: 64, eventIdx: true, hostMapped: true, dataBytes: 1 << 16 });
  let features = net.features;
  if (opts.mergeable === false) features &= ~featureMask(NetFeature.MRG_RXBUF);
  net.activate(features, [rx.createQueue(), tx.createQueue(), ctrl.createQueue()]);
  return Object.assign(h, {
    net, backend, runtime, rx, tx, ctrl, logs,
    close: () => { backend.close(); rx.close(); tx.close(); ctrl.close(); },
  });
}

function frameOf(len: number, seed = 1): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return f;
}

/** Reads back the bytes the device wrote into the used receive chains, in used order. */
function usedRxBytes(driver: MockDriver, chains: Map<number, Array<{ addr: number; len: number }>>, used: Array<{ id: number; len: number }>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const u of used) {
    let left = u.len;
    for (const b of chains.get(u.id)!) {
      const n = Math.min(left, b.len);
      parts.push(driver.read(b.addr, n));
      left -= n;
    }
  }
  return Uint8Array.from(Buffer.concat(parts));
}

function postRx(h: Harness, sizes: number[]): Map<number, Array<{ addr: number; len: number }>> {
  const chains = new Map<number, Array<{ addr: number; len: number }>>();
  for (const len of sizes) {
    const { head, placed } = h.rx.addChain([{ len, writable: true }]);
    chains.set(head, placed);
  }
  return chains;
}

test('header codec: every field round-trips, masked to its width', () => {
  fc.assert(fc.property(
    fc.record({
      flags: fc.integer({ min: 0, max: 0xff }), gsoType: fc.integer({ min: 0, max: 0xff }), hdrLen: fc.integer({ min: 0, max: 0xffff }),
      gsoSize: fc.integer({ min: 0, max: 0xffff }), csumStart: fc.integer({ min: 0, max: 0xffff }), csumOffset: fc.integer({ min: 0, max: 0xffff }),
      numBuffers: fc.integer({ min: 0, max: 0xffff }),
    }),
    fc.integer({ min: 0, max: 8 }),
    (h: NetHeader, at) => {
      const out = new Uint8Array(at + NET_HDR_SIZE);
      encodeNetHeader(h, out, at);
      assert.deepEqual(decodeNetHeader(out, at), { ...h });
    },
  ));
  assert.throws(() => decodeNetHeader(new Uint8Array(11)), RangeError);
  const b = new Uint8Array(12);
  encodeNetHeader({ flags: 0x101, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0, numBuffers: 0x1_0002 }, b);
  assert.equal(b[0], 1);
  assert.equal(decodeNetHeader(b).numBuffers, 2);
});

test('features and configuration: MAC, link up, MTU; offloads only when the backend carries headers', () => {
  const h = harness();
  const f = h.net.features;
  for (const bit of [NetFeature.MAC, NetFeature.STATUS, NetFeature.MTU, NetFeature.MRG_RXBUF, NetFeature.CTRL_VQ, NetFeature.CTRL_RX,
    NetFeature.CTRL_MAC_ADDR, NetFeature.GUEST_ANNOUNCE, VirtioFeature.EVENT_IDX, VirtioFeature.VERSION_1]) assert.ok(hasFeature(f, bit), `bit ${bit}`);
  for (const bit of [NetFeature.CSUM, NetFeature.GUEST_CSUM, NetFeature.HOST_TSO4, NetFeature.GUEST_TSO6]) assert.ok(!hasFeature(f, bit), `bit ${bit}`);
  const cfg = new Uint8Array(12);
  h.net.readConfig(0, cfg);
  assert.deepEqual([...cfg.subarray(0, 6)], [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  const v = new DataView(cfg.buffer);
  assert.equal(v.getUint16(NetConfigOffset.status, true), NetStatusBit.LINK_UP);
  assert.equal(v.getUint16(NetConfigOffset.maxVirtqueuePairs, true), 1);
  assert.equal(v.getUint16(NetConfigOffset.mtu, true), 65520);
  h.close();

  // A backend that carries the header offers what it can take; the guest's choice reaches it.
  const backend = new SocketPairBackend(65534, { csum: true, tso4: true, tso6: false });
  Object.defineProperty(backend, 'vnetHeader', { value: true });
  const tap = new VirtioNet({ backend, mac: new Uint8Array(6) });
  assert.ok(hasFeature(tap.features, NetFeature.CSUM) && hasFeature(tap.features, NetFeature.GUEST_TSO4) && hasFeature(tap.features, NetFeature.HOST_TSO4));
  assert.ok(!hasFeature(tap.features, NetFeature.GUEST_TSO6));
  tap.activate(featureMask(VirtioFeature.VERSION_1, NetFeature.GUEST_CSUM), [null, null, null]);
  assert.deepEqual(backend.offloadsSet, [{ csum: true, tso4: false, tso6: false }]);
  backend.close();
});

test('transmit: the header is stripped and the frame goes out whole; header-only and oversized chains are dropped', () => {
  const h = harness({ maxFrameBytes: 2000 });
  const frame = frameOf(1514);
  const hdr = new Uint8Array(NET_HDR_SIZE).fill(0xee);
  // Header and frame split oddly over three buffers.
  const a = h.tx.addChain([{ data: hdr.subarray(0, 5), writable: false }, { data: Uint8Array.from([...hdr.subarray(5), ...frame.subarray(0, 100)]), writable: false }, { data: frame.subarray(100), writable: false }]);
  const onlyHeader = h.tx.addChain([{ data: hdr, writable: false }]);
  const tooBig = h.tx.addChain([{ data: hdr, writable: false }, { len: 2001, writable: false }]);
  const b = h.tx.addChain([{ data: hdr, writable: false }, { data: frameOf(60, 2), writable: false }], { indirect: true });
  const result = h.net.queueNotified(1);
  assert.equal(result.notify, true);
  assert.deepEqual(h.tx.takeUsed(), [{ id: a.head, len: 0 }, { id: onlyHeader.head, len: 0 }, { id: tooBig.head, len: 0 }, { id: b.head, len: 0 }]);
  assert.deepEqual(h.backend.peerReceive(), frame);
  assert.deepEqual(h.backend.peerReceive(), frameOf(60, 2));
  assert.equal(h.net.counters.txPackets, 2);
  assert.equal(h.net.counters.txBytes, 1574);
  assert.equal(h.net.counters.txDrops, 2);
  assert.equal(h.net.counters.badChains, 1);
  h.close();
});

test('transmit: a full socket stalls the queue, and the chain goes once the fd is writable', () => {
  const h = harness();
  const hdr = new Uint8Array(NET_HDR_SIZE);
  const big = frameOf(60000, 3);
  let sent = 0;
  // Fill the socket until the backend would block.
  for (let i = 0; i < 64 && !h.runtime.events.get(1); i++) {
    h.tx.addChain([{ data: hdr, writable: false }, { data: big, writable: false }]);
    h.net.queueNotified(1);
    sent++;
  }
  const events = h.runtime.events.get(1) ?? 0;
  assert.ok(events & FdEvent.OUT, 'waits for the fd to be writable');
  const usedBefore = h.tx.takeUsed().length;
  assert.equal(usedBefore, sent - 1, 'the stalled chain is not completed yet');
  // The peer drains everything; the fd is writable again and the runtime says so.
  // (A frame may have gone out in part, its rest staged: each read makes room for more.)
  for (let i = 0; i < sent; i++) {
    if ((h.runtime.events.get(1) ?? 0) & FdEvent.OUT) h.runtime.onReady(FdEvent.OUT);
    assert.deepEqual(h.backend.peerReceive(), big);
  }
  assert.equal(h.tx.takeUsed().length, 1, 'the stalled chain completes once it went');
  assert.deepEqual(h.runtime.kicks, [1], 'and the queue is served again');
  assert.equal((h.runtime.events.get(1) ?? 0) & FdEvent.OUT, 0);
  assert.equal(h.net.counters.txPackets, sent);
  h.close();
});

test('receive: chains wait for frames; MRG_RXBUF spreads a 64 KiB frame over 1,526-byte buffers and sets num_buffers', () => {
  const h = harness();
  const chains = postRx(h, Array.from({ length: 64 }, () => 1526));
  const first = h.net.queueNotified(0);
  assert.equal(h.net.heldReceiveChains, 64);
  assert.equal(first.notify, false);
  assert.deepEqual(h.rx.takeUsed(), []);
  assert.equal(h.runtime.events.get(1), FdEvent.IN, 'watches the fd while it holds chains');
  const frame = frameOf(65534, 5);
  h.backend.peerSend(frame, 3);
  const small = frameOf(60, 6);
  h.backend.peerSend(small);
  const result = h.net.queueNotified(0);
  assert.equal(result.notify, true);
  const used = h.rx.takeUsed();
  const n = Math.ceil((65534 + NET_HDR_SIZE) / 1526);
  assert.equal(used.length, n + 1);
  const bytes = usedRxBytes(h.rx, chains, used.slice(0, n));
  assert.equal(decodeNetHeader(bytes).numBuffers, n);
  assert.deepEqual(bytes.subarray(NET_HDR_SIZE), frame);
  const second = usedRxBytes(h.rx, chains, used.slice(n));
  assert.equal(decodeNetHeader(second).numBuffers, 1);
  assert.deepEqual(second.subarray(NET_HDR_SIZE), small);
  assert.equal(h.net.counters.rxPackets, 2);
  assert.equal(h.net.counters.rxBytes, 65534 + 60);
  // Chains left: still watching; none left would turn the fd's interest off.
  assert.equal(h.net.heldReceiveChains, 64 - n - 1);
  h.close();
});

test('receive: hostile chains (2-byte buffer, readable buffer) are refused; a frame too big for one chain without MRG_RXBUF is dropped', () => {
  const h = harness({ mergeable: false });
  const tiny = h.rx.addChain([{ len: 2, writable: true }]);
  const wrongWay = h.rx.addChain([{ data: new Uint8Array(20), writable: false }, { len: 100, writable: true }]);
  const ok = h.rx.addChain([{ len: 1000, writable: true }]);
  h.net.queueNotified(0);
  assert.deepEqual(h.rx.takeUsed(), [{ id: tiny.head, len: 0 }, { id: wrongWay.head, len: 0 }]);
  assert.equal(h.net.counters.badChains, 2);
  h.backend.peerSend(frameOf(2000));
  h.backend.peerSend(frameOf(500, 9));
  h.net.queueNotified(0);
  const used = h.rx.takeUsed();
  assert.deepEqual(used, [{ id: ok.head, len: 512 }]);
  assert.equal(h.net.counters.rxDrops, 1);
  const bytes = h.rx.read(ok.placed[0]!.addr, 512);
  assert.deepEqual(bytes.subarray(NET_HDR_SIZE), frameOf(500, 9));
  assert.equal(h.runtime.events.get(1), 0, 'no chains held: the fd is silent');
  h.close();
});

test('property: any frames over any receive buffers (at least a header each) arrive intact, in order, with the right num_buffers', () => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 12, max: 5000 }), { minLength: 1, maxLength: 40 }),
    // At most what the socket buffer holds: the test's peer writes block.
    fc.array(fc.integer({ min: 1, max: 70000 }), { minLength: 1, maxLength: 6 }).map((sizes) => {
      let total = 0;
      return sizes.filter((n) => (total += n + 4) <= 150_000);
    }).filter((sizes) => sizes.length > 0),
    (bufferSizes, frameSizes) => {
      const h = harness({ queueSize: 64 });
      try {
        const chains = postRx(h, bufferSizes);
        h.net.queueNotified(0);
        const capacity = bufferSizes.reduce((a, b) => a + b, 0);
        const frames = frameSizes.map((n, i) => frameOf(Math.min(n, 65534), i));
        for (const f of frames) h.backend.peerSend(f, 2);
        h.net.queueNotified(0);
        const used = h.rx.takeUsed();
        // Walk the used entries frame by frame.
        // Frames that did not fit the buffers left are dropped; the rest arrive in order.
        let at = 0;
        let delivered = 0;
        let next = 0;
        while (at < used.length) {
          const head = usedRxBytes(h.rx, chains, [used[at]!]);
          const k = decodeNetHeader(head).numBuffers;
          assert.ok(k >= 1 && at + k <= used.length);
          const bytes = usedRxBytes(h.rx, chains, used.slice(at, at + k)).subarray(NET_HDR_SIZE);
          while (next < frames.length && !Buffer.from(frames[next]!).equals(bytes)) next++;
          assert.ok(next < frames.length, `delivered frame ${delivered} (${bytes.length} bytes) is one of those sent, in order`);
          next++;
          at += k;
          delivered++;
        }
        assert.ok(delivered + h.net.counters.rxDrops <= frames.length);
        assert.ok(used.every((u) => u.len <= 70000));
        assert.ok(delivered > 0 || frames[0]!.length + NET_HDR_SIZE > capacity || h.net.counters.rxDrops > 0);
      } finally {
        h.close();
      }
    },
  ), { numRuns: 40 });
});

test('link: the backend closing takes the link down once, with a config change and one log line', () => {
  const h = harness();
  postRx(h, [2000, 2000]);
  h.net.queueNotified(0);
  sys.close(h.backend.peer);
  Object.defineProperty(h.backend, 'peer', { value: -1 });
  h.net.queueNotified(0);
  assert.equal(h.net.linkUp, false);
  assert.equal(h.configChanges, 1);
  const cfg = new Uint8Array(2);
  h.net.readConfig(NetConfigOffset.status, cfg);
  assert.equal(cfg[0]! & NetStatusBit.LINK_UP, 0);
  assert.equal(h.logs.filter((l) => l.includes('link down')).length, 1);
  assert.deepEqual(h.runtime.removed, [1], 'the fd is no longer watched');
  // Transmit chains are returned, dropped, while the link is down.
  const t = h.tx.addChain([{ data: new Uint8Array(NET_HDR_SIZE + 60), writable: false }]);
  h.net.queueNotified(1);
  assert.deepEqual(h.tx.takeUsed(), [{ id: t.head, len: 0 }]);
  assert.equal(h.net.counters.txDrops, 1);
  h.net.queueNotified(0);
  assert.equal(h.configChanges, 1);
  sys.close(h.backend.framing.fd);
  h.rx.close(); h.tx.close(); h.ctrl.close();
});

test('control queue: RX mode, MAC table and address, announce ack; anything else is an error', () => {
  const h = harness();
  const send = (bytes: number[]): number => {
    const c = h.ctrl.addChain([{ data: Uint8Array.from(bytes), writable: false }, { len: 1, writable: true }]);
    h.net.queueNotified(2);
    const used = h.ctrl.takeUsed();
    assert.deepEqual(used, [{ id: c.head, len: 1 }]);
    return h.ctrl.read(c.placed[1]!.addr, 1)[0]!;
  };
  assert.equal(send([CtrlClass.RX, 0, 1]), CTRL_OK);
  assert.equal(h.net.rxMode.promisc, true);
  assert.equal(send([CtrlClass.RX, 1, 1]), CTRL_OK);
  assert.equal(h.net.rxMode.allmulti, true);
  assert.equal(send([CtrlClass.RX, 9, 1]), CTRL_ERR);
  assert.equal(send([CtrlClass.MAC, 1, 2, 0, 0, 0, 0, 1]), CTRL_OK);
  const mac = new Uint8Array(6);
  h.net.readConfig(0, mac);
  assert.deepEqual([...mac], [2, 0, 0, 0, 0, 1]);
  // TABLE_SET: 1 unicast entry, 2 multicast entries.
  assert.equal(send([CtrlClass.MAC, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 2, 0, 0, 0, ...new Array(12).fill(1)]), CTRL_OK);
  assert.deepEqual([h.net.rxMode.unicastFilters, h.net.rxMode.multicastFilters], [1, 2]);
  assert.equal(send([CtrlClass.MAC, 0, 0xff, 0xff, 0xff, 0xff]), CTRL_ERR, 'a table longer than the command');
  assert.equal(send([CtrlClass.ANNOUNCE, 0]), CTRL_OK);
  assert.equal(send([CtrlClass.VLAN, 0, 1, 0]), CTRL_ERR);
  assert.equal(send([7]), CTRL_ERR);
  const noAck = h.ctrl.addChain([{ data: Uint8Array.of(0, 0, 1), writable: false }]);
  h.net.queueNotified(2);
  assert.deepEqual(h.ctrl.takeUsed(), [{ id: noAck.head, len: 0 }]);
  h.close();
});

test('property: random chains on every queue never throw and always complete or are held', () => {
  const buffer: fc.Arbitrary<MockBuffer> = fc.oneof(
    fc.record({ len: fc.integer({ min: 0, max: 3000 }), writable: fc.constant(true) }),
    fc.record({ data: fc.uint8Array({ minLength: 0, maxLength: 200 }), writable: fc.constant(false) }),
  );
  const chain = fc.array(buffer, { minLength: 1, maxLength: 6 }).map((bs) => [...bs.filter((b) => !b.writable), ...bs.filter((b) => b.writable)]);
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), chain), { maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 4 }), (ops, frames) => {
    const h = harness({ queueSize: 64 });
    try {
      for (const f of frames) h.backend.peerSend(frameOf(Math.max(1, f)));
      for (const [q, bufs] of ops) {
        const d = q === 0 ? h.rx : q === 1 ? h.tx : h.ctrl;
        if (bufs.every((b) => (b.data?.length ?? b.len ?? 0) === 0)) continue;
        d.addChain(bufs);
        const r = h.net.queueNotified(q);
        assert.equal(r.needsReset, false);
      }
      h.net.reset();
    } finally {
      h.close();
    }
  }), { numRuns: 60 });
});

test('receive: a frame that arrives in pieces is assembled (staged) and delivered whole, and the stream stays in step', () => {
  const h = harness();
  const chains = postRx(h, [4096, 4096]);
  h.net.queueNotified(0);
  const frame = frameOf(3000, 11);
  const wire = new Uint8Array(4 + frame.length);
  new DataView(wire.buffer).setUint32(0, frame.length, false);
  wire.set(frame, 4);
  writeAll(h.backend.peer, wire.subarray(0, 2));
  h.net.queueNotified(0);
  writeAll(h.backend.peer, wire.subarray(2, 1000));
  h.net.queueNotified(0);
  assert.deepEqual(h.rx.takeUsed(), [], 'nothing delivered before the frame is whole');
  writeAll(h.backend.peer, wire.subarray(1000));
  h.backend.peerSend(frameOf(100, 12));
  h.net.queueNotified(0);
  const used = h.rx.takeUsed();
  assert.equal(used.length, 2);
  assert.deepEqual(usedRxBytes(h.rx, chains, [used[0]!]).subarray(NET_HDR_SIZE), frame);
  assert.deepEqual(usedRxBytes(h.rx, chains, [used[1]!]).subarray(NET_HDR_SIZE), frameOf(100, 12));
  h.close();
});

test('receive: with MRG_RXBUF a frame larger than the held buffers waits for the driver to post more, then arrives whole', () => {
  const h = harness({ queueSize: 64 });
  const chains = postRx(h, Array.from({ length: 10 }, () => 1526));
  h.net.queueNotified(0);
  const frame = frameOf(30000, 13);
  h.backend.peerSend(frame);
  h.net.queueNotified(0);
  assert.deepEqual(h.rx.takeUsed(), []);
  assert.equal(h.net.counters.rxDrops, 0);
  assert.equal(h.runtime.events.get(1), 0, 'no fd interest while the frame cannot fit');
  for (const [head, placed] of postRx(h, Array.from({ length: 10 }, () => 1526))) chains.set(head, placed);
  h.net.queueNotified(0);
  const used = h.rx.takeUsed();
  assert.equal(used.length, Math.ceil((30000 + NET_HDR_SIZE) / 1526));
  assert.deepEqual(usedRxBytes(h.rx, chains, used).subarray(NET_HDR_SIZE), frame);
  h.close();
});

test('reset with receive chains held and a transmit stalled: after it the device writes no guest buffer and no used entry (virtio 1.2 §2.1.2)', () => {
  const h = harness();
  try {
    postRx(h, [1526, 1526, 1526, 1526]);
    h.net.queueNotified(0);
    assert.equal(h.net.heldReceiveChains, 4);
    assert.equal(h.runtime.events.get(1), FdEvent.IN);
    const before = h.rx.read(0, 4 << 20);
    h.net.reset();
    assert.equal(h.net.heldReceiveChains, 0, 'the held chains are given up, not completed');
    assert.equal(h.runtime.events.get(1) ?? 0, 0, 'the fd is no longer watched for frames');
    // Frames that arrive now (or were in flight) must not land in the old buffers.
    h.backend.peerSend(frameOf(1000, 9));
    h.backend.peerSend(frameOf(60, 10));
    h.runtime.onReady(FdEvent.IN);
    assert.deepEqual(h.rx.takeUsed(), [], 'no used entry after the reset');
    assert.ok(Buffer.from(h.rx.read(0, 4 << 20)).equals(Buffer.from(before)), 'guest RAM of the old ring untouched');
  } finally {
    h.close();
  }
});
