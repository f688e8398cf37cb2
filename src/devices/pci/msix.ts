/**
 * MSI-X for one PCI function (PCI 3.0 §6.8.2): the capability structure,
 * the vector table and the Pending Bit Array that live in a memory BAR,
 * function and per-vector masking.
 *
 * Delivery is KVM's: every vector owns a GSI and an eventfd. While a vector
 * is deliverable (MSI-X enabled, function and vector unmasked) the GSI is
 * routed to the vector's address/data and the eventfd is bound as its
 * irqfd, so any thread raises the interrupt with one write(2). Masking a
 * vector clears its deliverable bit and unbinds the irqfd; interrupts then
 * set its pending bit, and unmasking delivers a pending one
 * (§6.8.2.9). The routing table and irqfds are reached through the
 * `MsiRouting` interface so this class is testable without KVM.
 */
import type { PciConfigSpace } from './config-space.js';
import { PciCapabilityId } from './constants.js';
import { type EventFdWriter, MsixSharedState, type MsixSignalOutcome } from './msix-state.js';
import { StateReader, toBase64 } from '../../util/saved-state.js';

/** The interrupt controller side: GSI routing and irqfds (KVM in the VMM, a fake in tests). */
export interface MsiRouting {
  /** Routes `gsi` to an MSI with this address and data (takes effect at commit). */
  setMsiRoute(gsi: number, addressLo: number, addressHi: number, data: number): void;
  /** Drops the route of `gsi` (takes effect at commit). */
  removeRoute(gsi: number): void;
  /** Installs the routing table built by the calls above. */
  commit(): void;
  /** Makes writes to `eventFd` inject `gsi` (KVM_IRQFD). */
  bindIrqfd(gsi: number, eventFd: number): void;
  unbindIrqfd(gsi: number, eventFd: number): void;
}

/** Message Control bits (§6.8.2.3). */
export const MSIX_CONTROL_TABLE_SIZE_MASK = 0x07ff;
export const MSIX_CONTROL_FUNCTION_MASK = 1 << 14;
export const MSIX_CONTROL_ENABLE = 1 << 15;
/** Vector Control bit 0 (§6.8.2.9). */
export const MSIX_VECTOR_MASKED = 1;
export const MSIX_ENTRY_SIZE = 16;
/** Capability length: ID, next, message control, table offset/BIR, PBA offset/BIR. */
export const MSIX_CAPABILITY_LENGTH = 12;

export interface MsixOptions {
  vectors: number;
  /** One GSI per vector. */
  gsis: readonly number[];
  /** One eventfd per vector (the irqfds). */
  eventFds: readonly number[];
  routing: MsiRouting;
  tableBar: number;
  /** Offset of the table in its BAR (8-byte aligned). */
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
  /** How to write 1 to an eventfd (default: write(2) through src/sys). */
  writeEventFd: EventFdWriter;
  /** Reuse an existing shared state (default: a new one). */
  state?: MsixSharedState;
}

export interface MsixEntry {
  addressLo: number;
  addressHi: number;
  data: number;
  masked: boolean;
}

interface VectorRuntime {
  bound: boolean;
  route: { lo: number; hi: number; data: number } | null;
}

export class MsixController {
  readonly vectors: number;
  readonly state: MsixSharedState;
  readonly gsis: readonly number[];
  readonly eventFds: readonly number[];
  readonly #options: MsixOptions;
  /** Four dwords per vector: address lo, address hi, data, vector control. */
  readonly #table: Uint32Array;
  readonly #runtime: VectorRuntime[];
  #config: PciConfigSpace | null = null;
  #capOffset = 0;
  #enabled = false;
  #functionMasked = false;

  constructor(options: MsixOptions) {
    const { vectors } = options;
    if (options.gsis.length !== vectors || options.eventFds.length !== vectors) throw new RangeError(`MSI-X: need ${vectors} GSIs and eventfds`);
    if (options.tableOffset % 8 !== 0 || options.pbaOffset % 8 !== 0) throw new RangeError('MSI-X table and PBA must be 8-byte aligned');
    this.vectors = vectors;
    this.state = options.state ?? new MsixSharedState(vectors);
    this.gsis = options.gsis;
    this.eventFds = options.eventFds;
    this.#options = options;
    this.#table = new Uint32Array(vectors * 4);
    // Every vector starts masked (§6.8.2.9: Mask Bit reset value is 1).
    for (let v = 0; v < vectors; v++) this.#table[v * 4 + 3] = MSIX_VECTOR_MASKED;
    this.#runtime = Array.from({ length: vectors }, () => ({ bound: false, route: null }));
    this.state.setControl(false, false);
  }

  /** Bytes the vector table takes in its BAR. */
  get tableBytes(): number {
    return this.vectors * MSIX_ENTRY_SIZE;
  }

