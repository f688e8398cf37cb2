/**
 * The modern virtio-pci transport (virtio 1.2 §4.1): a PCI function with
 * vendor 0x1AF4 / device 0x1040 + ID, the virtio vendor capabilities
 * (common, notify, ISR, device, PCI_CFG), MSI-X, and INTx as a fallback.
 * It runs the device status state machine (§2.1, §3.1.1) and the common
 * configuration registers, and hands queues to a VirtioPciBackend at
 * DRIVER_OK.
 *
 * Every queue's notify address is registered as an ioeventfd (through the
 * injected IoEventFdRegistrar) wherever BAR 0 is mapped, so a guest kick
 * never stops a vCPU in user space; a notify write that still reaches us
 * (no ioeventfd, an unusual width) is passed on to the backend.
 *
 * All guest input is hostile: unknown offsets read 0, writes to read-only
 * fields are ignored, bad queue sizes or vectors are refused as the spec
 * says, and no access throws.
 */
import { PciConfigSpace, type BarChange, type BarKind } from '../../pci/config-space.js';
import { PciClass, PciCapabilityId, InterruptPin, PciReg } from '../../pci/constants.js';
import type { PciDevice } from '../../pci/device.js';
import { writeEventFd as defaultWriteEventFd } from '../../pci/eventfd.js';
import { PciIntx } from '../../pci/intx.js';
import type { EventFdWriter } from '../../pci/msix-state.js';
import { MsixController, type MsiRouting } from '../../pci/msix.js';
import type { DeviceLogger } from '../log.js';
import { silentLogger } from '../log.js';
import { DeviceStatus, featureMask, hasFeature, MAX_QUEUE_SIZE, VirtioDeviceId, VirtioFeature } from '../types.js';
import type { QueueSetup, VirtioBackendEvents, VirtioPciBackend } from './backend.js';
import type { SplitQueueState } from '../queue/split.js';
import { SavedStateError, StateReader } from '../../../util/saved-state.js';
import { type VirtioInterruptInit, VirtioInterruptSignaller, VirtioInterruptState } from './interrupts.js';
import {
  COMMON_CFG_LENGTH, COMMON_CFG_OFFSET, CommonCfg, DEVICE_CFG_LENGTH, DEVICE_CFG_OFFSET, ISR_LENGTH, ISR_OFFSET,
  MAX_MSIX_VECTORS, MAX_QUEUES, MSIX_PBA_OFFSET, MSIX_TABLE_OFFSET, NOTIFY_LENGTH, NOTIFY_OFF_MULTIPLIER, NOTIFY_OFFSET,
  notifyAddress, VIRTIO_BAR_INDEX, VIRTIO_BAR_SIZE, VIRTIO_MSI_NO_VECTOR, VIRTIO_PCI_DEVICE_ID_BASE, VIRTIO_PCI_REVISION,
  VIRTIO_PCI_SUBSYSTEM_ID, VIRTIO_PCI_VENDOR_ID, VirtioPciCapType,
} from './layout.js';

/** Registers queue notify addresses with the hypervisor (Vm.ioeventfd in the VMM). */
export interface IoEventFdRegistrar {
  register(addr: number, len: 2, eventFd: number): void;
  unregister(addr: number, len: 2, eventFd: number): void;
}

export interface VirtioPciOptions {
  backend: VirtioPciBackend;
  /** MSI-X: the routing/irqfd controller and one GSI and eventfd per vector (queues + 1). */
  msi: { routing: MsiRouting; gsis: readonly number[]; eventFds: readonly number[] };
  /** One eventfd per queue for its notify address (the worker waits on them); omit in unit tests. */
  queueEventFds?: readonly number[];
  ioeventfds?: IoEventFdRegistrar;
  /** INTx fallback: the legacy IRQ and how to drive it. */
  intx?: { irq: number; setLevel: (level: boolean) => void };
  /** BAR 0 kind (default 32-bit memory, so it fits the 32-bit PCI window). */
  barKind?: Extract<BarKind, 'mem32' | 'mem64'>;
  writeEventFd?: EventFdWriter;
  logger?: DeviceLogger;
  name?: string;
}

/** Transport-level features the transport supports; device-specific bits are 0-23 (§6). */
const TRANSPORT_FEATURES = featureMask(VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX, VirtioFeature.VERSION_1);
const DEVICE_SPECIFIC_FEATURES = (1n << 24n) - 1n;

