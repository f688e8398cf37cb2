/**
 * virtio-console with VIRTIO_CONSOLE_F_MULTIPORT and named generic ports
 * only (virtio 1.2 §5.3.6.2), no console port: Linux makes each port a
 * character device /dev/vportNpM without a line discipline, so bytes pass
 * unchanged both ways, and names it in /sys/class/virtio-ports/<dev>/name.
 *
 * Queues (§5.3.2): 0/1 receiveq/transmitq of port 0, 2/3 the control
 * receiveq/transmitq, then 2p+2/2p+3 for port p ≥ 1.
 *
 * Control protocol: the driver sends DEVICE_READY; the device announces
 * each port with DEVICE_ADD; the driver answers PORT_READY for each, and
 * the device then says whether the host end is open (PORT_OPEN) and names
 * the port (PORT_NAME), in that order, so that a guest that finds the name
 * also sees the host end's state. The driver sends PORT_OPEN when a guest
 * process opens or closes the port. Host input is delivered only while the
 * guest has the port open (Linux drops data that arrives on a closed
 * port); when the host ends a port's input (endInput), the device sends
 * PORT_OPEN 0 once the guest has taken the last byte, and the guest's
 * read() then returns 0: end of file.
 *
 * Everything the driver sends is untrusted: unknown events, port ids or
 * malformed control buffers are counted, logged (rate limited) and ignored.
 */
import { ConfigSpace } from '../config-space.js';
import { processResult, type QueueProcessResult, type VirtioDevice } from '../device.js';
import { type DeviceLogger, limitedLogger, silentLogger } from '../log.js';
import type { DescriptorChain } from '../queue/chain.js';
import { transmitChain } from './transmit.js';
import type { DeviceRuntime, RuntimeAware } from '../runtime/device-runtime.js';
import { serviceQueue } from '../queue/service.js';
import type { SplitQueue } from '../queue/split.js';
import { featureMask, VirtioDeviceId, VirtioFeature } from '../types.js';
import { CONSOLE_CONFIG_SIZE, ConsoleConfigOffset, ConsoleFeature } from './device.js';

/** struct virtio_console_control events (§5.3.6.2). */
export const ControlEvent = {
  DEVICE_READY: 0,
  DEVICE_ADD: 1,
  DEVICE_REMOVE: 2,
  PORT_READY: 3,
  CONSOLE_PORT: 4,
  RESIZE: 5,
  PORT_OPEN: 6,
  PORT_NAME: 7,
} as const;

/** le32 id, le16 event, le16 value. */
export const CONTROL_SIZE = 8;
export const CONTROL_RECEIVE_QUEUE = 2;
export const CONTROL_TRANSMIT_QUEUE = 3;
/** Longest port name sent (the name follows the control header in one buffer). */
export const MAX_PORT_NAME = 128;
/** At most 31 ports: the queue count fits the transport's 64 MSI-X vectors comfortably. */
export const MAX_PORTS = 31;

export function receiveQueueOf(port: number): number {
  return port === 0 ? 0 : 2 * port + 2;
}

export function transmitQueueOf(port: number): number {
  return receiveQueueOf(port) + 1;
}

/** The port whose data queue `queue` is, and whether it is the transmit queue; null for the control queues. */
export function portOfQueue(queue: number): { port: number; transmit: boolean } | null {
  if (queue === 0 || queue === 1) return { port: 0, transmit: queue === 1 };
  if (queue < 4) return null;
  return { port: (queue >> 1) - 1, transmit: (queue & 1) === 1 };
}

export interface VirtioConsolePortsOptions {
  /** Port names, by port id (at least 1, at most MAX_PORTS; printable ASCII, at most MAX_PORT_NAME bytes). */
  ports: readonly string[];
  /** Guest output on `port`; the bytes are a copy the callback may keep. */
  output: (port: number, bytes: Uint8Array) => void;
  /** True while the receiver of output holds as much as it may: transmit buffers then wait (as VirtioConsoleOptions.outputBlocked). */
  outputBlocked?: () => boolean;
  /** The guest took `bytes` bytes of host input (flow control for the host side). */
  inputTaken?: (bytes: number) => void;
  queueSize?: number;
  /** Host input kept per port while the guest does not read (default 1 MiB); more is dropped and counted. */
  maxPendingInput?: number;
  /** Most bytes taken from one transmit chain (default 1 MiB); the rest is dropped. */
  maxTransmitPerChain?: number;
  logger?: DeviceLogger;
}

