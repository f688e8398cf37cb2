/**
 * A vCPU fd and its shared kvm_run page. A Vcpu can be rebuilt in any
 * thread from (fd, id, mmapSize): fds are process-wide, and each thread
 * maps kvm_run for itself.
 */
import * as sys from '../sys/libc.js';
import { SysError } from '../sys/errors.js';
import * as ioc from './ioctls.js';
import { ExitInfo, decodeExitInto, RunOffset } from './exits.js';
import {
  type CpuidEntry, type Fpu, type MsrEntry, type Regs, type Sregs, type VcpuEvents,
  REGS_SIZE, SREGS_SIZE, FPU_SIZE, VCPU_EVENTS_SIZE,
  decodeFpu, decodeMsrs, decodeRegs, decodeSregs, decodeVcpuEvents,
  encodeCpuid, encodeFpu, encodeMsrs, encodeRegs, encodeSregs, encodeVcpuEvents,
} from './structs.js';

export const LAPIC_STATE_SIZE = 1024;

/**
 * vCPU state KVM reads and writes as one struct, kept as raw bytes for a
 * snapshot (api.rst: KVM_GET/SET_REGS, SREGS, FPU, XSAVE, XCRS, DEBUGREGS,
 * LAPIC, VCPU_EVENTS, MP_STATE). XSAVE is 4096 bytes unless the host's
 * KVM_CAP_XSAVE2 says more (AMX): then the buffer is that big.
 */
export const VCPU_STATE_KINDS = {
  regs: { get: ioc.KVM_GET_REGS, set: ioc.KVM_SET_REGS, size: REGS_SIZE },
  sregs: { get: ioc.KVM_GET_SREGS, set: ioc.KVM_SET_SREGS, size: SREGS_SIZE },
  fpu: { get: ioc.KVM_GET_FPU, set: ioc.KVM_SET_FPU, size: FPU_SIZE },
  xsave: { get: ioc.KVM_GET_XSAVE, set: ioc.KVM_SET_XSAVE, size: 4096 },
  xcrs: { get: ioc.KVM_GET_XCRS, set: ioc.KVM_SET_XCRS, size: 392 },
  debugregs: { get: ioc.KVM_GET_DEBUGREGS, set: ioc.KVM_SET_DEBUGREGS, size: 128 },
  lapic: { get: ioc.KVM_GET_LAPIC, set: ioc.KVM_SET_LAPIC, size: LAPIC_STATE_SIZE },
  events: { get: ioc.KVM_GET_VCPU_EVENTS, set: ioc.KVM_SET_VCPU_EVENTS, size: VCPU_EVENTS_SIZE },
  mpstate: { get: ioc.KVM_GET_MP_STATE, set: ioc.KVM_SET_MP_STATE, size: 4 },
} as const;
export type VcpuStateKind = keyof typeof VCPU_STATE_KINDS;

/** Result of one KVM_RUN: an exit, or an interruption by a signal/immediate_exit. */
export type RunResult = ExitInfo;

export class Vcpu {
  readonly fd: number;
  readonly id: number;
  readonly mmapSize: number;
  /** The kvm_run page, shared with the kernel. */
  readonly run: DataView;
  /** Byte view of kvm_run, for PIO data (data_offset) and MMIO data. */
  readonly runBytes: Uint8Array;
  readonly #runPtr: sys.Pointer;
  /** Overwritten by every runOnce (defect 10: nothing allocated per exit). */
  readonly #exit = new ExitInfo();
  #closed = false;