/** PCI class per device type (as QEMU and Cloud Hypervisor report them). */
function classFor(deviceId: number): number {
  switch (deviceId) {
    case VirtioDeviceId.BLOCK: return PciClass.MASS_STORAGE_SCSI;
    case VirtioDeviceId.NET: return PciClass.NETWORK_ETHERNET;
    case VirtioDeviceId.CONSOLE: return PciClass.COMMUNICATION_OTHER;
    default: return PciClass.UNCLASSIFIED;
  }
}

/** What VirtioPciDevice.saveState returns (docs/snapshot.md, "virtio-pci"). */
export interface VirtioPciSavedState {
  status: number;
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
  driverFeatures: string;
  driverWroteHighFeatures: boolean;
  configGeneration: number;
  queueSelect: number;
  configVector: number;
  isr: number;
  queues: Array<{ size: number; vectorIndex: number; enabled: boolean; desc: string; driver: string; device: string; position: SplitQueueState | null }>;
  pci: unknown;
  msix: unknown;
}

interface QueueRegisters {
  size: number;
  vectorIndex: number;
  enabled: boolean;
  desc: bigint;
  driver: bigint;
  device: bigint;
}

export interface VirtioPciCounters {
  statusWrites: number;
  resets: number;
  activations: number;
  refusedFeatures: number;
  userspaceNotifies: number;
  needsReset: number;
  configInterrupts: number;
}

export class VirtioPciDevice implements PciDevice {
  readonly name: string;
  readonly config: PciConfigSpace;
  readonly msix: MsixController;
  readonly intx: PciIntx | null;
  readonly interruptState: VirtioInterruptState;
  readonly offeredFeatures: bigint;
  readonly counters: VirtioPciCounters = { statusWrites: 0, resets: 0, activations: 0, refusedFeatures: 0, userspaceNotifies: 0, needsReset: 0, configInterrupts: 0 };
  readonly #backend: VirtioPciBackend;
  readonly #options: VirtioPciOptions;
  readonly #logger: DeviceLogger;
  readonly #signaller: VirtioInterruptSignaller;
  readonly #interruptInit: VirtioInterruptInit;
  readonly #pciCfgCap: number;
  readonly #numQueues: number;
  #status = 0;
  #deviceFeatureSelect = 0;
  #driverFeatureSelect = 0;
  #driverFeatures = 0n;
  /** The driver wrote a 1 to a feature page beyond the 64 bits we offer. */
  #driverWroteHighFeatures = false;
  #configGeneration = 0;
  #queueSelect = 0;
  #queues: QueueRegisters[];
  /** Where BAR 0's notify addresses are registered as ioeventfds, or null. */
  #ioeventfdBase: number | null = null;

