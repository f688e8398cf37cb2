/**
 * virtio-net with one queue pair and a control queue (virtio 1.2 §5.1),
 * over a NetBackend (src/devices/net.ts: passt's socket pair, a TAP).
 *
 * - Receive (§5.1.6.4): the device holds the chains the driver posts and
 *   watches the backend's fd only while it holds some; a frame is read
 *   straight into guest RAM, over several chains with MRG_RXBUF.
 * - Transmit (§5.1.6.2): each chain is written to the backend straight from
 *   guest RAM (writev). A backend that would block keeps the chain until
 *   its fd is writable; the queue waits meanwhile.
 * - Link status (§5.1.4): up while the backend works; a backend that closes
 *   (passt exited) takes the link down for good, with one log line and a
 *   configuration change notification.
 * - Control queue (§5.1.6.5): RX mode, MAC table and address, announce ack.
 *
 * Every chain is untrusted: too short, too long, or with buffers the wrong
 * way round, it is completed (length 0), counted, and the device goes on.
 */
import type { HostAddressMap } from '../../../memory/host-address-map.js';
import { HostAddressMap as AddressMap } from '../../../memory/host-address-map.js';
import { IovecList } from '../../../memory/iovec-list.js';
import { type NetBackend, type NetOffloads, NetStatus } from '../../net.js';
import { processResult, type QueueProcessResult, type VirtioDevice } from '../device.js';
import { type DeviceLogger, limitedLogger, silentLogger } from '../log.js';
import type { DescriptorChain } from '../queue/chain.js';
import { VirtqueueError } from '../queue/errors.js';
import { HELD, ROUND_BYTE_BUDGET, ROUND_CHAIN_BUDGET, serviceQueue } from '../queue/service.js';
import type { SplitQueue } from '../queue/split.js';
import { type DeviceRuntime, FdEvent, type RuntimeAware } from '../runtime/device-runtime.js';
import { featureMask, hasFeature, VirtioDeviceId, VirtioFeature } from '../types.js';
import {
  CTRL_ERR, CTRL_OK, CTRL_QUEUE, CtrlAnnounceCommand, CtrlClass, CtrlMacCommand, CtrlRxCommand, ETH_HEADER_BYTES,
  MAX_MTU, MIN_MTU, NetConfig, NetFeature, NetStatusBit, RX_QUEUE, TX_QUEUE,
} from './config.js';
import { NET_HDR_SIZE, NetHdrOffset } from './header.js';
import { gatherReceiveBuffers, HeldChains, splitFrame, writeIntoChain } from './rx.js';

export interface VirtioNetOptions {
  backend: NetBackend;
  /** The MAC address offered in the configuration space (VIRTIO_NET_F_MAC). */
  mac: Uint8Array;
  /** MTU offered (VIRTIO_NET_F_MTU); default: what the backend's largest frame allows, at most 65520. */
  mtu?: number;
  /** Size offered for the receive and transmit queues (power of 2, default 256). */
  queueSize?: number;
  logger?: DeviceLogger;
  /** Raises a configuration change notification (link status changed). */
  configChanged?: () => void;
}

/** Largest MTU offered by default: passt's, 65535 rounded down to 32-bit words less the Ethernet header. */
export const DEFAULT_MAX_MTU = 65520;
const CTRL_QUEUE_SIZE = 64;
/** Most MAC filter entries accepted in one CTRL_MAC_TABLE_SET table (Linux sends at most what fits a page). */
const MAX_MAC_TABLE_ENTRIES = 1024;

export interface NetCounters {
  rxPackets: number;
  rxBytes: number;
  rxDrops: number;
  txPackets: number;
  txBytes: number;
  txDrops: number;
  /** Chains refused: too short for a header, a header and no frame, bad buffers. */
  badChains: number;
  ctrlCommands: number;
  linkUp: number;
}