  /** Bytes the PBA takes (whole qwords, §6.8.2.7). */
  get pbaBytes(): number {
    return Math.ceil(this.vectors / 64) * 8;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get functionMasked(): boolean {
    return this.#functionMasked;
  }

  get capabilityOffset(): number {
    return this.#capOffset;
  }

  /** Adds the MSI-X capability to `config`; returns its offset. */
  attach(config: PciConfigSpace): number {
    const body = new Uint8Array(MSIX_CAPABILITY_LENGTH - 2);
    const v = new DataView(body.buffer);
    v.setUint16(0, (this.vectors - 1) & MSIX_CONTROL_TABLE_SIZE_MASK, true);
    v.setUint32(2, (this.#options.tableOffset | this.#options.tableBar) >>> 0, true);
    v.setUint32(6, (this.#options.pbaOffset | this.#options.pbaBar) >>> 0, true);
    const mask = new Uint8Array(body.length);
    mask[1] = (MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK) >> 8;
    this.#config = config;
    this.#capOffset = config.addCapability(PciCapabilityId.MSIX, body, mask);
    return this.#capOffset;
  }

  /** Call after a config write at [offset, offset+length): picks up Message Control changes. */
  configWritten(offset: number, length: number): void {
    if (!this.#config) return;
    const control = this.#capOffset + 2;
    if (offset + length <= control || offset >= control + 2) return;
    const value = this.#config.readU16(control);
    this.#enabled = (value & MSIX_CONTROL_ENABLE) !== 0;
    this.#functionMasked = (value & MSIX_CONTROL_FUNCTION_MASK) !== 0;
    this.state.setControl(this.#enabled, this.#functionMasked);
    this.#sync(this.#allVectors());
  }

  entry(vector: number): MsixEntry {
    const at = vector * 4;
    return { addressLo: this.#table[at]!, addressHi: this.#table[at + 1]!, data: this.#table[at + 2]!, masked: (this.#table[at + 3]! & MSIX_VECTOR_MASKED) !== 0 };
  }

  /** A guest read of the vector table at `offset` (any width; bytes past the end read 0). */
  readTable(offset: number, data: Uint8Array): void {
    const bytes = new Uint8Array(this.#table.buffer);
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      data[i] = at >= 0 && at < bytes.length ? bytes[at]! : 0;
    }
  }

  /** A guest write to the vector table; re-routes the vectors it touched. */
  writeTable(offset: number, data: Uint8Array): void {
    const bytes = new Uint8Array(this.#table.buffer);
    const touched = new Set<number>();
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      if (at < 0 || at >= bytes.length) continue;
      const field = (at >> 2) & 3;
      let value = data[i]!;
      // Message Address bits 1:0 are 0 (dword aligned); Vector Control bits 31:1 are reserved.
      if (field === 0 && (at & 3) === 0) value &= 0xfc;
      if (field === 3) value = (at & 3) === 0 ? value & MSIX_VECTOR_MASKED : 0;
      bytes[at] = value;
      touched.add(at >> 4);
    }
    if (touched.size > 0) this.#sync([...touched]);
  }

  /** A guest read of the PBA (read-only; writes are ignored, §6.8.2.10). */
  readPba(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      data[i] = at >= 0 && at < this.pbaBytes ? (this.state.pendingDword(at >> 2) >>> (8 * (at & 3))) & 0xff : 0;
    }
  }

  /** Raises `vector` from the main thread (e.g. a configuration change). */
  signal(vector: number): MsixSignalOutcome {
    return this.state.signal(vector, this.eventFds, this.#options.writeEventFd);
  }

  /** The vector table and pending bits for a snapshot (enable and function mask live in config space). */
  saveState(): { table: string; pending: number[] } {
    const pending = this.#allVectors().filter((v) => this.state.isPending(v));
    return { table: toBase64(new Uint8Array(this.#table.buffer)), pending };
  }

  /**
   * Loads a snapshot's vector table as guest writes would (reserved bits
   * stay 0), takes the control bits from the already restored config
   * space, and routes and binds the deliverable vectors again.
   */
  restoreState(saved: unknown): void {
    const r = new StateReader(saved, 'msix');
    const table = r.bytes('table', this.tableBytes);
    const pending = r.array('pending', this.vectors, (v, where) => new StateReader({ v }, where).int('v', 0, this.vectors - 1));
    this.writeTable(0, table);
    this.configWritten(this.#capOffset + 2, 2);
    for (const v of pending) this.state.setPending(v);
  }

  /** Unbinds every irqfd (device teardown); routes stay until the VM ends. */
  close(): void {
    for (let v = 0; v < this.vectors; v++) {
      this.state.setDeliverable(v, false);
      const r = this.#runtime[v]!;
      if (r.bound) this.#options.routing.unbindIrqfd(this.gsis[v]!, this.eventFds[v]!);
      r.bound = false;
    }
  }

  #allVectors(): number[] {
    return Array.from({ length: this.vectors }, (_, v) => v);
  }

  /** Brings routes, irqfds and deliverable bits of `vectors` in line with the table and control bits. */
  #sync(vectors: readonly number[]): void {
    const { routing } = this.#options;
    const active = (v: number): boolean => this.#enabled && !this.#functionMasked && !this.entry(v).masked;
    let routesChanged = false;
    for (const v of vectors) {
      if (!active(v)) continue;
      const e = this.entry(v);
      const r = this.#runtime[v]!;
      if (!r.route || r.route.lo !== e.addressLo || r.route.hi !== e.addressHi || r.route.data !== e.data) {
        routing.setMsiRoute(this.gsis[v]!, e.addressLo, e.addressHi, e.data);
        r.route = { lo: e.addressLo, hi: e.addressHi, data: e.data };
        routesChanged = true;
      }
    }
    if (routesChanged) routing.commit();
    for (const v of vectors) {
      const r = this.#runtime[v]!;
      if (active(v)) {
        if (!r.bound) routing.bindIrqfd(this.gsis[v]!, this.eventFds[v]!);
        r.bound = true;
        this.state.setDeliverable(v, true);
        if (this.state.takePending(v)) this.#options.writeEventFd(this.eventFds[v]!);
      } else {
        this.state.setDeliverable(v, false);
        if (r.bound) routing.unbindIrqfd(this.gsis[v]!, this.eventFds[v]!);
        r.bound = false;
      }
    }
  }
}
