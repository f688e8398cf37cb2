/**
 * A test-only virtio-pci driver: finds a function on bus 0 through the
 * 0xCF8/0xCFC ports of a PciRoot, walks its capability list, assigns BAR 0
 * if needed, negotiates features, programs queues from MockDriver rings and
 * MSI-X vectors, all through config cycles and BAR accesses, the way a guest
 * driver does (virtio 1.2 §3.1.1, §4.1.4).
 */
import type { PciRoot } from '../../pci/root.js';
import { PciCapabilityId, PciCommand, PciReg } from '../../pci/constants.js';
import { MSIX_CONTROL_ENABLE } from '../../pci/msix.js';
import type { MockDriver } from '../queue/mock-driver.js';
import { DeviceStatus } from '../types.js';
import { CommonCfg, VirtioPciCapType } from './layout.js';

export interface FoundCapability {
  offset: number;
  id: number;
  /** virtio_pci_cap fields (vendor-specific capabilities only). */
  cfgType?: number;
  bar?: number;
  barOffset?: number;
  length?: number;
  notifyOffMultiplier?: number;
}

export class MockPciDriver {
  readonly root: PciRoot;
  slot = -1;
  bar0 = 0;
  common = 0;
  notifyBase = 0;
  notifyMultiplier = 0;
  isr = 0;
  deviceCfg = 0;
  msixCap = 0;
  msixTable = 0;

  constructor(root: PciRoot) {
    this.root = root;
  }

  cfgRead(slot: number, offset: number, width: 1 | 2 | 4): number {
    this.#port(0, 4, 0x8000_0000 | (slot << 11) | (offset & 0xfc), true);
    return this.#port(4 + (offset & 3), width, 0, false);
  }

  cfgWrite(slot: number, offset: number, width: 1 | 2 | 4, value: number): void {
    this.#port(0, 4, 0x8000_0000 | (slot << 11) | (offset & 0xfc), true);
    this.#port(4 + (offset & 3), width, value, true);
  }

  /** Scans bus 0 for vendor:device; returns the slot or -1. */
  find(vendorId: number, deviceId: number): number {
    for (let slot = 0; slot < 32; slot++) {
      const id = this.cfgRead(slot, 0, 4);
      if ((id & 0xffff) === vendorId && id >>> 16 === deviceId) return slot;
    }
    return -1;
  }

  capabilities(slot: number): FoundCapability[] {
    const caps: FoundCapability[] = [];
    let at = this.cfgRead(slot, PciReg.CAPABILITIES_POINTER, 1) & 0xfc;
    for (let guard = 0; at !== 0 && guard < 48; guard++) {
      const id = this.cfgRead(slot, at, 1);
      const cap: FoundCapability = { offset: at, id };
      if (id === PciCapabilityId.VENDOR_SPECIFIC) {
        cap.cfgType = this.cfgRead(slot, at + 3, 1);
        cap.bar = this.cfgRead(slot, at + 4, 1);
        cap.barOffset = this.cfgRead(slot, at + 8, 4);
        cap.length = this.cfgRead(slot, at + 12, 4);
        if (cap.cfgType === VirtioPciCapType.NOTIFY) cap.notifyOffMultiplier = this.cfgRead(slot, at + 16, 4);
      }
      caps.push(cap);
      at = this.cfgRead(slot, at + 1, 1) & 0xfc;
    }
    return caps;
  }

  /** Finds the device, maps BAR 0 (assigning `assign` if it is unassigned) and locates the structures. */
  attach(vendorId: number, deviceId: number, assign = 0xc000_0000): void {
    this.slot = this.find(vendorId, deviceId);
    if (this.slot < 0) throw new Error(`no ${vendorId.toString(16)}:${deviceId.toString(16)} on bus 0`);
    let bar = this.cfgRead(this.slot, PciReg.BAR0, 4) & ~0xf;
    if (bar === 0) {
      this.cfgWrite(this.slot, PciReg.BAR0, 4, assign);
      bar = assign;
    }
    this.bar0 = bar >>> 0;
    this.cfgWrite(this.slot, PciReg.COMMAND, 2, PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER);
    for (const cap of this.capabilities(this.slot)) {
      if (cap.id === PciCapabilityId.MSIX) {
        this.msixCap = cap.offset;
        this.msixTable = this.bar0 + (this.cfgRead(this.slot, cap.offset + 4, 4) & ~7);
      }
      const base = this.bar0 + (cap.barOffset ?? 0);
      switch (cap.cfgType) {
        case VirtioPciCapType.COMMON: this.common = base; break;
        case VirtioPciCapType.NOTIFY: this.notifyBase = base; this.notifyMultiplier = cap.notifyOffMultiplier!; break;
        case VirtioPciCapType.ISR: this.isr = base; break;
        case VirtioPciCapType.DEVICE: this.deviceCfg = base; break;
        default:
      }
    }
  }