export class VirtioNet implements VirtioDevice, RuntimeAware {
  readonly deviceId = VirtioDeviceId.NET;
  readonly queueMaxSizes: readonly number[];
  readonly features: bigint;
  readonly counters: NetCounters = { rxPackets: 0, rxBytes: 0, rxDrops: 0, txPackets: 0, txBytes: 0, txDrops: 0, badChains: 0, ctrlCommands: 0, linkUp: 1 };
  readonly config: NetConfig;
  readonly mtu: number;
  /** RX mode the driver asked for (CTRL_RX); the backends deliver what reaches this MAC anyway. */
  readonly rxMode = { promisc: false, allmulti: false, unicastFilters: 0, multicastFilters: 0 };
  readonly #backend: NetBackend;
  readonly #logger: DeviceLogger;
  readonly #configChanged: () => void;
  readonly #held: HeldChains;
  readonly #rxIov = new IovecList();
  readonly #txIov = new IovecList();
  readonly #lengths: Uint32Array;
  readonly #header = new Uint8Array(NET_HDR_SIZE);
  readonly #numBuffers = new Uint8Array(2);
  /** Bytes the device itself puts in front of a frame: the header, when the backend does not carry it. */
  readonly #hdrSkip: number;
  /** Largest frame plus header the device lets into guest buffers. */
  readonly #maxRxBytes: number;
  #runtime: DeviceRuntime | null = null;
  #fdSource = -1;
  #fdEvents = 0;
  #queues: ReadonlyArray<SplitQueue | null> = [];
  /** Host addresses of the receive and transmit queues' memory (one GuestMemory in a VM; tests give each queue its own). */
  #rxMap: HostAddressMap | null = null;
  #txMap: HostAddressMap | null = null;
  #mergeable = false;
  #linkUp = true;
  /** A transmit chain the backend could not take yet (it would block): sent when the fd is writable. */
  #txStalled: DescriptorChain | null = null;
  #rxFault: VirtqueueError | null = null;
  /** A frame is waiting that the held chains cannot take yet: wait for the driver to post more. */
  #rxNeedsBuffers = false;