/** Control messages the device may hold for the driver; a driver that never reads its control queue cannot grow it further. */
const MAX_PENDING_CONTROL = 4 * MAX_PORTS;

interface PortState {
  readonly name: Uint8Array;
  /** The driver sent PORT_READY for it (after our DEVICE_ADD). */
  ready: boolean;
  /** A guest process has the port open (the driver's PORT_OPEN). */
  guestOpen: boolean;
  /** The host end is open; false once its input ended and was delivered. */
  hostOpen: boolean;
  /** endInput() was called: close the host end when pending input runs out. */
  inputEnding: boolean;
  pending: Uint8Array[];
  pendingOffset: number;
  pendingBytes: number;
}

interface ControlMessage {
  id: number;
  event: number;
  value: number;
  name?: Uint8Array;
}

export class VirtioConsolePorts implements VirtioDevice, RuntimeAware {
  readonly deviceId = VirtioDeviceId.CONSOLE;
  readonly queueMaxSizes: readonly number[];
  readonly features: bigint;
  readonly configSpace = new ConfigSpace(CONSOLE_CONFIG_SIZE);
  readonly counters = { receivedBytes: 0, transmittedBytes: 0, droppedInputBytes: 0, droppedOutputBytes: 0, controlErrors: 0, errors: 0 };
  readonly #options: VirtioConsolePortsOptions;
  readonly #ports: PortState[];
  readonly #logger: DeviceLogger;
  readonly #maxPending: number;
  readonly #transmitting: () => boolean;
  #control: ControlMessage[] = [];
  #queues: ReadonlyArray<SplitQueue | null> = [];
  #runtime: DeviceRuntime | null = null;