  read(addr: number, width: 1 | 2 | 4): number {
    const data = new Uint8Array(width);
    this.root.readMmio(addr, data);
    return Number(readLe(data));
  }

  write(addr: number, width: 1 | 2 | 4, value: number): void {
    const data = new Uint8Array(width);
    writeLe(data, BigInt(value >>> 0));
    this.root.writeMmio(addr, data);
  }

  status(): number {
    return this.read(this.common + CommonCfg.DEVICE_STATUS, 1);
  }

  setStatus(value: number): void {
    this.write(this.common + CommonCfg.DEVICE_STATUS, 1, value);
  }

  deviceFeatures(): bigint {
    this.write(this.common + CommonCfg.DEVICE_FEATURE_SELECT, 4, 0);
    const lo = this.read(this.common + CommonCfg.DEVICE_FEATURE, 4);
    this.write(this.common + CommonCfg.DEVICE_FEATURE_SELECT, 4, 1);
    const hi = this.read(this.common + CommonCfg.DEVICE_FEATURE, 4);
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }

  writeDriverFeatures(features: bigint): void {
    this.write(this.common + CommonCfg.DRIVER_FEATURE_SELECT, 4, 0);
    this.write(this.common + CommonCfg.DRIVER_FEATURE, 4, Number(features & 0xffff_ffffn));
    this.write(this.common + CommonCfg.DRIVER_FEATURE_SELECT, 4, 1);
    this.write(this.common + CommonCfg.DRIVER_FEATURE, 4, Number(features >> 32n));
  }

  /** Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether the device kept FEATURES_OK. */
  negotiate(features: bigint): boolean {
    this.setStatus(0);
    this.setStatus(DeviceStatus.ACKNOWLEDGE);
    this.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    this.writeDriverFeatures(features);
    this.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
    return (this.status() & DeviceStatus.FEATURES_OK) !== 0;
  }

  /** Programs queue `index` with the rings of `ring` and enables it. */
  setupQueue(index: number, ring: MockDriver, vector: number): void {
    const c = this.common;
    this.write(c + CommonCfg.QUEUE_SELECT, 2, index);
    this.write(c + CommonCfg.QUEUE_SIZE, 2, ring.size);
    this.write(c + CommonCfg.QUEUE_MSIX_VECTOR, 2, vector);
    for (const [field, addr] of [[CommonCfg.QUEUE_DESC, ring.descTable], [CommonCfg.QUEUE_DRIVER, ring.availRing], [CommonCfg.QUEUE_DEVICE, ring.usedRing]] as const) {
      this.write(c + field, 4, addr % 2 ** 32);
      this.write(c + field + 4, 4, Math.floor(addr / 2 ** 32));
    }
    this.write(c + CommonCfg.QUEUE_ENABLE, 2, 1);
  }

  /** Programs MSI-X vector `vector` (unmasked) and enables MSI-X. */
  enableMsixVector(vector: number, apicId: number, idtVector: number): void {
    const entry = this.msixTable + 16 * vector;
    this.write(entry, 4, 0xfee0_0000 | (apicId << 12));
    this.write(entry + 4, 4, 0);
    this.write(entry + 8, 4, idtVector);
    this.write(entry + 12, 4, 0);
    const control = this.cfgRead(this.slot, this.msixCap + 2, 2);
    this.cfgWrite(this.slot, this.msixCap + 2, 2, control | MSIX_CONTROL_ENABLE);
  }

  driverOk(): void {
    this.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK);
  }

  /** Notifies `queue` by writing its notify address (reaches the transport when no ioeventfd catches it). */
  kick(queue: number): void {
    this.write(this.common + CommonCfg.QUEUE_SELECT, 2, queue);
    const off = this.read(this.common + CommonCfg.QUEUE_NOTIFY_OFF, 2);
    this.write(this.notifyBase + off * this.notifyMultiplier, 2, queue);
  }

  #port(offset: number, width: number, value: number, isWrite: boolean): number {
    const data = new Uint8Array(width);
    if (isWrite) {
      writeLe(data, BigInt(value >>> 0));
      this.root.configIo.write(offset, data);
      return 0;
    }
    this.root.configIo.read(offset, data);
    return Number(readLe(data));
  }
}

function readLe(data: Uint8Array): bigint {
  let v = 0n;
  for (let i = data.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i]!);
  return v;
}

function writeLe(data: Uint8Array, value: bigint): void {
  for (let i = 0; i < data.length; i++) data[i] = Number((value >> BigInt(8 * i)) & 0xffn);
}