  constructor(options: VirtioPciOptions) {
    const { backend } = options;
    this.#backend = backend;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.name = options.name ?? `virtio-pci (device ${backend.deviceId})`;
    this.#numQueues = backend.queueMaxSizes.length;
    if (this.#numQueues < 1 || this.#numQueues > MAX_QUEUES) throw new RangeError(`${this.name}: ${this.#numQueues} queues is not in 1..${MAX_QUEUES}`);
    for (const max of backend.queueMaxSizes) {
      if (!Number.isInteger(max) || max < 1 || max > MAX_QUEUE_SIZE || (max & (max - 1)) !== 0) throw new RangeError(`${this.name}: bad maximum queue size ${max}`);
    }
    const vectors = this.#numQueues + 1;
    if (vectors > MAX_MSIX_VECTORS) throw new RangeError(`${this.name}: too many MSI-X vectors`);
    if (options.queueEventFds && options.queueEventFds.length !== this.#numQueues) throw new RangeError(`${this.name}: need one notify eventfd per queue`);
    this.offeredFeatures = (backend.features & (DEVICE_SPECIFIC_FEATURES | TRANSPORT_FEATURES)) | featureMask(VirtioFeature.VERSION_1);

    this.config = new PciConfigSpace({
      vendorId: VIRTIO_PCI_VENDOR_ID,
      deviceId: VIRTIO_PCI_DEVICE_ID_BASE + backend.deviceId,
      revisionId: VIRTIO_PCI_REVISION,
      classCode: classFor(backend.deviceId),
      subsystemVendorId: VIRTIO_PCI_VENDOR_ID,
      subsystemId: VIRTIO_PCI_SUBSYSTEM_ID,
      interruptPin: options.intx ? InterruptPin.INTA : InterruptPin.NONE,
      interruptLine: options.intx?.irq ?? 0xff,
    });
    this.config.addBar({ index: VIRTIO_BAR_INDEX, size: VIRTIO_BAR_SIZE, kind: options.barKind ?? 'mem32' });

    const write = options.writeEventFd ?? defaultWriteEventFd;
    this.msix = new MsixController({
      vectors, gsis: options.msi.gsis, eventFds: options.msi.eventFds, routing: options.msi.routing,
      tableBar: VIRTIO_BAR_INDEX, tableOffset: MSIX_TABLE_OFFSET, pbaBar: VIRTIO_BAR_INDEX, pbaOffset: MSIX_PBA_OFFSET,
      writeEventFd: write,
    });
    this.msix.attach(this.config);
    this.#addVirtioCap(VirtioPciCapType.COMMON, COMMON_CFG_OFFSET, COMMON_CFG_LENGTH);
    this.#addVirtioCap(VirtioPciCapType.NOTIFY, NOTIFY_OFFSET, Math.max(NOTIFY_OFF_MULTIPLIER * this.#numQueues, 4), NOTIFY_OFF_MULTIPLIER);
    this.#addVirtioCap(VirtioPciCapType.ISR, ISR_OFFSET, ISR_LENGTH);
    this.#addVirtioCap(VirtioPciCapType.DEVICE, DEVICE_CFG_OFFSET, DEVICE_CFG_LENGTH);
    this.#pciCfgCap = this.#addPciCfgCap();

    this.intx = options.intx ? new PciIntx(this.config, options.intx.irq, options.intx.setLevel) : null;
    this.interruptState = new VirtioInterruptState(this.#numQueues);
    this.#interruptInit = {
      virtioState: this.interruptState.buffer,
      msixState: this.msix.state.buffer,
      vectors,
      queues: this.#numQueues,
      eventFds: [...options.msi.eventFds],
    };
    this.#signaller = new VirtioInterruptSignaller(this.#interruptInit, write, () => this.#updateIntx());
    this.#queues = this.#freshQueues();
    this.config.onBarChange((change) => this.#barChanged(change));
  }

  /** The device status register (§2.1). */
  get status(): number {
    return this.#status;
  }

  get configGeneration(): number {
    return this.#configGeneration;
  }

  get driverFeatures(): bigint {
    return this.#driverFeatures;
  }

  /** What a worker needs to raise this device's interrupts. */
  get interruptInit(): VirtioInterruptInit {
    return this.#interruptInit;
  }

  /** Where the guest must write to notify `queue`, or null while BAR 0 is not mapped. */
  notifyAddress(queue: number): number | null {
    const at = this.config.bar(VIRTIO_BAR_INDEX)!.mappedAt;
    return at === null ? null : notifyAddress(at, queue);
  }

  // --- PCI configuration space ---

  readConfig(offset: number, data: Uint8Array): void {
    const dataField = this.#pciCfgCap + 16;
    if (offset < dataField + 4 && offset + data.length > dataField) {
      this.#pciCfgAccess(offset, data, false);
      return;
    }
    this.config.read(offset, data);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    const dataField = this.#pciCfgCap + 16;
    if (offset < dataField + 4 && offset + data.length > dataField) {
      this.#pciCfgAccess(offset, data, true);
      return;
    }
    this.config.write(offset, data);
    this.msix.configWritten(offset, data.length);
    if (offset <= PciReg.COMMAND + 1 && offset + data.length > PciReg.COMMAND) this.intx?.update();
  }

  // --- BAR 0 ---

  readBar(bar: number, offset: number, data: Uint8Array): void {
    data.fill(0);
    if (bar !== VIRTIO_BAR_INDEX) return;
    const region = (start: number, length: number): boolean => offset >= start && offset < start + length;
    if (region(COMMON_CFG_OFFSET, COMMON_CFG_LENGTH)) this.#readCommon(offset - COMMON_CFG_OFFSET, data);
    else if (region(ISR_OFFSET, 4)) this.#readIsr(offset - ISR_OFFSET, data);
    else if (region(DEVICE_CFG_OFFSET, DEVICE_CFG_LENGTH)) this.#backend.readConfig(offset - DEVICE_CFG_OFFSET, data);
    else if (region(MSIX_TABLE_OFFSET, this.msix.tableBytes)) this.msix.readTable(offset - MSIX_TABLE_OFFSET, data);
    else if (region(MSIX_PBA_OFFSET, this.msix.pbaBytes)) this.msix.readPba(offset - MSIX_PBA_OFFSET, data);
  }

  writeBar(bar: number, offset: number, data: Uint8Array): void {
    if (bar !== VIRTIO_BAR_INDEX) return;
    const region = (start: number, length: number): boolean => offset >= start && offset < start + length;
    if (region(COMMON_CFG_OFFSET, COMMON_CFG_LENGTH)) this.#writeCommon(offset - COMMON_CFG_OFFSET, data);
    else if (region(DEVICE_CFG_OFFSET, DEVICE_CFG_LENGTH)) this.#backend.writeConfig(offset - DEVICE_CFG_OFFSET, data);
    else if (region(NOTIFY_OFFSET, NOTIFY_LENGTH)) this.#notifyWrite(offset - NOTIFY_OFFSET);
    else if (region(MSIX_TABLE_OFFSET, this.msix.tableBytes)) this.msix.writeTable(offset - MSIX_TABLE_OFFSET, data);
  }

  // --- events from the device ---

  /**
   * The device hit an error it cannot recover from: set DEVICE_NEEDS_RESET
   * and, if the driver is running, send a configuration change
   * notification (§2.1.2, §4.1.5.3).
   */
  deviceError(reason: string): void {
    this.counters.needsReset++;
    this.#logger.warn(`${this.name}: ${reason}; the device needs a reset`);
    if (this.#status & DeviceStatus.DEVICE_NEEDS_RESET) return;
    this.#status |= DeviceStatus.DEVICE_NEEDS_RESET;
    if (this.#status & DeviceStatus.DRIVER_OK) this.#signalConfig();
  }

  /** Device configuration changed: bump config_generation and notify the driver (§4.1.4.3.1). */
  configChanged(): void {
    this.#configGeneration = (this.#configGeneration + 1) & 0xff;
    if (this.#status & DeviceStatus.DRIVER_OK) this.#signalConfig();
  }

  /**
   * The transport's registers, config space and MSI-X for a snapshot, and
   * (after quiescing the backend) where each queue's rings stand. The
   * backend stays quiesced until `releaseAfterSnapshot`.
   */
  async saveState(): Promise<VirtioPciSavedState> {
    const live = (this.#status & DeviceStatus.DRIVER_OK) !== 0 && !(this.#status & DeviceStatus.DEVICE_NEEDS_RESET);
    if (live && !this.#backend.quiesce) throw new Error(`${this.name}: this device cannot be snapshotted`);
    const positions = live ? await this.#backend.quiesce!() : [];
    return {
      status: this.#status,
      deviceFeatureSelect: this.#deviceFeatureSelect,
      driverFeatureSelect: this.#driverFeatureSelect,
      driverFeatures: `0x${this.#driverFeatures.toString(16)}`,
      driverWroteHighFeatures: this.#driverWroteHighFeatures,
      configGeneration: this.#configGeneration,
      queueSelect: this.#queueSelect,
      configVector: this.interruptState.configVector,
      isr: this.interruptState.isr,
      queues: this.#queues.map((q, i) => ({
        size: q.size, vectorIndex: q.vectorIndex, enabled: q.enabled,
        desc: `0x${q.desc.toString(16)}`, driver: `0x${q.driver.toString(16)}`, device: `0x${q.device.toString(16)}`,
        position: positions[i] ?? null,
      })),
      pci: this.config.saveState(),
      msix: this.msix.saveState(),
    };
  }

  /** After saveState: the backend serves its queues again. */
  releaseAfterSnapshot(): void {
    this.#backend.release?.();
  }

  /**
   * Loads a snapshot's state into this freshly built transport: checks
   * every field first (features offered, queue sizes, vectors), then the
   * config space (BAR mappings and their ioeventfds follow), MSI-X routes,
   * and, if the driver had the device running, activates the backend with
   * its queues where they stood.
   */
  restoreState(saved: unknown): void {
    const r = new StateReader(saved, this.name);
    const status = r.int('status', 0, 0xff);
    const driverFeatures = r.hex('driverFeatures');
    if ((driverFeatures & ~this.offeredFeatures) !== 0n) throw new SavedStateError(`${this.name}.driverFeatures`, 'holds features this device does not offer');
    const vector = (v: number): boolean => v === VIRTIO_MSI_NO_VECTOR || v < this.msix.vectors;
    const configVector = r.int('configVector', 0, 0xffff);
    if (!vector(configVector)) throw new SavedStateError(`${this.name}.configVector`, 'is not a vector of this device');
    const queues = r.array('queues', this.#numQueues, (value, where, index) => {
      const q = new StateReader(value, where);
      const max = this.#backend.queueMaxSizes[index]!;
      const size = q.int('size', 1, max);
      if ((size & (size - 1)) !== 0) throw new SavedStateError(`${where}.size`, 'is not a power of 2');
      const vectorIndex = q.int('vectorIndex', 0, 0xffff);
      if (!vector(vectorIndex)) throw new SavedStateError(`${where}.vectorIndex`, 'is not a vector of this device');
      const position = (value as { position?: unknown }).position;
      const pos = position === null || position === undefined ? null : new StateReader(position, `${where}.position`);
      return {
        regs: { size, vectorIndex, enabled: q.bool('enabled'), desc: q.hex('desc'), driver: q.hex('driver'), device: q.hex('device') },
        position: pos ? { nextAvail: pos.int('nextAvail', 0, 0xffff), nextUsed: pos.int('nextUsed', 0, 0xffff) } : null,
      };
    });
    if (queues.length !== this.#numQueues) throw new SavedStateError(`${this.name}.queues`, `must list ${this.#numQueues} queues`);
    const fields = {
      deviceFeatureSelect: r.int('deviceFeatureSelect', 0, 0xffff_ffff), driverFeatureSelect: r.int('driverFeatureSelect', 0, 0xffff_ffff),
      driverWroteHighFeatures: r.bool('driverWroteHighFeatures'), configGeneration: r.int('configGeneration', 0, 0xff),
      queueSelect: r.int('queueSelect', 0, 0xffff), isr: r.int('isr', 0, 3),
    };
    this.config.restoreState((saved as { pci?: unknown }).pci);
    this.msix.restoreState((saved as { msix?: unknown }).msix);
    this.#status = status;
    this.#driverFeatures = driverFeatures;
    this.#deviceFeatureSelect = fields.deviceFeatureSelect;
    this.#driverFeatureSelect = fields.driverFeatureSelect;
    this.#driverWroteHighFeatures = fields.driverWroteHighFeatures;
    this.#configGeneration = fields.configGeneration;
    this.#queueSelect = fields.queueSelect;
    this.interruptState.configVector = configVector;
    if (fields.isr !== 0) this.interruptState.setIsr(fields.isr);
    this.#queues = queues.map((q) => q.regs);
    this.#queues.forEach((q, i) => this.interruptState.setQueueVector(i, q.vectorIndex));
    this.intx?.update();
    if ((status & DeviceStatus.DRIVER_OK) && !(status & DeviceStatus.DEVICE_NEEDS_RESET)) {
      this.#activate(queues.map((q) => q.position));
    }
  }

  /** Unregisters ioeventfds and irqfds, then closes the backend. */
  async close(): Promise<void> {
    this.#unregisterIoeventfds();
    this.msix.close();
    await this.#backend.close();
  }

  // --- internals ---

  #events(): VirtioBackendEvents {
    return {
      needsReset: (reason) => this.deviceError(reason),
      requestIntx: () => this.#updateIntx(),
      configChanged: () => this.configChanged(),
    };
  }

  #signalConfig(): void {
    this.counters.configInterrupts++;
    this.#signaller.signalConfig();
  }

  #updateIntx(): void {
    this.intx?.request(this.interruptState.isr !== 0);
  }

  #readIsr(offset: number, data: Uint8Array): void {
    if (offset !== 0) return;
    data[0] = this.interruptState.takeIsr();
    this.#updateIntx();
  }

  #freshQueues(): QueueRegisters[] {
    return this.#backend.queueMaxSizes.map((max) => ({ size: max, vectorIndex: VIRTIO_MSI_NO_VECTOR, enabled: false, desc: 0n, driver: 0n, device: 0n }));
  }

