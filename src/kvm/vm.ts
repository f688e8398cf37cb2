/**
 * A KVM virtual machine fd: memory slots, the in-kernel irqchip and PIT,
 * ioeventfd/irqfd wiring, GSI routing and MSI injection.
 */
import * as sys from '../sys/libc.js';
import * as ioc from './ioctls.js';
import { Vcpu } from './vcpu.js';

/** One entry of the GSI routing table (struct kvm_irq_routing_entry). */
export type GsiRoute =
  | { gsi: number; type: 'irqchip'; irqchip: number; pin: number }
  | { gsi: number; type: 'msi'; addressLo: number; addressHi: number; data: number };

export const IRQCHIP_PIC_MASTER = 0;
export const IRQCHIP_PIC_SLAVE = 1;
export const IRQCHIP_IOAPIC = 2;
const IOAPIC_PINS = 24;
export const IRQCHIP_STATE_SIZE = 520;
export const PIT2_STATE_SIZE = 112;
export const CLOCK_DATA_SIZE = 48;

export class Vm {
  readonly fd: number;
  readonly vcpuMmapSize: number;

  constructor(fd: number, vcpuMmapSize: number) {
    this.fd = fd;
    this.vcpuMmapSize = vcpuMmapSize;
  }

  /** KVM_SET_USER_MEMORY_REGION; size 0 deletes the slot. */
  setUserMemoryRegion(slot: number, guestPhysAddr: bigint, size: number, hostAddr: sys.Pointer, flags = 0): void {
    const buf = new DataView(new ArrayBuffer(32));
    buf.setUint32(0, slot, true);
    buf.setUint32(4, flags, true);
    buf.setBigUint64(8, guestPhysAddr, true);
    buf.setBigUint64(16, BigInt(size), true);
    buf.setBigUint64(24, hostAddr, true);
    sys.ioctlBuf(this.fd, ioc.KVM_SET_USER_MEMORY_REGION, buf, 'KVM_SET_USER_MEMORY_REGION');
  }

  /** Three pages Intel VMX needs for real-mode emulation; must sit outside RAM. */
  setTssAddr(addr: number): void {
    sys.ioctl(this.fd, ioc.KVM_SET_TSS_ADDR, addr, 'KVM_SET_TSS_ADDR');
  }

  setIdentityMapAddr(addr: bigint): void {
    const buf = new BigUint64Array([addr]);
    sys.ioctlBuf(this.fd, ioc.KVM_SET_IDENTITY_MAP_ADDR, buf, 'KVM_SET_IDENTITY_MAP_ADDR');
  }

  /** In-kernel PIC pair, IOAPIC and per-vCPU LAPICs; installs the default GSI routes. */
  createIrqchip(): void {
    sys.ioctl(this.fd, ioc.KVM_CREATE_IRQCHIP, 0, 'KVM_CREATE_IRQCHIP');
  }

  /** In-kernel i8254 PIT; the speaker port is left to user space as a dummy. */
  createPit2(): void {
    const buf = new Uint32Array(16);
    buf[0] = 1; // KVM_PIT_SPEAKER_DUMMY
    sys.ioctlBuf(this.fd, ioc.KVM_CREATE_PIT2, buf, 'KVM_CREATE_PIT2');
  }

  /** struct kvm_irq_level, reused: setIrqLine allocates nothing (each thread has its own Vm object). */
  readonly #irqLevel = new Uint32Array(2);

  /** Sets a GSI line's level (edge interrupts: raise then lower). KVM_IRQ_LINE works from any thread. */
  setIrqLine(gsi: number, level: boolean): void {
    const buf = this.#irqLevel;
    buf[0] = gsi;
    buf[1] = level ? 1 : 0;
    sys.ioctlBuf(this.fd, ioc.KVM_IRQ_LINE, buf, 'KVM_IRQ_LINE');
  }

  /** Injects an MSI directly (KVM_SIGNAL_MSI). Returns >0 if delivered, 0 if blocked. */
  signalMsi(addressLo: number, addressHi: number, data: number): number {
    const buf = new Uint32Array(8);
    buf[0] = addressLo >>> 0;
    buf[1] = addressHi >>> 0;
    buf[2] = data >>> 0;
    return sys.ioctlBuf(this.fd, ioc.KVM_SIGNAL_MSI, buf, 'KVM_SIGNAL_MSI');
  }

  /** Replaces the whole GSI routing table (KVM_SET_GSI_ROUTING). */
  setGsiRouting(routes: readonly GsiRoute[]): void {
    const buf = new Uint8Array(8 + routes.length * 48);
    const v = new DataView(buf.buffer);
    v.setUint32(0, routes.length, true);
    routes.forEach((r, i) => {
      const o = 8 + i * 48;
      v.setUint32(o, r.gsi, true);
      if (r.type === 'irqchip') {
        v.setUint32(o + 4, 1, true);
        v.setUint32(o + 16, r.irqchip, true);
        v.setUint32(o + 20, r.pin, true);
      } else {
        v.setUint32(o + 4, 2, true);
        v.setUint32(o + 16, r.addressLo >>> 0, true);
        v.setUint32(o + 20, r.addressHi >>> 0, true);
        v.setUint32(o + 24, r.data >>> 0, true);
      }
    });
    sys.ioctlBuf(this.fd, ioc.KVM_SET_GSI_ROUTING, buf, 'KVM_SET_GSI_ROUTING');
  }