  constructor(options: VirtioNetOptions) {
    const backend = options.backend;
    this.#backend = backend;
    this.#logger = limitedLogger(options.logger ?? silentLogger, 'virtio-net');
    this.#configChanged = options.configChanged ?? ((): void => {});
    const queueSize = options.queueSize ?? 256;
    this.queueMaxSizes = [queueSize, queueSize, CTRL_QUEUE_SIZE];
    const largest = Math.min(MAX_MTU, backend.maxFrameBytes - ETH_HEADER_BYTES);
    const mtu = options.mtu ?? Math.min(DEFAULT_MAX_MTU, largest);
    if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > largest) throw new RangeError(`virtio-net: MTU ${mtu} is not in ${MIN_MTU}..${largest}`);
    this.mtu = mtu;
    this.config = new NetConfig(options.mac, mtu);
    this.config.status = NetStatusBit.LINK_UP;
    this.#held = new HeldChains(queueSize);
    this.#lengths = new Uint32Array(queueSize);
    this.#hdrSkip = backend.vnetHeader ? 0 : NET_HDR_SIZE;
    this.#maxRxBytes = NET_HDR_SIZE + mtu + ETH_HEADER_BYTES;
    const o = backend.offloads;
    // Offloads need the header to reach the host: only a backend that carries it can take them (§5.1.3.1).
    const carried = backend.vnetHeader;
    this.features = featureMask(
      VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX,
      NetFeature.MAC, NetFeature.STATUS, NetFeature.MTU, NetFeature.MRG_RXBUF,
      NetFeature.CTRL_VQ, NetFeature.CTRL_RX, NetFeature.CTRL_MAC_ADDR, NetFeature.GUEST_ANNOUNCE,
      ...(carried && o.csum ? [NetFeature.CSUM, NetFeature.GUEST_CSUM] : []),
      ...(carried && o.csum && o.tso4 ? [NetFeature.HOST_TSO4, NetFeature.GUEST_TSO4] : []),
      ...(carried && o.csum && o.tso6 ? [NetFeature.HOST_TSO6, NetFeature.GUEST_TSO6] : []),
    );
  }

  get configSpace(): NetConfig['space'] {
    return this.config.space;
  }

  get linkUp(): boolean {
    return this.#linkUp;
  }

  /** Receive chains the device holds, waiting for frames. */
  get heldReceiveChains(): number {
    return this.#held.count;
  }

  attachRuntime(runtime: DeviceRuntime): void {
    this.#runtime = runtime;
    this.#fdSource = runtime.addFd(this.#backend.fd, 0, (ready) => this.#fdReady(ready));
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.config.space.read(offset, data);
  }

  /** The configuration space is read-only for a VERSION_1 driver (§5.1.4.2); writes are ignored. */
  writeConfig(_offset: number, _data: Uint8Array): void {}

  activate(features: bigint, queues: ReadonlyArray<SplitQueue | null>): void {
    this.#queues = queues;
    this.#mergeable = hasFeature(features, NetFeature.MRG_RXBUF);
    const rx = queues[RX_QUEUE] ?? null;
    const tx = queues[TX_QUEUE] ?? null;
    this.#rxMap = rx ? AddressMap.of(rx.memory) : null;
    this.#txMap = tx ? (tx.memory === rx?.memory ? this.#rxMap : AddressMap.of(tx.memory)) : null;
    if ((rx && !this.#rxMap) || (tx && !this.#txMap)) this.#logger.warn('virtio-net: guest memory is not host-mapped; every frame will be dropped');
    const offloads: NetOffloads = {
      csum: hasFeature(features, NetFeature.GUEST_CSUM),
      tso4: hasFeature(features, NetFeature.GUEST_TSO4),
      tso6: hasFeature(features, NetFeature.GUEST_TSO6),
    };
    if (this.#backend.vnetHeader) this.#backend.setOffloads(offloads);
    this.#updateFdEvents();
  }

  queueNotified(index: number): QueueProcessResult {
    const queue = this.#queues[index];
    if (!queue) return { notify: false, needsReset: false, more: false };
    if (index === RX_QUEUE) return this.#serveReceive(queue);
    if (index === TX_QUEUE) return this.#serveTransmit(queue);
    if (index === CTRL_QUEUE) return this.#serveControl(queue);
    return { notify: false, needsReset: false, more: false };
  }

  reset(): void {
    this.#queues = [];
    this.#held.clear();
    this.#txStalled = null;
    this.#rxFault = null;
    this.#rxNeedsBuffers = false;
    this.#rxMap = null;
    this.#txMap = null;
    this.config.status = this.#linkUp ? NetStatusBit.LINK_UP : 0;
    this.#updateFdEvents();
  }

  /** Stops using the backend (the device is being closed); the caller closes the backend. */
  detach(): void {
    if (this.#runtime && this.#fdSource >= 0) this.#runtime.removeFd(this.#fdSource);
    this.#fdSource = -1;
  }

  // --- receive ---

  #serveReceive(queue: SplitQueue): QueueProcessResult {
    this.#holdPosted(queue);
    let frames = 0;
    let bytes = 0;
    let more = false;
    while (this.#held.count > 0 && this.#linkUp && !this.#rxFault) {
      if (frames >= ROUND_CHAIN_BUDGET || bytes >= ROUND_BYTE_BUDGET) {
        more = true;
        break;
      }
      const got = this.#receiveOne(queue);
      if (got < 0) break;
      frames++;
      bytes += got;
    }
    this.#updateFdEvents();
    const fatal = this.#rxFault;
    return { notify: queue.needsNotification(), needsReset: fatal !== null, more };
  }

  /** Takes every chain the driver posted into the held list; refused ones are completed at once. */
  #holdPosted(queue: SplitQueue): void {
    // A driver cannot have more chains outstanding than its queue holds: one call takes them all.
    const result = serviceQueue(queue, this.#holdChain, this.#onReceiveQueueError, { budget: queue.size, byteBudget: Infinity });
    if (result.fatal) this.#rxFault = result.fatal;
  }

  /** A posted receive chain: held until a frame arrives, or refused (completed empty). */
  readonly #holdChain = (chain: DescriptorChain): number => {
    if (chain.readable.length > 0 || chain.writableLength < NET_HDR_SIZE || !this.#held.push(chain)) {
      // §5.1.6.3.1: every receive buffer holds at least a header and is device-writable only.
      this.counters.badChains++;
      this.#logger.warn(`virtio-net: receive chain ${chain.head} refused (${chain.writableLength} writable, ${chain.readable.length} readable buffers)`);
      return 0;
    }
    return HELD;
  };

  readonly #onReceiveQueueError = (error: Error): void => {
    this.#logger.warn(`virtio-net: receive queue: ${error.message}`);
    if (!(error instanceof VirtqueueError && error.fatal)) this.counters.badChains++;
  };

  /**
   * Receives one frame into the held chains. Returns its bytes (header
   * included), 0 for a dropped frame, or -1 when nothing more can be
   * received now (no frame waiting, link down).
   */
  #receiveOne(queue: SplitQueue): number {
    if (!this.#enoughBuffers(queue)) return -1;
    const map = this.#rxMap;
    const iov = this.#rxIov;
    const maxChains = this.#mergeable ? this.#held.count : 1;
    const covered = map ? gatherReceiveBuffers(this.#held, maxChains, map, iov, this.#hdrSkip, this.#maxRxBytes - this.#hdrSkip) : -1;
    if (covered <= 0) {
      // Guest buffers the device cannot reach: return the chain empty.
      this.counters.badChains++;
      queue.pushUsed(this.#held.shift().head, 0);
      return 0;
    }
    const backend = this.#backend;
    const status = backend.receive(iov);
    if (status === NetStatus.WouldBlock) return -1;
    if (status === NetStatus.Closed) {
      this.#linkDown(`${backend.name} closed the connection`);
      return -1;
    }
    if (status === NetStatus.Error) {
      this.counters.rxDrops++;
      this.#logger.warn(`virtio-net: receive from ${backend.name} failed: ${backend.lastError}; frame dropped`);
      return 0;
    }
    const total = this.#hdrSkip + backend.lastBytes;
    const used = splitFrame(this.#held, total, this.#lengths);
    if (used < 0 || used > covered || total < NET_HDR_SIZE) {
      this.counters.rxDrops++;
      this.#logger.warn(`virtio-net: ${backend.name} returned ${backend.lastBytes} bytes for ${iov.length} of buffers; frame dropped`);
      return 0;
    }
    const first = this.#held.at(0);
    const memory = first.memory;
    if (this.#hdrSkip > 0) {
      const h = this.#header;
      h.fill(0);
      h[NetHdrOffset.numBuffers] = used & 0xff;
      h[NetHdrOffset.numBuffers + 1] = used >>> 8;
      writeIntoChain(memory, first.writable, 0, h);
    } else {
      const nb = this.#numBuffers;
      nb[0] = used & 0xff;
      nb[1] = used >>> 8;
      writeIntoChain(memory, first.writable, NetHdrOffset.numBuffers, nb);
    }
    for (let i = 0; i < used; i++) queue.pushUsed(this.#held.shift().head, this.#lengths[i]!, i === used - 1);
    this.counters.rxPackets++;
    this.counters.rxBytes += total - NET_HDR_SIZE;
    return total;
  }

  /**
   * Whether the held chains can take the next frame. With MRG_RXBUF a frame
   * larger than them waits (no fd interest) until the driver posts more,
   * unless the queue is full of held chains already; then it is read and
   * dropped. The size is the backend's nextFrameBytes, or the largest frame.
   */
  #enoughBuffers(queue: SplitQueue): boolean {
    this.#rxNeedsBuffers = false;
    const held = this.#held;
    const capacity = this.#mergeable ? held.bytes : held.at(0).writableLength;
    if (capacity >= this.#maxRxBytes || !this.#mergeable || held.count >= queue.size) return true;
    const backend = this.#backend;
    let needed = this.#maxRxBytes;
    if (backend.nextFrameBytes) {
      const next = backend.nextFrameBytes();
      if (next < 0) return true; // nothing waiting yet: receive() says WouldBlock, or notices a closed peer
      needed = this.#hdrSkip + next;
    }
    if (needed <= capacity) return true;
    this.#rxNeedsBuffers = true;
    return false;
  }

  // --- transmit ---

  #serveTransmit(queue: SplitQueue): QueueProcessResult {
    if (this.#txStalled) return { notify: false, needsReset: queue.broken !== null, more: false };
    return processResult(serviceQueue(queue, this.#transmit, this.#onTransmitQueueError, { shouldContinue: this.#txNotStalled }));
  }

  readonly #txNotStalled = (): boolean => this.#txStalled === null;

  readonly #onTransmitQueueError = (error: Error): void => {
    this.counters.badChains++;
    this.#logger.warn(`virtio-net: transmit queue: ${error.message}`);
  };

  /** Sends one transmit chain; returns 0 (nothing written into it), or HELD when the backend would block: the chain goes once the fd is writable. */
  readonly #transmit = (chain: DescriptorChain): number => {
    const status = this.#sendChain(chain);
    if (status !== NetStatus.WouldBlock) return 0;
    this.#txStalled = chain;
    this.#updateFdEvents();
    return HELD;
  };

  #sendChain(chain: DescriptorChain): NetStatus | -1 {
    const frameBytes = chain.readableLength - NET_HDR_SIZE;
    if (frameBytes <= 0 || chain.readable.length === 0) {
      this.counters.badChains++;
      this.counters.txDrops++;
      this.#logger.warn(`virtio-net: transmit chain ${chain.head} holds ${chain.readableLength} bytes, no frame after the header`);
      return -1;
    }
    if (!this.#linkUp) {
      this.counters.txDrops++;
      return -1;
    }
    if (frameBytes > this.#backend.maxFrameBytes) {
      this.counters.txDrops++;
      this.#logger.warn(`virtio-net: transmit frame of ${frameBytes} bytes is over the ${this.#backend.maxFrameBytes}-byte limit; dropped`);
      return -1;
    }
    const iov = this.#txIov;
    if (!this.#gatherTransmit(chain, iov)) {
      this.counters.badChains++;
      this.counters.txDrops++;
      this.#logger.warn(`virtio-net: transmit chain ${chain.head} has too many buffers or no host mapping; dropped`);
      return -1;
    }
    const backend = this.#backend;
    const status = backend.send(iov);
    if (status === NetStatus.Ok) {
      this.counters.txPackets++;
      this.counters.txBytes += frameBytes;
    } else if (status === NetStatus.Closed) {
      this.counters.txDrops++;
      this.#linkDown(`${backend.name} closed the connection`);
    } else if (status === NetStatus.Error) {
      this.counters.txDrops++;
      this.#logger.warn(`virtio-net: send to ${backend.name} failed: ${backend.lastError}; frame dropped`);
    }
    return status;
  }

  /** The chain's readable bytes as host ranges, without the header unless the backend carries it. */
  #gatherTransmit(chain: DescriptorChain, iov: IovecList): boolean {
    const map = this.#txMap;
    if (!map) return false;
    iov.clear();
    let skip = this.#hdrSkip;
    const readable = chain.readable;
    for (let i = 0; i < readable.length; i++) {
      const b = readable[i]!;
      if (skip >= b.len) {
        skip -= b.len;
        continue;
      }
      if (!map.append(iov, b.addr + skip, b.len - skip)) return false;
      skip = 0;
    }
    return true;
  }

  /** The backend's fd became writable: send the stalled chain, then serve the queue again. */
  #retryStalled(): void {
    const chain = this.#txStalled;
    const queue = this.#queues[TX_QUEUE];
    if (!chain || !queue || !this.#runtime) return;
    if (this.#sendChain(chain) === NetStatus.WouldBlock) return;
    this.#txStalled = null;
    this.#runtime.complete(queue, chain.head, 0);
    this.#runtime.kickQueue(TX_QUEUE);
    this.#updateFdEvents();
  }

  // --- control queue ---

  #serveControl(queue: SplitQueue): QueueProcessResult {
    return processResult(serviceQueue(queue, (chain) => this.#control(chain), (error) => {
      this.counters.badChains++;
      this.#logger.warn(`virtio-net: control queue: ${error.message}`);
    }, { budget: CTRL_QUEUE_SIZE }));
  }

  /** One control command (§5.1.6.5): class, command, data; the device writes the ack byte. */
  #control(chain: DescriptorChain): number {
    if (chain.writableLength < 1) {
      this.counters.badChains++;
      return 0;
    }
    const writer = chain.writer();
    const readable = chain.readableLength;
    const ack = readable < 2 ? CTRL_ERR : this.#command(chain.reader().readBytes(Math.min(readable, 2 + 8 + 12 * MAX_MAC_TABLE_ENTRIES)));
    writer.write(Uint8Array.of(ack));
    this.counters.ctrlCommands++;
    return 1;
  }

  #command(bytes: Uint8Array): number {
    const cls = bytes[0]!;
    const cmd = bytes[1]!;
    const data = bytes.subarray(2);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    switch (cls) {
      case CtrlClass.RX:
        if (data.length < 1 || (cmd !== CtrlRxCommand.PROMISC && cmd !== CtrlRxCommand.ALLMULTI)) return CTRL_ERR;
        if (cmd === CtrlRxCommand.PROMISC) this.rxMode.promisc = data[0] !== 0;
        else this.rxMode.allmulti = data[0] !== 0;
        return CTRL_OK;
      case CtrlClass.MAC:
        if (cmd === CtrlMacCommand.ADDR_SET) {
          if (data.length < 6) return CTRL_ERR;
          this.config.setMac(data.subarray(0, 6));
          return CTRL_OK;
        }
        if (cmd === CtrlMacCommand.TABLE_SET) {
          // Two tables: le32 entries, then entries × 6 bytes; unicast first, then multicast.
          if (data.length < 4) return CTRL_ERR;
          const unicast = view.getUint32(0, true);
          if (unicast > MAX_MAC_TABLE_ENTRIES || data.length < 4 + unicast * 6 + 4) return CTRL_ERR;
          const multicast = view.getUint32(4 + unicast * 6, true);
          if (multicast > MAX_MAC_TABLE_ENTRIES || data.length < 8 + (unicast + multicast) * 6) return CTRL_ERR;
          this.rxMode.unicastFilters = unicast;
          this.rxMode.multicastFilters = multicast;
          return CTRL_OK;
        }
        return CTRL_ERR;
      case CtrlClass.ANNOUNCE:
        if (cmd !== CtrlAnnounceCommand.ACK) return CTRL_ERR;
        this.config.status &= ~NetStatusBit.ANNOUNCE;
        return CTRL_OK;
      default:
        return CTRL_ERR;
    }
  }

  // --- the backend's fd and the link ---

  #fdReady(ready: number): void {
    if (!this.#linkUp) return;
    if (ready & FdEvent.OUT) this.#retryStalled();
    if (ready & FdEvent.IN) {
      this.#runtime?.kickQueue(RX_QUEUE);
    } else if (ready & (FdEvent.HUP | FdEvent.ERR)) {
      // Readable data would come with IN; a hang-up alone means the peer is gone.
      if (this.#held.count === 0) this.#linkDown(`${this.#backend.name} hung up`);
      else this.#runtime?.kickQueue(RX_QUEUE);
    }
  }

  #linkDown(why: string): void {
    if (!this.#linkUp) return;
    this.#linkUp = false;
    this.counters.linkUp = 0;
    this.config.status &= ~NetStatusBit.LINK_UP;
    const detail = this.#backend.lastError;
    // Once per device: not rate limited, and never repeated.
    this.#logger.warn(`virtio-net: link down: ${why}${detail ? ` (${detail})` : ''}`);
    this.#updateFdEvents();
    this.#configChanged();
    // A stalled frame will never go: return its chain.
    const queue = this.#queues[TX_QUEUE];
    if (this.#txStalled && queue && this.#runtime) {
      this.#runtime.complete(queue, this.#txStalled.head, 0);
      this.#txStalled = null;
      this.counters.txDrops++;
      this.#runtime.kickQueue(TX_QUEUE);
    }
  }

  /** IN while chains are held, OUT while a frame waits to go; nothing once the link is down. */
  #updateFdEvents(): void {
    if (!this.#runtime || this.#fdSource < 0) return;
    let events = 0;
    if (this.#linkUp) {
      if (this.#held.count > 0 && this.#queues[RX_QUEUE] && !this.#rxNeedsBuffers) events |= FdEvent.IN;
      if (this.#txStalled) events |= FdEvent.OUT;
    }
    if (!this.#linkUp) {
      // A closed peer keeps the fd readable (end of file) and hung up: stop watching it at all.
      this.#runtime.removeFd(this.#fdSource);
      this.#fdSource = -1;
      return;
    }
    if (events === this.#fdEvents) return;
    this.#fdEvents = events;
    this.#runtime.setFdEvents(this.#fdSource, events);
  }
}