  #addVirtioCap(type: number, offset: number, length: number, notifyMultiplier?: number): number {
    const extra = notifyMultiplier === undefined ? 0 : 4;
    const body = new Uint8Array(14 + extra);
    const v = new DataView(body.buffer);
    v.setUint8(0, 16 + extra); // cap_len
    v.setUint8(1, type);
    v.setUint8(2, VIRTIO_BAR_INDEX);
    v.setUint8(3, 0); // id
    v.setUint32(6, offset, true);
    v.setUint32(10, length, true);
    if (notifyMultiplier !== undefined) v.setUint32(14, notifyMultiplier, true);
    return this.config.addCapability(PciCapabilityId.VENDOR_SPECIFIC, body);
  }

  /** VIRTIO_PCI_CAP_PCI_CFG (§4.1.4.9): a window into the BARs through config space. */
  #addPciCfgCap(): number {
    const body = new Uint8Array(18);
    body[0] = 20;
    body[1] = VirtioPciCapType.PCI_CFG;
    const mask = new Uint8Array(18);
    mask[2] = 0xff; // bar
    mask.fill(0xff, 6, 14); // offset, length
    return this.config.addCapability(PciCapabilityId.VENDOR_SPECIFIC, body, mask);
  }

  #pciCfgAccess(offset: number, data: Uint8Array, isWrite: boolean): void {
    const cap = this.#pciCfgCap;
    const bar = this.config.readU8(cap + 4);
    const barOffset = this.config.readU32(cap + 8);
    const length = this.config.readU32(cap + 12);
    const valid = offset === cap + 16 && data.length >= length && (length === 1 || length === 2 || length === 4) && barOffset % length === 0 && barOffset + length <= VIRTIO_BAR_SIZE;
    if (!valid) {
      if (!isWrite) data.fill(0);
      return;
    }
    if (isWrite) this.writeBar(bar, barOffset, data.subarray(0, length));
    else {
      data.fill(0);
      this.readBar(bar, barOffset, data.subarray(0, length));
    }
  }

  #selectedQueue(): QueueRegisters | undefined {
    return this.#queues[this.#queueSelect];
  }

  /** Current value of the common-config field at `field` (by its offset). */
  #commonField(field: number): bigint {
    const q = this.#selectedQueue();
    switch (field) {
      case CommonCfg.DEVICE_FEATURE_SELECT: return BigInt(this.#deviceFeatureSelect);
      case CommonCfg.DEVICE_FEATURE: return this.#deviceFeatureSelect < 2 ? (this.offeredFeatures >> BigInt(32 * this.#deviceFeatureSelect)) & 0xffff_ffffn : 0n;
      case CommonCfg.DRIVER_FEATURE_SELECT: return BigInt(this.#driverFeatureSelect);
      case CommonCfg.DRIVER_FEATURE: return this.#driverFeatureSelect < 2 ? (this.#driverFeatures >> BigInt(32 * this.#driverFeatureSelect)) & 0xffff_ffffn : 0n;
      case CommonCfg.CONFIG_MSIX_VECTOR: return BigInt(this.interruptState.configVector);
      case CommonCfg.NUM_QUEUES: return BigInt(this.#numQueues);
      case CommonCfg.DEVICE_STATUS: return BigInt(this.#status);
      case CommonCfg.CONFIG_GENERATION: return BigInt(this.#configGeneration);
      case CommonCfg.QUEUE_SELECT: return BigInt(this.#queueSelect);
      case CommonCfg.QUEUE_SIZE: return BigInt(q?.size ?? 0);
      case CommonCfg.QUEUE_MSIX_VECTOR: return BigInt(q ? q.vectorIndex : VIRTIO_MSI_NO_VECTOR);
      case CommonCfg.QUEUE_ENABLE: return q?.enabled ? 1n : 0n;
      case CommonCfg.QUEUE_NOTIFY_OFF: return q ? BigInt(this.#queueSelect) : 0n;
      case CommonCfg.QUEUE_DESC: return q?.desc ?? 0n;
      case CommonCfg.QUEUE_DRIVER: return q?.driver ?? 0n;
      case CommonCfg.QUEUE_DEVICE: return q?.device ?? 0n;
      default: return 0n; // queue_notif_config_data, queue_reset: features not offered
    }
  }

  #readCommon(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      const field = COMMON_FIELDS.find((f) => at >= f.offset && at < f.offset + f.size);
      data[i] = field ? Number((this.#commonField(field.offset) >> BigInt(8 * (at - field.offset))) & 0xffn) : 0;
    }
  }

  /** Merges the written bytes into each field they touch, then applies the field's rules. */
  #writeCommon(offset: number, data: Uint8Array): void {
    for (const field of COMMON_FIELDS) {
      const lo = Math.max(offset, field.offset);
      const hi = Math.min(offset + data.length, field.offset + field.size);
      if (lo >= hi || !field.writable) continue;
      let value = this.#commonField(field.offset);
      for (let at = lo; at < hi; at++) {
        const shift = BigInt(8 * (at - field.offset));
        value = (value & ~(0xffn << shift)) | (BigInt(data[at - offset]!) << shift);
      }
      this.#setCommonField(field.offset, value);
    }
  }

  #setCommonField(field: number, value: bigint): void {
    const n = Number(value & 0xffff_ffffn);
    switch (field) {
      case CommonCfg.DEVICE_FEATURE_SELECT: this.#deviceFeatureSelect = n >>> 0; return;
      case CommonCfg.DRIVER_FEATURE_SELECT: this.#driverFeatureSelect = n >>> 0; return;
      case CommonCfg.DRIVER_FEATURE: this.#writeDriverFeatures(n >>> 0); return;
      case CommonCfg.CONFIG_MSIX_VECTOR: this.interruptState.configVector = this.#mapVector(n); return;
      case CommonCfg.DEVICE_STATUS: this.#writeStatus(n & 0xff); return;
      case CommonCfg.QUEUE_SELECT: this.#queueSelect = n & 0xffff; return;
      default: break;
    }
    const q = this.#selectedQueue();
    // Queue registers of an absent or already enabled queue are read-only (§4.1.4.3.2).
    if (!q || q.enabled) return;
    switch (field) {
      case CommonCfg.QUEUE_SIZE: this.#writeQueueSize(q, n & 0xffff); return;
      case CommonCfg.QUEUE_MSIX_VECTOR:
        q.vectorIndex = this.#mapVector(n);
        this.interruptState.setQueueVector(this.#queueSelect, q.vectorIndex);
        return;
      case CommonCfg.QUEUE_ENABLE:
        if ((n & 0xffff) === 1) q.enabled = true;
        return;
      case CommonCfg.QUEUE_DESC: q.desc = value; return;
      case CommonCfg.QUEUE_DRIVER: q.driver = value; return;
      case CommonCfg.QUEUE_DEVICE: q.device = value; return;
      default:
    }
  }

  /** A vector the device cannot use reads back as NO_VECTOR (§4.1.5.1.2). */
  #mapVector(n: number): number {
    const v = n & 0xffff;
    return v < this.msix.vectors ? v : VIRTIO_MSI_NO_VECTOR;
  }

  #writeQueueSize(q: QueueRegisters, size: number): void {
    const max = this.#backend.queueMaxSizes[this.#queueSelect]!;
    // Split queues: a power of 2 no larger than the maximum (§2.7, §4.1.4.3.2); anything else is ignored.
    if (size >= 1 && size <= max && (size & (size - 1)) === 0) q.size = size;
    else this.#logger.warn(`${this.name}: queue ${this.#queueSelect}: ignored queue size ${size} (maximum ${max})`);
  }

  #writeDriverFeatures(word: number): void {
    // Features are fixed once FEATURES_OK is accepted (§3.1.1).
    if (this.#status & DeviceStatus.FEATURES_OK) return;
    if (this.#driverFeatureSelect >= 2) {
      if (word !== 0) this.#driverWroteHighFeatures = true;
      return;
    }
    const shift = BigInt(32 * this.#driverFeatureSelect);
    this.#driverFeatures = (this.#driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(word) << shift);
  }

  /**
   * Device status (§2.1, §3.1.1): 0 resets; otherwise bits are only added,
   * in order, and FEATURES_OK is refused (left clear) for a feature set that
   * was never offered or lacks VERSION_1.
   */
  #writeStatus(value: number): void {
    this.counters.statusWrites++;
    if (value === 0) {
      this.#reset();
      return;
    }
    const S = DeviceStatus;
    const old = this.#status;
    let next = old | (value & (S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK | S.FAILED));
    if ((next & S.DRIVER) && !(next & S.ACKNOWLEDGE)) next &= ~S.DRIVER;
    if ((next & S.FEATURES_OK) && !(old & S.FEATURES_OK)) {
      const unoffered = this.#driverFeatures & ~this.offeredFeatures;
      const ok = (next & S.DRIVER) !== 0 && unoffered === 0n && !this.#driverWroteHighFeatures && hasFeature(this.#driverFeatures, VirtioFeature.VERSION_1);
      if (!ok) {
        next &= ~S.FEATURES_OK;
        this.counters.refusedFeatures++;
        this.#logger.warn(`${this.name}: refused driver features 0x${this.#driverFeatures.toString(16)}${unoffered ? ` (not offered: 0x${unoffered.toString(16)})` : ''}`);
      }
    }
    if ((next & S.DRIVER_OK) && !(next & S.FEATURES_OK)) next &= ~S.DRIVER_OK;
    this.#status = next;
    if ((next & S.DRIVER_OK) && !(old & S.DRIVER_OK) && !(next & S.DEVICE_NEEDS_RESET)) this.#activate();
  }

  #activate(queueStates?: Array<SplitQueueState | null>): void {
    this.counters.activations++;
    const queues: Array<QueueSetup | null> = this.#queues.map((q) => (q.enabled ? {
      size: q.size,
      descTable: toAddress(q.desc),
      availRing: toAddress(q.driver),
      usedRing: toAddress(q.device),
    } : null));
    this.#backend.activate({
      features: this.#driverFeatures, queues, interrupts: this.#interruptInit, ...(queueStates ? { queueStates } : {}),
    }, this.#events());
  }

  #reset(): void {
    this.counters.resets++;
    this.#backend.reset();
    this.#status = 0;
    this.#deviceFeatureSelect = 0;
    this.#driverFeatureSelect = 0;
    this.#driverFeatures = 0n;
    this.#driverWroteHighFeatures = false;
    this.#queueSelect = 0;
    this.#queues = this.#freshQueues();
    this.interruptState.resetVectors();
    this.interruptState.takeIsr();
    this.#updateIntx();
  }

  #notifyWrite(offset: number): void {
    if (offset % NOTIFY_OFF_MULTIPLIER !== 0) return;
    const queue = offset / NOTIFY_OFF_MULTIPLIER;
    if (queue >= this.#numQueues) return;
    this.counters.userspaceNotifies++;
    if (!(this.#status & DeviceStatus.DRIVER_OK)) return;
    this.#backend.notify(queue);
  }

  #barChanged(change: BarChange): void {
    if (change.index !== VIRTIO_BAR_INDEX) return;
    this.#unregisterIoeventfds();
    if (change.to !== null) this.#registerIoeventfds(change.to);
  }

  /**
   * Registers every queue's notify address at `base`. If the hypervisor
   * refuses one (EEXIST: something else already listens there), none stays
   * registered and kicks reach the backend through MMIO exits instead; the
   * error never escapes the config write that moved the BAR.
   */
  #registerIoeventfds(base: number): void {
    const { ioeventfds, queueEventFds } = this.#options;
    if (!ioeventfds || !queueEventFds) return;
    let done = 0;
    try {
      for (; done < queueEventFds.length; done++) ioeventfds.register(notifyAddress(base, done), 2, queueEventFds[done]!);
      this.#ioeventfdBase = base;
    } catch (err) {
      this.#logger.warn(`${this.name}: ioeventfd at 0x${notifyAddress(base, done).toString(16)} refused (${(err as Error).message}); queue notifications take the slow path`);
      for (let q = 0; q < done; q++) this.#unregisterOne(ioeventfds, notifyAddress(base, q), queueEventFds[q]!);
    }
  }

  #unregisterIoeventfds(): void {
    const { ioeventfds, queueEventFds } = this.#options;
    const base = this.#ioeventfdBase;
    if (!ioeventfds || !queueEventFds || base === null) return;
    this.#ioeventfdBase = null;
    queueEventFds.forEach((fd, q) => this.#unregisterOne(ioeventfds, notifyAddress(base, q), fd));
  }

  #unregisterOne(ioeventfds: IoEventFdRegistrar, addr: number, fd: number): void {
    try {
      ioeventfds.unregister(addr, 2, fd);
    } catch (err) {
      this.#logger.warn(`${this.name}: removing the ioeventfd at 0x${addr.toString(16)} failed: ${(err as Error).message}`);
    }
  }
}