  constructor(options: VirtioConsolePortsOptions) {
    const count = options.ports.length;
    if (count < 1 || count > MAX_PORTS) throw new RangeError(`virtio-console: ${count} ports, must be 1 to ${MAX_PORTS}`);
    this.#options = options;
    this.#ports = options.ports.map((name) => {
      if (!/^[\x21-\x7e]+$/.test(name) || name.length > MAX_PORT_NAME) throw new RangeError(`virtio-console: bad port name ${JSON.stringify(name)}`);
      return { name: Buffer.from(name, 'latin1'), ready: false, guestOpen: false, hostOpen: true, inputEnding: false, pending: [], pendingOffset: 0, pendingBytes: 0 };
    });
    const queueSize = options.queueSize ?? 128;
    this.queueMaxSizes = Array.from({ length: 2 * (count + 1) }, () => queueSize);
    this.features = featureMask(VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX, ConsoleFeature.MULTIPORT);
    this.configSpace.view.setUint32(ConsoleConfigOffset.maxNrPorts, count, true);
    this.#maxPending = options.maxPendingInput ?? 1 << 20;
    const blocked = options.outputBlocked;
    this.#transmitting = blocked ? () => !blocked() : () => true;
    this.#logger = limitedLogger(options.logger ?? silentLogger, 'virtio-console ports');
  }

  attachRuntime(runtime: DeviceRuntime): void {
    this.#runtime = runtime;
  }

  /** The receiver of output drained: serve the transmit buffers left waiting. */
  onWake(): void {
    for (let p = 0; p < this.#ports.length; p++) this.#runtime?.kickQueue(transmitQueueOf(p));
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.configSpace.read(offset, data);
  }

  /** Nothing is writable with MULTIPORT alone (no EMERG_WRITE offered). */
  writeConfig(): void {}

  activate(_features: bigint, queues: ReadonlyArray<SplitQueue | null>): void {
    this.#queues = queues;
  }

  /** §5.3.6.2: after a reset the driver starts over with DEVICE_READY; host-side state (ended input) is kept. */
  reset(): void {
    this.#queues = [];
    this.#control = [];
    for (const port of this.#ports) {
      port.ready = false;
      port.guestOpen = false;
    }
  }

  queueNotified(index: number): QueueProcessResult {
    const queue = this.#queues[index];
    if (!queue) return { notify: false, needsReset: false, more: false };
    if (index === CONTROL_RECEIVE_QUEUE) return this.#serveControlReceive(queue);
    if (index === CONTROL_TRANSMIT_QUEUE) return this.#serveControlTransmit(queue);
    const where = portOfQueue(index);
    if (!where || where.port >= this.#ports.length) return { notify: false, needsReset: false, more: false };
    return where.transmit ? this.#serveTransmit(where.port, queue) : this.#serveReceive(where.port, queue);
  }

  /** Queues host input for `port`; false if (part of) it was dropped. Kicks the port's receive queue. */
  queueInput(port: number, bytes: Uint8Array): boolean {
    const state = this.#ports[port];
    if (!state || state.inputEnding) return false;
    const room = Math.max(0, this.#maxPending - state.pendingBytes);
    const kept = bytes.subarray(0, room);
    if (kept.length > 0) {
      state.pending.push(kept.slice());
      state.pendingBytes += kept.length;
    }
    this.counters.droppedInputBytes += bytes.length - kept.length;
    this.#runtime?.kickQueue(receiveQueueOf(port));
    return kept.length === bytes.length;
  }

  /** The host's input for `port` ended: once the guest has read what is pending, it reads end of file. */
  endInput(port: number): void {
    const state = this.#ports[port];
    if (!state || state.inputEnding) return;
    state.inputEnding = true;
    this.#closeHostEndIfDrained(port);
  }

  pendingInputBytes(port: number): number {
    return this.#ports[port]?.pendingBytes ?? 0;
  }

  /** Whether a port's host end is open (false once its input ended and the guest was told). */
  hostOpen(port: number): boolean {
    return this.#ports[port]?.hostOpen ?? false;
  }

  /** True when no transmit queue holds a buffer the device has not taken (what is left to drain at exit). */
  transmitIdle(): boolean {
    for (let p = 0; p < this.#ports.length; p++) {
      const queue = this.#queues[transmitQueueOf(p)];
      if (queue && queue.availableCount() > 0) return false;
    }
    return true;
  }

  // --- data queues ---

  #serveReceive(port: number, queue: SplitQueue): QueueProcessResult {
    const state = this.#ports[port]!;
    const result = processResult(serviceQueue(queue, (chain) => this.#deliver(state, chain), (error) => this.#error(error), {
      shouldContinue: () => state.pendingBytes > 0 && state.guestOpen,
    }));
    this.#closeHostEndIfDrained(port);
    return result;
  }

  #serveTransmit(port: number, queue: SplitQueue): QueueProcessResult {
    return processResult(serviceQueue(queue, (chain) => this.#transmit(port, chain), (error) => this.#error(error), {
      shouldContinue: this.#transmitting,
    }));
  }

  #deliver(state: PortState, chain: DescriptorChain): number {
    const writer = chain.writer();
    while (writer.remaining > 0 && state.pendingBytes > 0) {
      const head = state.pending[0]!;
      const n = Math.min(writer.remaining, head.length - state.pendingOffset);
      writer.write(head.subarray(state.pendingOffset, state.pendingOffset + n));
      state.pendingOffset += n;
      state.pendingBytes -= n;
      if (state.pendingOffset === head.length) {
        state.pending.shift();
        state.pendingOffset = 0;
      }
    }
    const n = writer.bytesWritten;
    this.counters.receivedBytes += n;
    if (n > 0) this.#options.inputTaken?.(n);
    return n;
  }

  #transmit(port: number, chain: DescriptorChain): number {
    return transmitChain(chain, this.#options.maxTransmitPerChain ?? 1 << 20, this.counters, this.#logger, (piece) => this.#options.output(port, piece));
  }

  // --- control queues ---

  #serveControlReceive(queue: SplitQueue): QueueProcessResult {
    return processResult(serviceQueue(queue, (chain) => this.#sendControl(chain), (error) => this.#error(error), {
      shouldContinue: () => this.#control.length > 0,
    }));
  }

  #sendControl(chain: DescriptorChain): number {
    const message = this.#control[0]!;
    const nameLength = message.name?.length ?? 0;
    const writer = chain.writer();
    if (writer.remaining < CONTROL_SIZE + nameLength) {
      // Linux posts page-sized buffers; a smaller one cannot carry the message: drop it rather than loop on it.
      this.#control.shift();
      this.#controlError(`control receive buffer of ${writer.remaining} bytes is too small for a ${CONTROL_SIZE + nameLength}-byte message`);
      return 0;
    }
    this.#control.shift();
    const header = new Uint8Array(CONTROL_SIZE);
    const view = new DataView(header.buffer);
    view.setUint32(0, message.id, true);
    view.setUint16(4, message.event, true);
    view.setUint16(6, message.value, true);
    writer.write(header);
    if (message.name) writer.write(message.name);
    return writer.bytesWritten;
  }

  #serveControlTransmit(queue: SplitQueue): QueueProcessResult {
    const before = this.#control.length;
    const result = processResult(serviceQueue(queue, (chain) => this.#receiveControl(chain), (error) => this.#error(error)));
    if (this.#control.length > before) this.#runtime?.kickQueue(CONTROL_RECEIVE_QUEUE);
    return result;
  }

  #receiveControl(chain: DescriptorChain): number {
    const reader = chain.reader();
    if (reader.remaining < CONTROL_SIZE) {
      this.#controlError(`control message of ${reader.remaining} bytes (need ${CONTROL_SIZE})`);
      return 0;
    }
    const id = reader.readU32();
    const event = reader.readU16();
    const value = reader.readU16();
    switch (event) {
      case ControlEvent.DEVICE_READY:
        if (value !== 1) {
          this.#controlError('the driver failed to set the device up (DEVICE_READY 0)');
          return 0;
        }
        for (let p = 0; p < this.#ports.length; p++) this.#queueControl({ id: p, event: ControlEvent.DEVICE_ADD, value: 1 });
        return 0;
      case ControlEvent.PORT_READY: {
        const state = this.#portFor(id, 'PORT_READY');
        if (!state) return 0;
        if (value !== 1) {
          this.#controlError(`the driver failed to add port ${id}`);
          return 0;
        }
        state.ready = true;
        this.#queueControl({ id, event: ControlEvent.PORT_OPEN, value: state.hostOpen ? 1 : 0 });
        this.#queueControl({ id, event: ControlEvent.PORT_NAME, value: 1, name: state.name });
        return 0;
      }
      case ControlEvent.PORT_OPEN: {
        const state = this.#portFor(id, 'PORT_OPEN');
        if (!state) return 0;
        state.guestOpen = value !== 0;
        if (state.guestOpen) this.#runtime?.kickQueue(receiveQueueOf(id));
        return 0;
      }
      default:
        this.#controlError(`unexpected control event ${event} from the driver`);
        return 0;
    }
  }

  #portFor(id: number, what: string): PortState | null {
    const state = this.#ports[id];
    if (!state) this.#controlError(`${what} for port ${id}, which does not exist`);
    return state ?? null;
  }

  #closeHostEndIfDrained(port: number): void {
    const state = this.#ports[port]!;
    if (!state.inputEnding || !state.hostOpen || state.pendingBytes > 0) return;
    state.hostOpen = false;
    // Before PORT_READY the driver learns the state from the PORT_OPEN sent then.
    if (state.ready) {
      this.#queueControl({ id: port, event: ControlEvent.PORT_OPEN, value: 0 });
      this.#runtime?.kickQueue(CONTROL_RECEIVE_QUEUE);
    }
  }

  #queueControl(message: ControlMessage): void {
    if (this.#control.length >= MAX_PENDING_CONTROL) {
      this.#controlError('the driver does not read its control queue; a control message was dropped');
      return;
    }
    this.#control.push(message);
  }

  #controlError(message: string): void {
    this.counters.controlErrors++;
    this.#logger.warn(`virtio-console: ${message}`);
  }

  #error(error: Error): void {
    this.counters.errors++;
    this.#logger.warn(`virtio-console: ${error.message}`);
  }
}