  /**
   * The routes KVM installs with the irqchip (kvm_setup_default_irq_routing):
   * GSI 0-15 to a PIC pin and the same IOAPIC pin, 16-23 to the IOAPIC only. Setting routing replaces them, so
   * callers adding MSI routes start from this list.
   */
  static defaultIrqchipRoutes(): GsiRoute[] {
    const routes: GsiRoute[] = [];
    for (let gsi = 0; gsi < IOAPIC_PINS; gsi++) {
      if (gsi < 8) routes.push({ gsi, type: 'irqchip', irqchip: IRQCHIP_PIC_MASTER, pin: gsi });
      else if (gsi < 16) routes.push({ gsi, type: 'irqchip', irqchip: IRQCHIP_PIC_SLAVE, pin: gsi - 8 });
      routes.push({ gsi, type: 'irqchip', irqchip: IRQCHIP_IOAPIC, pin: gsi });
    }
    return routes;
  }

  /** Binds an eventfd to a GSI: a write to the fd raises the interrupt (KVM_IRQFD). */
  irqfd(eventFd: number, gsi: number, deassign = false): void {
    const buf = new Uint32Array(8);
    buf[0] = eventFd;
    buf[1] = gsi;
    buf[2] = deassign ? 1 : 0;
    sys.ioctlBuf(this.fd, ioc.KVM_IRQFD, buf, 'KVM_IRQFD');
  }

  /**
   * Makes a guest write to `addr` signal `eventFd` in the kernel, without
   * leaving KVM_RUN (KVM_IOEVENTFD). `datamatch` restricts it to one value.
   */
  ioeventfd(opts: { eventFd: number; addr: bigint; len: 0 | 1 | 2 | 4 | 8; pio?: boolean; datamatch?: bigint; deassign?: boolean }): void {
    const v = new DataView(new ArrayBuffer(64));
    let flags = 0;
    if (opts.datamatch !== undefined) {
      flags |= 1;
      v.setBigUint64(0, opts.datamatch, true);
    }
    if (opts.pio) flags |= 2;
    if (opts.deassign) flags |= 4;
    v.setBigUint64(8, opts.addr, true);
    v.setUint32(16, opts.len, true);
    v.setInt32(20, opts.eventFd, true);
    v.setUint32(24, flags, true);
    sys.ioctlBuf(this.fd, ioc.KVM_IOEVENTFD, v, 'KVM_IOEVENTFD');
  }

  /** struct kvm_irqchip for chip 0 (PIC master), 1 (PIC slave) or 2 (IOAPIC), as 520 bytes. */
  getIrqchip(chipId: number): Uint8Array {
    const buf = new Uint8Array(IRQCHIP_STATE_SIZE);
    new DataView(buf.buffer).setUint32(0, chipId, true);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_IRQCHIP, buf, 'KVM_GET_IRQCHIP');
    return buf;
  }

  /** Loads a chip's state; its chip_id field says which chip. */
  setIrqchip(state: Uint8Array): void {
    sys.ioctlBuf(this.fd, ioc.KVM_SET_IRQCHIP, state, 'KVM_SET_IRQCHIP');
  }

  /** struct kvm_pit_state2 (112 bytes). */
  getPit2(): Uint8Array {
    const buf = new Uint8Array(PIT2_STATE_SIZE);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_PIT2, buf, 'KVM_GET_PIT2');
    return buf;
  }

  setPit2(state: Uint8Array): void {
    sys.ioctlBuf(this.fd, ioc.KVM_SET_PIT2, state, 'KVM_SET_PIT2');
  }

  /** struct kvm_clock_data (48 bytes): the kvmclock base the guest's kvm-clock reads. */
  getClock(): Uint8Array {
    const buf = new Uint8Array(CLOCK_DATA_SIZE);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_CLOCK, buf, 'KVM_GET_CLOCK');
    return buf;
  }

  /** Sets the kvmclock to `clock` (nanoseconds), with no flags: KVM does not add the time since it was read. */
  setClock(clock: bigint): void {
    const v = new DataView(new ArrayBuffer(CLOCK_DATA_SIZE));
    v.setBigUint64(0, clock, true);
    sys.ioctlBuf(this.fd, ioc.KVM_SET_CLOCK, v, 'KVM_SET_CLOCK');
  }

  /** KVM_CHECK_EXTENSION on the VM fd (some answers, like KVM_CAP_XSAVE2, are per VM). */
  checkExtension(cap: number): number {
    return sys.ioctl(this.fd, ioc.KVM_CHECK_EXTENSION, cap, 'KVM_CHECK_EXTENSION');
  }

  /** KVM_CREATE_VCPU; the returned Vcpu maps its kvm_run page in this thread. */
  createVcpu(id: number): Vcpu {
    const fd = sys.ioctl(this.fd, ioc.KVM_CREATE_VCPU, id, 'KVM_CREATE_VCPU');
    return new Vcpu(fd, id, this.vcpuMmapSize);
  }

  close(): void {
    sys.close(this.fd);
  }
}