/** The common-config fields, their sizes and whether the driver writes them (§4.1.4.3). */
const COMMON_FIELDS: ReadonlyArray<{ offset: number; size: number; writable: boolean }> = [
  { offset: CommonCfg.DEVICE_FEATURE_SELECT, size: 4, writable: true },
  { offset: CommonCfg.DEVICE_FEATURE, size: 4, writable: false },
  { offset: CommonCfg.DRIVER_FEATURE_SELECT, size: 4, writable: true },
  { offset: CommonCfg.DRIVER_FEATURE, size: 4, writable: true },
  { offset: CommonCfg.CONFIG_MSIX_VECTOR, size: 2, writable: true },
  { offset: CommonCfg.NUM_QUEUES, size: 2, writable: false },
  { offset: CommonCfg.DEVICE_STATUS, size: 1, writable: true },
  { offset: CommonCfg.CONFIG_GENERATION, size: 1, writable: false },
  { offset: CommonCfg.QUEUE_SELECT, size: 2, writable: true },
  { offset: CommonCfg.QUEUE_SIZE, size: 2, writable: true },
  { offset: CommonCfg.QUEUE_MSIX_VECTOR, size: 2, writable: true },
  { offset: CommonCfg.QUEUE_ENABLE, size: 2, writable: true },
  { offset: CommonCfg.QUEUE_NOTIFY_OFF, size: 2, writable: false },
  { offset: CommonCfg.QUEUE_DESC, size: 8, writable: true },
  { offset: CommonCfg.QUEUE_DRIVER, size: 8, writable: true },
  { offset: CommonCfg.QUEUE_DEVICE, size: 8, writable: true },
  { offset: CommonCfg.QUEUE_NOTIF_CONFIG_DATA, size: 2, writable: false },
  { offset: CommonCfg.QUEUE_RESET, size: 2, writable: false },
];

/** A 64-bit ring address as a number; beyond 2^53 it is unusable (SplitQueue rejects it). */
function toAddress(value: bigint): number {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : Number.MAX_SAFE_INTEGER;
}
