/**
 * The body of one vCPU worker thread: a synchronous KVM_RUN loop.
 *
 * Fast paths are answered here without leaving the thread (port 0x80,
 * COM1 and the CMOS RTC over their shared state, and unclaimed ports/MMIO); claimed
 * addresses are forwarded to the device thread through the mailbox. Events that end the VM are posted to the main
 * thread, which owns shutdown.
 */
import { parentPort } from 'node:worker_threads';
import * as sys from '../sys/libc.js';
import { Vcpu } from '../kvm/vcpu.js';
import { Vm } from '../kvm/vm.js';
import type { BusDevice } from '../bus/bus.js';
import { SerialCore } from '../devices/legacy/serial-core.js';
import { CmosRtc } from '../devices/legacy/rtc.js';
import { COM1_BASE, COM1_LENGTH, COM1_IRQ, RTC_BASE, RTC_LENGTH } from '../arch/x86/pc-ports.js';
import { emulationFailureBytes, SystemEvent, type ExitInfo, type VcpuExit } from '../kvm/exits.js';
import { GuestMemory, type SharedGuestMemory } from '../memory/guest-memory.js';
import { AccessKind, MailboxClient } from './mailbox.js';
import { VcpuCommand, VcpuControl, VcpuRunState, EXIT_COUNTERS } from './vcpu-control.js';
import { describeVcpuState } from './fault-report.js';
import { ExitStatus } from './config.js';
import { hostCompat, formatUnknownInstruction, effectiveAddress, carryOutMxcsr, type HostCompat, type HostMode } from './compat/index.js';

/** Everything a vCPU thread needs, all of it transferable between threads. */
export interface VcpuThreadInit {
  id: number;
  vcpuFd: number;
  mmapSize: number;
  memory: SharedGuestMemory;
  mailbox: SharedArrayBuffer;
  control: SharedArrayBuffer;
  /** The VM fd, for KVM_IRQ_LINE from this thread. */
  vmFd: number;
  /** COM1's shared state (Serial16550.shared), answered here; null leaves COM1 to the mailbox. */
  serial: SharedArrayBuffer | null;
  /** The CMOS RTC's shared state (CmosRtc.shared), answered here; null leaves it to the mailbox. */
  rtc: SharedArrayBuffer | null;
  /** One byte per I/O port: 1 if a device claims it. */
  claimedPorts: SharedArrayBuffer;
  /** [base, length] pairs of MMIO ranges claimed by devices. */
  mmioRanges: Array<[number, number]>;
  debugLog: boolean;
  hostMode: HostMode;
}

/** Messages from a vCPU thread to the VMM. */
export type VcpuThreadMessage =
  | { type: 'ready'; id: number; tid: number }
  | { type: 'exit'; id: number; status: number; reason: string }
  | { type: 'stopped'; id: number }
  | { type: 'log'; id: number; level: 'debug' | 'warn' | 'error'; message: string }
  /** Sent once the thread's modules (koffi included) are loaded; id is -1, not yet known. */
  | { type: 'loaded'; id: number };

const POST_CODE_PORT = 0x80;
const exitIndex = new Map<string, number>(EXIT_COUNTERS.map((n, i) => [n, i]));

function post(msg: VcpuThreadMessage): void {
  parentPort!.postMessage(msg);
}

class VcpuLoop {
  readonly #init: VcpuThreadInit;
  readonly #vcpu: Vcpu;
  readonly #mem: GuestMemory;
  readonly #ctl: VcpuControl;
  readonly #mailbox: MailboxClient;
  readonly #claimed: Uint8Array;
  readonly #abandon = (): boolean => this.#ctl.command === VcpuCommand.Stop;
  readonly #port80: number;
  readonly #com1: number;
  readonly #serial: SerialCore | null;
  readonly #rtcCounter: number;
  readonly #rtc: CmosRtc | null;
  readonly #ioUnclaimed: number;
  readonly #mmioUnclaimed: number;
  readonly #emulated: number;
  readonly #compat: HostCompat;
  /** Claimed MMIO ranges as [base, end) pairs, scanned without an iterator. */
  readonly #mmioBounds: Float64Array;
  /** Scratch for a profiler sample: [ripLow, ripHigh, cpl]. */
  readonly #sample = new Uint32Array(3);
  /** kvm_run views handed to the mailbox, one per access size (1..8), made again only when the offset moves. */
  readonly #views: Array<Uint8Array | null> = new Array<Uint8Array | null>(9).fill(null);