  constructor(fd: number, id: number, mmapSize: number) {
    this.fd = fd;
    this.id = id;
    this.mmapSize = mmapSize;
    this.#runPtr = sys.mmap(mmapSize, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_SHARED, fd, 0);
    const ab = sys.viewOf(this.#runPtr, mmapSize);
    this.run = new DataView(ab);
    this.runBytes = new Uint8Array(ab);
  }

  /**
   * One KVM_RUN. Returns the decoded exit, in an ExitInfo that the next call
   * overwrites; EINTR (a kick, or immediate_exit) comes back as kind
   * 'interrupted'. Other errors throw.
   */
  runOnce(): RunResult {
    const ret = sys.ioctlFast(this.fd, ioc.KVM_RUN, 0);
    if (ret < 0) {
      const errno = sys.lastErrno();
      if (errno === sys.EINTR || errno === sys.EAGAIN) {
        this.#exit.kind = 'interrupted';
        this.#exit.detail = null;
        return this.#exit;
      }
      throw new SysError('KVM_RUN', errno, `vCPU ${this.id}`);
    }
    return decodeExitInto(this.run, this.#exit);
  }

  /** Makes the next (or current, after a signal) KVM_RUN return at once. */
  setImmediateExit(on: boolean): void {
    this.run.setUint8(RunOffset.immediateExit, on ? 1 : 0);
  }

  #sampleRegs: Uint8Array | undefined;
  #sampleSregs: Uint8Array | undefined;

  /**
   * For the profiler: the guest RIP as two 32-bit halves and the CPL (CS's
   * DPL) into `out` [ripLow, ripHigh, cpl], with no allocation after the
   * first call. The vCPU must not be inside KVM_RUN (its own thread calls it).
   */
  sampleRip(out: Uint32Array): void {
    const regs = (this.#sampleRegs ??= new Uint8Array(REGS_SIZE));
    const sregs = (this.#sampleSregs ??= new Uint8Array(SREGS_SIZE));
    sys.ioctlBuf(this.fd, ioc.KVM_GET_REGS, regs, 'KVM_GET_REGS');
    sys.ioctlBuf(this.fd, ioc.KVM_GET_SREGS, sregs, 'KVM_GET_SREGS');
    // struct kvm_regs: 16 general registers, then rip at byte 128.
    out[0] = regs[128]! | (regs[129]! << 8) | (regs[130]! << 16) | (regs[131]! << 24);
    out[1] = regs[132]! | (regs[133]! << 8) | (regs[134]! << 16) | (regs[135]! << 24);
    // struct kvm_sregs starts with cs (struct kvm_segment): dpl at byte 16.
    out[2] = sregs[16]! & 3;
  }

  getRegs(): Regs {
    const buf = new Uint8Array(REGS_SIZE);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_REGS, buf, 'KVM_GET_REGS');
    return decodeRegs(buf);
  }

  setRegs(regs: Regs): void {
    sys.ioctlBuf(this.fd, ioc.KVM_SET_REGS, encodeRegs(regs), 'KVM_SET_REGS');
  }

  getSregs(): Sregs {
    const buf = new Uint8Array(SREGS_SIZE);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_SREGS, buf, 'KVM_GET_SREGS');
    return decodeSregs(buf);
  }

  setSregs(sregs: Sregs): void {
    sys.ioctlBuf(this.fd, ioc.KVM_SET_SREGS, encodeSregs(sregs), 'KVM_SET_SREGS');
  }

  getFpu(): Fpu {
    const buf = new Uint8Array(FPU_SIZE);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_FPU, buf, 'KVM_GET_FPU');
    return decodeFpu(buf);
  }

  setFpu(fpu: Fpu): void {
    sys.ioctlBuf(this.fd, ioc.KVM_SET_FPU, encodeFpu(fpu), 'KVM_SET_FPU');
  }

  /** Reads the given MSRs; returns only those KVM could read. */
  getMsrs(indices: readonly number[]): MsrEntry[] {
    const buf = encodeMsrs(indices.map((index) => ({ index, data: 0n })));
    const n = sys.ioctlBuf(this.fd, ioc.KVM_GET_MSRS, buf, 'KVM_GET_MSRS');
    return decodeMsrs(buf, n);
  }

  /** Writes MSRs; throws unless KVM accepted all of them. */
  setMsrs(entries: readonly MsrEntry[]): void {
    const n = sys.ioctlBuf(this.fd, ioc.KVM_SET_MSRS, encodeMsrs(entries), 'KVM_SET_MSRS');
    if (n !== entries.length) {
      const bad = entries[n]!;
      throw new Error(`KVM_SET_MSRS: MSR 0x${bad.index.toString(16)} was refused (${n} of ${entries.length} set)`);
    }
  }

  /** Writes MSRs in order until KVM refuses one; returns how many it took. */
  trySetMsrs(entries: readonly MsrEntry[]): number {
    return sys.ioctlBuf(this.fd, ioc.KVM_SET_MSRS, encodeMsrs(entries), 'KVM_SET_MSRS');
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    sys.ioctlBuf(this.fd, ioc.KVM_SET_CPUID2, encodeCpuid(entries), 'KVM_SET_CPUID2');
  }

  /** The raw 1 KiB LAPIC register page (struct kvm_lapic_state). */
  getLapic(): Uint8Array {
    const buf = new Uint8Array(LAPIC_STATE_SIZE);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_LAPIC, buf, 'KVM_GET_LAPIC');
    return buf;
  }

  setLapic(state: Uint8Array): void {
    sys.ioctlBuf(this.fd, ioc.KVM_SET_LAPIC, state, 'KVM_SET_LAPIC');
  }