  constructor(init: VcpuThreadInit) {
    this.#init = init;
    this.#vcpu = new Vcpu(init.vcpuFd, init.id, init.mmapSize);
    this.#mem = GuestMemory.fromShared(init.memory);
    this.#ctl = new VcpuControl(init.control);
    this.#mailbox = new MailboxClient(init.mailbox);
    this.#claimed = new Uint8Array(init.claimedPorts);
    this.#port80 = this.#ctl.counterIndex('io-port80');
    this.#com1 = this.#ctl.counterIndex('io-com1');
    if (init.serial !== null) {
      const vm = new Vm(init.vmFd, init.mmapSize);
      this.#serial = new SerialCore(init.serial, (level) => vm.setIrqLine(COM1_IRQ, level));
    } else {
      this.#serial = null;
    }
    this.#rtcCounter = this.#ctl.counterIndex('io-rtc');
    // memBytes only fills a fresh state's CMOS bytes; this one is shared and already filled.
    this.#rtc = init.rtc !== null ? new CmosRtc({ memBytes: 0, shared: init.rtc }) : null;
    this.#ioUnclaimed = this.#ctl.counterIndex('io-unclaimed');
    this.#mmioUnclaimed = this.#ctl.counterIndex('mmio-unclaimed');
    this.#emulated = this.#ctl.counterIndex('emulated');
    this.#compat = hostCompat(init.hostMode);
    this.#mmioBounds = new Float64Array(init.mmioRanges.flatMap(([base, length]) => [base, base + length]));
  }

  run(): void {
    const ctl = this.#ctl;
    ctl.setTid(sys.gettid());
    ctl.setState(VcpuRunState.Running);
    post({ type: 'ready', id: this.#init.id, tid: ctl.tid });
    let first = true;
    for (;;) {
      const cmd = ctl.command;
      if (cmd !== VcpuCommand.Run && !this.#obey(cmd)) break;
      if (first) {
        ctl.setFirstRunEpochMs(performance.timeOrigin + performance.now());
        first = false;
      }
      const exit = this.#vcpu.runOnce();
      ctl.countAt(exitIndex.get(exit.kind)!);
      if (!this.#handle(exit)) break;
    }
    this.#vcpu.close(false);
    ctl.setState(VcpuRunState.Stopped);
    post({ type: 'stopped', id: this.#init.id });
  }

  /** Pauses or stops as commanded; returns false to leave the loop. */
  #obey(cmd: VcpuCommand): boolean {
    if (cmd === VcpuCommand.Stop) return false;
    this.#vcpu.setImmediateExit(false);
    this.#ctl.setState(VcpuRunState.Paused);
    try {
      this.#vcpu.kvmclockCtrl();
    } catch { /* no kvmclock in this guest: nothing to tell it */ }
    this.#ctl.waitWhilePaused();
    if (this.#ctl.command === VcpuCommand.Stop) return false;
    this.#ctl.setState(VcpuRunState.Running);
    return true;
  }

  /** Handles one exit; returns false when the vCPU must stop. */
  #handle(exit: ExitInfo): boolean {
    switch (exit.kind) {
      case 'io':
        this.#io(exit);
        return true;
      case 'mmio':
        this.#mmio(exit);
        return true;
      case 'interrupted': {
        this.#vcpu.setImmediateExit(false);
        // The profiler kicks the vCPU to sample where it was (tkvm perf).
        const seq = this.#ctl.sampleWanted;
        if (seq !== 0) {
          this.#vcpu.sampleRip(this.#sample);
          this.#ctl.storeSample(seq, this.#sample);
        }
        return true;
      }
      case 'hlt':
      case 'irq-window-open':
        return true;
      default:
        return this.#rare(exit.detail);
    }
  }

  /** The exits off the hot path, decoded in full. */
  #rare(exit: VcpuExit | null): boolean {
    switch (exit?.kind) {
      case 'shutdown':
        return this.#end(ExitStatus.TRIPLE_FAULT, `triple fault: ${describeVcpuState(this.#vcpu, this.#mem)}`);
      case 'system-event':
        if (exit.type === SystemEvent.SHUTDOWN || exit.type === SystemEvent.RESET) {
          return this.#end(ExitStatus.POWEROFF, exit.type === SystemEvent.RESET ? 'guest reset' : 'guest powered off');
        }
        return this.#end(ExitStatus.INTERNAL_ERROR, `guest system event ${exit.type}: ${describeVcpuState(this.#vcpu, this.#mem)}`);
      case 'internal-error': {
        const bytes = emulationFailureBytes(exit);
        if (bytes && this.#emulate(bytes)) return true;
        const what = exit.suberror === 1 ? 'KVM could not emulate an instruction' : `KVM internal error (suberror ${exit.suberror})`;
        return this.#end(ExitStatus.INTERNAL_ERROR, `${what}: ${describeVcpuState(this.#vcpu, this.#mem, bytes)}`);
      }
      case 'fail-entry':
        return this.#end(ExitStatus.FAIL_ENTRY, `KVM entry failed (hardware reason 0x${exit.hardwareReason.toString(16)}): ${describeVcpuState(this.#vcpu, this.#mem)}`);
      default:
        return this.#end(ExitStatus.INTERNAL_ERROR, `unexpected exit ${JSON.stringify(exit, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}: ${describeVcpuState(this.#vcpu, this.#mem)}`);
    }
  }

  /**
   * An instruction KVM could not emulate: the compat module says what the
   * instruction does; apply it and resume, or stop with a hint.
   */
  #emulate(bytes: Uint8Array): boolean {
    const regs = this.#vcpu.getRegs();
    const sregs = this.#vcpu.getSregs();
    const action = this.#compat.onEmulationFailure(bytes, { rip: regs.rip, rflags: regs.rflags, longMode: sregs.cs.l === 1 });
    switch (action.kind) {
      case 'advance':
        regs.rip += BigInt(action.ripDelta);
        regs.rflags = (regs.rflags | (action.rflagsSet ?? 0n)) & ~(action.rflagsClear ?? 0n);
        this.#vcpu.setRegs(regs);
        break;
      case 'inject-exception':
        regs.rip += BigInt(action.ripDelta);
        this.#vcpu.setRegs(regs);
        this.#vcpu.injectException(action.vector);
        break;
      case 'mxcsr': {
        const nextRip = BigInt.asUintN(64, regs.rip + BigInt(action.ripDelta));
        const linear = effectiveAddress(action.address, regs, nextRip, { fs: sregs.fs.base, gs: sregs.gs.base });
        const outcome = carryOutMxcsr(action.op, linear, {
          translate: (address) => {
            try {
              const t = this.#vcpu.translate(address);
              // A store needs a writable mapping; refusing it stops the VM rather than writing through a read-only page.
              return t.valid && (action.op === 'load' || t.writeable) ? t.physical : null;
            } catch {
              return null;
            }
          },
          memory: this.#mem,
          readMxcsr: () => this.#vcpu.getFpu().mxcsr,
          writeMxcsr: (value) => {
            const fpu = this.#vcpu.getFpu();
            fpu.mxcsr = value;
            this.#vcpu.setFpu(fpu);
          },
        });
        if (outcome.kind === 'unknown') {
          this.#end(ExitStatus.INTERNAL_ERROR, formatUnknownInstruction(this.#init.id, regs.rip, bytes, outcome.hint));
          return false;
        }
        // A fault (#GP for reserved MXCSR bits) leaves RIP at the instruction.
        if (outcome.kind === 'inject-exception') this.#vcpu.injectException(outcome.vector, outcome.errorCode);
        else {
          regs.rip = nextRip;
          this.#vcpu.setRegs(regs);
        }
        break;
      }
      case 'unknown':
        this.#end(ExitStatus.INTERNAL_ERROR, formatUnknownInstruction(this.#init.id, regs.rip, bytes, action.hint));
        return false;
    }
    this.#ctl.countAt(this.#emulated);
    if (this.#init.debugLog) this.#log('debug', `emulated ${action.mnemonic} at RIP 0x${regs.rip.toString(16)}`);
    return true;
  }

  #end(status: number, reason: string): false {
    post({ type: 'exit', id: this.#init.id, status, reason });
    return false;
  }

  /** A view of kvm_run bytes [off, off + size) for the mailbox, reused while the offset stays put (it does for PIO and MMIO). */
  #view(off: number, size: number): Uint8Array {
    const v = this.#views[size];
    if (v !== null && v !== undefined && v.byteOffset === off) return v;
    const fresh = this.#vcpu.runBytes.subarray(off, off + size);
    this.#views[size] = fresh;
    return fresh;
  }

  #io(exit: ExitInfo): void {
    const port = exit.port;
    const size = exit.size;
    const count = exit.count;
    const dataOffset = exit.dataOffset;
    const run = this.#vcpu.runBytes;
    const bytes = size * count;
    if (size === 0 || size > 4 || dataOffset < 0 || dataOffset + bytes > run.length) return; // never trust the layout blindly
    const isIn = exit.direction === 'in';
    if (port === POST_CODE_PORT) {
      this.#ctl.countAt(this.#port80);
      if (isIn) run.fill(0xff, dataOffset, dataOffset + bytes);
      return;
    }
    const serial = this.#serial;
    if (serial !== null && port >= COM1_BASE && port < COM1_BASE + COM1_LENGTH) {
      this.#ctl.countAt(this.#com1);
      this.#answerHere(serial, port - COM1_BASE, isIn, dataOffset, size, count);
      return;
    }
    const rtc = this.#rtc;
    if (rtc !== null && port >= RTC_BASE && port < RTC_BASE + RTC_LENGTH) {
      this.#ctl.countAt(this.#rtcCounter);
      this.#answerHere(rtc, port - RTC_BASE, isIn, dataOffset, size, count);
      return;
    }
    if (this.#claimed[port] !== 1) {
      this.#ctl.countAt(this.#ioUnclaimed);
      if (isIn) run.fill(0xff, dataOffset, dataOffset + bytes);
      if (this.#init.debugLog) this.#log('debug', `unclaimed port ${isIn ? 'read' : 'write'} 0x${port.toString(16)} size ${size}`);
      return;
    }
    const kind = isIn ? AccessKind.PioRead : AccessKind.PioWrite;
    for (let i = 0; i < count; i++) {
      if (!this.#mailbox.call(kind, port, this.#view(dataOffset + i * size, size), this.#abandon)) return;
    }
  }

  /** A port access (`count` items of `size` bytes, string I/O included) served by a device over its shared state, in this thread. */
  #answerHere(device: BusDevice, offset: number, isIn: boolean, dataOffset: number, size: number, count: number): void {
    for (let i = 0; i < count; i++) {
      const view = this.#view(dataOffset + i * size, size);
      if (isIn) device.read(offset, view);
      else device.write(offset, view);
    }
  }

  #mmio(exit: ExitInfo): void {
    const len = Math.min(exit.len, 8);
    if (len === 0) return;
    const data = this.#view(exit.dataOffset, len);
    const addr = exit.address;
    if (!this.#mmioClaimed(addr)) {
      this.#ctl.countAt(this.#mmioUnclaimed);
      if (!exit.isWrite) data.fill(0xff);
      if (this.#init.debugLog) this.#log('debug', `unclaimed MMIO ${exit.isWrite ? 'write' : 'read'} 0x${addr.toString(16)} len ${len}`);
      return;
    }
    this.#mailbox.call(exit.isWrite ? AccessKind.MmioWrite : AccessKind.MmioRead, addr, data, this.#abandon);
  }

  #mmioClaimed(addr: number): boolean {
    const b = this.#mmioBounds;
    for (let i = 0; i < b.length; i += 2) if (addr >= b[i]! && addr < b[i + 1]!) return true;
    return false;
  }

  #log(level: 'debug' | 'warn' | 'error', message: string): void {
    post({ type: 'log', id: this.#init.id, level, message });
  }
}

if (parentPort) {
  parentPort.once('message', (init: VcpuThreadInit) => {
    try {
      new VcpuLoop(init).run();
    } catch (err) {
      post({ type: 'exit', id: init.id, status: ExitStatus.ERROR, reason: `vCPU ${init.id} failed: ${(err as Error).message}` });
      post({ type: 'stopped', id: init.id });
    }
  });  post({ type: 'loaded', id: -1 });
}