  getVcpuEvents(): VcpuEvents {
    const buf = new Uint8Array(VCPU_EVENTS_SIZE);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_VCPU_EVENTS, buf, 'KVM_GET_VCPU_EVENTS');
    return decodeVcpuEvents(buf);
  }

  setVcpuEvents(events: VcpuEvents): void {
    sys.ioctlBuf(this.fd, ioc.KVM_SET_VCPU_EVENTS, encodeVcpuEvents(events), 'KVM_SET_VCPU_EVENTS');
  }

  /** Injects an exception (e.g. #BP = 3) to be delivered on the next entry. */
  injectException(vector: number, errorCode?: number): void {
    const ev = this.getVcpuEvents();
    ev.exception = { injected: 1, nr: vector, hasErrorCode: errorCode === undefined ? 0 : 1, pending: 0, errorCode: errorCode ?? 0 };
    ev.flags = 0;
    this.setVcpuEvents(ev);
  }

  /** The guest TSC frequency in kHz (KVM_GET_TSC_KHZ); 0 if KVM cannot tell. */
  getTscKhz(): number {
    try {
      return sys.ioctl(this.fd, ioc.KVM_GET_TSC_KHZ, 0, 'KVM_GET_TSC_KHZ');
    } catch {
      return 0;
    }
  }

  nmi(): void {
    sys.ioctl(this.fd, ioc.KVM_NMI, 0, 'KVM_NMI');
  }

  /** Tells the guest's kvmclock that the vCPU was paused (no soft-lockup warnings). */
  kvmclockCtrl(): void {
    sys.ioctl(this.fd, ioc.KVM_KVMCLOCK_CTRL, 0, 'KVM_KVMCLOCK_CTRL');
  }

  /** KVM_GET_MP_STATE: 0 runnable, 1 uninitialized, 2 init-received, 3 halted, 4 sipi-received. */
  getMpState(): number {
    const buf = new Uint32Array(1);
    sys.ioctlBuf(this.fd, ioc.KVM_GET_MP_STATE, buf, 'KVM_GET_MP_STATE');
    return buf[0]!;
  }

  /** Guest virtual to physical address, through the vCPU's current page tables (struct kvm_translation). */
  translate(linear: bigint): { physical: bigint; valid: boolean; writeable: boolean } {
    const v = new DataView(new ArrayBuffer(24));
    v.setBigUint64(0, linear, true);
    sys.ioctlBuf(this.fd, ioc.KVM_TRANSLATE, v, 'KVM_TRANSLATE');
    return { physical: v.getBigUint64(8, true), valid: v.getUint8(16) !== 0, writeable: v.getUint8(17) !== 0 };
  }

  /** One state struct as bytes; `size` only for XSAVE beyond 4096 bytes (KVM_GET_XSAVE2). */
  getRawState(kind: VcpuStateKind, size: number = VCPU_STATE_KINDS[kind].size): Uint8Array {
    const buf = new Uint8Array(size);
    const request = kind === 'xsave' && size > 4096 ? ioc.KVM_GET_XSAVE2 : VCPU_STATE_KINDS[kind].get;
    sys.ioctlBuf(this.fd, request, buf, `KVM_GET_${kind.toUpperCase()}`);
    return buf;
  }

  setRawState(kind: VcpuStateKind, bytes: Uint8Array): void {
    sys.ioctlBuf(this.fd, VCPU_STATE_KINDS[kind].set, bytes, `KVM_SET_${kind.toUpperCase()}`);
  }

  /**
   * Reads every MSR of `indices` that KVM will read. KVM_GET_MSRS stops at
   * the first one it refuses; that one is left out and the rest read on.
   */
  readMsrs(indices: readonly number[]): MsrEntry[] {
    const out: MsrEntry[] = [];
    let rest = indices;
    while (rest.length > 0) {
      const got = this.getMsrs(rest);
      out.push(...got);
      rest = rest.slice(got.length + 1);
    }
    return out;
  }

  /** KVM_SET_TSC_KHZ: the guest TSC frequency (needs KVM_CAP_TSC_CONTROL). */
  setTscKhz(khz: number): void {
    sys.ioctl(this.fd, ioc.KVM_SET_TSC_KHZ, khz, 'KVM_SET_TSC_KHZ');
  }

  /**
   * Completes an I/O or MMIO exit whose results user space has written
   * (an IN's data, an MMIO read's value): KVM applies them at the next
   * KVM_RUN, so one with immediate_exit set does it and returns at once
   * (api.rst, "immediate_exit"). Call with the vCPU out of KVM_RUN, before
   * its state is read for a snapshot.
   */
  completePendingExit(): void {
    this.setImmediateExit(true);
    try {
      const ret = sys.ioctlFast(this.fd, ioc.KVM_RUN, 0);
      const errno = ret < 0 ? sys.lastErrno() : 0;
      if (ret < 0 && errno !== sys.EINTR && errno !== sys.EAGAIN) throw new SysError('KVM_RUN', errno, `vCPU ${this.id} (completing an exit)`);
    } finally {
      this.setImmediateExit(false);
    }
  }

  /** Unmaps kvm_run in this thread; closeFd also closes the vCPU fd. */
  close(closeFd = true): void {
    if (this.#closed) return;
    this.#closed = true;
    sys.munmap(this.#runPtr, this.mmapSize);
    if (closeFd) sys.close(this.fd);
  }
}
